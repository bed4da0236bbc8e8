"""Ingest: a document (file, directory, upload or API body) in, conversations and revisions out.

One document is one transaction: it is read and checked completely before anything is written,
so a malformed file stores nothing. The same bytes again change nothing (the hash is taken over
the input as read, before redaction); new bytes at the same place add a revision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from django.conf import settings
from django.db import transaction

from conversations.history import formats
from conversations.history.errors import FormatError
from conversations.history.formats.document import Document, document_hash
from conversations.history.model import History
from conversations.history.redact import redact
from conversations.models import (AuditEvent, Conversation, Original, OriginalFile, Revision, Source,
                                  DumpedHistory, chunks_store, history_dump)

# What a directory walk treats as a log; anything else (.md, .yaml, pickles...) is skipped and counted.
LOG_SUFFIXES = {".json", ".jsonl", ".ndjson"}


@dataclass
class Outcome:
    """What happened to one document. status: ingested (a conversation added or changed),
    unchanged, skipped (not a log) or failed (error says why)."""

    path: str
    status: str
    added: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    error: str | None = None


def redacted(doc: Document) -> tuple[Document, list[dict]]:
    if not settings.REDACT_SECRETS:
        return doc, []
    files: dict[str, bytes] = {}
    found: list[dict] = []
    for name, data in doc.files.items():
        files[name], hits = redact(data, name)
        found.extend(h.to_dict() for h in hits)
    return Document(name=doc.name, files=files, is_dir=doc.is_dir), found


def ingest_document(doc: Document, *, kind: str, location: str, format: str | None = None,
                    user=None) -> Outcome:
    """Read, check and store one document. Raises nothing for a bad input: the outcome says why."""
    raw_hash = document_hash(doc)
    source = Source.objects.filter(kind=kind, location=location).first()
    if source is not None and source.content_hash == raw_hash:
        ids = list(source.conversations.live().values_list("pk", flat=True))
        return Outcome(location, "unchanged", unchanged=ids)

    clean, redactions = redacted(doc)
    try:
        histories = formats.read(clean, format)
    except FormatError as exc:
        return Outcome(location, "failed", error=str(exc))
    if not histories:
        return Outcome(location, "failed", error=f"{doc.name}: no conversation found")
    prepared = [(h, history_dump(h)) for h in histories]
    verdicts = _own_target_verdicts(histories)

    with transaction.atomic():
        source = _source_save(source, kind=kind, location=location, format=histories[0].format,
                              content_hash=raw_hash, size=doc.size)
        original = _original_get_or_create(clean)
        outcome = Outcome(location, "unchanged")
        single = len(prepared) == 1
        for (history, dumped), verdict in zip(prepared, verdicts):
            conversation, revision = _conversation_revise(
                source, history, dumped, locator="" if single else _locator(history),
                original=original, redactions=redactions, user=user)
            if revision is None:
                outcome.unchanged.append(conversation.pk)
                continue
            outcome.added.append(conversation.pk)
            if verdict is not None:
                from conversations.checks import verdicts_store

                verdicts_store(revision, verdict, own=True)
        if outcome.added:
            outcome.status = "ingested"
            AuditEvent.objects.create(actor=user, action="ingest", detail={
                "source": f"{kind}:{location}", "conversations": outcome.added,
                "redacted": len(redactions)})
    return outcome


def _own_target_verdicts(histories: list[History]) -> list:
    """Each conversation checked against its own target before the transaction opens, so the
    slow part (litellm's request building) never holds a database lock."""
    try:
        from conversations.checks import own_verdict
    except ImportError:  # the prediction engine is not installed in this build
        return [None] * len(histories)
    return [own_verdict(h) for h in histories]


def _locator(history: History) -> str:
    if history.external_id:
        return history.external_id[:255]
    return f"record {history.record}" if history.record is not None else ""


def _source_save(source: Source | None, **fields) -> Source:
    if source is None:
        return Source.objects.create(**fields)
    for name, value in fields.items():
        setattr(source, name, value)
    source.save()
    return source


def _original_get_or_create(doc: Document) -> Original:
    digest = document_hash(doc)
    original = Original.objects.filter(sha256=digest).first()
    if original is not None:
        return original
    original = Original.objects.create(sha256=digest, name=doc.name, is_dir=doc.is_dir, size=doc.size)
    OriginalFile.objects.bulk_create(
        OriginalFile(original=original, name=name, data=data) for name, data in doc.files.items())
    return original


def _conversation_revise(source: Source, history: History, dumped: DumpedHistory, *, locator: str,
                         original: Original, redactions: list[dict], user) -> tuple[Conversation, Revision | None]:
    conversation = Conversation.objects.filter(source=source, locator=locator).first()
    latest = conversation.latest_revision if conversation else None
    if latest is not None and latest.content_hash == dumped.content_hash:
        return conversation, None
    if conversation is None:
        conversation = Conversation(source=source, locator=locator)
    conversation_summarize(conversation, history)
    conversation.deleted_at = None
    conversation.save()
    revision = Revision.objects.create(
        conversation=conversation, number=(latest.number + 1) if latest else 1, parent=latest,
        head_data=dumped.head, chunks=chunks_store(dumped.chunks), message_count=dumped.message_count,
        content_hash=dumped.content_hash, original=original, record=history.record,
        redactions=redactions, author=user,
        reason="ingested" if latest is None else "re-ingested: the source changed")
    conversation.latest_revision = revision
    conversation.save(update_fields=["latest_revision", "updated_at"])
    return conversation, revision


def conversation_summarize(conversation: Conversation, history: History) -> None:
    """Copy what the list page filters and sorts on out of the history."""
    conversation.format = history.format
    conversation.external_id = (history.external_id or "")[:255]
    conversation.title = (history.title or _first_user_text(history) or Path(conversation.source.location).name)[:500]
    conversation.model = (history.model or "")[:255]
    conversation.provider = (history.provider or _provider_of(history.model) or "")[:64]
    conversation.first_at = parse_time(history.started_at) or parse_time(
        history.messages[0].timestamp if history.messages else None)
    conversation.last_at = parse_time(history.ended_at) or parse_time(
        history.messages[-1].timestamp if history.messages else None)
    conversation.message_count = len(history.messages)
    conversation.tool_call_count = history.tool_call_count
    conversation.token_count = history.token_count


def _first_user_text(history: History) -> str:
    for message in history.messages:
        if message.role == "user" and message.text.strip():
            return " ".join(message.text.split())[:120]
    return ""


def _provider_of(model: str | None) -> str | None:
    if not model:
        return None
    try:
        from conversations.history.targets import provider_of_model
    except ImportError:
        return None
    return provider_of_model(model)


def parse_time(value) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, tz=timezone.utc)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    # OpenHands writes naive local time; we have no better guess than UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# --- walking paths -------------------------------------------------------------------------------


