"""Ingest in the background: an upload or API post over settings.INGEST_INLINE_MAX_BYTES.

Its bytes are written to a file in settings.INGEST_STAGING_DIR (flushed to disk) and an IngestJob
row names it, in the request; a task then ingests the file with ingest_document, the inline
path's own function (same redaction, same deletion rule, same audit), and records the
conversations or the error. Queueing the task is conversations.tasks' (ingest_start).

A worker that dies leaves the job running with a lease that expires: the watchdog task
(tasks.ingest_watch) runs it again from the staged file, which is removed only once the job is
over. Ingesting the same bytes again is harmless: ingest_document stores them once.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from conversations.history.formats.document import Document
from conversations.ingest import Outcome, ingest_document
from conversations.models import IngestJob
from conversations.writeback.durable import fsync_dir

logger = logging.getLogger("conversations.ingest")

# A job whose worker died this many times is given up (its file may be what kills them).
MAX_ATTEMPTS = 3
ERROR_MAX = 2_000


def ingests_inline(size: int) -> bool:
    """Whether a body of `size` bytes is ingested inside its request."""
    return size <= settings.INGEST_INLINE_MAX_BYTES


def staging_dir() -> Path:
    return Path(settings.INGEST_STAGING_DIR)


def lease_seconds() -> int:
    return settings.JOB_LEASE_SECONDS


# --- staging, in the request --------------------------------------------------------------------------


def ingest_stage(chunks: Iterable[bytes], *, name: str, kind: str, format: str | None = None, user=None) -> IngestJob:
    """Write `chunks` durably to a staged file and record the job that will ingest it. Raises
    OSError when the file cannot be written (nothing is recorded then)."""
    folder = staging_dir()
    # Owner-only: a staged log is not redacted yet (its ingest redacts it).
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    staged = f"{uuid.uuid4().hex}.log"
    partial = folder / f"{staged}.part"
    size = 0
    try:
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, folder / staged)
        fsync_dir(folder)
        return IngestJob.objects.create(
            name=name,
            source_kind=kind,
            format=format or "",
            size=size,
            staged=staged,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
    except BaseException:
        for path in (partial, folder / staged):
            path.unlink(missing_ok=True)
        raise


# --- running, in a worker -------------------------------------------------------------------------------


def ingest_claim(job_id: int) -> IngestJob | None:
    """Take the job: queued, or running under a lease that expired (its worker died). None when
    it is over or another worker holds it."""
    now = timezone.now()
    taken = (
        IngestJob.objects.filter(pk=job_id)
        .filter(Q(status=IngestJob.Status.QUEUED) | Q(status=IngestJob.Status.RUNNING, lease_expires_at__lt=now))
        .update(
            status=IngestJob.Status.RUNNING,
            started_at=now,
            lease_expires_at=now + timedelta(seconds=lease_seconds()),
            attempts=F("attempts") + 1,
        )
    )
    return IngestJob.objects.get(pk=job_id) if taken else None


def ingest_staged_run(job_id: int) -> IngestJob | None:
    """Ingest the job's staged file, if this worker can take the job; the job as it ended, or
    None when it could not take it."""
    job = ingest_claim(job_id)
    if job is None:
        return None
    if job.attempts > MAX_ATTEMPTS:
        return ingest_fail(job, f"{job.name}: the worker stopped {job.attempts - 1} times while ingesting it; given up")
    try:
        with _lease_kept(job.pk):
            data = (staging_dir() / job.staged).read_bytes()
            doc = Document.from_bytes(job.name, data)
            del data
            outcome = ingest_document(
                doc, kind=job.source_kind, location=job.name, format=job.format or None, user=job.created_by
            )
    except OSError as exc:
        return ingest_fail(job, f"{job.name}: its staged copy cannot be read ({exc.strerror or exc})")
    except Exception as exc:  # never a job left running: it says what went wrong, with no traceback
        logger.exception("ingest job %s failed", job.pk)
        return ingest_fail(job, f"{job.name}: {type(exc).__name__}: {exc}"[:ERROR_MAX])
    return ingest_finish(job, outcome)


def outcome_error(name: str, outcome: Outcome) -> str | None:
    """Why the ingest stored nothing the client can use, in the inline answers' words; None when
    it gave conversations."""
    if outcome.status == "failed":
        return f"{outcome.error or 'the log could not be read'} (nothing was stored)"
    if outcome.held and not (outcome.added or outcome.unchanged):
        return outcome.held_reason
    if outcome.status == "skipped":
        return f"{name}: no conversation found ({outcome.reason}); nothing was stored"
    if not (outcome.added or outcome.unchanged):
        return f"{name}: no conversation found"
    return None


def ingest_finish(job: IngestJob, outcome: Outcome) -> IngestJob:
    result: dict[str, Any] = {
        "outcome": outcome.status,
        "conversations": outcome.added + outcome.unchanged,
        "added": outcome.added,
        "unchanged": outcome.unchanged,
        "held": outcome.held,
        "failures": outcome.failures,
    }
    error = outcome_error(job.name, outcome)
    return _end(job, IngestJob.Status.FAILED if error else IngestJob.Status.DONE, result=result, error=error or "")


def ingest_fail(job: IngestJob, error: str) -> IngestJob:
    return _end(job, IngestJob.Status.FAILED, result={}, error=error)


def _end(job: IngestJob, status: str, *, result: dict, error: str) -> IngestJob:
    IngestJob.objects.filter(pk=job.pk).update(
        status=status, result=result, error=error, finished_at=timezone.now(), lease_expires_at=None
    )
    (staging_dir() / job.staged).unlink(missing_ok=True)
    job.refresh_from_db()
    return job


@contextmanager
def _lease_kept(job_id: int) -> Iterator[None]:
    """Renew the job's lease every third of it while the ingest runs (a large log can take longer
    than a lease): the watchdog takes over only from a worker that died."""
    stop = threading.Event()
    period = max(1.0, lease_seconds() / 3)

    def renew() -> None:
        try:
            while not stop.wait(period):
                IngestJob.objects.filter(pk=job_id, status=IngestJob.Status.RUNNING).update(
                    lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds())
                )
        finally:
            connection.close()

    thread = threading.Thread(target=renew, name=f"ingest-lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def lease_live(job: IngestJob) -> bool:
    return job.lease_expires_at is not None and job.lease_expires_at > timezone.now()


# --- what the page and the API show ---------------------------------------------------------------------


def ingest_state(job: IngestJob) -> dict[str, Any]:
    """The job's state for its status URL and the upload page: status, progress, and once over
    the conversation ids or the error."""
    progress = {"queued": 0, "running": 50}.get(job.status, 100)
    elapsed_from = job.started_at or job.created_at
    elapsed_to = job.finished_at or timezone.now()
    return {
        "job": job.pk,
        "status": job.status,
        "name": job.name,
        "size": job.size,
        "progress": {
            "percent": progress,
            "step": {
                "queued": "waiting for a worker",
                "running": "reading, checking and storing",
                "done": "stored",
                "failed": "failed",
            }[job.status],
            "seconds": round((elapsed_to - elapsed_from).total_seconds(), 1) if elapsed_from else 0.0,
            "attempts": job.attempts,
        },
        "conversations": job.result.get("conversations", []) if job.status == IngestJob.Status.DONE else [],
        "outcome": job.result.get("outcome"),
        "failures": job.result.get("failures", []),
        "error": job.error or None,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }
