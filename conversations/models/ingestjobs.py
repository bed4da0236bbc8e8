"""An upload or API post too large to ingest inside its request: its bytes staged in a file first
(so a worker that dies loses nothing), then ingested by a background task (conversations.ingest.staged)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IngestJob(models.Model):
    """One staged document and what its ingest gave: the conversations, or the error."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    name = models.CharField(max_length=1024, help_text="the source's location (the upload's or the post's name)")
    source_kind = models.CharField(max_length=16)
    format = models.CharField(max_length=64, blank=True, help_text="the format asked for; blank: detected")
    size = models.PositiveBigIntegerField(default=0)
    staged = models.CharField(max_length=255, blank=True, help_text="the staged file, in INGEST_STAGING_DIR")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="the ingest's outcome")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"ingest job {self.pk}: {self.name} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
