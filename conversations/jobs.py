"""Bulk jobs: one action (re-check, dry-run repair, repair, repair and write back, export, delete)
on many conversations, run in the background by any number of workers, with progress and cancel.

    job = job_start(Job.Kind.REPAIR, conversations, user=request.user, options={"reason": "..."})
    # workers: conversations.tasks.job_run(job.pk) -> job_work(job.pk)

Why our own tables and not just the task backend: django-tasks can neither cancel a task nor give
a dead worker's task to another. So a task here only says "work on job N"; the work itself is the
job's items, one per conversation, which workers claim in small batches with a lease:

- claiming is one UPDATE of items that are pending or whose lease expired (SELECT ... FOR UPDATE
  SKIP LOCKED on PostgreSQL, so two workers never wait for each other; SQLite serializes writers);
- a batch's items are computed outside any transaction, then written in one transaction that
  locks them, checks that their leases are still ours and that the job is not cancelled, checks
  that each conversation's latest revision is still the one recorded when the job was queued
  (else that item is skipped and reported), writes, and marks each item done with the revision it
  produced (writing files back goes one item per transaction: a file cannot be rolled back). A
  worker killed in the middle leaves nothing half written and its leases expire; the items are
  then claimed again, one at a time, and since their conversations have not changed each is
  applied exactly once;
- a watchdog task (job_watch) comes back every lease period while the job is unfinished and, when
  no worker holds a live lease, resumes the work itself: that is how a job whose only worker was
  killed finishes once a worker runs again.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import socket
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, QuerySet
from django.utils import timezone

from conversations.models import AuditEvent, Conversation, Job, JobItem, Source, Verdict, rows_update

logger = logging.getLogger(__name__)

# An item that was started this many times without finishing (its worker died each time) is
# given up as failed instead of killing every worker that picks it up.
MAX_ATTEMPTS = 3
# How long after a lease expires the watchdog looks again (the lease is a deadline, not a signal).
WATCH_SLACK = timedelta(seconds=2)
# How long one task works on a job before it hands over to a fresh task (see job_work).
RUN_SECONDS = 60

ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)
OPEN = (JobItem.Status.PENDING, JobItem.Status.RUNNING)


def claim_batch() -> int:
    """Items a worker claims at once (settings.JOB_CLAIM_BATCH)."""
    return max(1, getattr(settings, "JOB_CLAIM_BATCH", 50))


def worker_name() -> str:
    """Unique per job_work call: two runners in one process must not share leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# --- creating and queueing ------------------------------------------------------------------------


def job_create(
    kind: str, conversations: QuerySet, *, user=None, options: dict | None = None, lease_seconds: int | None = None
) -> Job:
    """A job with one item per conversation, each recording the latest revision as it is now:
    a conversation that changes before its item runs is skipped, not acted on blindly."""
    if kind not in Job.Kind.values:
        raise ValueError(f"unknown job kind {kind!r}")
    rows = conversations.order_by("pk").values_list("pk", "latest_revision_id")
    with transaction.atomic():
        job = Job.objects.create(
            kind=kind,
            created_by=_user(user),
            options=options or {},
            lease_seconds=lease_seconds or getattr(settings, "JOB_LEASE_SECONDS", 60),
        )
        items = (JobItem(job=job, conversation_id=pk, expected_revision_id=revision) for pk, revision in rows)
        total = 0
        for batch in _batches(items, 1000):
            JobItem.objects.bulk_create(batch)
            total += len(batch)
        job.total = total
        job.save(update_fields=["total"])
        _audit(job, "job-queue", kind=kind, total=total, options=job.options)
    return job


def job_enqueue(job: Job, *, runners: int | None = None) -> None:
    """Ask the task backend for `runners` workers on the job, and start its watchdog. Sent after
    commit: a worker on another connection must find the items."""
    from conversations import tasks

    wanted = runners or getattr(settings, "JOB_RUNNERS", 2)
    count = max(1, min(wanted, math.ceil(job.total / claim_batch())))
    job_id = job.pk
    first_watch = timezone.now() + timedelta(seconds=job.lease_seconds) + WATCH_SLACK

    def send() -> None:
        for _ in range(count):
            tasks.job_run.enqueue(job_id)
        tasks.job_watch.using(run_after=first_watch).enqueue(job_id)

    transaction.on_commit(send)


def job_start(
    kind: str, conversations: QuerySet, *, user=None, options: dict | None = None, runners: int | None = None
) -> Job:
    job = job_create(kind, conversations, user=user, options=options)
    job_enqueue(job, runners=runners)
    return job


# --- claiming and leases ----------------------------------------------------------------------------