@dataclass
class Candidate:
    path: Path
    skip_reason: str | None = None


def candidates(paths: list[str]) -> Iterator[Candidate]:
    """Every document under the given paths, in a stable order. A directory laid out as an
    OpenHands event stream is one document; files that are not logs are yielded as skipped."""
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir() and not formats.is_openhands_dir(path):
            yield from _walk(path)
        else:
            yield Candidate(path)


def _walk(root: Path) -> Iterator[Candidate]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            sub = here / name
            if name.startswith("."):
                continue
            if formats.is_openhands_dir(sub):
                yield Candidate(sub)
            else:
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            path = here / name
            if name.startswith("."):
                yield Candidate(path, "hidden file")
            elif path.suffix.lower() not in LOG_SUFFIXES:
                yield Candidate(path, f"not a log ({path.suffix or 'no extension'})")
            else:
                yield Candidate(path)


def ingest_path(path: Path, *, format: str | None = None, user=None) -> Outcome:
    location = str(path.resolve()) if path.exists() else str(path)
    try:
        doc = formats.load_path(path, max_bytes=settings.UPLOAD_MAX_BYTES)
    except FormatError as exc:
        return Outcome(str(path), "failed", error=str(exc))
    outcome = ingest_document(doc, kind=Source.Kind.PATH, location=location, format=format, user=user)
    outcome.path = str(path)
    return outcome
