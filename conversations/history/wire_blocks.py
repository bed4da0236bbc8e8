"""The provider-neutral blocks and messages of a request, as the rules read them (wire.py builds
them from litellm's output, replay.py directly)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class WireBlock:
    """One content block of a wire message, whatever the provider calls it.

    type: text | image | document | tool_use | tool_result | thinking | redacted_thinking |
    server_tool_use | server_tool_result | cache_point (a Converse cachePoint block) | other.
    index: its position in the wire message's content (the M of `messages.N.content.M`).
    origin: the history message it came from (None: litellm made it up, e.g. a placeholder).
    cache: the cache marker on it (Anthropic cache_control; a Converse cachePoint is its own block).
    """

    type: str
    index: int
    origin: int | None = None
    text: str | None = None
    id: str | None = None
    name: str | None = None
    cache: dict[str, Any] | None = None
    is_error: bool | None = None
    signature: str | None = None
    has_signature: bool = False
    has_text: bool = True
    raw: Any = None


@dataclass(slots=True)
class WireMessage:
    role: str
    blocks: list[WireBlock]
    sources: list[int] = field(default_factory=list)

    @property
    def first_source(self) -> int | None:
        return self.sources[0] if self.sources else None

    def of_type(self, *types: str) -> list[WireBlock]:
        return [b for b in self.blocks if b.type in types]