def items_claim(job_id: int, *, worker: str, limit: int | None = None) -> list[int]:
    """Take up to `limit` items no live worker holds, in id order, and count the attempt. Returns
    their ids; empty when there is nothing to take (or the job is no longer active).

    An item whose lease expired (its worker died, maybe while applying it) is taken alone: a
    conversation that kills every worker then uses up its own attempts (MAX_ATTEMPTS), never
    those of the items claimed in the same batch as it."""
    limit = limit or claim_batch()
    now = timezone.now()
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


# --- running -------------------------------------------------------------------------------------------


def job_work(job_id: int, *, worker: str | None = None, batch: int | None = None, seconds: float | None = None) -> int:
    """Work on the job until no item is left to claim, then finish it if nothing is left at all.
    With `seconds`, stop at the first batch boundary past that and queue a continuation task:
    what conversations.tasks.job_run does, so that a task never outlives a backend's timeout
    (RQ kills a task after 180 s by default) and a worker's queue never waits on one long job.
    Returns how many items this call applied."""
    worker = worker or worker_name()
    batch = batch or claim_batch()
    stop_at = None if seconds is None else time.monotonic() + seconds
    with _commits_unflushed(job_id), _collector_settled():
        return _job_work(job_id, worker, batch, stop_at)


_settled = False


@contextmanager
def _collector_settled():
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
def _collector_paused():
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
def _commits_unflushed(job_id: int):
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


def _job_work(job_id: int, worker: str, batch: int, stop_at: float | None) -> int:
    applied = 0
    rest = getattr(settings, "JOB_REST_PERCENT", 0) / 100
    while ids := items_claim(job_id, worker=worker, limit=batch):
        with _collector_paused():
            ran, lost = _claimed_work(ids, worker, rest)
        applied += ran
        if lost and not Job.objects.filter(pk=job_id, status__in=ACTIVE).exists():
            # Cancelled while the batch ran: the rest of it was cancelled with the job.
            job_report_store(job_id)
            return applied
        if stop_at is not None and time.monotonic() > stop_at:
            from conversations import tasks

            tasks.job_run.enqueue(job_id)
            return applied
    job_finish(job_id)
    return applied


def _claimed_work(ids: list[int], worker: str, rest: float) -> tuple[int, bool]:
    """Apply the items just claimed: (how many were applied, whether any was lost to this worker
    on the way, cancelled or taken over). What they read is dropped on return."""
    claimed_at = time.monotonic()
    loaded = _items_load(ids)
    lease = _Lease(ids, worker, next(iter(loaded.values())).job.lease_seconds if loaded else 0, claimed_at)
    kinds = {item.job.kind for item in loaded.values()}
    if len(ids) > 1 and all(ACTIONS[kind].batched for kind in kinds):
        ran, lost = _batch_run([loaded[i] for i in ids if i in loaded], worker, rest, lease)
    else:
        ran, lost = _one_by_one(ids, loaded, worker, rest, lease)
    return ran, lost or len(loaded) < len(ids)


class _Lease:
    """Keeps a claimed batch's items this worker's while it works on them: past half the lease,
    the items not finished yet get a fresh one. A batch of very long conversations can outlast a
    lease, and another worker would then take its items over and this one's work be lost."""

    def __init__(self, ids: list[int], worker: str, seconds: int, claimed_at: float):
        self.ids, self.worker, self.seconds = ids, worker, seconds
        self.renew_at = claimed_at + seconds / 2

    def keep(self) -> None:
        if not self.seconds or time.monotonic() < self.renew_at:  # no seconds: no item was loaded
            return
        JobItem.objects.filter(pk__in=self.ids, lease_owner=self.worker, status=JobItem.Status.RUNNING).update(
            lease_expires_at=timezone.now() + timedelta(seconds=self.seconds)
        )
        self.renew_at = time.monotonic() + self.seconds / 2


def _one_by_one(
    ids: list[int], loaded: dict[int, JobItem], worker: str, rest: float, lease: _Lease
) -> tuple[int, bool]:
    """Apply the items one transaction each (actions that are not batched, such as writing files
    back). Returns how many were applied, and whether one was no longer ours (stops the batch)."""
    applied = 0
    for item_id in ids:
        lease.keep()
        began = time.monotonic()
        if not item_run(item_id, worker=worker, item=loaded.pop(item_id, None)):
            return applied, True
        applied += 1
        _rest(rest, began)
    return applied, False


def _rest(rest: float, began: float) -> None:
    if rest > 0:
        time.sleep(rest * (time.monotonic() - began))


