"""Repair, write back and resume, Django side. The pure repair engine decides what to change
(conversations.history.repair); these functions check who may do it, keep every revision, write
the corrected history back where it came from, and audit each step.

Used by the conversation page, the JSON API and the admin's bulk jobs alike.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from conversations.gcpause import without_gc_pauses
from conversations.history import formats
from conversations.history.diff import histories_diff
from conversations.history.docdiff import document_diff
from conversations.history.errors import FormatError
from conversations.history.formats.document import Document, document_hash
from conversations.history.readback import readback_difference, refusal
from conversations.history.readback import written_format as readback_format
from conversations.history.repair import RepairResult, repair
from conversations.history.targets import target_for_model
from conversations.models import AuditEvent, Conversation, Revision, Source
from conversations.resume import ResumeError, resume
from conversations.revisions import Addition, Conflict, addition_store, revision_add
from conversations.roles import require_repairer
from conversations.verdicts import is_ingested, own_target
from conversations.writeback import NEVER_REWRITTEN, WriteBackError, allowed_path, write_back

__all__ = [
    "Conflict",
    "writeback_refusal",
    "repair_preview",
    "repair_apply",
    "repair_store",
    "repair_addition",
    "writeback_apply",
    "original_document",
    "revision_document",
    "ingested_document",
    "download_document",
    "written_preview",
    "conversation_resume",
]


def _route(config_text: str | None, model_group: str | None):
    return (config_text, model_group) if config_text and model_group else None


def repair_preview(
    revision: Revision,
    *,
    target: str | None = None,
    config_text: str | dict | None = None,
    model_group: str | None = None,
    include_warnings: bool = False,
    build_request: bool | None = None,
    before=None,
    sender: str | None = None,
) -> RepairResult:
    """What a repair would change and the verdicts after it; stores nothing. build_request as
    check.check takes it (default: the replay where it covers the history); `before`: the
    revision's verdicts already stored for what is asked (the engine's `before`)."""
    route = _route(config_text, model_group)
    if route is None and target is None:
        target = own_target(revision.history)
    return repair(
        revision.history,
        target=None if route else target,
        route=route,
        include_warnings=include_warnings,
        build_request=build_request,
        before=before,
        sender=sender,
    )


def written_preview(revision: Revision, result: RepairResult) -> dict:
    """The repair as it will be written, in the source's own format: the document written from
    the repaired history against the one written from `revision` (over the original it was read
    from, so it is the original where nothing changed), file by file; and why it would not be
    written, when it would read back differently (readback.py). A log of requests (litellm, an
    OpenHands output.jsonl) is written as its OpenAI request: that request, before and after."""
    history = revision.history
    request_only = history.format in formats.REQUEST_ONLY
    original = None if request_only else original_document(revision)
    found: dict = {"format": readback_format(history), "diff": None, "refusal": None, "problem": None}
    try:
        before = formats.write(history, original)
        after = formats.write(result.history, original)
    except FormatError as exc:
        found["problem"] = f"it cannot be written in its format: {exc}"
        return found
    found["diff"] = document_diff(before, after).to_dict()
    difference = readback_difference(result.history, after)
    if difference is not None:
        found["refusal"] = refusal(difference)
    return found


def preview_record(revision: Revision, result: RepairResult) -> dict:
    """A preview as plain JSON (what the repair page shows, before its formatting): the verdicts
    before and after, the edits, the diff of the histories and of the documents as written. The
    page formats it at once for a small history; a preview job stores it for a large one."""
    return {
        "changed": result.changed,
        "accepted": result.accepted,
        "edits": [e.to_dict() for e in result.edits],
        "before": [v.to_dict(detail=True) for v in result.before],
        "after": [v.to_dict(detail=True) for v in result.after],
        "diff": histories_diff(revision.history, result.history) if result.changed else None,
        "written": written_preview(revision, result) if result.changed else None,
    }


def repair_apply(
    conversation: Conversation,
    *,
    user,
    expected: int,
    target: str | None = None,
    config_text: str | dict | None = None,
    model_group: str | None = None,
    include_warnings: bool = False,
    detail: dict | None = None,
    sender: str | None = None,
) -> tuple[Revision | None, RepairResult]:
    """Repair the latest revision and store the result as a new revision (None when nothing needed
    changing). Raises Conflict when the latest revision is no longer `expected`."""
    require_repairer(user)
    latest = conversation.latest_revision
    if latest is None or latest.number != expected:
        raise Conflict(conversation, expected, latest)
    result = repair_preview(
        latest,
        target=target,
        config_text=config_text,
        model_group=model_group,
        include_warnings=include_warnings,
        sender=sender,
    )
    if not result.changed:
        return None, result
    revision = repair_store(
        conversation,
        result,
        user=user,
        expected=expected,
        target=target,
        model_group=model_group if _route(config_text, model_group) else None,
        detail=detail,
        base=latest,
    )
    return revision, result


def repair_store(
    conversation: Conversation,
    result: RepairResult,
    *,
    user,
    expected: int,
    target: str | None = None,
    model_group: str | None = None,
    detail: dict | None = None,
    locked: bool = False,
    base: Revision | None = None,
) -> Revision:
    """Store a repair already computed from revision `expected` as the next revision (Conflict if
    the latest is no longer `expected`). `detail` joins the audit event (the job that made it, its
    reason); `locked` as addition_store; `base` as repair_addition."""
    addition = repair_addition(
        conversation, result, user=user, target=target, model_group=model_group, detail=detail, base=base
    )
    return addition_store(addition, expected=expected, locked=locked)


def repair_addition(
    conversation: Conversation,
    result: RepairResult,
    *,
    user,
    target: str | None = None,
    model_group: str | None = None,
    detail: dict | None = None,
    base: Revision | None = None,
) -> Addition:
    """The revision a computed repair adds, for revisions_write (a bulk job stores a batch of
    them at once) or addition_store. Refuses a user without the repairer role. `base`: the
    revision the repair was computed from, whose unchanged chunks the new revision shares."""
    require_repairer(user)
    for_what = f"route {model_group}" if model_group else (target or "its own target")
    return Addition(
        conversation,
        result.history,
        action="repair",
        user=user,
        reason=f"repaired for {for_what}: " + "; ".join(e.description for e in result.edits)[:400],
        detail={
            "target": target,
            "model_group": model_group,
            "edits": [e.to_dict() for e in result.edits],
            "accepted_after": result.accepted,
            **(detail or {}),
        },
        verdicts=result.after,
        base=base,
        origins=result.origins,
    )


# --- the original document, and the repaired one in a format ----------------------------------------


def original_document(revision: Revision) -> Document | None:
    """The document the revision's conversation was read from, as stored (secrets redacted)."""
    original = revision.original
    if original is None:
        return None
    files = {f.name: bytes(f.data) for f in original.files.all()}
    return Document(name=original.name, files=files, is_dir=original.is_dir)


