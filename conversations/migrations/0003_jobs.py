"""Background jobs (conversations.jobs): a Job and one JobItem per conversation, with leases.

Numbered 0003 but applied after 0004_apitoken, which was written first."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0004_apitoken"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Job",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("recheck", "re-check"),
                            ("dry_run", "dry-run repair"),
                            ("repair", "repair"),
                            ("write_back", "repair and write back"),
                            ("export", "export repaired files"),
                            ("delete", "delete"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="queued",
                        max_length=16,
                    ),
                ),
                ("options", models.JSONField(blank=True, default=dict, help_text="target, include_warnings, reason")),
                ("total", models.PositiveIntegerField(default=0)),
                (
                    "lease_seconds",
                    models.PositiveIntegerField(
                        default=60,
                        help_text="how long a worker holds the items it claimed before another may take them over",
                    ),
                ),
                ("report", models.JSONField(blank=True, default=dict, help_text="written when the job finishes")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "cancelled_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="JobItem",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("skipped", "Skipped"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("lease_owner", models.CharField(blank=True, max_length=100)),
                ("lease_expires_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                (
                    "changed",
                    models.BooleanField(help_text="whether the repair changes (or changed) anything", null=True),
                ),
                ("reason", models.CharField(blank=True, help_text="why it was skipped or failed", max_length=500)),
                ("outcome", models.JSONField(blank=True, default=dict)),
                ("output", models.BinaryField(blank=True, help_text="export: the files, zlib-compressed", null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "conversation",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="conversations.conversation",
                    ),
                ),
                (
                    "expected_revision",
                    models.ForeignKey(
                        help_text="the latest revision when the job was queued",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="conversations.revision",
                    ),
                ),
                (
                    "job",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="items", to="conversations.job"
                    ),
                ),
                (
                    "produced_revision",
                    models.ForeignKey(
                        blank=True,
                        help_text="the revision this item's repair added",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="conversations.revision",
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
            },
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(fields=["status", "-created_at"], name="jobs_status_created"),
        ),
        migrations.AddIndex(
            model_name="jobitem",
            index=models.Index(fields=["job", "status", "id"], name="job_items_claim"),
        ),
        migrations.AddConstraint(
            model_name="jobitem",
            constraint=models.UniqueConstraint(fields=("job", "conversation"), name="unique_job_conversation"),
        ),
    ]