def job_watch(job_id: int) -> str:
    """The watchdog: while the job is unfinished, come back after the latest lease expires; when
    no worker holds a live lease (they died, or none was free), do the work here. Its successor is
    queued first, so a watchdog that is killed too still has one."""
    from conversations import tasks

    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.finished:
        return "finished"
    now = timezone.now()
    live = JobItem.objects.filter(job_id=job_id, status=JobItem.Status.RUNNING, lease_expires_at__gt=now).aggregate(
        last=Max("lease_expires_at")
    )["last"]
    tasks.job_watch.using(run_after=(live or now + timedelta(seconds=job.lease_seconds)) + WATCH_SLACK).enqueue(job_id)
    if live is not None:
        return "waiting"
    leases_reclaim(job_id)
    job_work(job_id, seconds=RUN_SECONDS)
    return "resumed"


def item_run(item_id: int, *, worker: str, item: JobItem | None = None) -> bool:
    """Apply one item in its own transaction. True when this worker applied it (done, skipped or
    failed); False when it was no longer ours (lease taken over, job cancelled) and nothing was
    written. `item`: the item as _items_load read it with its batch (what it reads is checked
    again under the locks)."""
    if item is None:
        item = _items_load([item_id]).get(item_id)
        if item is None:
            return False
    action = ACTIONS[item.job.kind]
    prepared = _prepare(item, action)
    if prepared.status:
        return _item_close(item_id, worker, prepared.status, reason=prepared.reason)
    try:
        with transaction.atomic():
            locked = _item_lock(item_id, worker, with_conversation=action.writes)
            if locked is None:
                return False
            conversation = item.conversation
            if action.writes:
                conversation = locked.conversation
                problem = _state_problem(item, conversation)
                if problem:
                    _item_set(locked, JobItem.Status.SKIPPED, reason=problem)
                    return True
            _adopt(locked, item)
            action.apply(locked, conversation, prepared.value)
            _item_set(locked, JobItem.Status.DONE)
    except Skip as exc:
        return _item_close(item_id, worker, JobItem.Status.SKIPPED, reason=str(exc))
    except Exception as exc:
        return _item_close(item_id, worker, JobItem.Status.FAILED, reason=_reason(exc, item))
    return True


@dataclass
class Prepared:
    """An item after its action's prepare: the value apply takes, or why it ends there (a status
    and a reason)."""

    item: JobItem
    value: Any = None
    status: str = ""
    reason: str = ""


def _prepare(item: JobItem, action: Action) -> Prepared:
    """The action's prepare, outside any transaction (the slow part must hold no lock). A
    conversation gone or changed since the job was queued ends here, skipped."""
    problem = _state_problem(item, item.conversation)
    if problem:
        return Prepared(item, status=JobItem.Status.SKIPPED, reason=problem)
    try:
        return Prepared(item, action.prepare(item))
    except Skip as exc:
        return Prepared(item, status=JobItem.Status.SKIPPED, reason=str(exc))
    except Exception as exc:  # one bad conversation must not stop the job: it is reported instead
        return Prepared(item, status=JobItem.Status.FAILED, reason=_reason(exc, item))


def _adopt(locked: JobItem, item: JobItem) -> None:
    """What the item read with its batch, onto the row read under the lock."""
    locked.job = item.job
    locked.expected_revision = item.expected_revision


# Messages a batch holds prepared in memory before it writes them (a batch of long
# conversations is written in several transactions).
BATCH_MESSAGES = 10_000


def _batch_run(items: list[JobItem], worker: str, rest: float, lease: _Lease) -> tuple[int, bool]:
    """Apply a batch of items: each prepared outside any transaction, then all written in one
    transaction (a repair batch writes its revisions, verdicts, audit events and items in a dozen
    statements instead of a dozen per item). A transaction is all or nothing, so each conversation
    is written whole or not at all. Should the batch's transaction fail, its items are applied
    again one at a time, so that one bad item fails alone. Returns as _one_by_one."""
    applied, lost, group, held = 0, False, [], 0
    for item in items:
        lease.keep()
        began = time.monotonic()
        group.append(_prepare(item, ACTIONS[item.job.kind]))
        held += item.expected_revision.message_count if item.expected_revision else 0
        _rest(rest, began)
        if held >= BATCH_MESSAGES or item is items[-1]:
            began = time.monotonic()
            done, missing = _batch_write(group, worker)
            applied, lost, group, held = applied + done, lost or missing, [], 0
            _rest(rest, began)
    return applied, lost