def revision_document(revision: Revision, as_format: str | None = None) -> Document:
    """The revision as a document: in its own format (`as_format` None), written over the original
    it was read from so what the repairs did not touch keeps its bytes, or as an `openai` or
    `anthropic` request; a litellm log as the OpenAI request it carried (formats.write). The one
    rule of the pages' download and the API's revision endpoint. FormatError when it cannot be
    written so."""
    own_format = revision.head()["format"]
    # The original matters only to a document in the history's own format: not read otherwise.
    own = as_format is None or as_format == own_format
    stored = ingested_document(revision, own_format) if own else None
    if stored is not None:
        return stored
    history = revision.history
    doc = without_gc_pauses(
        lambda: formats.write(history, original_document(revision) if own else None, format=as_format)
    )
    if own:
        # A download in the source's format is the conversation to resume from: it must read back
        # as this revision (a conversion to a request of another format is not compared).
        difference = without_gc_pauses(lambda: readback_difference(history, doc))
        if difference is not None:
            raise FormatError(refusal(difference))
    return doc


def ingested_document(revision: Revision, own_format: str) -> Document | None:
    """The stored original, when it is the revision's document in its own format; else None.

    A revision ingest made holds what our reader read from those very bytes (redacted before they
    were read and stored), so they read back as it by construction: nothing to write or read back
    (for 200,000 messages that took most of a minute). Only when they hold this one conversation
    (not one record of several) in a format written back as itself (a litellm log or an OpenHands
    output.jsonl is downloaded as the OpenAI request it carried)."""
    if not is_ingested(revision.reason) or own_format in formats.REQUEST_ONLY or revision.record is not None:
        return None
    if revision.conversation.source.conversations.count() != 1:
        return None
    return original_document(revision)


def download_document(revision: Revision, as_format: str | None = None) -> tuple[str, bytes]:
    """(file name, bytes) of revision_document, for a download: named after the source and the
    revision (and the format, when converted); a directory comes as a zip."""
    history_format = revision.head()["format"]
    own = history_format if history_format not in formats.REQUEST_ONLY else "openai"
    target_format = as_format or own
    doc = revision_document(revision, as_format)
    stem = Path(revision.conversation.source.location).stem or "conversation"
    if doc.is_dir:
        return f"{stem}-r{revision.number}.zip", _zip(doc)
    name, data = doc.single
    suffix = Path(name).suffix or ".json"
    return f"{stem}-r{revision.number}{'' if target_format == own else '.' + target_format}{suffix}", data


