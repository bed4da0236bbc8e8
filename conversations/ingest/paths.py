"""Ingest from the file system: the documents under the paths given (a folder walked, never through
a symlink), one at a time or prepared in worker processes while this one stores them."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from conversations.history import formats
from conversations.history.errors import FormatError, NotAConversation
from conversations.history.formats.claude_code import sidecar_name
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
    store,
    unchanged,
)
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


def ingest_candidates(
    found: list[Candidate], *, format: str | None = None, user=None, jobs: int = 1, batch_size: int = 50
) -> Iterator[tuple[Candidate, Outcome | None]]:
    """Ingest every candidate, yielding (candidate, outcome or None when skipped), in order.

    With jobs > 1, worker processes prepare documents (parsing and checking are CPU-bound) while
    this process writes them. Each file is its own savepoint (atomic on its own); a batch of files
    shares one commit, so a directory of small logs does not pay a disk flush per file."""
    table = route_table_cached()
    if jobs <= 1 or len(found) < 4:
        for start in range(0, len(found), batch_size):
            with transaction.atomic():
                for candidate in found[start : start + batch_size]:
                    yield (
                        candidate,
                        None
                        if candidate.skip_reason
                        else ingest_path(candidate.path, format=format, user=user, table=table),
                    )
        return
    yield from _ingest_parallel(found, format=format, user=user, jobs=jobs, batch_size=batch_size, table=table)


def _ingest_parallel(found, *, format, user, jobs, batch_size, table):
    # Workers are forked from this process: everything they import lazily (litellm takes seconds)
    # is imported once here instead of once per worker. They never touch the database (prepare
    # is pure) and leave with os._exit, so the inherited connection is never used or closed there.
    own_verdict(History(format="openai"))
    provider_known("gpt-4o")
    window = jobs * 2  # documents in flight: bounds the memory held by prepared results
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        pending: list[tuple[Candidate, Future | None]] = []
        todo = iter(found)
        done_in_batch = 0
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            while True:
                while len(pending) < window:
                    candidate = next(todo, None)
                    if candidate is None:
                        break
                    future = None
                    if not candidate.skip_reason:
                        future = pool.submit(_prepare_path, candidate.path, format, table)
                    pending.append((candidate, future))
                if not pending:
                    break
                candidate, future = pending.pop(0)
                if future is None:
                    yield candidate, None
                    continue
                result = future.result()
                if isinstance(result, Outcome):
                    yield candidate, result
                    continue
                location = _location(candidate.path)
                outcome = unchanged(Source.Kind.PATH, location, result.raw_hash)
                if outcome is not None and outcome.held:
                    held_audit(outcome, kind=Source.Kind.PATH, location=location, user=user)
                outcome = outcome or store(result, kind=Source.Kind.PATH, location=location, user=user)
                outcome.path = str(candidate.path)
                outcome.skipped_files = result.skipped_files
                yield candidate, outcome
                done_in_batch += 1
                if done_in_batch >= batch_size:
                    atomic.__exit__(None, None, None)
                    atomic = transaction.atomic()
                    atomic.__enter__()
                    done_in_batch = 0
        except BaseException as exc:
            atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            atomic.__exit__(None, None, None)