def _batch_write(group: list[Prepared], worker: str) -> tuple[int, bool]:
    action = ACTIONS[group[0].item.job.kind]
    try:
        with transaction.atomic():
            locked = _items_lock([p.item.pk for p in group], worker, with_conversations=action.writes)
            finished, ready = [], []
            for p in group:
                row = locked.get(p.item.pk)
                if row is None:
                    continue
                finished.append(row)
                if p.status:
                    _item_finish(row, p.status, reason=p.reason)
                    continue
                problem = _state_problem(p.item, row.conversation) if action.writes else None
                if problem:
                    _item_finish(row, JobItem.Status.SKIPPED, reason=problem)
                    continue
                _adopt(row, p.item)
                ready.append((row, row.conversation if action.writes else p.item.conversation, p.value))
            action.apply_many(ready)
            for row, _, _ in ready:
                _item_finish(row, JobItem.Status.DONE)
            rows_update(finished, FINISHED_FIELDS)
    except Exception as exc:
        logger.info("job %s: a batch of %d items is applied one at a time: %s", group[0].item.job_id, len(group), exc)
        applied = 0
        for p in group:
            if not item_run(p.item.pk, worker=worker, item=p.item):
                return applied, True
            applied += 1
        return applied, False
    return len(finished), len(finished) < len(group)


def _items_load(ids: list[int]) -> dict[int, JobItem]:
    """The items with what their action reads, in at most four queries for a whole batch: the
    items; their revisions' chunks, for actions that read the history; the own verdicts stored
    with them (`stored_verdict`), for repairs. `accepted_now`: that verdict accepts the revision
    under the current rules (see _needs_no_repair)."""
    from conversations.checks import RULES_VERSION, own_verdicts_stored
    from conversations.models import chunks_prefetch

    accepted = Verdict.objects.filter(
        revision=OuterRef("expected_revision"), own_target=True, accepted=True, rules_version=RULES_VERSION
    )
    items = {
        item.pk: item
        for item in JobItem.objects.select_related(
            "job", "job__created_by", "conversation__source", "expected_revision"
        )
        .annotate(accepted_now=Exists(accepted))
        .filter(pk__in=ids)
    }
    by_id: dict[int, Job] = {}
    for item in items.values():  # one Job instance for the batch: its options are read per item
        item.job = by_id.setdefault(item.job_id, item.job)
    kinds = {job.kind for job in by_id.values()}
    revisions = [
        item.expected_revision
        for item in items.values()
        if item.expected_revision is not None and not item.accepted_now
    ]
    if any(ACTIONS[kind].reads_history for kind in kinds):
        chunks_prefetch(revisions)
    stored = own_verdicts_stored(revisions) if kinds & set(REPAIRING) else {}
    for item in items.values():
        item.stored_verdict = stored.get(item.expected_revision_id)
    return items


class Skip(Exception):
    """An item that is not applied, for a reason that is not a failure (shown with the item)."""


def _state_problem(item: JobItem, conversation: Conversation | None) -> str | None:
    if conversation is None:
        return "the conversation no longer exists"
    if conversation.deleted_at is not None:
        return "the conversation was deleted"
    if conversation.latest_revision_id != item.expected_revision_id:
        return (
            "changed after the job was queued (the latest revision is no longer the one the job "
            "was queued with); run the action again to include it"
        )
    return None


def _item_lock(item_id: int, worker: str, *, with_conversation: bool = False) -> JobItem | None:
    """The item, row-locked, if it is still this worker's and its job still active; with its
    conversation locked too (in the same query) for the actions that write to it."""
    items = _ours([item_id], worker)
    if with_conversation:
        # conversation__isnull=False makes the join an inner one, which PostgreSQL can lock.
        items = (
            items.filter(conversation__isnull=False)
            .select_related("conversation__source", "conversation__latest_revision")
            .select_for_update(of=("self", "conversation"))
        )
    else:
        items = items.select_for_update(of=("self",))
    return items.first()


def _items_lock(ids: list[int], worker: str, *, with_conversations: bool) -> dict[int, JobItem]:
    """The items still this worker's, row-locked, by id; with their conversations locked too, in
    id order (two writers lock shared conversations in the same order, so they cannot deadlock).
    An item whose conversation is gone gets None as its conversation."""
    items = {item.pk: item for item in _ours(ids, worker).select_for_update(of=("self",))}
    if with_conversations:
        conversations = {
            c.pk: c
            for c in Conversation.objects.select_for_update(of=("self",))
            .select_related("source", "latest_revision")
            .order_by("pk")
            .filter(pk__in=[item.conversation_id for item in items.values()])
        }
        for item in items.values():
            item.conversation = conversations.get(item.conversation_id)
    return items


def _ours(ids: list[int], worker: str) -> QuerySet:
    return JobItem.objects.filter(pk__in=ids, lease_owner=worker, status=JobItem.Status.RUNNING, job__status__in=ACTIVE)


# What finishing an item writes (the actions set the last four).
FINISHED_FIELDS = [
    "status",
    "reason",
    "finished_at",
    "lease_expires_at",
    "changed",
    "outcome",
    "produced_revision",
    "output",
]


