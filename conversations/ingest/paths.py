"""Ingest from the file system: the documents under the paths given (a folder walked, never through
a symlink), one at a time or prepared in worker processes while this one stores them."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from conversations.history import formats
from conversations.history.errors import FormatError, NotAConversation
from conversations.history.formats.claude_code import sidecar_name
from conversations.history.formats.document import document_hash
from conversations.history.model import History
from conversations.ingest import (
    LOG_SUFFIXES,
    SIDECAR_PREFIX,
    SIDECAR_SUFFIX,
    Outcome,
    Prepared,
    held_audit,
    ingest_document,
    prepare,
    provider_known,
    skipped_inside,
    unchanged,
)
from conversations.ingest.batch import store_many
from conversations.models import Source
from conversations.routing import RouteTable, route_table_cached
from conversations.verdicts import own_verdict


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
            if sub.is_symlink():  # never followed: it may lead anywhere (/etc, another user's home)
                yield Candidate(sub, "symlink")
            elif formats.is_openhands_dir(sub):
                yield Candidate(sub)
            else:
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            path = here / name
            if path.is_symlink():  # to /proc/self/environ, a key file...: never read
                yield Candidate(path, "symlink")
            elif name.startswith("."):
                yield Candidate(path, "hidden file")
            elif name.startswith(SIDECAR_PREFIX) and name.endswith(SIDECAR_SUFFIX):
                yield Candidate(path, "sidecar of a subagent")
            elif path.suffix.lower() not in LOG_SUFFIXES:
                yield Candidate(path, f"not a log ({path.suffix or 'no extension'})")
            else:
                yield Candidate(path)


def _location(path: Path) -> str:
    return str(path.resolve()) if path.exists() else str(path)


def sidecar_of(path: Path) -> bytes | None:
    """The bytes of a Claude Code subagent log's sidecar (`agent-<id>.meta.json` beside
    `agent-<id>.jsonl`), else None."""
    name = sidecar_name(path.name)
    if name is None:
        return None
    try:
        return (path.parent / name).read_bytes()
    except OSError:  # none beside it (Claude Code 2.0 wrote none), or unreadable: the log still reads
        return None


def ingest_path(path: Path, *, format: str | None = None, user=None, table: RouteTable | None = None) -> Outcome:
    try:
        doc = formats.load_path(path, max_bytes=settings.UPLOAD_MAX_BYTES)
    except FormatError as exc:
        return Outcome(str(path), "failed", error=str(exc))
    outcome = ingest_document(
        doc,
        kind=Source.Kind.PATH,
        location=_location(path),
        format=format,
        user=user,
        table=table,
        sidecar=sidecar_of(path),
    )
    outcome.path = str(path)
    outcome.skipped_files = skipped_inside(doc)
    return outcome


def _prepare_path(path: Path, format: str | None, table: RouteTable) -> Prepared | Outcome:
    """Worker-process side of a parallel ingest: load and prepare, never touch the database."""
    try:
        doc = formats.load_path(path, max_bytes=settings.UPLOAD_MAX_BYTES)
        return prepare(
            doc,
            format=format,
            table=table,
            kind=Source.Kind.PATH,
            location=_location(path),
            sidecar=sidecar_of(path),
        )
    except NotAConversation as exc:
        return Outcome(str(path), "skipped", reason=exc.reason)
    except FormatError as exc:
        return Outcome(str(path), "failed", error=str(exc))


def _prepare_here(candidate: Candidate, format: str | None, table: RouteTable, user) -> Prepared | Outcome | None:
    """This process's side of an ingest one file at a time: what ingest_path does up to the
    writes. Bytes stored already are not read further (their outcome comes back at once)."""
    if candidate.skip_reason:
        return None
    path = candidate.path
    try:
        doc = formats.load_path(path, max_bytes=settings.UPLOAD_MAX_BYTES)
    except FormatError as exc:
        return Outcome(str(path), "failed", error=str(exc))
    location = _location(path)
    raw_hash = document_hash(doc)
    outcome = unchanged(Source.Kind.PATH, location, raw_hash)
    try:
        if outcome is None:
            return prepare(
                doc,
                format=format,
                raw_hash=raw_hash,
                table=table,
                kind=Source.Kind.PATH,
                location=location,
                sidecar=sidecar_of(path),
            )
        if outcome.held:
            held_audit(outcome, kind=Source.Kind.PATH, location=location, user=user)
    except NotAConversation as exc:
        outcome = Outcome(location, "skipped", reason=exc.reason)
    except FormatError as exc:
        outcome = Outcome(location, "failed", error=str(exc))
    outcome.path = str(path)
    outcome.skipped_files = skipped_inside(doc)
    return outcome


# Documents stored together (one statement a table: ingest.batch) and committed together, and the
# bytes of prepared documents a batch, or the worker processes' results waiting, hold at most.
BATCH_FILES = 50
BATCH_BYTES = 32 * 1024 * 1024

Prepared_ = Prepared | Outcome | None


def ingest_candidates(
    found: list[Candidate], *, format: str | None = None, user=None, jobs: int = 1, batch_size: int = BATCH_FILES
) -> Iterator[tuple[Candidate, Outcome | None]]:
    """Ingest every candidate, yielding (candidate, outcome or None when skipped), in order.

    With jobs > 1, worker processes prepare documents (parsing and checking are CPU-bound) while
    this process writes them. A batch of documents is written together (ingest.batch: one
    statement a table, a document failing alone) and committed together, so a directory of small
    logs pays neither fifteen round trips nor a disk flush a file."""
    table = route_table_cached()
    if jobs <= 1 or len(found) < 4:
        results: Iterator[tuple[Candidate, Prepared_]] = ((c, _prepare_here(c, format, table, user)) for c in found)
        yield from _stored_in_batches(results, user=user, batch_size=batch_size)
        return
    yield from _stored_in_batches(
        _prepared_in_workers(found, format=format, jobs=jobs, table=table), user=user, batch_size=batch_size
    )


def _stored_in_batches(
    results: Iterator[tuple[Candidate, Prepared_]], *, user, batch_size: int
) -> Iterator[tuple[Candidate, Outcome | None]]:
    """Take the prepared documents a batch at a time, store each batch in one transaction, and
    yield every outcome in order once its batch is committed."""
    while True:
        with transaction.atomic():
            batch: list[tuple[Candidate, Prepared_]] = []
            size = 0
            for candidate, result in results:
                batch.append((candidate, result))
                size += result.clean.size if isinstance(result, Prepared) else 0
                if len(batch) >= batch_size or size >= BATCH_BYTES:
                    break
            items = [(r, Source.Kind.PATH, _location(c.path)) for c, r in batch if isinstance(r, Prepared)]
            stored = iter(store_many(items, user=user))
        if not batch:
            return
        for candidate, result in batch:
            if isinstance(result, Prepared):
                outcome = next(stored)
                outcome.path = str(candidate.path)
                outcome.skipped_files = result.skipped_files
                yield candidate, outcome
            else:
                yield candidate, result


def _prepared_in_workers(
    found: list[Candidate], *, format: str | None, jobs: int, table: RouteTable
) -> Iterator[tuple[Candidate, Prepared_]]:
    """Every candidate prepared in worker processes, in order. A few documents more than the
    workers take stay in flight, so they keep working while this process stores a batch."""
    # Workers are forked from this process: everything they import lazily (litellm takes seconds)
    # is imported once here instead of once per worker. They never touch the database (prepare
    # is pure) and leave with os._exit, so the inherited connection is never used or closed there.
    own_verdict(History(format="openai"))
    provider_known("gpt-4o")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        pending: deque[tuple[Candidate, Future | None, int]] = deque()
        held = 0  # bytes of the files in flight
        todo = iter(found)
        while True:
            # Up to four documents a worker, within BATCH_BYTES (but always one a worker).
            while len(pending) < jobs * 4:
                candidate = next(todo, None)
                if candidate is None:
                    break
                size = 0 if candidate.skip_reason else _size(candidate.path)
                future = None if candidate.skip_reason else pool.submit(_prepare_path, candidate.path, format, table)
                pending.append((candidate, future, size))
                held += size
                if len(pending) >= jobs and held >= BATCH_BYTES:
                    break
            if not pending:
                return
            candidate, future, size = pending.popleft()
            held -= size
            yield candidate, None if future is None else future.result()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
