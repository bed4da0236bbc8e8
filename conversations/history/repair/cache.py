"""Cache markers (cache_control; a Converse cachePoint): remove them where the route has no
prompt caching, keep at most the allowed number, keep them off synthetic error results, and put
longer TTLs first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..findings import Finding
from ..model import Block, Message
from .registry import strategy
from .work import Work

LONG_TTL = "1h"
SHORT_TTL = "5m"


@dataclass
class _Marker:
    element: Any  # Tool, SystemPart, Message or Block: whatever has `cache_control`
    message: Message | None
    label: str


def _markers(work: Work) -> list[_Marker]:
    """Every marker in prefix order (tools, system, messages), blocks inside tool results too."""
    history = work.history
    found = [_Marker(t, None, f"the tool {t.name!r}") for t in history.tools if t.cache_control]
    for part in history.system:
        if part.cache_control:
            found.append(_Marker(part, None, "the system prompt"))
        found.extend(
            _Marker(b, None, f"block {j} of the system prompt") for j, b in enumerate(part.blocks) if b.cache_control
        )
    for message in history.messages:
        name = work.name(message)
        for j, block in enumerate(message.blocks):
            if block.cache_control:
                found.append(_Marker(block, message, f"block {j} of {name}"))
            if isinstance(block.content, list):
                found.extend(
                    _Marker(x, message, f"a block inside the tool result of {name}")
                    for x in block.content
                    if x.cache_control
                )
        # litellm puts a message-level marker on the message's last block: it counts there.
        if message.cache_control:
            found.append(_Marker(message, message, name))
    return found


def _remove_all(work: Work, why: str) -> None:
    for marker in _markers(work):
        marker.element.cache_control = None
        work.note("remove-cache-marker", marker.message, f"removed the cache marker on {marker.label} ({why})")


@strategy("remove-cache-markers")
def remove_cache_markers(work: Work, findings: list[Finding]) -> None:
    """Remove every cache marker: a deployment of the route has no explicit prompt caching."""
    _remove_all(work, "a target of this request has no explicit prompt caching")


@strategy("remove-cached-content-markers")
def remove_cached_content_markers(work: Work, findings: list[Finding]) -> None:
    """Remove every cache marker, so litellm does not create a Gemini cachedContents entry."""
    _remove_all(work, "litellm would turn them into a Gemini cachedContents entry")


@strategy("trim-cache-markers")
def trim_cache_markers(work: Work, findings: list[Finding]) -> None:
    """Keep only the last markers the provider allows (4 for Anthropic and Bedrock): the later
    breakpoints cache the longest prefix."""
    markers = _markers(work)
    limit = work.max_breakpoints()
    surplus = markers[: max(0, len(markers) - limit)]
    for marker in surplus:
        marker.element.cache_control = None
        work.note(
            "remove-cache-marker",
            marker.message,
            f"removed the cache marker on {marker.label} (more than {limit} in the request; the last ones stay)",
        )


@strategy("move-cache-marker")
def move_cache_marker(work: Work, findings: list[Finding]) -> None:
    """Move a cache marker off a synthetic error result (the result the repair or the agent made
    up for an interrupted call) onto the message before it; drop it when that message already
    ends in a breakpoint."""
    flagged = work.messages_of(findings)
    if not flagged:
        flagged = [
            m
            for m in work.history.messages
            if any(b.type == "tool_result" and b.is_error for b in m.blocks) and _marked(m)
        ]
    if not flagged:
        return
    where = work.positions()
    messages = work.history.messages
    for message in flagged:
        if not _marked(message):
            continue
        marker = message.cache_control or next(b.cache_control for b in message.blocks if b.cache_control)
        message.cache_control = None
        for block in message.blocks:
            block.cache_control = None
        k = where.get(id(message), 0)
        previous = messages[k - 1] if k > 0 else None
        spot = _last_cacheable(previous) if previous is not None else None
        if spot is None or previous is None or _ends_in_breakpoint(previous):
            work.note(
                "remove-cache-marker",
                message,
                f"removed the cache marker on the synthetic error result in {work.name(message)}",
            )
            continue
        spot.cache_control = marker
        work.note(
            "move-cache-marker",
            message,
            f"moved the cache marker from the synthetic error result in {work.name(message)} "
            f"onto the last block of {work.name(previous)}",
        )


def _marked(message: Message) -> bool:
    return message.cache_control is not None or any(b.cache_control for b in message.blocks)


def _ends_in_breakpoint(message: Message) -> bool:
    return message.cache_control is not None or any(b.cache_control for b in message.blocks[-1:])


def _last_cacheable(message: Message) -> Block | None:
    """The message's last block that may carry a marker (thinking blocks may not)."""
    return next((b for b in reversed(message.blocks) if b.type not in ("thinking", "redacted_thinking")), None)


@strategy("reorder-cache-ttl")
def reorder_cache_ttl(work: Work, findings: list[Finding]) -> None:
    """Longer TTLs must come first: a 1h marker after a 5m one gets the 5m TTL (the cheaper of
    the two ways to restore the order)."""
    seen_short = False
    for marker in _markers(work):
        cache = marker.element.cache_control
        if cache.ttl == LONG_TTL and seen_short:
            cache.ttl = SHORT_TTL
            work.note(
                "change-cache-ttl",
                marker.message,
                f"changed the TTL of the cache marker on {marker.label} from 1h to 5m (a 5m marker comes before it)",
            )
        elif cache.ttl != LONG_TTL:
            seen_short = True
