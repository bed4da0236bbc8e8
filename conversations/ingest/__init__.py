"""Ingest: a document (file, directory, upload or API body) in, conversations and revisions out.

Two steps. `prepare` does all the reading and checking without touching the database (redact,
parse, serialize, check against the conversation's own target), so it can run in worker
processes; `store` writes one document in one transaction, so a malformed file stores nothing,
and `store_many` (ingest.batch) writes many new ones with a statement a table.
The same bytes again change nothing (the hash is taken over the input as read, before
redaction); new bytes at the same place add a revision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from conversations.history import formats
from conversations.history import status as core_status
from conversations.history.check import RULES_VERSION
from conversations.history.errors import FormatError, NotAConversation
from conversations.history.findings import Verdict as CoreVerdict
from conversations.history.formats.claude_code import apply_sidecar
from conversations.history.formats.document import Document, document_hash
from conversations.history.model import History
from conversations.history.redact import redact
from conversations.history.targets import provider_of
from conversations.models import AuditEvent, Conversation, Original, OriginalFile, Revision, Source, Status
from conversations.routing import EMPTY, Routed, RouteTable, route_table_cached
from conversations.search import conversation_search_text
from conversations.storage import DumpedHistory, chunks_store, dumped_same, history_dump, search_text_store
from conversations.subagents import FORMAT as SUBAGENT_FORMAT
from conversations.subagents import link_subagents
from conversations.verdicts import INGESTED, REINGESTED, own_verdict, verdicts_insert

# What a directory walk treats as a log; anything else (.md, .yaml, pickles...) is skipped and counted.
LOG_SUFFIXES = {".json", ".jsonl", ".ndjson"}
# Claude Code 2.1 writes `agent-<id>.meta.json` beside each subagent's log: its metadata, not a log.
SIDECAR_PREFIX, SIDECAR_SUFFIX = "agent-", ".meta.json"


@dataclass
class Outcome:
    """What happened to one document. status: ingested (a conversation added or changed),
    unchanged, skipped (a normal file of a log folder that holds no conversation: reason says
    why) or failed (error says why)."""

    path: str
    status: str
    added: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    error: str | None = None
    reason: str | None = None
    # Records of a document of several conversations that could not be read (each fails alone:
    # the others are stored): {"error", "line"}.
    failures: list[dict[str, Any]] = field(default_factory=list)
    # Files inside a folder document left out unread (a symlink): {"path", "reason"}.
    skipped_files: list[dict[str, str]] = field(default_factory=list)
    # Soft-deleted conversations the document holds: new bytes were kept as a revision of each,
    # which stays deleted until an admin restores it (a deletion holds).
    held: list[int] = field(default_factory=list)

    @property
    def held_reason(self) -> str:
        return "; ".join(deleted_reason(pk) for pk in self.held)


DELETED = "deleted conversation"


def deleted_reason(pk: int) -> str:
    return f"conversation {pk} was deleted; an admin can restore it"


@dataclass
class PreparedConversation:
    """One conversation of a document, ready to store: no History object (they are large and
    would have to cross a process boundary), only what storage needs."""

    locator: str
    record: int | None
    summary: dict[str, Any]
    dumped: DumpedHistory
    verdict: CoreVerdict
    # Its route and the verdicts of the route's deployments (None: judged by its own target).
    routed: Routed | None = None
    # A Claude Code session's subagent facts (meta "subagent", "subagent_calls"), which link it to
    # its parent or its subagents once stored.
    links: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    raw_hash: str
    clean: Document
    redactions: list[dict]
    conversations: list[PreparedConversation]
    format: str
    failures: list[dict[str, Any]] = field(default_factory=list)
    skipped_files: list[dict[str, str]] = field(default_factory=list)
    # document_hash of `clean` (the stored original's address), taken where it was prepared.
    clean_hash: str = ""


# --- prepare: no database -----------------------------------------------------------------------


def redacted(doc: Document) -> tuple[Document, list[dict]]:
    if not settings.REDACT_SECRETS:
        return doc, []
    files: dict[str, bytes] = {}
    found: list[dict] = []
    for name, data in doc.files.items():
        files[name], hits = redact(data, name)
        found.extend(h.to_dict() for h in hits)
    return Document(name=doc.name, files=files, is_dir=doc.is_dir), found


def source_hash(doc: Document, sidecar: bytes | None = None) -> str:
    """What a document is known by when read again: its hash, and for a Claude Code subagent's log
    its sidecar's bytes too, so a changed sidecar (the subagent's title and agent type) is read
    again though the log is not. What the sidecar changes then makes a revision of its own, its
    messages shared with the one before: a revision never changes once stored."""
    digest = document_hash(doc)
    return digest if sidecar is None else hashlib.sha256(digest.encode() + b"\n" + sidecar).hexdigest()


def prepare(
    doc: Document,
    *,
    format: str | None = None,
    raw_hash: str | None = None,
    table: RouteTable = EMPTY,
    kind: str = "",
    location: str = "",
    sidecar: bytes | None = None,
) -> Prepared:
    """Everything but the writes. Raises FormatError for a document that cannot be read. `table`:
    the routes, `kind` and `location`: where the document comes from (a route rule may name them).
    `sidecar`: the bytes of a Claude Code subagent's `agent-<id>.meta.json`, when it has one."""
    raw_hash = raw_hash or source_hash(doc, sidecar)
    clean, redactions = redacted(doc)
    each = formats.read_each(clean, format)
    histories = [h for h in each if isinstance(h, History)]
    if sidecar is not None:
        data = redact(sidecar, "sidecar")[0] if settings.REDACT_SECRETS else sidecar
        for h in histories:
            apply_sidecar(h, data)
    failures = [e for e in each if isinstance(e, FormatError)]
    if not histories:
        raise failures[0] if failures else FormatError("no conversation found", file=doc.name)
    single = len(histories) == 1
    prepared = [_prepared_one(h, single, table.judge(h, kind=kind, location=location)) for h in histories]
    return Prepared(
        raw_hash,
        clean,
        redactions,
        prepared,
        histories[0].format,
        failures=[{"error": str(e), "line": e.line} for e in failures],
        skipped_files=skipped_inside(doc),
        # Nothing redacted: the clean bytes are the raw ones.
        clean_hash=document_hash(clean) if redactions else raw_hash,
    )


