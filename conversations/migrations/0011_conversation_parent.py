# A Claude Code subagent's conversation records its parent session and the call that started it.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0010_verdict_input_tokens"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="subagents",
                to="conversations.conversation",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="parent_tool_use_id",
            field=models.CharField(blank=True, max_length=255),
        ),
    ]
