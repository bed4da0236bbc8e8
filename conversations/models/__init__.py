"""The models: where a conversation came from, its immutable revisions, what the checks found, who
did what, API tokens and background jobs. The canonical history itself is the pure core's History;
a revision stores it as compressed JSON in chunks of messages, shared between revisions, which
conversations.storage writes and Revision reads back."""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.urls import reverse

from conversations.compression import unpack
from conversations.gcpause import without_gc_pauses
from conversations.history import status as core_status
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


LIVE = models.Q(deleted_at__isnull=True)

# What a conversation's verdict can be, as the list page, the API and the admin filter on it.
VERDICT_STATUSES = ("rejected", "warnings", "accepted", "unchecked")


def verdict_status(accepted: bool, warnings: int) -> str:
    """A checked verdict's status: rejected, accepted with warnings, or accepted. The one rule of
    the list's badges, the page's verdicts, the API and the admin's column."""
    if not accepted:
        return "rejected"
    return "warnings" if warnings else "accepted"


class Status(models.IntegerChoices):
    """Is the conversation stuck (conversations.history.status)? Stored as its rank in the list's
    order, so the list sorts and counts on an index."""

    STUCK = 0, "stuck"
    AT_RISK = 1, "at risk"
    HEALTHY = 2, "healthy"
    UNCHECKED = 3, "unchecked"

    @classmethod
    def named(cls, name: str) -> Status:
        """The status of a name the API and the command line use (stuck, at_risk, ...)."""
        return cls(core_status.STATUSES.index(name))

    @property
    def key(self) -> str:
        return core_status.STATUSES[self.value]


class ConversationQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)

    def with_verdict(self, status: str, target: str | None = None):
        """The conversations whose latest revision has a verdict of this status (VERDICT_STATUSES;
        unchecked: no verdict): the verdict of `target`, else of the conversation's own target, the
        one ingest stores (other targets are checked when someone asks for them, so they say
        nothing about a conversation nobody looked at). The list page, the API and the admin."""
        if status not in VERDICT_STATUSES:
            raise ValueError(f"unknown verdict status {status!r}; expected one of {', '.join(VERDICT_STATUSES)}")
        verdicts = Verdict.objects.filter(revision=OuterRef("latest_revision"))
        verdicts = verdicts.filter(target=target) if target else verdicts.filter(own_target=True)
        if status == "unchecked":
            return self.filter(~Exists(verdicts))
        if status == "rejected":
            return self.filter(Exists(verdicts.filter(accepted=False)))
        if status == "warnings":
            return self.filter(Exists(verdicts.filter(accepted=True, warnings__gt=0)))
        return self.filter(Exists(verdicts.filter(accepted=True, warnings=0)))


class Conversation(models.Model):
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="conversations")
    locator = models.CharField(
        max_length=255,
        blank=True,
        help_text="which conversation of the source: the id the format gives it, or a record number",
    )
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
    latest_revision = models.ForeignKey("Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    status = models.PositiveSmallIntegerField(choices=Status.choices, default=Status.UNCHECKED)
    # The route its next request takes (None: its own target) and the model group it calls there.
    route_version = models.ForeignKey(
        "RouteVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    model_group = models.CharField(max_length=255, blank=True)
    # A Claude Code subagent's session, and the Task/Agent call that started it (when the parent's
    # result names the subagent's agentId). Linked at the ingest of whichever comes second.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="subagents")
    parent_tool_use_id = models.CharField(max_length=255, blank=True)
    # A subagent's parent session id (its sessionId), whether or not that session is stored yet:
    # what the parent's ingest looks its subagents up by.
    agent_of = models.CharField(max_length=255, blank=True)
    # What the list page sorts and filters "last activity" on: the log's own last timestamp, else
    # when we last stored it. Generated by the database, so bulk writes keep it right too.
    activity_at = models.GeneratedField(
        expression=Coalesce("last_at", "updated_at"), output_field=models.DateTimeField(), db_persist=True
    )

    objects = ConversationQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "locator"], name="unique_conversation")]
        indexes = [
            models.Index(fields=["-updated_at"]),
            models.Index(fields=["provider", "model"]),
            # The list page's sorts, over live conversations only: the page reads 25 rows off an
            # index instead of sorting 100,000, and counts them from the smaller index.
            models.Index(fields=["-activity_at", "-id"], name="conversations_activity", condition=LIVE),
            models.Index(fields=["-message_count", "-id"], name="conversations_messages", condition=LIVE),
            models.Index(fields=["-tool_call_count", "-id"], name="conversations_tool_calls", condition=LIVE),
            models.Index(fields=["-token_count", "-id"], name="conversations_tokens", condition=LIVE),
            # The list's default order (stuck first) and its status counts.
            models.Index(fields=["status", "-activity_at", "-id"], name="conversations_status", condition=LIVE),
            # A Claude Code session and its subagents find each other at ingest (subagents.py).
            models.Index(fields=["format", "external_id"], name="conversations_external_id"),
            models.Index(fields=["agent_of"], name="conversations_agent_of", condition=~models.Q(agent_of="")),
        ]
        # The repairer role: repair, write back and resume. Viewers are any logged-in user; admins are staff.
        permissions = [("repair_conversation", "Can repair, write back and resume conversations")]

    def __str__(self) -> str:
        return self.title or self.external_id or f"conversation {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("conversations:detail", args=[self.pk])


