"""The repair page's preview of one history too large to preview inside a request (more than
verdicts.REQUEST_CHECK_CALLS_MAX tool calls): a job of kind PREVIEW over that one conversation,
found again by the page's polling, and what the page shows of it. Queued by
conversations.tasks.preview_start."""

from __future__ import annotations

from typing import Any

from conversations.jobs.progress import job_progress
from conversations.models import Conversation, Job, JobItem


def preview_options(target: str | None, include_warnings: bool) -> dict[str, Any]:
    """The job's options for a preview ask: what finds the same job again."""
    return {"target": target or "", "include_warnings": bool(include_warnings)}


def preview_job_find(conversation: Conversation, options: dict[str, Any]) -> Job | None:
    """The latest preview job of the conversation's latest revision for these options that is
    not cancelled (queued, running or done), or None."""
    return (
        Job.objects.filter(
            kind=Job.Kind.PREVIEW,
            options__target=options["target"],
            options__include_warnings=options["include_warnings"],
            items__conversation=conversation,
            items__expected_revision_id=conversation.latest_revision_id,
        )
        .exclude(status=Job.Status.CANCELLED)
        .order_by("-created_at", "-pk")
        .first()
    )


def preview_state(job: Job) -> dict[str, Any]:
    """What the page shows of the job: its status and progress; once done, the stored preview
    (`record`, repairs.preview_record) or why there is none (`problem`)."""
    item = JobItem.objects.filter(job=job).first()
    progress = job_progress(job)
    state: dict[str, Any] = {
        "job": job.pk,
        "status": item.status if item is not None else job.status,
        "progress": progress.to_dict(),
        "record": None,
        "problem": None,
        "created_at": job.created_at,
        "attempts": item.attempts if item is not None else 0,
    }
    if item is None or item.status in (JobItem.Status.PENDING, JobItem.Status.RUNNING):
        return state
    if item.status == JobItem.Status.DONE and "preview" in item.outcome:
        state["record"] = item.outcome["preview"]
    else:
        state["problem"] = f"The background preview {item.status}: {item.reason or 'no reason recorded'}."
    return state