def _item_finish(item: JobItem, status: str, *, reason: str = "") -> None:
    item.status = status
    item.reason = reason[:500] if reason else item.reason
    item.finished_at = timezone.now()
    item.lease_expires_at = None


def _item_set(item: JobItem, status: str, *, reason: str = "") -> None:
    _item_finish(item, status, reason=reason)
    item.save(update_fields=FINISHED_FIELDS)


def _item_close(item_id: int, worker: str, status: str, *, reason: str) -> bool:
    with transaction.atomic():
        locked = _item_lock(item_id, worker)
        if locked is None:
            return False
        _item_set(locked, status, reason=reason)
    return True


def _reason(exc: Exception, item: JobItem) -> str:
    from django.core.exceptions import PermissionDenied

    from conversations.history.errors import HistoryError

    if isinstance(exc, (HistoryError, PermissionDenied)):
        return str(exc)
    logger.exception("job %s: conversation %s failed", item.job_id, item.conversation_id)
    return f"internal error: {exc.__class__.__name__}: {exc}"


# --- finishing, cancelling, progress ------------------------------------------------------------------


def job_finish(job_id: int) -> bool:
    """Mark the job done when no item is open; True when this call did (one caller wins)."""
    if JobItem.objects.filter(job_id=job_id, status__in=OPEN).exists():
        return False
    job = Job.objects.get(pk=job_id)
    report = job_report(job)
    with transaction.atomic():
        done = Job.objects.filter(pk=job_id, status__in=ACTIVE).update(
            status=Job.Status.DONE, finished_at=timezone.now(), report=report
        )
        if done:
            job.refresh_from_db()
            _audit(job, "job-finish", kind=job.kind, **report.get("counts", {}))
    return bool(done)


def job_cancel(job: Job, *, user) -> bool:
    """Stop the job between two items: the items not written are cancelled at once; a batch being
    written right now completes (it is one transaction), one being computed writes nothing. False
    when it had finished."""
    now = timezone.now()
    with transaction.atomic():
        stopped = Job.objects.filter(pk=job.pk, status__in=ACTIVE).update(
            status=Job.Status.CANCELLED, finished_at=now, cancelled_by=_user(user)
        )
        if not stopped:
            return False
        JobItem.objects.filter(job=job, status__in=OPEN).update(
            status=JobItem.Status.CANCELLED,
            finished_at=now,
            lease_owner="",
            lease_expires_at=None,
            reason="cancelled before it ran",
        )
        job.refresh_from_db()
        _audit(job, "job-cancel", actor=user, kind=job.kind)
    job_report_store(job.pk)
    return True


@dataclass(frozen=True)
class Progress:
    total: int
    pending: int = 0
    running: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: int = 0
    changed: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed + self.cancelled

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.finished / self.total)

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "pending": self.pending,
            "running": self.running,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "changed": self.changed,
            "finished": self.finished,
            "percent": self.percent,
        }


def job_progress(job: Job) -> Progress:
    """Counts by item status: two small indexed queries (what the progress page polls)."""
    counts = dict(JobItem.objects.filter(job=job).order_by().values_list("status").annotate(n=Count("id")))
    changed = JobItem.objects.filter(job=job, changed=True).count()
    return Progress(total=job.total, changed=changed, **{k: counts.get(k, 0) for k in JobItem.Status.values})


def job_problems(job: Job, limit: int = 50) -> QuerySet:
    """Failed and skipped items with their reasons, failures first (the progress page's list)."""
    return (
        JobItem.objects.filter(job=job, status__in=(JobItem.Status.FAILED, JobItem.Status.SKIPPED))
        .select_related("conversation")
        .order_by("-status", "id")[:limit]
    )


# --- reports ------------------------------------------------------------------------------------------

SAMPLES = 3


def job_report(job: Job) -> dict:
    """What the job did, for its page once it is over: counts, and for repairs the rules they fix
    and a few sample diffs (computed here again for SAMPLES conversations: cheaper than keeping a
    diff for every item)."""
    progress = job_progress(job)
    report: dict[str, Any] = {"counts": progress.to_dict()}
    by_rule: Counter[str] = Counter()
    remaining: Counter[str] = Counter()
    edits = 0
    for outcome in (
        JobItem.objects.filter(job=job, changed=True).values_list("outcome", flat=True).iterator(chunk_size=500)
    ):
        by_rule.update(outcome.get("rules", []))
        remaining.update(outcome.get("remaining", []))
        edits += outcome.get("edit_count", 0)
    if job.kind in REPAIRING:
        report["by_rule"] = dict(by_rule.most_common())
        report["still_rejected_by_rule"] = dict(remaining.most_common())
        report["edits"] = edits
        report["samples"] = _samples(job)
    if job.kind == Job.Kind.EXPORT:
        report["files"] = sum(
            len(o.get("files", []))
            for o in JobItem.objects.filter(job=job, status=JobItem.Status.DONE)
            .values_list("outcome", flat=True)
            .iterator(chunk_size=500)
        )
    return report


