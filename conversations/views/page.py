"""The conversation page's data: one dict, rendered by templates/conversations/detail.html and
served as is by the JSON twin (/conversations/<id>.json). Plain values only (the JSON encoder
handles datetimes), no HTML: escaping and Markdown happen in the template.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from conversations.history import nextturn
from conversations.history.errors import HistoryError
from conversations.history.formats.openhands_output import run_facts
from conversations.history.leftoff import REASONS
from conversations.history.model import USAGE_KINDS, Block, History, Message, Usage
from conversations.history.targets import target_for_model
from conversations.models import Conversation, Revision, Status
from conversations.views.family import family_dict, link_calls
from conversations.views.outline import Outline, anchor, outline_cached, outline_computed
from conversations.views.verdicts import (
    findings_by_message,
    revision_checked,
    sender_checked,
    sender_names,
    target_names,
)

# Messages per screen: the first screen, and each step of "load more".
WINDOW = 50
# Images are shown inline only as data: URLs of these types (the CSP allows data: images and
# nothing remote; SVG is left out: it is a document, not a picture).
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
INLINE_IMAGE_MAX = 2 * 1024 * 1024
CHART_WIDTH, CHART_HEIGHT, CHART_POINTS = 600, 72, 300
# Cache breakpoints a request may carry (Anthropic, and Bedrock's cache points): "n of 4".
MAX_BREAKPOINTS = 4
# When conversations.history.targets cannot say (no model, an unknown one). Anthropic's and
# OpenAI's published windows for the model families seen in logs.
CONTEXT_WINDOWS = (
    ("claude", 200_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4", 200_000),
    ("gemini", 1_048_576),
)


def conversation_dict(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "url": conversation.get_absolute_url(),
        "title": str(conversation),
        "format": conversation.format,
        "provider": conversation.provider,
        "model": conversation.model,
        "external_id": conversation.external_id,
        "source": {"kind": conversation.source.kind, "location": conversation.source.location},
        "first_at": conversation.first_at,
        "last_at": conversation.last_at,
        "messages": conversation.message_count,
        "tool_calls": conversation.tool_call_count,
        "tokens": conversation.token_count,
        "status": Status(conversation.status).key,
        "status_label": conversation.get_status_display(),
        "route": _route_dict(conversation),
    }


def _route_dict(conversation: Conversation) -> dict | None:
    version = conversation.route_version
    if version is None:
        return None
    return {"name": version.route.name, "version": version.number, "model_group": conversation.model_group}


def revision_dict(revision: Revision) -> dict:
    return {
        "number": revision.number,
        "reason": revision.reason,
        "author": revision.author.get_username() if revision.author_id and revision.author else None,
        "created_at": revision.created_at,
        "messages": revision.message_count,
        "content_hash": revision.content_hash,
    }


def context_window(model: str | None) -> tuple[int | None, str]:
    """(the model's context window in tokens, where that figure comes from)."""
    try:
        target = target_for_model(model, default=settings.DEFAULT_TARGET)
    except HistoryError:  # a default that is no target
        target = None
    if target is not None and target.context_window:
        return target.context_window, f"{target.model} ({target.capability_source})"
    for prefix, window in CONTEXT_WINDOWS:
        if model and prefix in model:
            return window, f"{prefix} models (built-in table)"
    return None, "unknown"


def _outline_and_window(revision: Revision, head_dict: dict, start: int, stop: int) -> tuple[Outline, list[Message]]:
    """The revision's outline and messages start..stop-1. The first view of a revision reads every
    message for its outline: the window comes from those, not from a second read of the same
    chunks. Those go on return: kept through the rest of the page, each collection of the garbage
    collector would walk them all (200,000 messages: most of a second each)."""
    outline = outline_cached(revision)
    if outline is not None:
        return outline, revision.messages(start, stop)
    outline, every = outline_computed(revision, head_dict)
    return outline, [Message.from_dict(d) for d in every[start:stop]]


def detail_dict(
    conversation: Conversation,
    revision: Revision,
    *,
    start: int = 0,
    targets: list[str] | None = None,
    revisions: list[Revision] | None = None,
    link_params: dict | None = None,
    sender: str | None = None,
) -> dict:
    """Everything the page shows for the window of messages start..start+WINDOW. `link_params`
    are the query parameters links to another window keep (the revision, the targets, the
    sender). `sender`: judge the request another client would send (not stored)."""
    total = revision.message_count
    start = max(0, min(start, max(total - 1, 0)))
    stop = min(start + WINDOW, total)
    head_dict = revision.head()
    head = History.from_dict({**head_dict, "messages": []})
    outline, messages = _outline_and_window(revision, head_dict, start, stop)
    verdicts = sender_checked(revision, targets or [], sender) if sender else revision_checked(revision, targets or [])
    conversation.refresh_from_db(fields=["status"])  # checking a target may have changed it
    placed = findings_by_message(verdicts)
    window, window_source = context_window(head.model or conversation.model)
    located = [v["first_message"] for v in verdicts if v["first_message"] is not None]
    shown = [message_dict(m, start + k, outline, placed.get(start + k, [])) for k, m in enumerate(messages)]
    _pair_links(shown, start, stop, link_params or {})
    family = family_dict(conversation, head.meta)
    link_calls(shown, family["subagents"])
    return {
        "conversation": conversation_dict(conversation),
        "revision": revision_dict(revision),
        "latest": conversation.latest_revision_id == revision.pk,
        "revisions": [revision_dict(r) for r in (revisions or [])],
        "verdicts": verdicts,
        "targets": {"available": target_names(), "checked": [v["target"] for v in verdicts]},
        "senders": {"available": sender_names(), "chosen": next((v["sender"] for v in verdicts if v["own"]), "")},
        "logged_error": head.error,
        "logged_failure": next((v["logged_failure"] for v in verdicts if v["own"]), None),
        "next_turn": _next_turn(head, messages, stop, total, placed),
        "family": family,
        "left_off": _left_off(head.meta),
        "usage": usage_dict(head.usage),
        "run": run_facts(head.meta),
        "tokens": {
            "estimate": True,
            "method": "characters / 4 (an estimate), plus a fixed count per image",
            "prefix": outline.prefix_tokens,
            "total": outline.total_tokens,
            "context_window": window,
            "context_window_source": window_source,
            "chart": chart(
                outline,
                window,
                [
                    f["message_index"]
                    for v in verdicts
                    for f in v["findings"]
                    if f["message_index"] is not None and f["severity"] == "error"
                ],
            ),
        },
        "cache": {"markers": [m.to_dict() for m in outline.markers], "limit": MAX_BREAKPOINTS},
        "system": [_system_dict(part, k, outline) for k, part in enumerate(head.system)] if start == 0 else [],
        "tools": [{"name": t.name, "kind": t.kind, "description": t.description or ""} for t in head.tools],
        "window": {
            "start": start,
            "stop": stop,
            "total": total,
            "size": WINDOW,
            "next": stop if stop < total else None,
            "previous": max(0, start - WINDOW) if start > 0 else None,
        },
        "first_finding": min(located) if located else None,
        "messages": shown,
    }


def _next_turn(head: History, messages: list[Message], stop: int, total: int, placed: dict) -> dict | None:
    """The placeholder user turn of the next request (nextturn.py), drawn dashed after the last
    message when the log ends on a reply it received; None elsewhere and on other windows."""
    if stop != total or not messages:
        return None
    last = History(format=head.format, messages=[messages[-1]])
    if not nextturn.ends_on_received_reply(last):
        return None
    return {"index": total, "anchor": f"m{total}", "text": nextturn.PLACEHOLDER_TEXT, "findings": placed.get(total, [])}


def _left_off(meta: dict) -> dict:
    """What the reader left out of the log, with each reason (history.leftoff)."""
    found = meta.get("left_off") if isinstance(meta.get("left_off"), dict) else {}
    items = [i for i in found.get("items") or () if isinstance(i, dict)]
    count = found.get("count") if isinstance(found.get("count"), int) else len(items)
    return {
        "count": count,
        "by_reason": dict(found.get("by_reason") or {}),
        "items": items,
        "more": max(0, count - len(items)),
        "reasons": {reason: REASONS.get(reason, "") for reason in found.get("by_reason") or {}},
    }


def usage_dict(usage: Usage | None) -> dict[str, int | None]:
    """{"input", "cache_read", "cache_write", "output"}: None for a kind the log does not record."""
    return {name: getattr(usage, field) if usage is not None else None for name, field in USAGE_KINDS}


def _pair_links(messages: list[dict], start: int, stop: int, params: dict) -> None:
    """Each call's link to its result and back: a fragment when the other side is on this
    screen, else the window that holds it (inspector.js first looks for it among the turns
    loaded since)."""
    for message in messages:
        for block in message["blocks"]:
            pair = block.get("pair")
            if pair is None:
                continue
            at = pair["message"]
            if start <= at < stop:
                pair["href"] = f"#{pair['anchor']}"
            else:
                query = {**params, "start": at - at % WINDOW} if at >= WINDOW else dict(params)
                pair["href"] = (f"?{urlencode(query, doseq=True)}" if query else "?") + f"#{pair['anchor']}"


def message_dict(message: Message, index: int, outline: Outline, findings: list[dict]) -> dict:
    markers = {(m.message, m.block): m for m in outline.markers if m.message == index}
    return {
        "index": index,
        "anchor": f"m{index}",
        "role": message.role,
        "name": message.name,
        "model": message.model,
        "timestamp": message.timestamp,
        "id": message.id,
        "tokens": outline.tokens[index] if index < len(outline.tokens) else None,
        "cumulative": outline.cumulative[index] if index < len(outline.cumulative) else None,
        "usage": usage_dict(message.usage) if message.usage else None,
        "cache": _marker_dict(markers.get((index, None))),
        "blocks": [
            _with_pairing_findings(block_dict(b, index, j, outline, markers.get((index, j))), findings)
            for j, b in enumerate(message.blocks)
        ],
        "findings": findings,
        "source": _source_dict(message.source, message.blocks),
        # OpenHands V0: the messages the log has after these calls that the model sees before them.
        "moved_past": [p for p in message.extra.get("moved_past") or () if isinstance(p, dict)],
        "moved_past_total": message.extra.get("moved_past_total"),
    }


def _with_pairing_findings(block: dict, findings: list[dict]) -> dict:
    """An unpaired call or result names the message's pairing findings beside it."""
    if block["type"] in ("tool_use", "tool_result") and block["pair"] is None:
        block["findings"] = [{"target": f["target"], "rule": f["rule"]} for f in findings if "tool" in f["rule"]]
    return block


def block_dict(block: Block, index: int, position: int, outline: Outline, marker=None) -> dict:
    entry: dict[str, Any] = {"type": block.type, "index": position, "cache": _marker_dict(marker)}
    if block.type in ("text", "thinking"):
        entry["text"] = block.text or ""
    elif block.type == "redacted_thinking":
        entry["size"] = len(block.data or "")
    elif block.type == "tool_use":
        entry.update(_tool_use(block, index, position, outline))
    elif block.type == "tool_result":
        entry.update(_tool_result(block, index, position, outline))
    elif block.type in ("image", "document"):
        entry["media"] = media_dict(block.media)
    else:
        entry["text"] = block.text or ""
        entry["extra"] = block.extra
    return entry


def _tool_use(block: Block, index: int, position: int, outline: Outline) -> dict:
    first = outline.uses.get(block.id) == [index, position]
    result = outline.results.get(block.id)
    own = anchor("tool", block.id)
    return {
        "id": block.id,
        "name": block.name,
        "input": block.input,
        # An arguments string that is not JSON is shown as it was written.
        "arguments": block.arguments if block.input is None and block.arguments is not None else None,
        "anchor": own if first else f"{own}-m{index}b{position}",
        "duplicate": not first,
        "pair": {"anchor": anchor("result", block.id), "message": result[0]} if result else None,
        "not_sent": not block.sent,  # an OpenHands finish call: the agent sends its text alone
    }


def _tool_result(block: Block, index: int, position: int, outline: Outline) -> dict:
    first = outline.results.get(block.tool_use_id) == [index, position]
    use = outline.uses.get(block.tool_use_id)
    own = anchor("result", block.tool_use_id)
    inner = None
    if isinstance(block.content, list):
        inner = [
            {"type": b.type, "text": b.text or "", "media": media_dict(b.media) if b.type == "image" else None}
            for b in block.content
        ]
    return {
        "tool_use_id": block.tool_use_id,
        "is_error": bool(block.is_error),
        "text": block.content if isinstance(block.content, str) else None,
        "content": inner,
        "anchor": own if first else f"{own}-m{index}b{position}",
        "duplicate": not first,
        "pair": {"anchor": anchor("tool", block.tool_use_id), "message": use[0]} if use else None,
    }


def media_dict(media: dict | None) -> dict:
    """An image as the page may show it: a data: URL for the safe raster types, otherwise only
    what it is (a remote URL is named, never loaded)."""
    media = media or {}
    kind, media_type = media.get("type"), str(media.get("media_type") or "")
    data = media.get("data")
    shown = None
    if kind == "base64" and media_type in IMAGE_TYPES and isinstance(data, str) and len(data) <= INLINE_IMAGE_MAX:
        shown = f"data:{media_type};base64,{data}"
    return {
        "kind": kind,
        "media_type": media_type,
        "url": media.get("url") if kind == "url" else None,
        "size": len(data) if isinstance(data, str) else None,
        "data_url": shown,
    }


def _marker_dict(marker) -> dict | None:
    if marker is None:
        return None
    return {
        "ordinal": marker.ordinal,
        "where": marker.where,
        "prefix_tokens": marker.prefix_tokens,
        "ttl": marker.ttl,
        "over_limit": marker.ordinal > MAX_BREAKPOINTS,
    }


def _source_dict(ref, blocks: list[Block]) -> dict:
    refs = [ref] + [b.source for b in blocks]
    known = any(r.file or r.line or r.event is not None or r.path != "$" for r in refs)
    return {"label": str(ref), "known": known}


def _system_dict(part, index: int, outline: Outline) -> dict:
    markers = {m.where: m for m in outline.markers if m.message is None}
    return {
        "index": index,
        "role": part.role,
        "cache": _marker_dict(markers.get(f"system[{index}]")),
        "blocks": [
            {
                "type": b.type,
                "text": b.text or "",
                "index": j,
                "cache": _marker_dict(markers.get(f"system[{index}].blocks[{j}]")),
            }
            for j, b in enumerate(part.blocks)
        ],
    }


def chart(outline: Outline, window: int | None, errors: list[int]) -> dict:
    """An SVG polyline of the cumulative token estimate over the messages, scaled against the
    context window (or the total when the window is unknown or far larger)."""
    values = outline.cumulative
    total = outline.total
    top = max(window or 0, outline.total_tokens, 1)
    if window and window > outline.total_tokens * 20:
        top = outline.total_tokens * 1.25 or 1  # the line would be flat: scale to the data
    step = max(1, total // CHART_POINTS) if total else 1
    points = []
    for i in range(0, total, step):
        points.append(_point(i, values[i], total, top))
    if total and (total - 1) % step:
        points.append(_point(total - 1, values[-1], total, top))

    def x_of(i: int) -> float:
        return round(CHART_WIDTH * (i + 1) / max(total, 1), 1)

    limit_y = round(CHART_HEIGHT - CHART_HEIGHT * window / top, 1) if window and window <= top else None
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "points": " ".join(points) if points else f"0,{CHART_HEIGHT}",
        "limit_y": limit_y,
        "markers": [x_of(m.message) for m in outline.markers if m.message is not None],
        "errors": sorted({x_of(i) for i in errors if 0 <= i < total}),
        "share": round(100 * outline.total_tokens / window, 1) if window else None,
    }


def _point(i: int, value: int, total: int, top: float) -> str:
    x = CHART_WIDTH * (i + 1) / max(total, 1)
    y = CHART_HEIGHT - CHART_HEIGHT * value / top
    return f"{x:.1f},{y:.1f}"
