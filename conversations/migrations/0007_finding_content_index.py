"""Findings keep the block they are about (content_index), so a stored verdict is the whole
verdict: a bulk repair starts from it instead of checking the revision again. Findings stored
before this have none; RULES_VERSION 2026.11.2 marks their verdicts stale (`manage.py recheck`)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0006_search_table"),
    ]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="content_index",
            field=models.IntegerField(blank=True, null=True),
        ),
    ]
