"""The raw source record behind a message: found in the revision's Original through the
SourceRefs the readers left on the message and its blocks (file, JSONL line or event, JSON
path), so a support engineer sees exactly what the log said."""

from __future__ import annotations

import re
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from conversations import verdicts
from conversations.history.finite import dumps
from conversations.history.formats.document import loads
from conversations.history.model import Message, SourceRef
from conversations.models import OriginalFile, Revision
from conversations.views.common import conversation_for, render_page, revision_for
from conversations.views.verdicts import target_names

RECORD_SHOWN_MAX = 200_000
_STEP = re.compile(r"""\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[["']((?:[^"'\\]|\\.)*)["']\]""")


class PathError(ValueError):
    pass


def path_resolve(value: Any, path: str) -> Any:
    """The element at a JSON path like `$.messages[3].content[0]` (also `$["odd key"]`)."""
    if not path.startswith("$"):
        raise PathError(f"{path!r} does not start with $")
    at, here = 1, value
    while at < len(path):
        step = _STEP.match(path, at)
        if step is None:
            raise PathError(f"cannot read {path[at:]!r} in {path!r}")
        key, number, quoted = step.groups()
        try:
            if number is not None:
                here = here[int(number)]
            else:
                here = here[key if key is not None else quoted]
        except (KeyError, IndexError, TypeError):
            raise PathError(f"{path[: step.end()]} is not in the record") from None
        at = step.end()
    return here


def message_records(revision: Revision, message: Message) -> list[dict]:
    """The distinct records a message was read from (an OpenHands turn may span several
    events): each with where it is, its JSON (pretty, capped) or why it cannot be shown."""
    refs: list[SourceRef] = []
    # Block refs inside the message's own record add nothing: one entry per record.
    for ref in [message.source] + [b.source for b in message.blocks]:
        if (ref.file, ref.line, ref.event) not in [(r.file, r.line, r.event) for r in refs] and _located(ref):
            refs.append(ref)
    return [record_dict(revision, ref) for ref in refs]


def _located(ref: SourceRef) -> bool:
    return bool(ref.file or ref.line or ref.event is not None or ref.path != "$")


def record_dict(revision: Revision, ref: SourceRef) -> dict:
    """Where a ref points, and the JSON there. For a JSONL line or an event, the whole record
    too (what surrounds the message: the event's ids, observation, metadata)."""
    entry: dict[str, Any] = {
        "file": ref.file,
        "line": ref.line,
        "event": ref.event,
        "path": ref.path,
        "label": str(ref),
        "json": None,
        "record_json": None,
        "error": None,
        "truncated": False,
    }
    try:
        document = record_load(revision, ref)
        value = path_resolve(document, ref.path)
        record = _record_of(document, ref)
    except (LookupError, PathError, ValueError) as exc:
        entry["error"] = str(exc)
        return entry
    entry["json"], entry["truncated"] = _shown(value)
    if record is not None and record is not value:
        entry["record_json"], truncated = _shown(record)
        entry["truncated"] = entry["truncated"] or truncated
    return entry


def _record_of(document: Any, ref: SourceRef) -> Any:
    """The record a ref sits in: the JSONL line or event file itself, or the event of an
    OpenHands trajectory (`$[7]...`). None for a plain JSON document: the whole file is no record."""
    if ref.line or (ref.event is not None and not ref.path.startswith("$[")):
        return document
    if ref.event is not None:
        step = _STEP.match(ref.path, 1)
        return path_resolve(document, "$" + step.group(0)) if step else None
    return None


def _shown(value: Any) -> tuple[str, bool]:
    text = dumps(value, indent=2, ensure_ascii=False)
    return text[:RECORD_SHOWN_MAX], len(text) > RECORD_SHOWN_MAX


def record_load(revision: Revision, ref: SourceRef) -> Any:
    """The parsed record a ref points into: the whole file, or one line of a JSONL file."""
    if revision.original_id is None:
        raise LookupError("this revision has no original document (it was not read from a log)")
    files = OriginalFile.objects.filter(original_id=revision.original_id)
    row = files.filter(name=ref.file).first() if ref.file else None
    if row is None:
        names = list(files.values_list("name", flat=True)[:2])
        if len(names) != 1:
            raise LookupError(f"{ref.file or 'the record'} is not among the original's files")
        row = files.get()
    text = bytes(row.data).decode("utf-8", errors="replace")
    if ref.line:
        lines = text.split("\n")
        if ref.line > len(lines):
            raise LookupError(f"{row.name} has no line {ref.line}")
        text = lines[ref.line - 1]
    try:
        return loads(text)  # a lone surrogate escaped, as the readers have it
    except (ValueError, RecursionError) as exc:  # not JSON, or nested too deep
        raise ValueError(f"{row.name}{f' line {ref.line}' if ref.line else ''} is not JSON: {exc}") from None


# --- views ----------------------------------------------------------------------------------


@require_safe
def message_raw(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    """The source records of message `index`: a page of its own, or the body of the message's
    "raw record" toggle (htmx)."""
    conversation, _ = conversation_for(request, pk)
    revision = revision_for(conversation, request.GET.get("rev"))
    messages = revision.messages(index, index + 1)
    if not messages:
        raise Http404(f"revision {revision.number} has no message {index}")
    message = messages[0]
    context = {
        "conversation": conversation,
        "revision": revision,
        "index": index,
        "message": message,
        "canonical": message.to_dict(),
        "records": message_records(revision, message),
    }
    return render_page(request, "conversations/raw.html", context, "records")


@require_safe
def wire_request(request: HttpRequest, pk: int, target: str) -> HttpResponse:
    """The request as it would be sent to `target`, built the way litellm builds it."""
    conversation, _ = conversation_for(request, pk)
    revision = revision_for(conversation, request.GET.get("rev"))
    if target not in target_names():
        raise Http404(f"no target {target[:40]!r}")
    # Past the bound the request is not built here (minutes for 200,000 messages): the downloads
    # build it for whoever wants it whole.
    too_large = verdicts.too_large_for_a_request(conversation.tool_call_count, revision.message_count)
    wire, problem = None, None
    if too_large is None:
        try:
            wire = verdicts.wire_request(revision, target)
        except Exception as exc:  # noqa: BLE001 - litellm refusing to build it is the answer to show
            problem = f"{exc.__class__.__name__}: {exc}"
    context = {
        "conversation": conversation,
        "revision": revision,
        "target": target,
        "wire": wire,
        "problem": problem,
        "too_large": too_large,
    }
    return render_page(request, "conversations/wire.html", context, "request")
