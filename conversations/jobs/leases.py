"""Claiming a job's items, and the leases that keep a batch its worker's: a worker that dies leaves
leases that expire, and its items are then claimed again (one at a time: a conversation that kills
every worker uses up its own attempts). And how a worker process behaves while it works: the
garbage collector settled and paused, PostgreSQL's commit flush relaxed, rests between items.

Time comes from a Clock (monotonic seconds, the wall time leases are written in, sleep): the
system's, or one a test moves itself."""

from __future__ import annotations

import gc
import os
import socket
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from conversations.jobs.create import ACTIVE
from conversations.models import Job, JobItem

# An item that was started this many times without finishing (its worker died each time) is
# given up as failed instead of killing every worker that picks it up.
MAX_ATTEMPTS = 3


class Clock:
    """Time as a worker reads it: monotonic seconds (how long an item took, when to renew a lease),
    the wall time leases are written in, and sleep (rests). Tests pass a clock they move themselves."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return timezone.now()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = Clock()


def claim_batch() -> int:
    """Items a worker claims at once (settings.JOB_CLAIM_BATCH)."""
    return max(1, settings.JOB_CLAIM_BATCH)


def worker_name() -> str:
    """Unique per job_work call: two runners in one process must not share leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def items_claim(job_id: int, *, worker: str, limit: int | None = None, clock: Clock = SYSTEM_CLOCK) -> list[int]:
    """Take up to `limit` items no live worker holds, in id order, and count the attempt. Returns
    their ids; empty when there is nothing to take (or the job is no longer active).

    An item whose lease expired (its worker died, maybe while applying it) is taken alone: a
    conversation that kills every worker then uses up its own attempts (MAX_ATTEMPTS), never
    those of the items claimed in the same batch as it."""
    limit = limit or claim_batch()
    now = clock.now()
    with transaction.atomic():
        job = Job.objects.filter(pk=job_id, status__in=ACTIVE).values("lease_seconds").first()
        if job is None:
            return []
        _give_up_stuck(job_id, now)
        items = JobItem.objects.filter(job_id=job_id).order_by("id").select_for_update(skip_locked=True)
        expired = items.filter(status=JobItem.Status.RUNNING, lease_expires_at__lt=now)
        ids = list(expired.values_list("id", flat=True)[:1])
        if not ids:
            ids = list(items.filter(status=JobItem.Status.PENDING).values_list("id", flat=True)[:limit])
        if ids:
            JobItem.objects.filter(id__in=ids).update(
                status=JobItem.Status.RUNNING,
                lease_owner=worker,
                attempts=F("attempts") + 1,
                lease_expires_at=now + timedelta(seconds=job["lease_seconds"]),
            )
            Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(status=Job.Status.RUNNING, started_at=now)
    return ids


def _give_up_stuck(job_id: int, now) -> None:
    """Items claimed MAX_ATTEMPTS times by workers that died before finishing them: failed, with
    the reason."""
    JobItem.objects.filter(
        job_id=job_id, status=JobItem.Status.RUNNING, lease_expires_at__lt=now, attempts__gte=MAX_ATTEMPTS
    ).update(
        status=JobItem.Status.FAILED,
        finished_at=now,
        lease_owner="",
        lease_expires_at=None,
        reason=f"gave up after {MAX_ATTEMPTS} attempts: the worker stopped each time while applying it",
    )


def leases_reclaim(job_id: int | None = None) -> int:
    """Put items whose lease expired back to pending (claiming takes them anyway; this makes the
    progress page honest about what is really running). Returns how many."""
    items = JobItem.objects.filter(status=JobItem.Status.RUNNING, lease_expires_at__lt=timezone.now())
    if job_id is not None:
        items = items.filter(job_id=job_id)
    return items.update(status=JobItem.Status.PENDING, lease_owner="", lease_expires_at=None)


def live_lease_end(job_id: int) -> datetime | None:
    """When the last live lease on the job's items expires; None when no worker holds one (the
    watchdog, conversations.tasks.job_watch, then resumes the work itself)."""
    return JobItem.objects.filter(
        job_id=job_id, status=JobItem.Status.RUNNING, lease_expires_at__gt=timezone.now()
    ).aggregate(last=Max("lease_expires_at"))["last"]


class Lease:
    """Keeps a claimed batch's items this worker's while it works on them: past half the lease,
    the items not finished yet get a fresh one. A batch of very long conversations can outlast a
    lease, and another worker would then take its items over and this one's work be lost."""

    def __init__(self, ids: list[int], worker: str, seconds: int, claimed_at: float, clock: Clock = SYSTEM_CLOCK):
        self.ids, self.worker, self.seconds, self.clock = ids, worker, seconds, clock
        self.renew_at = claimed_at + seconds / 2

    def keep(self) -> None:
        """Called before each item of the batch: renews the leases once half of them has gone."""
        if not self.seconds or self.clock.monotonic() < self.renew_at:  # no seconds: no item was loaded
            return
        JobItem.objects.filter(pk__in=self.ids, lease_owner=self.worker, status=JobItem.Status.RUNNING).update(
            lease_expires_at=self.clock.now() + timedelta(seconds=self.seconds)
        )
        self.renew_at = self.clock.monotonic() + self.seconds / 2


def rest_after(rest: float, began: float, clock: Clock = SYSTEM_CLOCK) -> None:
    """Rest `rest` times as long as what began at `began` took (settings.JOB_REST_PERCENT)."""
    if rest > 0:
        clock.sleep(rest * (clock.monotonic() - began))


# --- the worker process ----------------------------------------------------------------------------

_settled = False


@contextmanager
def collector_settled():
    """Python's cyclic collector scans every object of a generation each time it collects it, and
    a worker holds a few hundred thousand long-lived ones (Django, litellm's tables): a bulk job
    spent a sixth of its CPU scanning them again and again. Once per process they are collected
    and moved out of its sight (gc.freeze); while a job runs, young collections are rarer too
    (its histories are freed by reference counting: they hold no cycles)."""
    global _settled
    if not _settled:
        gc.collect()
        gc.freeze()
        _settled = True
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 20_000), max(thresholds[1], 50), max(thresholds[2], 50))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@contextmanager
def collector_paused():
    """No cyclic collection while a batch is worked on. A batch holds every conversation it has
    read until it writes them all, a few thousand objects each: the collector, started by that
    many allocations, scanned them again and again (a twelfth of a repair's CPU) and never found
    garbage among them. They are freed by reference counting when the batch is done, before the
    collector is back; what cyclic garbage a batch leaves (Django makes a little) is collected as
    usual afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def commits_unflushed(job_id: int):
    """Let the job's items commit without waiting for PostgreSQL to flush its log to disk
    (synchronous_commit=off, on this connection while the job runs): a flush costs ~4 ms here,
    as much as the work of an item. A database crash may then lose the last fraction of a second
    of items, but never half of one (a transaction stays atomic), and a lost item is claimed and
    applied again from the revision it names. Write-back jobs keep flushing: they change files
    the database cannot take back."""
    relax = connection.vendor == "postgresql" and not Job.objects.filter(pk=job_id, kind=Job.Kind.WRITE_BACK).exists()
    if relax:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        if relax:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("RESET synchronous_commit")
            except DatabaseError:
                pass  # the connection is gone, and the setting with it; the error that broke it goes on