def _prepared_one(history: History, single: bool, routed: Routed | None) -> PreparedConversation:
    verdict = own_verdict(history)
    summary = history_summary(history)
    judged = routed.verdicts if routed is not None else [verdict]
    status = core_status.status_of(
        core_status.judged_each(judged), failure_unresolved=core_status.failure_unresolved(verdict.logged_failure)
    )
    summary.update(
        status=Status.named(status).value,
        route_version_id=routed.version_id if routed else None,
        model_group=routed.model_group[:255] if routed else "",
    )
    return PreparedConversation(
        locator="" if single else _locator(history),
        record=history.record,
        summary=summary,
        dumped=history_dump(history),
        verdict=verdict,
        routed=routed,
        links=_links(history),
    )


def _links(history: History) -> dict[str, Any]:
    """What links a Claude Code session to its subagents, or a subagent to its parent."""
    if history.format != SUBAGENT_FORMAT:
        return {}
    return {"session": True, **{k: history.meta[k] for k in ("subagent", "subagent_calls") if history.meta.get(k)}}


def skipped_inside(doc: Document) -> list[dict[str, str]]:
    """The files of a folder document that were left out unread, as ingest --json lists them."""
    return [{"path": f"{doc.name}/{rel}", "reason": reason} for rel, reason in sorted(doc.skipped.items())]


def _locator(history: History) -> str:
    if history.external_id:
        return history.external_id[:255]
    return f"record {history.record}" if history.record is not None else ""


def history_summary(history: History) -> dict[str, Any]:
    """What the list page filters, sorts and searches on, taken out of the history."""
    first = history.messages[0].timestamp if history.messages else None
    last = history.messages[-1].timestamp if history.messages else None
    summary = {
        "format": history.format,
        "external_id": (history.external_id or "")[:255],
        "title": (history.title or _first_user_text(history))[:500],
        "model": (history.model or "")[:255],
        "provider": (history.provider or provider_known(history.model) or "")[:64],
        "first_at": parse_time(history.started_at) or parse_time(first),
        "last_at": parse_time(history.ended_at) or parse_time(last),
        "message_count": len(history.messages),
        "tool_call_count": history.tool_call_count,
        "token_count": history.token_count,
        "agent_of": _agent_of(history),
    }
    summary["search_text"] = conversation_search_text(history)
    return {k: _storable(v) if isinstance(v, str) else v for k, v in summary.items()}


def _agent_of(history: History) -> str:
    """A Claude Code subagent's parent session id (meta "subagent"), else ""."""
    subagent = history.meta.get("subagent")
    session = subagent.get("session_id") if isinstance(subagent, dict) else None
    return session[:255] if isinstance(session, str) else ""


