# A verdict keeps the token count its check counted, which the check of a repair counts from.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0009_revision_head_compression"),
    ]

    operations = [
        migrations.AddField(
            model_name="verdict",
            name="input_tokens",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="the request's input tokens, when the check counted them (near the window)",
                null=True,
            ),
        ),
    ]