class SearchText(models.Model):
    """What the list's search box looks in for one conversation (conversations.search.
    conversation_search_text, filled at ingest): ids and tool names, then message text, capped.

    A table of its own, written only when the text changes: its full-text GIN index costs ~10 ms
    to update for 32 KB of text, and on the conversation's row every new revision (latest_revision
    is an indexed column, so PostgreSQL cannot update the row in place) paid it again."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="search_entry"
    )
    text = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            # Full-text search on PostgreSQL only: migration 0006 skips it on other databases.
            GinIndex(SearchVector("text", config="simple"), name="conversations_searchtext_gin"),
        ]


class Chunk(models.Model):
    """A run of consecutive messages (about storage.CHUNK_SIZE), compressed JSON (compression.py),
    addressed by the sha256 of its text. A page of a long conversation reads only the chunks it
    shows, and a repair stores only the chunks holding what it changed: the revisions share the
    rest (storage.history_dump)."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    data = models.BinaryField()


# Messages in each chunk but the last of a revision stored before chunk_sizes existed (now
# storage.CHUNK_SIZE, and chunk_sizes says).
LEGACY_CHUNK_SIZE = 100


class Revision(models.Model):
    """One immutable state of a conversation. The first holds the original document; a re-ingest,
    a repair or a resume adds another, with its parent, author and reason. Never edited.

    The canonical history is stored as a head (system prompt, tools, metadata) and the list of
    message chunks, so a 5,000-message conversation is never one giant value in memory."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    head_data = models.BinaryField(help_text="compressed JSON of the history without its messages")
    chunks = models.JSONField(default=list, help_text="sha256 of each Chunk of messages, in order")
    chunk_sizes = models.JSONField(
        default=list, blank=True, help_text="messages in each chunk; empty: 100 in each but the last"
    )
    message_count = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, help_text="sha256 over the head and the chunks")
    original = models.ForeignKey(Original, null=True, blank=True, on_delete=models.PROTECT, related_name="revisions")
    record = models.PositiveIntegerField(
        null=True, blank=True, help_text="which record of the original, for documents holding several"
    )
    redactions = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=500)
    rules_version = models.CharField(max_length=32, blank=True)
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
            cached = self._history = without_gc_pauses(self._history_read)
            self._chunk_data = None
        return cached

    def _history_read(self) -> History:
        head = self.head()
        head["messages"] = [m for chunk in _chunks_load(self.chunks, getattr(self, "_chunk_data", None)) for m in chunk]
        return History.from_dict(head)

    def head(self) -> dict:
        """The stored history without its messages (system prompt, tools, model, request, meta):
        cheap, unlike `history`, which reads every chunk of a long conversation."""
        return json.loads(unpack(self.head_data))

    def message_dicts(self) -> list[dict]:
        """Every message as its stored dict, without building Message objects (the page outline
        of a 5,000-message conversation reads only a few fields of each)."""
        return [m for chunk in _chunks_load(self.chunks) for m in chunk]

    def messages(self, start: int, stop: int) -> list[Message]:
        """Messages start..stop-1, reading only the chunks that hold them."""
        stop = min(stop, self.message_count)
        if start >= stop:
            return []
        spans = self.chunk_spans()
        wanted = [k for k, (first, end) in enumerate(spans) if first < stop and end > start]
        rows = [m for chunk in _chunks_load([self.chunks[k] for k in wanted]) for m in chunk]
        offset = spans[wanted[0]][0]
        return [Message.from_dict(d) for d in rows[start - offset : stop - offset]]

    def chunk_spans(self) -> list[tuple[int, int]]:
        """(start, stop) of the messages each chunk holds, in order."""
        sizes = self.chunk_sizes or [
            min(LEGACY_CHUNK_SIZE, self.message_count - start)
            for start in range(0, self.message_count, LEGACY_CHUNK_SIZE)
        ]
        spans, start = [], 0
        for size in sizes:
            spans.append((start, start + size))
            start += size
        return spans


def _chunks_load(hashes: list[str], known: dict | None = None) -> list[list[dict]]:
    """The messages of each chunk, as stored dicts; `known`: chunks read ahead (storage.chunks_prefetch)."""
    rows = known if known is not None and all(sha in known for sha in hashes) else None
    if rows is None:
        rows = dict(Chunk.objects.filter(sha256__in=set(hashes)).values_list("sha256", "data"))
    return [json.loads(unpack(rows[sha])) for sha in hashes]


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
    content_index = models.IntegerField(null=True, blank=True)
    provider_error = models.TextField(blank=True)
    explanation = models.TextField(blank=True)
    fix = models.CharField(max_length=64, blank=True)
    guess = models.CharField(
        max_length=32, blank=True, default="", help_text="the request parameter the log does not record it rests on"
    )
    answered = models.JSONField(
        null=True, blank=True, help_text="the later reply that proves it was answered: {message_index, timestamp}"
    )

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
    rules_version = models.CharField(max_length=32)
    input_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="the request's input tokens, when the check counted them (near the window)"
    )
    sender = models.CharField(max_length=16, blank=True, default="", help_text="the client whose request was judged")
    notes = models.JSONField(default=list, blank=True, help_text='e.g. "model unknown: judged as anthropic"')
    logged_failure = models.JSONField(
        null=True, blank=True, help_text="the failure the log records and what explains it (own verdict only)"
    )
    checked_at = models.DateTimeField(auto_now=True)
    # The warnings that do not rest on a guess about the request: what puts a conversation at risk.
    risks = models.PositiveIntegerField(default=0)
    # A deployment of the conversation's route: which version, and where litellm tries it.
    route_version = models.ForeignKey(
        "RouteVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="verdicts"
    )
    position = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["revision", "target"], name="unique_verdict")]

    @property
    def status(self) -> str:
        return verdict_status(self.accepted, self.warnings)


class AuditEvent(models.Model):
    """Who did what, when: ingests, repairs, write-backs, resumes, deletions, jobs."""

    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    revision = models.ForeignKey(Revision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"


# --- API tokens (conversations.api) --------------------------------------------------------------


class ApiToken(models.Model):
    """A bearer token for the JSON API, one user's, revocable. Only the sha256 of the token is
    stored: the token itself is shown once, when it is made (admin or `create_api_token`).
    Tokens are 256 random bits, so a plain hash is enough (no password stretching needed)."""

    PREFIX = "ci_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(
        max_length=100, blank=True, help_text="what the token is for, e.g. the platform that uses it"
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(
        max_length=16, editable=False, help_text="the token's first characters, to tell tokens apart"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.hint}… ({self.user}{', revoked' if self.revoked_at else ''})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def hash_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def token_new(cls) -> str:
        import secrets

        return cls.PREFIX + secrets.token_urlsafe(32)

    def token_set(self) -> str:
        """Give this (unsaved) row a fresh token; returns the token, which is not kept anywhere."""
        token = self.token_new()
        self.key_hash = self.hash_of(token)
        self.hint = token[: len(self.PREFIX) + 6]
        return token


# --- Background jobs (conversations.jobs) --------------------------------------------------------


class Job(models.Model):
    """A bulk action on many conversations (admin actions, `manage.py recheck`), run in the
    background. Progress, leases and cancellation live here and in JobItem, not in the task
    backend: django-tasks can neither cancel a task nor hand a dead worker's task to another.

    Counts are never stored on the job: every worker would update the same row. They are
    aggregated from the items (see conversations.jobs.job_progress)."""

    class Kind(models.TextChoices):
        RECHECK = "recheck", "re-check"
        DRY_RUN = "dry_run", "dry-run repair"
        REPAIR = "repair", "repair"
        WRITE_BACK = "write_back", "repair and write back"
        EXPORT = "export", "export repaired files"
        DELETE = "delete", "delete"
        # The repair page's preview of one history too large to preview inside a request.
        PREVIEW = "preview", "repair preview"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        CANCELLED = "cancelled"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    options = models.JSONField(default=dict, blank=True, help_text="target, include_warnings, reason")
    total = models.PositiveIntegerField(default=0)
    lease_seconds = models.PositiveIntegerField(
        default=60, help_text="how long a worker holds the items it claimed before another may take them over"
    )
    report = models.JSONField(default=dict, blank=True, help_text="written when the job finishes")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"], name="jobs_status_created")]

    def __str__(self) -> str:
        return f"job {self.pk}: {self.get_kind_display()} of {self.total}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.CANCELLED)


class JobItem(models.Model):
    """One conversation of a job. A worker claims items by setting a lease; a dead worker's lease
    expires and another claims the item again. What makes that safe: each item is applied in one
    transaction that also marks it done, after checking under a row lock that the lease is still
    this worker's, and the conversation's latest revision must still be `expected_revision`."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        SKIPPED = "skipped"
        FAILED = "failed"
        CANCELLED = "cancelled"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="items")
    conversation = models.ForeignKey(Conversation, null=True, on_delete=models.SET_NULL, related_name="+")
    expected_revision = models.ForeignKey(
        Revision,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the latest revision when the job was queued",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    produced_revision = models.ForeignKey(
        Revision,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the revision this item's repair added",
    )
    changed = models.BooleanField(null=True, help_text="whether the repair changes (or changed) anything")
    reason = models.CharField(max_length=500, blank=True, help_text="why it was skipped or failed")
    outcome = models.JSONField(default=dict, blank=True)
    output = models.BinaryField(null=True, blank=True, help_text="export: the files, zlib-compressed")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "conversation"], name="unique_job_conversation")]
        indexes = [models.Index(fields=["job", "status", "id"], name="job_items_claim")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"job {self.job_id} · conversation {self.conversation_id}: {self.status}"


# Routes live in a module of their own (the table of models is long enough).
from conversations.models.ingestjobs import IngestJob  # noqa: E402, F401
from conversations.models.routes import Route, RouteRule, RouteVersion  # noqa: E402, F401
