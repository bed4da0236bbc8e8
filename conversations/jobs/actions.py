"""What one item of a job does, by job kind: re-check, dry-run repair, repair, repair and write
back, export, delete.

Each action has prepare(item) -> value, run outside any transaction (reading and the pure
computation: the slow part, which must not hold locks), and apply(item, conversation, value),
run inside the item's transaction with the item row-locked (and the conversation too, for the
actions that write to it). apply sets item.changed/outcome/produced_revision; it raises Skip for
an item that is not a failure but is not applied either. Kinds are looked up in ACTIONS (a
registry, no if/elif on kinds)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from conversations import repairs, routing
from conversations.history import formats
from conversations.history.check import check
from conversations.history.errors import FormatError
from conversations.history.formats.document import document_hash
from conversations.history.readback import readback_difference, refusal
from conversations.jobs.create import job_audit
from conversations.models import Conversation, Job, JobItem, Source
from conversations.revisions import Conflict, revisions_write
from conversations.verdicts import (
    TARGETS,
    own_target,
    own_verdict,
    route_verdicts_store,
    status_refresh,
    verdicts_store,
)


class Skip(Exception):
    """An item that is not applied, for a reason that is not a failure (shown with the item)."""


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
    return repairs.repair_preview(
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


@dataclass(frozen=True)
class Rechecked:
    verdicts: list[tuple[Any, bool]]  # (core verdict, own target?)
    routed: routing.Routed | None


def _recheck_prepare(item: JobItem) -> Rechecked:
    """The own target's verdict, those of the other targets already stored for the revision (the
    pages would re-check them when read; a bulk re-check does it ahead of them), and its route's
    deployments as the routes are now (the route itself found again: a new version or rule may
    give it another)."""
    revision = item.expected_revision
    history = revision.history
    others = (
        revision.verdicts.filter(own_target=False, target__in=TARGETS)
        .exclude(target=own_target(history).label)
        .values_list("target", flat=True)
    )
    source = item.conversation.source
    routed = routing.route_table_cached().judge(history, kind=source.kind, location=source.location)
    # Checked as ingest and the pages check them: the own target with own_verdict, the others
    # through litellm's own request building (conversations.verdicts.revision_verdicts).
    verdicts = [(own_verdict(history), True)] + [(check(history, target=name), False) for name in others]
    return Rechecked(verdicts, routed)


def _recheck_apply(item: JobItem, conversation: Conversation, rechecked: Rechecked) -> None:
    revision = item.expected_revision
    old = revision.verdicts.filter(own_target=True).first()
    before = old.status if old else "unchecked"
    status_before = conversation.get_status_display()
    rows = [verdicts_store(revision, verdict, own=own) for verdict, own in rechecked.verdicts]
    route_verdicts_store(conversation, revision, rechecked.routed)
    status_refresh([conversation.pk])
    conversation.refresh_from_db(fields=["status"])
    after = rows[0].status
    status_after = conversation.get_status_display()
    item.changed = before != after or status_before != status_after
    item.outcome = {
        "before": before,
        "after": after,
        "status_before": status_before,
        "status_after": status_after,
        "targets": [row.target for row in rows],
    }
    if rechecked.routed is not None:
        item.outcome["route"] = f"{rechecked.routed.route}: {rechecked.routed.model_group}"
    if item.changed:
        job_audit(item.job, "recheck", conversation=conversation, revision=revision, before=before, after=after)


# --- dry-run, repair, write back, export ------------------------------------------------------------


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
    _record_repair(item, result)
    if not item.changed:
        return
    try:
        item.produced_revision = repairs.repair_store(
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
    changed = []
    for item, conversation, result in rows:
        _record_repair(item, result)
        if item.changed:
            changed.append(
                (
                    item,
                    repairs.repair_addition(
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
    """What the conversation itself rules out (no file of its own, a litellm log, a file holding
    several conversations: repairs.writeback_refusal) is skipped before any work, since a bulk
    selection mixes such conversations with files; what the settings refuse (writing back off, a
    file outside the roots) fails in writeback_apply, as on the page."""
    refusal = repairs.writeback_refusal(item.conversation, inherent_only=True)
    if refusal is not None:
        raise Skip(refusal)
    return _preview_prepare(item)


def _write_back_apply(item: JobItem, conversation: Conversation, result) -> None:
    """The new revision and the file in one step: the file is written last, after every row, so
    only the commit can fail after it. Should it (or the worker die right then), the retry finds
    the file already holding the repaired history and records it without writing again."""
    _repair_apply(item, conversation, result)
    revision = item.produced_revision
    if revision is None:
        return
    if item.attempts > 1 and _written_already(conversation, revision):
        written = {"path": conversation.source.location, "backup": None, "note": "written by an earlier attempt"}
        job_audit(item.job, "write-back", conversation=conversation, revision=revision, **written)
    else:
        done = repairs.writeback_apply(conversation, revision, user=item.job.created_by, detail=_job_detail(item))
        written = {"path": done.path, "backup": done.backup}
    item.outcome["written"] = written


def _written_already(conversation: Conversation, revision) -> bool:
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
    revision = item.expected_revision
    result = _preview_prepare(item)
    history = result.history if result is not None and result.edits else revision.history
    doc = formats.write(history, repairs.original_document(revision))
    # An export is a download in the source's format: it must read back as what it was written from.
    difference = readback_difference(history, doc)
    if difference is not None:
        raise FormatError(refusal(difference))
    return result, doc


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


# --- the repair page's preview of one large history -----------------------------------------------------


def _page_preview_prepare(item: JobItem) -> dict:
    """The whole preview the repair page shows (repairs.preview_record), computed here because
    the history is too large to preview inside a request."""
    revision = item.expected_revision
    return repairs.preview_record(revision, repair_preview(revision, item.job.options))


def _page_preview_apply(item: JobItem, conversation: Conversation, record: dict) -> None:
    item.changed = bool(record["changed"])
    item.outcome = {"edit_count": len(record["edits"]), "preview": record}


# --- delete --------------------------------------------------------------------------------------------


def _delete_apply(item: JobItem, conversation: Conversation, _prepared) -> None:
    conversation.deleted_at = timezone.now()
    conversation.save(update_fields=["deleted_at"])
    item.changed = True
    job_audit(
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
    Job.Kind.PREVIEW: Action(_page_preview_prepare, _page_preview_apply, writes=False),
}


# Kinds whose report counts rules and shows sample diffs.
REPAIRING = (Job.Kind.DRY_RUN, Job.Kind.REPAIR, Job.Kind.WRITE_BACK, Job.Kind.EXPORT)
