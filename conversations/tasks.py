"""The background tasks, through the django-tasks API: the database backend by default (`make run`
starts `manage.py db_worker` beside the web server), RQ when TASKS_BACKEND=rq.

A task only says "work on job N": the work, its progress, leases and cancellation are the job's
items (conversations.jobs), so any number of these tasks may run on one job at once, and one
that dies takes nothing with it.

The only module that enqueues: a job is started here (job_start: created, then its runners and
its watchdog queued), and a runner that hands over queues its successor here. conversations.jobs
never imports this module.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks import task

from conversations import jobs, routing
from conversations.ingest import staged
from conversations.models import IngestJob, Job

# How long one task works on a job before it hands over to a fresh task (see job_run).
RUN_SECONDS = 60
# How long after a lease expires the watchdog looks again (the lease is a deadline, not a signal).
WATCH_SLACK = timedelta(seconds=2)


def job_start(
    kind: str, conversations: QuerySet, *, user=None, options: dict | None = None, runners: int | None = None
) -> Job:
    """A job over `conversations`, queued: what the admin's bulk actions and `manage.py recheck` do."""
    job = jobs.job_create(kind, conversations, user=user, options=options)
    job_enqueue(job, runners=runners)
    return job


def job_enqueue(job: Job, *, runners: int | None = None) -> None:
    """Ask the task backend for `runners` workers on the job (settings.JOB_RUNNERS), and start its
    watchdog. Sent after commit: a worker on another connection must find the items."""
    wanted = runners or settings.JOB_RUNNERS
    count = max(1, min(wanted, math.ceil(job.total / jobs.claim_batch())))
    job_id = job.pk
    first_watch = timezone.now() + timedelta(seconds=job.lease_seconds) + WATCH_SLACK

    def send() -> None:
        for _ in range(count):
            job_run.enqueue(job_id)
        job_watch.using(run_after=first_watch).enqueue(job_id)

    transaction.on_commit(send)


@task()
def job_run(job_id: int) -> int:
    """Apply the job's items for up to a minute (then a fresh task takes over); returns how many
    this run applied."""
    return _work(job_id)


# No priority: the RQ backend does not take one. The database backend runs a task that is due
# after a delay before the ones queued without one, which is what a watchdog needs anyway.
@task()
def job_watch(job_id: int) -> str:
    """The watchdog: while the job is unfinished, come back after the latest lease expires; when
    no worker holds a live lease (they died, or none was free), do the work here. Its successor is
    queued first, so a watchdog that is killed too still has one."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.finished:
        return "finished"
    live = jobs.live_lease_end(job_id)
    again = (live or timezone.now() + timedelta(seconds=job.lease_seconds)) + WATCH_SLACK
    job_watch.using(run_after=again).enqueue(job_id)
    if live is not None:
        return "waiting"
    jobs.leases_reclaim(job_id)
    _work(job_id)
    return "resumed"


def _work(job_id: int) -> int:
    """Work on the job for RUN_SECONDS, then queue a fresh task for what is left: a task never
    outlives a backend's timeout, and a worker's queue never waits on one long job."""
    worked = jobs.job_work_for(job_id, seconds=RUN_SECONDS)
    if worked.timed_out:
        job_run.enqueue(job_id)
    return worked.applied


def route_rechecks_start(*, user=None) -> int:
    """A re-check job for each current route version none was started for (one per version, ever):
    the conversations a new config or a new route may concern. The number of conversations queued."""
    queued = 0
    for version in routing.versions_unchecked():
        concerned = routing.recheck_scope(version)
        job = job_start(
            Job.Kind.RECHECK,
            concerned,
            user=user,
            options={"route_version": version.pk, "reason": f"route {version.route.name} v{version.number}"},
        )
        queued += job.total
    return queued


def rule_rechecks_start(kinds: set[str], *, user=None) -> int:
    """One re-check job for the conversations a change of mapping rules may move to another
    route (`kinds`: the source kinds the changed rules named, "" for any). The number queued."""
    concerned = routing.rules_recheck_scope(kinds)
    job = job_start(Job.Kind.RECHECK, concerned, user=user, options={"reason": "route mapping rules changed"})
    return job.total


# --- one conversation's repair preview, too large for a request ---------------------------------------


def preview_start(conversation, options: dict, *, user=None) -> Job:
    """The preview job of the conversation's latest revision for `options` (target,
    include_warnings): the one already queued or done for it, else a new one. Reloading the page
    (or its polling) never queues the same preview twice."""
    job = jobs.preview_job_find(conversation, options)
    if job is None:
        job = job_start(
            Job.Kind.PREVIEW, conversation.__class__.objects.filter(pk=conversation.pk), user=user, options=options
        )
    return job


# --- an upload or API post too large for a request ------------------------------------------------------


def ingest_start(chunks, *, name: str, kind: str, format: str | None = None, user=None) -> IngestJob:
    """Stage the bytes (durably, in the request) and queue their ingest and its watchdog."""
    job = staged.ingest_stage(chunks, name=name, kind=kind, format=format, user=user)
    job_id = job.pk
    first_watch = timezone.now() + timedelta(seconds=staged.lease_seconds()) + WATCH_SLACK

    def send() -> None:
        ingest_run.enqueue(job_id)
        ingest_watch.using(run_after=first_watch).enqueue(job_id)

    transaction.on_commit(send)
    return job


@task()
def ingest_run(job_id: int) -> str:
    """Ingest the job's staged file; its status after (or "taken" when another worker holds it)."""
    job = staged.ingest_staged_run(job_id)
    return job.status if job is not None else "taken"


@task()
def ingest_watch(job_id: int) -> str:
    """The ingest's watchdog: while the job is unfinished, come back after its lease; when the
    lease has expired (its worker died, or none took it), ingest it here."""
    job = IngestJob.objects.filter(pk=job_id).first()
    if job is None or job.finished:
        return "finished"
    live = staged.lease_live(job)
    again = (job.lease_expires_at if live else timezone.now() + timedelta(seconds=staged.lease_seconds())) + WATCH_SLACK
    ingest_watch.using(run_after=again).enqueue(job_id)
    if live:
        return "waiting"
    done = staged.ingest_staged_run(job_id)
    return "resumed" if done is not None else "taken"