def job_report_store(job_id: int) -> None:
    job = Job.objects.get(pk=job_id)
    Job.objects.filter(pk=job_id).update(report=job_report(job))


def _samples(job: Job) -> list[dict]:
    from conversations.history.diff import histories_diff

    samples = []
    items = (
        JobItem.objects.filter(job=job, changed=True)
        .select_related("conversation", "expected_revision", "produced_revision")
        .order_by("id")[:SAMPLES]
    )
    for item in items:
        if item.expected_revision is None or item.conversation is None:
            continue
        try:
            # What was written when the job wrote something; else what the repair would write.
            after = (
                item.produced_revision.history
                if item.produced_revision
                else repair_preview(item.expected_revision, job.options).history
            )
        except Exception:  # a sample is an illustration: never a reason for the report to fail
            logger.exception("job %s: no sample diff for conversation %s", job.pk, item.conversation_id)
            continue
        samples.append(
            {
                "conversation": item.conversation_id,
                "title": str(item.conversation),
                "url": item.conversation.get_absolute_url(),
                "edits": item.outcome.get("edits", []),
                "diff": histories_diff(item.expected_revision.history, after),
            }
        )
    return samples


# --- helpers -----------------------------------------------------------------------------------------


def _user(user):
    return user if getattr(user, "is_authenticated", False) else None


def _audit(job: Job, action: str, *, actor=None, conversation=None, revision=None, **detail) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=_user(actor) or job.created_by,
        action=action,
        conversation=conversation,
        revision=revision,
        detail={"job": job.pk, **detail},
    )


def _batches(iterable: Iterable, size: int) -> Iterator[list]:
    batch = []
    for row in iterable:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- actions: what one item does, by job kind ------------------------------------------------------
# Each action has prepare(item) -> value, run outside any transaction (reading and the pure
# computation: the slow part, which must not hold locks), and apply(item, conversation, value),
# run inside the item's transaction with the item row-locked (and the conversation too, for the
# actions that write to it). apply sets item.changed/outcome/produced_revision; it raises Skip for
# an item that is not a failure but is not applied either. Kinds are looked up in ACTIONS (a
# registry, no if/elif on kinds).


@dataclass(frozen=True)
class Action:
    prepare: Callable[[JobItem], Any]
    apply: Callable[[JobItem, Conversation, Any], None]
    # False for actions that change nothing but the item (dry-run, export): no conversation lock.
    writes: bool = True
    # False for actions that never read the conversation's history (delete): no chunks are read.
    reads_history: bool = True
    # False: each item in a transaction of its own, never a batch's (writing files back: a file
    # written cannot be taken back with a batch that fails after it).
    batched: bool = True
    # apply for a whole batch at once, taking [(item, conversation, prepared), ...]; by default
    # apply for each in turn.
    apply_batch: Callable[[list[tuple[JobItem, Conversation, Any]]], None] | None = None

    def apply_many(self, rows: list[tuple[JobItem, Conversation, Any]]) -> None:
        if self.apply_batch is not None:
            self.apply_batch(rows)
        else:
            for row in rows:
                self.apply(*row)


def repair_preview(revision, options: dict, stored=None):
    """What the repair the job asks for would do to `revision` (its own target unless the job
    names one); stores nothing. Judged as every check is (the replay where it covers the
    history). `stored`: the revision's own verdict as ingest stored it, which stands in for the
    first check."""
    from conversations.repairs import repair_preview

    return repair_preview(
        revision,
        target=options.get("target") or None,
        include_warnings=bool(options.get("include_warnings")),
        before=[stored] if stored is not None and not options.get("target") else None,
    )


def _needs_no_repair(item: JobItem) -> bool:
    """A conversation whose own target accepts its latest revision under the current rules needs
    no repair for that target: the stored verdict says so without checking again. (A bulk job over
    "everything matching a filter" is mostly such conversations.)"""
    options = item.job.options
    return not options.get("target") and not options.get("include_warnings") and item.accepted_now


def _outcome(result, options: dict) -> dict:
    """What the report aggregates: the rules the repair answered (errors, and warnings when asked),
    the rules still rejecting after it, and the edits in words (the first few)."""
    counted = ("error", "warning") if options.get("include_warnings") else ("error",)
    return {
        "edit_count": len(result.edits),
        "edits": [e.description for e in result.edits[:20]],
        "rules": sorted({f.rule for v in result.before for f in v.findings if f.severity in counted}),
        "remaining": sorted({f.rule for v in result.after for f in v.findings if f.severity == "error"}),
        "accepted_before": all(v.accepted for v in result.before),
        "accepted_after": all(v.accepted for v in result.after),
    }


