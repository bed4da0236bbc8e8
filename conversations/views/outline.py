"""What the conversation page needs to know about the whole history while it shows only a window
of it: token estimates (per message and cumulative), where each tool call and its result sit,
and every cache breakpoint with the prefix it caches.

Computed once per revision (revisions never change) and kept in Django's cache, so the first
screen of a 5,000-message conversation reads one chunk of messages, not all of them. It works on
the stored dict form of the messages (History.to_dict()), not on Message objects: building 5,000
dataclasses only to count characters was most of a cold page view.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from conversations.gcpause import without_gc_pauses
from conversations.history.model import History

# Bump when the outline's shape or the estimate changes: cached outlines are then recomputed.
OUTLINE_VERSION = 2
CACHE_SECONDS = 24 * 3600
CHARS_PER_TOKEN = 4
# Anthropic bills an image by its pixels (w*h/750); we do not decode images, so a typical
# screenshot's count stands in for each.
IMAGE_TOKENS = 1_600
MESSAGE_OVERHEAD = 4
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@dataclass
class Marker:
    """A cache breakpoint. `where` is the JSON-ish path ("messages[3].blocks[1]"); message and
    block say where the page draws it (message None: tools or system)."""

    ordinal: int
    where: str
    message: int | None
    block: int | None
    prefix_tokens: int
    ttl: str | None = None

    def to_dict(self) -> dict:
        return {
            "ordinal": self.ordinal,
            "where": self.where,
            "message": self.message,
            "block": self.block,
            "prefix_tokens": self.prefix_tokens,
            "ttl": self.ttl,
        }


@dataclass
class Outline:
    total: int
    prefix_tokens: int  # tools + system prompt, before message 0
    tokens: list[int]  # estimated tokens of each message
    cumulative: list[int]  # estimate of everything up to and including message i
    uses: dict[str, list[int]] = field(default_factory=dict)  # tool id -> [message, block]
    results: dict[str, list[int]] = field(default_factory=dict)  # tool id -> [message, block]
    markers: list[Marker] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.cumulative[-1] if self.cumulative else self.prefix_tokens

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "prefix_tokens": self.prefix_tokens,
            "tokens": self.tokens,
            "cumulative": self.cumulative,
            "uses": self.uses,
            "results": self.results,
            "markers": [m.to_dict() for m in self.markers],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Outline:
        return cls(
            total=d["total"],
            prefix_tokens=d["prefix_tokens"],
            tokens=d["tokens"],
            cumulative=d["cumulative"],
            uses=d["uses"],
            results=d["results"],
            markers=[Marker(**m) for m in d["markers"]],
        )


def tokens_estimate(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def block_tokens(block: dict) -> int:
    """Estimated tokens of a block in its stored form (Block.to_dict())."""
    kind = block.get("type")
    if kind in ("text", "thinking"):
        return tokens_estimate(len(block.get("text") or ""))
    if kind == "tool_use":
        body = block.get("arguments")
        if body is None:
            body = json.dumps(block.get("input"), ensure_ascii=False)
        return tokens_estimate(len(block.get("name") or "") + len(block.get("id") or "") + len(body))
    if kind == "tool_result":
        content = block.get("content")
        own = tokens_estimate(len(block.get("tool_use_id") or ""))
        if isinstance(content, list):
            return own + sum(block_tokens(inner) for inner in content)
        return own + tokens_estimate(len(content or ""))
    if kind in ("image", "document"):
        return IMAGE_TOKENS
    if kind == "redacted_thinking":
        return tokens_estimate(len(block.get("data") or ""))
    return tokens_estimate(len(block.get("text") or ""))


def message_tokens(message: dict) -> int:
    return MESSAGE_OVERHEAD + sum(block_tokens(b) for b in message.get("blocks", ()))


def outline_build(history: History) -> Outline:
    """The outline of a History (tests, and callers that hold one already)."""
    head = history.to_dict()
    return outline_from_dicts(head, head.pop("messages"))


def outline_from_dicts(head: dict, messages: list[dict]) -> Outline:
    running, markers = _prefix_markers(head)
    outline = Outline(total=len(messages), prefix_tokens=running, tokens=[], cumulative=[])
    for i, message in enumerate(messages):
        start = running
        running += MESSAGE_OVERHEAD
        for j, block in enumerate(message.get("blocks", ())):
            running += block_tokens(block)
            kind = block.get("type")
            if kind == "tool_use" and block.get("id") is not None:
                outline.uses.setdefault(block["id"], [i, j])
            elif kind == "tool_result" and block.get("tool_use_id") is not None:
                outline.results.setdefault(block["tool_use_id"], [i, j])
            if block.get("cache_control") is not None:
                markers.append((f"messages[{i}].blocks[{j}]", i, j, running, _ttl(block["cache_control"])))
        # A marker on the whole message caches all of it: it comes after the message's blocks.
        if message.get("cache_control") is not None:
            markers.append((f"messages[{i}]", i, None, running, _ttl(message["cache_control"])))
        outline.tokens.append(running - start)
        outline.cumulative.append(running)
    outline.markers = [
        Marker(ordinal=n, where=w, message=i, block=j, prefix_tokens=p, ttl=ttl)
        for n, (w, i, j, p, ttl) in enumerate(markers, start=1)
    ]
    return outline


def _prefix_markers(head: dict) -> tuple[int, list[tuple]]:
    """Tokens of the tools and system prompt, and their markers in prefix order."""
    found = []
    running = 0
    for k, tool in enumerate(head.get("tools", ())):
        running += tokens_estimate(len(json.dumps(tool, ensure_ascii=False)))
        if tool.get("cache_control") is not None:
            found.append((f"tools[{k}]", None, None, running, _ttl(tool["cache_control"])))
    for k, part in enumerate(head.get("system", ())):
        for j, block in enumerate(part.get("blocks", ())):
            running += block_tokens(block)
            if block.get("cache_control") is not None:
                found.append((f"system[{k}].blocks[{j}]", None, None, running, _ttl(block["cache_control"])))
        if part.get("cache_control") is not None:
            found.append((f"system[{k}]", None, None, running, _ttl(part["cache_control"])))
    return running, found


def _ttl(marker: Any) -> str | None:
    return marker.get("ttl") if isinstance(marker, dict) else None


def _key(revision) -> str:
    return f"outline:{OUTLINE_VERSION}:{revision.pk}:{revision.content_hash}"


def outline_cached(revision) -> Outline | None:
    cached = cache.get(_key(revision))
    return Outline.from_dict(cached) if cached is not None else None


def outline_computed(revision, head: dict) -> tuple[Outline, list[dict]]:
    """(the outline computed from every stored message, cached for next time; those messages).
    A caller that shows some of them takes them from here rather than reading the chunks again."""
    messages: list[dict] = []

    def build() -> Outline:
        messages.extend(revision_message_dicts(revision))
        return outline_from_dicts(head, messages)

    outline = without_gc_pauses(build)
    cache.set(_key(revision), outline.to_dict(), CACHE_SECONDS)
    return outline, messages


def revision_message_dicts(revision) -> list[dict]:
    """Every message of a revision in its stored form, without building Message objects."""

    return revision.message_dicts()


def anchor(kind: str, tool_id: str | None) -> str:
    """A fragment id for a tool call ("tool-...") or result ("result-..."). Ids come from models
    and users: anything outside a plain token is hashed, so the anchor is always a safe id."""
    if tool_id is None:
        tool_id = ""
    if _SAFE_ID.match(tool_id):
        return f"{kind}-{tool_id}"
    return f"{kind}-h{hashlib.sha256(tool_id.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
