# Issue 17: a verdict names its sender and notes, a finding the guess it rests on and the reply
# that proves it answered, and the own verdict keeps the failure the log records.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0011_routes_status"),
    ]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="guess",
            field=models.CharField(
                blank=True,
                default="",
                help_text="the request parameter the log does not record it rests on",
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="finding",
            name="answered",
            field=models.JSONField(
                blank=True,
                help_text="the later reply that proves it was answered: {message_index, timestamp}",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="verdict",
            name="sender",
            field=models.CharField(
                blank=True, default="", help_text="the client whose request was judged", max_length=16
            ),
        ),
        migrations.AddField(
            model_name="verdict",
            name="notes",
            field=models.JSONField(blank=True, default=list, help_text='e.g. "model unknown: judged as anthropic"'),
        ),
        migrations.AddField(
            model_name="verdict",
            name="logged_failure",
            field=models.JSONField(
                blank=True,
                help_text="the failure the log records and what explains it (own verdict only)",
                null=True,
            ),
        ),
    ]
