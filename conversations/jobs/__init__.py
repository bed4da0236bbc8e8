"""Bulk jobs: one action (re-check, dry-run repair, repair, repair and write back, export, delete)
on many conversations, run in the background by any number of workers, with progress and cancel.

    job = tasks.job_start(Job.Kind.REPAIR, conversations, user=request.user, options={"reason": "..."})
    # workers: conversations.tasks.job_run(job.pk) -> jobs.job_work_for(job.pk, seconds=...)

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
- a watchdog task (tasks.job_watch) comes back every lease period while the job is unfinished and, when
  no worker holds a live lease, resumes the work itself: that is how a job whose only worker was
  killed finishes once a worker runs again.

The package, along those lines: create (a job and its items), leases (claiming, leases, and how a
worker process behaves), run (the batches and the item state machine), progress (finishing,
cancelling, progress, reports), actions (what an item does, by job kind), export (the zip),
preview (the repair page's preview of one history too large for a request: a job of one item).
conversations.tasks is the only module that enqueues: this package never imports it.
"""

from conversations.jobs.actions import ACTIONS, REPAIRING, Action, Skip, repair_preview
from conversations.jobs.create import ACTIVE, OPEN, job_create
from conversations.jobs.export import export_stream
from conversations.jobs.leases import (
    MAX_ATTEMPTS,
    SYSTEM_CLOCK,
    Clock,
    Lease,
    claim_batch,
    items_claim,
    leases_reclaim,
    live_lease_end,
    worker_name,
)
from conversations.jobs.preview import preview_job_find, preview_options, preview_state
from conversations.jobs.progress import (
    SAMPLES,
    Progress,
    job_cancel,
    job_finish,
    job_problems,
    job_progress,
    job_report,
    job_report_store,
)
from conversations.jobs.run import Worked, item_run, job_work, job_work_for

__all__ = [
    "ACTIONS",
    "ACTIVE",
    "MAX_ATTEMPTS",
    "OPEN",
    "REPAIRING",
    "SAMPLES",
    "SYSTEM_CLOCK",
    "Action",
    "Clock",
    "Lease",
    "Progress",
    "Skip",
    "Worked",
    "claim_batch",
    "export_stream",
    "item_run",
    "items_claim",
    "job_cancel",
    "job_create",
    "job_finish",
    "job_problems",
    "job_progress",
    "job_report",
    "job_report_store",
    "job_work",
    "job_work_for",
    "leases_reclaim",
    "live_lease_end",
    "preview_job_find",
    "preview_options",
    "preview_state",
    "repair_preview",
    "worker_name",
]
