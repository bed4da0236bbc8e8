"""Storage: where a conversation came from, its immutable revisions, what the checks found, and
who did what. The canonical history itself is the pure core's History; a revision stores it as
compressed JSON in chunks of messages, shared between revisions."""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.urls import reverse

from conversations.history.model import History, Message


class Source(models.Model):
    """A place conversations come from: a file or directory path, an upload name, an API call or a
    litellm capture. Two files are two sources even when they hold the same session."""

    class Kind(models.TextChoices):
        PATH = "path", "file or directory"
        UPLOAD = "upload", "upload"
        API = "api", "API"
        CAPTURE = "capture", "litellm capture"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    location = models.CharField(max_length=1024, help_text="absolute path, upload name, or API label")
    format = models.CharField(max_length=32)
    content_hash = models.CharField(max_length=64, help_text="sha256 of the input as last read")
    size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "location"], name="unique_source")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.location}"

    @property
    def writable(self) -> bool:
        return self.kind == self.Kind.PATH


class Original(models.Model):
    """The bytes of an ingested document, byte for byte but for the redacted secrets. Content
    addressed: the same document read twice is stored once."""

    sha256 = models.CharField(max_length=64, unique=True, help_text="of the stored (redacted) bytes")
    name = models.CharField(max_length=1024)
    is_dir = models.BooleanField(default=False)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class OriginalFile(models.Model):
    original = models.ForeignKey(Original, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=1024, help_text="relative to the document root")
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["original", "name"], name="unique_original_file")]


class ConversationQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)


class Conversation(models.Model):
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="conversations")
    locator = models.CharField(max_length=255, blank=True,
                               help_text="which conversation of the source: the id the format gives it, or a record number")
    format = models.CharField(max_length=32)
    external_id = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=500, blank=True)
    model = models.CharField(max_length=255, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    first_at = models.DateTimeField(null=True, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    tool_call_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveBigIntegerField(default=0)
    latest_revision = models.ForeignKey("Revision", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "locator"], name="unique_conversation")]
        indexes = [models.Index(fields=["-updated_at"]), models.Index(fields=["provider", "model"])]
        # The repairer role: repair, write back and resume. Viewers are any logged-in user; admins are staff.
        permissions = [("repair_conversation", "Can repair, write back and resume conversations")]

    def __str__(self) -> str:
        return self.title or self.external_id or f"conversation {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("conversations:detail", args=[self.pk])


class Chunk(models.Model):
    """A run of CHUNK_SIZE consecutive messages, zlib-compressed JSON, addressed by its content.
    A page of a long conversation reads only the chunks it shows, and a repair that touches one
    message stores one new chunk: the revisions share the rest."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    data = models.BinaryField()


CHUNK_SIZE = 100


class Revision(models.Model):
    """One immutable state of a conversation. The first holds the original document; a re-ingest,
    a repair or a resume adds another, with its parent, author and reason. Never edited.

    The canonical history is stored as a head (system prompt, tools, metadata) and the list of
    message chunks, so a 5,000-message conversation is never one giant value in memory."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    head_data = models.BinaryField(help_text="zlib-compressed JSON of the history without its messages")
    chunks = models.JSONField(default=list, help_text="sha256 of each Chunk of messages, in order")
    message_count = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, help_text="sha256 over the head and the chunks")
    original = models.ForeignKey(Original, null=True, blank=True, on_delete=models.PROTECT, related_name="revisions")
    record = models.PositiveIntegerField(null=True, blank=True,
                                         help_text="which record of the original, for documents holding several")
    redactions = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=500)
    rules_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "number"], name="unique_revision_number")]
        ordering = ["conversation", "number"]

    def __str__(self) -> str:
        return f"{self.conversation} r{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("revisions are immutable: add a new one instead")
        super().save(*args, **kwargs)

    @property
    def history(self) -> History:
        """The whole canonical history (cached on the instance: a revision never changes)."""
        cached = getattr(self, "_history", None)
        if cached is None:
            head = json.loads(zlib.decompress(bytes(self.head_data)))
            head["messages"] = [m for chunk in _chunks_load(self.chunks) for m in chunk]
            cached = self._history = History.from_dict(head)
        return cached

    def messages(self, start: int, stop: int) -> list[Message]:
        """Messages start..stop-1, reading only the chunks that hold them."""
        stop = min(stop, self.message_count)
        if start >= stop:
            return []
        first, last = start // CHUNK_SIZE, (stop - 1) // CHUNK_SIZE
        rows = [m for chunk in _chunks_load(self.chunks[first:last + 1]) for m in chunk]
        offset = first * CHUNK_SIZE
        return [Message.from_dict(d) for d in rows[start - offset:stop - offset]]