def _storable(text: str) -> str:
    """Text a database column takes: PostgreSQL refuses NUL characters, and UTF-8 refuses half
    a surrogate pair. These are summaries (the history itself keeps every character)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _first_user_text(history: History) -> str:
    for message in history.messages:
        if message.role == "user" and message.text.strip():
            return " ".join(message.text.split())[:120]
    return ""


def provider_known(model: str | None) -> str | None:
    if not model:
        return None
    try:
        return provider_of(model)[0]
    except Exception:  # an odd model name must not fail an ingest; the provider stays unknown
        return None


def parse_time(value) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, tz=UTC)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    # OpenHands writes naive local time; we have no better guess than UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- store: one transaction per document -----------------------------------------------------------


def unchanged(kind: str, location: str, raw_hash: str) -> Outcome | None:
    """The outcome for a document whose bytes were stored already, else None."""
    source = Source.objects.filter(kind=kind, location=location, content_hash=raw_hash).first()
    if source is None:
        return None
    rows = list(source.conversations.values_list("pk", "deleted_at"))
    if not rows:
        return None  # pruned: the bytes start a new conversation
    live = [pk for pk, deleted_at in rows if deleted_at is None]
    held = [pk for pk, deleted_at in rows if deleted_at is not None]
    if held and not live:
        return Outcome(location, "skipped", reason=DELETED, held=held)
    return Outcome(location, "unchanged", unchanged=live, held=held)


@transaction.atomic
def store(prepared: Prepared, *, kind: str, location: str, user=None) -> Outcome:
    source = Source.objects.select_for_update().filter(kind=kind, location=location).first()
    if source is not None and source.content_hash == prepared.raw_hash:
        # Another process stored the same bytes while this one was preparing them.
        known = unchanged(kind, location, prepared.raw_hash)
        if known is not None:
            return known
    new_source = source is None  # then none of its conversations exists yet: no need to look them up
    source = _source_save(
        source,
        kind=kind,
        location=location,
        format=prepared.format,
        # A document with unreadable records is read again next time (its failures said again),
        # never taken as unchanged.
        content_hash="" if prepared.failures else prepared.raw_hash,
        size=prepared.clean.size,
    )
    original = _original_get_or_create(prepared.clean, prepared.clean_hash)
    outcome = Outcome(location, "unchanged", failures=list(prepared.failures))
    made: set[str] = set()  # locators given a conversation in this call (two records may share one)
    for item in prepared.conversations:
        conversation, revision = _conversation_revise(
            source,
            item,
            original=original,
            redactions=prepared.redactions,
            user=user,
            new_source=new_source and item.locator not in made,
        )
        made.add(item.locator)
        if item.links:
            link_subagents(conversation, item.links)
        if conversation.deleted_at is not None:
            outcome.held.append(conversation.pk)
        elif revision is None:
            outcome.unchanged.append(conversation.pk)
            continue
        else:
            outcome.added.append(conversation.pk)
        if revision is None:
            continue
        if item.verdict is not None:
            # A revision made just now has no verdict to replace: insert (two statements, not five).
            verdicts_insert([(revision, item.verdict)], own=True)
        if item.routed is not None:
            verdicts_insert([(revision, v) for v in item.routed.verdicts], route_version_id=item.routed.version_id)
    if outcome.added:
        outcome.status = "ingested"
        AuditEvent.objects.create(
            actor=user if getattr(user, "is_authenticated", False) else None,
            action="ingest",
            detail={
                "source": f"{kind}:{location}",
                "conversations": outcome.added,
                "redacted": len(prepared.redactions),
            },
        )
    if outcome.held:
        held_audit(outcome, kind=kind, location=location, user=user)
        if not outcome.added and not outcome.unchanged:
            outcome.status, outcome.reason = "skipped", DELETED
    return outcome


def held_audit(outcome: Outcome, *, kind: str, location: str, user) -> None:
    """The attempt to bring back deleted conversations, one event each: who (a user, or the
    command line), from which source and path."""
    by = user.get_username() if getattr(user, "is_authenticated", False) else "command line"
    for pk in outcome.held:
        AuditEvent.objects.create(
            actor=user if getattr(user, "is_authenticated", False) else None,
            action="ingest_deleted",
            conversation_id=pk,
            detail={"by": by, "source": kind, "path": location, "reason": deleted_reason(pk)},
        )


def restore_deleted(conversations, *, user=None) -> list[int]:
    """Undo the soft delete of these conversations (a QuerySet): back in every list, page and API
    answer, with every revision stored meanwhile. Audited one event each."""
    restored = list(conversations.filter(deleted_at__isnull=False).values_list("pk", flat=True))
    with transaction.atomic():
        Conversation.objects.filter(pk__in=restored).update(deleted_at=None)
        AuditEvent.objects.bulk_create(
            AuditEvent(
                actor=user if getattr(user, "is_authenticated", False) else None, action="restore", conversation_id=pk
            )
            for pk in restored
        )
    return restored


def ingest_document(
    doc: Document,
    *,
    kind: str,
    location: str,
    format: str | None = None,
    user=None,
    table: RouteTable | None = None,
    sidecar: bytes | None = None,
) -> Outcome:
    """Read, check and store one document. Raises nothing for a bad input: the outcome says why.
    `table`: the routes (by default read now)."""
    raw_hash = source_hash(doc, sidecar)
    known = unchanged(kind, location, raw_hash)
    if known is not None:
        if known.held:
            held_audit(known, kind=kind, location=location, user=user)
        return known
    try:
        table = table if table is not None else route_table_cached()
        prepared = prepare(
            doc, format=format, raw_hash=raw_hash, table=table, kind=kind, location=location, sidecar=sidecar
        )
    except NotAConversation as exc:
        return Outcome(location, "skipped", reason=exc.reason)
    except FormatError as exc:
        return Outcome(location, "failed", error=str(exc))
    # A document of thousands of records (a litellm JSONL) is written a table at a time.
    (outcome,) = store_many([(prepared, kind, location)], user=user)
    return outcome


def _source_save(source: Source | None, **fields) -> Source:
    if source is None:
        return Source.objects.create(**fields)
    for name, value in fields.items():
        setattr(source, name, value)
    source.save()
    return source


def _original_get_or_create(doc: Document, digest: str = "") -> Original:
    digest = digest or document_hash(doc)
    original = Original.objects.filter(sha256=digest).first()
    if original is not None:
        return original
    original = Original.objects.create(sha256=digest, name=doc.name, is_dir=doc.is_dir, size=doc.size)
    OriginalFile.objects.bulk_create(
        OriginalFile(original=original, name=name, data=data) for name, data in doc.files.items()
    )
    return original


def _conversation_revise(
    source: Source,
    item: PreparedConversation,
    *,
    original: Original,
    redactions: list[dict],
    user,
    new_source: bool = False,
) -> tuple[Conversation, Revision | None]:
    conversation = None if new_source else Conversation.objects.filter(source=source, locator=item.locator).first()
    latest = conversation.latest_revision if conversation else None
    if latest is not None and dumped_same(latest, item.dumped):
        return conversation, None
    new = conversation is None
    if new:
        conversation = Conversation(source=source, locator=item.locator)
    summary_apply(conversation, item.summary)
    conversation.save()  # a deleted conversation stays deleted: an admin restores it
    search_summary_store(conversation, item.summary, new=new)
    chunks_store(item.dumped.chunks)
    revision = Revision.objects.create(
        conversation=conversation,
        number=(latest.number + 1) if latest else 1,
        parent=latest,
        **item.dumped.revision_fields(),
        **({"rules_version": RULES_VERSION} if item.verdict is not None else {}),
        original=original,
        record=item.record,
        redactions=redactions,
        author=user if getattr(user, "is_authenticated", False) else None,
        reason=INGESTED if latest is None else REINGESTED,
    )
    conversation.latest_revision = revision
    conversation.save(update_fields=["latest_revision", "updated_at"])
    return conversation, revision


def summary_apply(conversation: Conversation, summary: dict[str, Any]) -> list[str]:
    """Set the summary's fields on the conversation (all but the search text, which has a table of
    its own: search_summary_store); the names of those whose value changed."""
    fields = {name: value for name, value in summary.items() if name != "search_text"}
    if not fields.get("title", conversation.title):
        fields["title"] = Path(conversation.source.location).name[:500]
    changed = [name for name, value in fields.items() if getattr(conversation, name) != value]
    for name in changed:
        setattr(conversation, name, fields[name])
    return changed


def search_summary_store(conversation: Conversation, summary: dict[str, Any], *, new: bool = False) -> None:
    if summary.get("search_text") is not None:
        search_text_store(conversation.pk, summary["search_text"], new=new)


# Storing many documents (or records) at once, walking paths and the parallel ingest of many files
# live in modules of their own.
from conversations.ingest.batch import store_checked, store_many  # noqa: E402, F401
from conversations.ingest.paths import (  # noqa: E402, F401
    Candidate,
    candidates,
    ingest_candidates,
    ingest_path,
    sidecar_of,
)
