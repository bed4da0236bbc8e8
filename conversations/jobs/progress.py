"""A job's end: finishing it when no item is open, cancelling it between two items, its progress
(counts by item status, what the progress page polls) and its report (counts, and for repairs the
rules they fix and a few sample diffs)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from conversations.history.diff import histories_diff
from conversations.jobs.actions import REPAIRING, repair_preview
from conversations.jobs.create import ACTIVE, OPEN, acting_user, job_audit
from conversations.models import Job, JobItem

logger = logging.getLogger("conversations.jobs")


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
            job_audit(job, "job-finish", kind=job.kind, **report.get("counts", {}))
    return bool(done)


def job_cancel(job: Job, *, user) -> bool:
    """Stop the job between two items: the items not written are cancelled at once; a batch being
    written right now completes (it is one transaction), one being computed writes nothing. False
    when it had finished."""
    now = timezone.now()
    with transaction.atomic():
        stopped = Job.objects.filter(pk=job.pk, status__in=ACTIVE).update(
            status=Job.Status.CANCELLED, finished_at=now, cancelled_by=acting_user(user)
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
        job_audit(job, "job-cancel", actor=user, kind=job.kind)
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