def _zip(doc: Document) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(doc.files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


# --- write back --------------------------------------------------------------------------------------


@dataclass
class WrittenBack:
    path: str
    backup: str | None


def writeback_refusal(
    conversation: Conversation, revision: Revision | None = None, *, inherent_only: bool = False
) -> str | None:
    """Why `revision` (by default the latest) cannot be written back to where `conversation` was
    read from, in words for the person; None when it can. The one rule of writeback_apply, of the
    page's "write back" button, of a resume's append and of the bulk write-back job.

    `inherent_only`: only what the conversation itself rules out, whatever the settings (it was
    not read from a file; a litellm log, a record of requests that is never rewritten; a file that
    holds several conversations), which a bulk job skips; the settings' refusals (writing back
    off, a file outside the write-back roots) are a job's failures instead."""
    source = conversation.source
    if source.kind != Source.Kind.PATH:
        return (
            f"{source.location} was not read from a file ({source.get_kind_display()}): download the "
            "repaired file or export it instead"
        )
    if (revision.history.format if revision is not None else conversation.format) in NEVER_REWRITTEN:
        return (
            "a litellm log or an OpenHands output.jsonl is a record of requests or runs and is never "
            "rewritten: download the corrected OpenAI request instead"
        )
    if source.conversations.count() > 1:
        return "the file holds several conversations: writing one back would overwrite the others"
    if inherent_only:
        return None
    if not settings.WRITE_BACK_ROOTS:
        return "writing back is off: set WRITE_BACK_ROOTS to the folders the inspector may write"
    try:
        allowed_path(source.location, settings.WRITE_BACK_ROOTS)
    except WriteBackError as exc:
        return str(exc)
    return None


def writeback_apply(conversation: Conversation, revision: Revision, *, user, detail: dict | None = None) -> WrittenBack:
    """Write `revision` back to the file or directory it was read from, in its own format.

    Refused (WriteBackError) for what writeback_refusal names, and when the log changed on disk
    since it was ingested. The writer works from the log as it is on disk (not the stored copy),
    so records the repair did not touch keep their bytes, secrets included. `detail` joins the
    audit event."""
    require_repairer(user)
    refusal = writeback_refusal(conversation, revision)
    if refusal is not None:
        raise WriteBackError(refusal)
    source = conversation.source
    try:
        on_disk = formats.load_path(source.location)
        new_doc = formats.write(revision.history, on_disk)
    except FormatError as exc:
        raise WriteBackError(f"cannot write this history back: {exc}") from None
    result = write_back(
        source.location,
        new_doc,
        expected_hash=source.content_hash,
        roots=settings.WRITE_BACK_ROOTS,
        history=revision.history,
    )
    # What is on disk now is this revision: a re-ingest of it is not a change.
    source.content_hash = document_hash(formats.load_path(source.location))
    Source.objects.filter(pk=source.pk).update(content_hash=source.content_hash)
    AuditEvent.objects.create(
        actor=user,
        action="write-back",
        conversation=conversation,
        revision=revision,
        detail={
            "path": str(result.path),
            "backup": str(result.backup) if result.backup else None,
            "revision": revision.number,
            **(detail or {}),
        },
    )
    return WrittenBack(str(result.path), str(result.backup) if result.backup else None)


# --- resume ----------------------------------------------------------------------------------------


def conversation_resume(
    conversation: Conversation, *, user, expected: int, continuation: str, model: str | None = None
) -> Revision:
    """Send the latest revision to the conversation's model through litellm, store the reply as a
    new revision, and append it to a writable source. Raises resume.ResumeError with the
    provider's words (stored in the audit log) and writes nothing when the call fails."""
    require_repairer(user)
    latest = conversation.latest_revision
    if latest is None or latest.number != expected:
        raise Conflict(conversation, expected, latest)
    model = (model or conversation.model or "").removeprefix("litellm_proxy/")
    if not model:
        raise ResumeError("the conversation has no model: choose one to resume with")
    if "/" not in model:
        # litellm needs the provider for models its map no longer knows (claude-3-5-sonnet-20241022).
        model = target_for_model(model, default=settings.DEFAULT_TARGET).model
    try:
        result = resume(
            latest.history,
            model=model,
            continuation=continuation or None,
            api_base=settings.RESUME_API_BASE or None,
            api_key=settings.RESUME_API_KEY or None,
            timeout=settings.RESUME_TIMEOUT,
        )
    except ResumeError as exc:
        AuditEvent.objects.create(
            actor=user,
            action="resume-failed",
            conversation=conversation,
            revision=latest,
            detail={"model": model, "kind": exc.kind, "error": str(exc)},  # shown_error: redacted, cut
        )
        raise
    # The history before the reply is a copy of the latest one: its chunks are shared.
    kept = len(latest.history.messages)
    added = len(result.history_with_reply.messages) - kept
    revision = revision_add(
        conversation,
        result.history_with_reply,
        user=user,
        expected=expected,
        action="resume",
        reason=f"resumed with {model}",
        detail={"model": model, "continuation": continuation[:2000]},
        base=latest,
        origins=[*range(kept), *[None] * added],
    )
    if writeback_refusal(conversation) is None:
        # The reply is stored whatever happens next; a refused append is reported, not fatal.
        try:
            writeback_apply(conversation, revision, user=user)
        except (WriteBackError, OSError) as exc:
            AuditEvent.objects.create(
                actor=user,
                action="write-back-failed",
                conversation=conversation,
                revision=revision,
                detail={"error": str(exc)},
            )
            revision.writeback_error = str(exc)
    return revision
