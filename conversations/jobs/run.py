"""Running a job: a worker claims a batch of items (conversations.jobs.leases), computes each
outside any transaction (the action's prepare), then writes the batch in one transaction that
checks, under row locks, that the leases are still its own, the job not cancelled and each
conversation unchanged since the job was queued (else that item is skipped). The item state
machine: pending, running (leased), then done, skipped, failed or cancelled."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from conversations.history.errors import HistoryError
from conversations.jobs.actions import ACTIONS, REPAIRING, Action, Skip
from conversations.jobs.create import ACTIVE
from conversations.jobs.leases import (
    SYSTEM_CLOCK,
    Clock,
    Lease,
    claim_batch,
    collector_paused,
    collector_settled,
    commits_unflushed,
    items_claim,
    rest_after,
    worker_name,
)
from conversations.jobs.progress import job_finish, job_report_store
from conversations.models import Conversation, Job, JobItem, Verdict
from conversations.storage import chunks_prefetch, rows_update
from conversations.verdicts import RULES_VERSION, own_verdicts_stored

logger = logging.getLogger("conversations.jobs")


@dataclass(frozen=True)
class Worked:
    """What one call of job_work_for did: how many items it applied, and whether it stopped at its
    time limit with items left to claim (a fresh task should go on: conversations.tasks.job_run)."""

    applied: int
    timed_out: bool = False


def job_work(job_id: int, *, worker: str | None = None, batch: int | None = None, clock: Clock | None = None) -> int:
    """Work on the job until no item is left to claim, then finish it if nothing is left at all.
    Returns how many items this call applied."""
    return _job_work(job_id, worker or worker_name(), batch or claim_batch(), None, clock or SYSTEM_CLOCK).applied


def job_work_for(
    job_id: int, *, seconds: float, worker: str | None = None, batch: int | None = None, clock: Clock | None = None
) -> Worked:
    """As job_work, but stop at the first batch boundary past `seconds`: what a task does
    (conversations.tasks.job_run), so that it never outlives a backend's timeout (RQ kills a task
    after 180 s by default) and a worker's queue never waits on one long job."""
    clock = clock or SYSTEM_CLOCK
    return _job_work(job_id, worker or worker_name(), batch or claim_batch(), clock.monotonic() + seconds, clock)


def _job_work(job_id: int, worker: str, batch: int, stop_at: float | None, clock: Clock) -> Worked:
    with commits_unflushed(job_id), collector_settled():
        applied = 0
        rest = settings.JOB_REST_PERCENT / 100
        while ids := items_claim(job_id, worker=worker, limit=batch, clock=clock):
            with collector_paused():
                ran, lost = _claimed_work(ids, worker, rest, clock)
            applied += ran
            if lost and not Job.objects.filter(pk=job_id, status__in=ACTIVE).exists():
                # Cancelled while the batch ran: the rest of it was cancelled with the job.
                job_report_store(job_id)
                return Worked(applied)
            if stop_at is not None and clock.monotonic() > stop_at:
                return Worked(applied, timed_out=True)
        job_finish(job_id)
        return Worked(applied)


def _claimed_work(ids: list[int], worker: str, rest: float, clock: Clock) -> tuple[int, bool]:
    """Apply the items just claimed: (how many were applied, whether any was lost to this worker
    on the way, cancelled or taken over). What they read is dropped on return."""
    claimed_at = clock.monotonic()
    loaded = _items_load(ids)
    seconds = next(iter(loaded.values())).job.lease_seconds if loaded else 0
    lease = Lease(ids, worker, seconds, claimed_at, clock)
    kinds = {item.job.kind for item in loaded.values()}
    if len(ids) > 1 and all(ACTIONS[kind].batched for kind in kinds):
        ran, lost = _batch_run([loaded[i] for i in ids if i in loaded], worker, rest, lease)
    else:
        ran, lost = _one_by_one(ids, loaded, worker, rest, lease)
    return ran, lost or len(loaded) < len(ids)


def _one_by_one(ids: list[int], loaded: dict[int, JobItem], worker: str, rest: float, lease: Lease) -> tuple[int, bool]:
    """Apply the items one transaction each (actions that are not batched, such as writing files
    back). Returns how many were applied, and whether one was no longer ours (stops the batch)."""
    applied = 0
    for item_id in ids:
        lease.keep()
        began = lease.clock.monotonic()
        if not item_run(item_id, worker=worker, item=loaded.pop(item_id, None)):
            return applied, True
        applied += 1
        rest_after(rest, began, lease.clock)
    return applied, False


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


def _batch_run(items: list[JobItem], worker: str, rest: float, lease: Lease) -> tuple[int, bool]:
    """Apply a batch of items: each prepared outside any transaction, then all written in one
    transaction (a repair batch writes its revisions, verdicts, audit events and items in a dozen
    statements instead of a dozen per item). A transaction is all or nothing, so each conversation
    is written whole or not at all. Should the batch's transaction fail, its items are applied
    again one at a time, so that one bad item fails alone. Returns as _one_by_one."""
    applied, lost, group, held = 0, False, [], 0
    clock = lease.clock
    for item in items:
        lease.keep()
        began = clock.monotonic()
        group.append(_prepare(item, ACTIONS[item.job.kind]))
        held += item.expected_revision.message_count if item.expected_revision else 0
        rest_after(rest, began, clock)
        if held >= BATCH_MESSAGES or item is items[-1]:
            began = clock.monotonic()
            done, missing = _batch_write(group, worker)
            applied, lost, group, held = applied + done, lost or missing, [], 0
            rest_after(rest, began, clock)
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
    under the current rules (see actions._needs_no_repair)."""
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
    if isinstance(exc, (HistoryError, PermissionDenied)):
        return str(exc)
    logger.exception("job %s: conversation %s failed", item.job_id, item.conversation_id)
    return f"internal error: {exc.__class__.__name__}: {exc}"