@dataclass
class DumpedHistory:
    head: bytes
    chunks: list[tuple[str, bytes]]
    content_hash: str
    message_count: int


def history_dump(history: History) -> DumpedHistory:
    """Serialize a history chunk by chunk (never the whole JSON text at once) and hash it."""
    digest = hashlib.sha256()
    head = history.to_dict()
    del head["messages"]
    head_text = _json_bytes(head)
    digest.update(head_text)
    chunks = []
    for start in range(0, len(history.messages), CHUNK_SIZE):
        text = _json_bytes([m.to_dict() for m in history.messages[start:start + CHUNK_SIZE]])
        sha = hashlib.sha256(text).hexdigest()
        digest.update(sha.encode())
        chunks.append((sha, zlib.compress(text, 1)))
    return DumpedHistory(zlib.compress(head_text, 1), chunks, digest.hexdigest(), len(history.messages))


def chunks_store(chunks: list[tuple[str, bytes]]) -> list[str]:
    """Store the chunks not stored yet; the list of their hashes for Revision.chunks."""
    hashes = [sha for sha, _ in chunks]
    known = set(Chunk.objects.filter(sha256__in=hashes).values_list("sha256", flat=True))
    Chunk.objects.bulk_create([Chunk(sha256=sha, data=data) for sha, data in chunks if sha not in known],
                              ignore_conflicts=True)
    return hashes


def _chunks_load(hashes: list[str]) -> list[list[dict]]:
    rows = dict(Chunk.objects.filter(sha256__in=set(hashes)).values_list("sha256", "data"))
    return [json.loads(zlib.decompress(bytes(rows[sha]))) for sha in hashes]


def _json_bytes(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Finding(models.Model):
    """What a check found in a revision for one target. The conversation's own target is checked
    at ingest; other targets on demand (cached here too)."""

    class Severity(models.TextChoices):
        ERROR = "error"
        WARNING = "warning"
        INFO = "info"

    revision = models.ForeignKey(Revision, on_delete=models.CASCADE, related_name="findings")
    target = models.CharField(max_length=255)
    provider = models.CharField(max_length=64, blank=True)
    rule = models.CharField(max_length=64)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    message_index = models.IntegerField(null=True, blank=True)
    wire_index = models.IntegerField(null=True, blank=True)
    provider_error = models.TextField(blank=True)
    explanation = models.TextField(blank=True)
    fix = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["rule"]), models.Index(fields=["revision", "target"])]

    def __str__(self) -> str:
        return f"{self.rule} ({self.severity}) for {self.target}"


class Verdict(models.Model):
    """The summary of a check of one revision against one target: accepted or not, and the first
    rule hit (what the list's badges show without reading every finding)."""

    revision = models.ForeignKey(Revision, on_delete=models.CASCADE, related_name="verdicts")
    target = models.CharField(max_length=255)
    provider = models.CharField(max_length=64, blank=True)
    accepted = models.BooleanField()
    errors = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    first_rule = models.CharField(max_length=64, blank=True)
    own_target = models.BooleanField(default=False)
    rules_version = models.PositiveIntegerField()
    checked_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["revision", "target"], name="unique_verdict")]

    @property
    def status(self) -> str:
        if not self.accepted:
            return "rejected"
        return "warnings" if self.warnings else "accepted"


class AuditEvent(models.Model):
    """Who did what, when: ingests, repairs, write-backs, resumes, deletions, jobs."""

    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64)
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="audit_events")
    revision = models.ForeignKey(Revision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"