NOTHING_TO_REPAIR = {"edit_count": 0, "note": "nothing to repair"}


def _record_repair(item: JobItem, result) -> None:
    item.changed = bool(result is not None and result.edits)
    item.outcome = _outcome(result, item.job.options) if item.changed else dict(NOTHING_TO_REPAIR)


def _job_detail(item: JobItem) -> dict:
    """What the audit events an item writes say about the job that wrote them."""
    return {"job": item.job_id, "reason": item.job.options.get("reason", "")}


def _recheck_prepare(item: JobItem) -> list[tuple[Any, bool]]:
    """The own target's verdict, and those of the other targets already stored for the revision
    (the pages would re-check them when read; a bulk re-check does it ahead of them)."""
    from conversations.checks import TARGETS, own_target, own_verdict
    from conversations.history.check import check

    revision = item.expected_revision
    history = revision.history
    others = (
        revision.verdicts.filter(own_target=False, target__in=TARGETS)
        .exclude(target=own_target(history).label)
        .values_list("target", flat=True)
    )
    # Checked as ingest and the pages check them: the own target with own_verdict, the others
    # through litellm's own request building (conversations.checks.revision_verdicts).
    return [(own_verdict(history), True)] + [(check(history, target=name), False) for name in others]


def _recheck_apply(item: JobItem, conversation: Conversation, verdicts: list[tuple[Any, bool]]) -> None:
    from conversations.checks import verdicts_store

    revision = item.expected_revision
    old = revision.verdicts.filter(own_target=True).first()
    before = old.status if old else "unchecked"
    rows = [verdicts_store(revision, verdict, own=own) for verdict, own in verdicts]
    after = rows[0].status
    item.changed = before != after
    item.outcome = {"before": before, "after": after, "targets": [row.target for row in rows]}
    if item.changed:
        _audit(item.job, "recheck", conversation=conversation, revision=revision, before=before, after=after)


# dry-run, repair, write back, export -------------------------------------------------------------


def _preview_prepare(item: JobItem):
    if _needs_no_repair(item):
        return None
    return repair_preview(item.expected_revision, item.job.options, item.stored_verdict)


def _dry_run_apply(item: JobItem, conversation: Conversation, result) -> None:
    _record_repair(item, result)


def _repair_apply(item: JobItem, conversation: Conversation, result) -> None:
    """Store the repair computed in prepare, from the revision the job was queued with. item_run
    has checked, under the conversation's row lock, that this revision is still the latest: what
    is written is what the latest revision needs."""
    from conversations.repairs import Conflict, repair_store

    _record_repair(item, result)
    if not item.changed:
        return
    try:
        item.produced_revision = repair_store(
            conversation,
            result,
            user=item.job.created_by,
            expected=item.expected_revision.number,
            target=item.job.options.get("target") or None,
            detail=_job_detail(item),
            locked=True,
            base=item.expected_revision,
        )
    except Conflict as exc:
        raise Skip(str(exc)) from None


def _repair_apply_batch(rows: list[tuple[JobItem, Conversation, Any]]) -> None:
    """_repair_apply for a batch: its revisions stored together (revisions_write). Each
    conversation was locked and found unchanged by _batch_write."""
    from conversations.repairs import repair_addition
    from conversations.revisions import revisions_write

    changed = []
    for item, conversation, result in rows:
        _record_repair(item, result)
        if item.changed:
            changed.append(
                (
                    item,
                    repair_addition(
                        conversation,
                        result,
                        user=item.job.created_by,
                        target=item.job.options.get("target") or None,
                        detail=_job_detail(item),
                        base=item.expected_revision,
                    ),
                )
            )
    for (item, _), revision in zip(changed, revisions_write([addition for _, addition in changed]), strict=False):
        item.produced_revision = revision
        # The new revision and its conversation point at each other: a cycle, which only the
        # cyclic collector frees, and with it the thousands of objects of a history cached on
        # the revision. Nothing here reads that history again: it goes by reference counting.
        revision._history = None


def _write_back_prepare(item: JobItem):
    """Sources that have no file of their own are skipped before any work (a bulk selection
    mixes them with files); conversations.repairs.writeback_apply refuses them too."""
    from conversations.writeback import NEVER_REWRITTEN

    conversation = item.conversation
    source = conversation.source
    if not source.writable:
        raise Skip(f"a {source.get_kind_display()} has no file to write back to: export it instead")
    if conversation.format in NEVER_REWRITTEN:
        raise Skip(f"a {conversation.format} is a record of requests and is never rewritten: export it instead")
    if source.conversations.count() > 1:
        raise Skip("the file holds several conversations: writing one back would overwrite the others")
    return _preview_prepare(item)


