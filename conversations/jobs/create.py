"""Creating a job: one item per conversation, each recording the latest revision as it is when
the job is queued. Queueing the job's workers is conversations.tasks' (the only module that
enqueues: tasks.job_start creates and queues)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from conversations.models import AuditEvent, Job, JobItem

# A job not over yet, an item not over yet.
ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)
OPEN = (JobItem.Status.PENDING, JobItem.Status.RUNNING)


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
            created_by=acting_user(user),
            options=options or {},
            lease_seconds=lease_seconds or settings.JOB_LEASE_SECONDS,
        )
        items = (JobItem(job=job, conversation_id=pk, expected_revision_id=revision) for pk, revision in rows)
        total = 0
        for batch in _batches(items, 1000):
            JobItem.objects.bulk_create(batch)
            total += len(batch)
        job.total = total
        job.save(update_fields=["total"])
        job_audit(job, "job-queue", kind=kind, total=total, options=job.options)
    return job


def acting_user(user):
    """The user to record (an anonymous one is nobody)."""
    return user if getattr(user, "is_authenticated", False) else None


def job_audit(job: Job, action: str, *, actor=None, conversation=None, revision=None, **detail) -> AuditEvent:
    """An audit event of the job (detail["job"]: the admin's audit log filters on it)."""
    return AuditEvent.objects.create(
        actor=acting_user(actor) or job.created_by,
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