def _write_back_apply(item: JobItem, conversation: Conversation, result) -> None:
    """The new revision and the file in one step: the file is written last, after every row, so
    only the commit can fail after it. Should it (or the worker die right then), the retry finds
    the file already holding the repaired history and records it without writing again."""
    from conversations.repairs import writeback_apply

    _repair_apply(item, conversation, result)
    revision = item.produced_revision
    if revision is None:
        return
    if item.attempts > 1 and _written_already(conversation, revision):
        written = {"path": conversation.source.location, "backup": None, "note": "written by an earlier attempt"}
        _audit(item.job, "write-back", conversation=conversation, revision=revision, **written)
    else:
        done = writeback_apply(conversation, revision, user=item.job.created_by, detail=_job_detail(item))
        written = {"path": done.path, "backup": done.backup}
    item.outcome["written"] = written


def _written_already(conversation: Conversation, revision) -> bool:
    from conversations.history import formats
    from conversations.history.formats.document import document_hash

    source = conversation.source
    try:
        on_disk = formats.load_path(source.location)
        if document_hash(formats.write(revision.history, on_disk)) != document_hash(on_disk):
            return False
    except Exception:  # unreadable or unwritable now: writeback_apply says why, in its own words
        return False
    Source.objects.filter(pk=source.pk).update(content_hash=document_hash(on_disk))
    return True


def _export_prepare(item: JobItem):
    from conversations.history import formats
    from conversations.repairs import original_document

    revision = item.expected_revision
    result = _preview_prepare(item)
    history = result.history if result is not None and result.edits else revision.history
    return result, formats.write(history, original_document(revision))


def _export_apply(item: JobItem, conversation: Conversation, prepared) -> None:
    result, doc = prepared
    _record_repair(item, result)
    base = _safe_name(os.path.basename(doc.name.rstrip("/")) or f"conversation-{conversation.pk}")
    names = sorted(doc.files)
    entries = [
        (f"{conversation.pk}-{base}/{name}" if doc.is_dir else f"{conversation.pk}-{_safe_name(name)}", doc.files[name])
        for name in names
    ]
    item.outcome["files"] = [[name, len(data)] for name, data in entries]
    item.output = zlib.compress(b"".join(data for _, data in entries), 6)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)[:120] or "file"


# delete ---------------------------------------------------------------------------------------------


def _delete_apply(item: JobItem, conversation: Conversation, _prepared) -> None:
    conversation.deleted_at = timezone.now()
    conversation.save(update_fields=["deleted_at"])
    item.changed = True
    _audit(
        item.job,
        "delete",
        conversation=conversation,
        revision=item.expected_revision,
        reason=item.job.options.get("reason", ""),
    )


ACTIONS: dict[str, Action] = {
    Job.Kind.RECHECK: Action(_recheck_prepare, _recheck_apply),
    Job.Kind.DRY_RUN: Action(_preview_prepare, _dry_run_apply, writes=False),
    Job.Kind.REPAIR: Action(_preview_prepare, _repair_apply, apply_batch=_repair_apply_batch),
    Job.Kind.WRITE_BACK: Action(_write_back_prepare, _write_back_apply, batched=False),
    Job.Kind.EXPORT: Action(_export_prepare, _export_apply, writes=False),
    Job.Kind.DELETE: Action(lambda item: None, _delete_apply, reads_history=False),
}
# Kinds whose report counts rules and shows sample diffs.
REPAIRING = (Job.Kind.DRY_RUN, Job.Kind.REPAIR, Job.Kind.WRITE_BACK, Job.Kind.EXPORT)


# --- the export zip ----------------------------------------------------------------------------------


class _Sink:
    """A write-only file for zipfile that hands out what was written so far: the zip streams
    out as it is built, whatever the number of files (zipfile copes with a file it cannot seek)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def export_stream(job: Job) -> Iterator[bytes]:
    """The export job's zip, built from its items as it is sent."""
    import zipfile

    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        items = (
            JobItem.objects.filter(job=job, status=JobItem.Status.DONE, output__isnull=False)
            .order_by("id")
            .only("outcome", "output")
        )
        for item in items.iterator(chunk_size=50):
            data = zlib.decompress(bytes(item.output))
            offset = 0
            for name, size in item.outcome.get("files", []):
                archive.writestr(name, data[offset : offset + size])
                offset += size
            yield sink.take()
    yield sink.take()
