"""The canonical conversation history that every format reads into and writes from.

Pure Python: nothing here may import Django (an import-linter contract keeps it so), because the
same objects serve the web pages, the JSON API, the command line and the litellm integration.

Shape, in one breath: a History has a system prompt (a list of SystemPart, not messages), tool
definitions, and messages; a message has a role and a list of content blocks; blocks, messages,
system parts and tools may carry a cache marker; every element keeps a SourceRef to the record it
was read from, so the page can show the raw record and a writer can write back what it read.

Message indexes count messages only: the system prompt is never a message.

Each element keeps `extra`: the keys of its source record that the canonical model does not name
(OpenHands `llm_metrics`, Claude Code `uuid`, litellm `thinking_blocks` order...). Writers put them
back, which is how read-then-write gives the same document.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

ROLES = ("user", "assistant", "tool")

# Block.extra key of a block the log records but the agent never sends to the model (OpenHands V0
# sends a `finish` action as plain text, never its tool call): shown on the page, left out of every
# request built from the history, so no rule judges it and no repair answers it.
NOT_SENT = "not_sent"

# The elements whose from_dict hands the stored dict to the constructor.
_Built = TypeVar("_Built", "Block", "Message")


def _built(cls: type[_Built], kw: dict[str, Any]) -> _Built:
    """cls(**kw) for a stored dict (to_dict's keys are the field names), with the values every
    element keeps as objects (cache marker, source) made so, and keys that name no field (a dict
    not written by to_dict) left out."""
    if "cache_control" in kw:
        kw["cache_control"] = CacheControl.from_wire(kw["cache_control"])
    kw["source"] = SourceRef.from_dict(kw.get("source"))
    if not kw.get("extra"):
        kw["extra"] = {}
    try:
        return cls(**kw)
    except TypeError:
        return cls(**{k: v for k, v in kw.items() if k in cls.__dataclass_fields__})


@dataclass(slots=True)
class SourceRef:
    """Where an element came from: a file (relative to the source root), a JSONL line (1-based)
    or an event id, and the JSON path inside that record."""

    file: str | None = None
    line: int | None = None
    event: int | str | None = None
    path: str = "$"

    def __str__(self) -> str:
        parts = [
            p
            for p in (self.file, self.line and f"line {self.line}", self.event is not None and f"event {self.event}")
            if p
        ]
        parts.append(self.path)
        return ": ".join(str(p) for p in parts)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path}
        if self.file is not None:
            d["file"] = self.file
        if self.line is not None:
            d["line"] = self.line
        if self.event is not None:
            d["event"] = self.event
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> SourceRef:
        if not d:
            return cls()
        try:
            return cls(**d)  # what to_dict wrote: the fast way, for the millions a bulk job reads
        except TypeError:
            return cls(file=d.get("file"), line=d.get("line"), event=d.get("event"), path=d.get("path", "$"))


@dataclass(slots=True)
class CacheControl:
    """A prompt-cache breakpoint (Anthropic `cache_control`; a Converse `cachePoint`)."""

    type: str = "ephemeral"
    ttl: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.ttl is not None:
            d["ttl"] = self.ttl
        d.update(self.extra)
        return d

    @classmethod
    def from_wire(cls, value: Any) -> CacheControl | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            # A malformed marker is still a marker: keep what was there so a rule can name it.
            return cls(type=str(value))
        extra = {k: v for k, v in value.items() if k not in ("type", "ttl")}
        return cls(type=value.get("type", "ephemeral"), ttl=value.get("ttl"), extra=extra)


# --- content blocks -------------------------------------------------------------------------


@dataclass(slots=True)
class Block:
    """One content block. `type` is one of BLOCK_TYPES; fields that do not apply stay None.

    text               text blocks; the thinking text of a thinking block
    source (media)     image/document: {"type": "base64"|"url", "media_type", "data"|"url"}
    id, name, input    tool_use; `arguments` keeps an OpenAI arguments string exactly as read
                       (input is then its parsed value, or None when it is not valid JSON)
    tool_use_id        tool_result; `content` is a string or a list of Blocks; `is_error`
    signature          thinking; redacted_thinking keeps its opaque payload in `data`
    """

    type: str
    text: str | None = None
    media: dict[str, Any] | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None
    arguments: str | None = None
    tool_use_id: str | None = None
    content: str | list[Block] | None = None
    is_error: bool | None = None
    signature: str | None = None
    data: str | None = None
    cache_control: CacheControl | None = None
    source: SourceRef = field(default_factory=SourceRef)
    extra: dict[str, Any] = field(default_factory=dict)

    # -- constructors people actually use
    @classmethod
    def text_block(cls, text: str, **kw: Any) -> Block:
        return cls(type="text", text=text, **kw)

    @classmethod
    def tool_use(cls, id: str, name: str, input: Any, **kw: Any) -> Block:
        return cls(type="tool_use", id=id, name=name, input=input, **kw)

    @classmethod
    def tool_result(
        cls, tool_use_id: str | None, content: str | list[Block] | None, is_error: bool | None = None, **kw: Any
    ) -> Block:
        return cls(type="tool_result", tool_use_id=tool_use_id, content=content, is_error=is_error, **kw)

    @property
    def sent(self) -> bool:
        """Whether the agent sends this block to the model (see NOT_SENT)."""
        return not self.extra.get(NOT_SENT)

    @property
    def result_text(self) -> str:
        """The text of a tool_result, flattened."""
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "\n".join(b.text or "" for b in self.content if b.type == "text")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        for name in ("text", "media", "id", "name", "arguments", "tool_use_id", "is_error", "signature", "data"):
            value = getattr(self, name)
            if value is not None:
                d[name] = value
        if self.input is not None or self.type == "tool_use":
            d["input"] = self.input
        if self.content is not None:
            d["content"] = self.content if isinstance(self.content, str) else [b.to_dict() for b in self.content]
        if self.cache_control is not None:
            d["cache_control"] = self.cache_control.to_wire()
        d["source"] = self.source.to_dict()
        if self.extra:
            d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Block:
        # The keys of to_dict are the field names: they go to the constructor as they are, but
        # for the values that are objects (a bulk job reads a few hundred thousand blocks a second).
        kw = dict(d)
        content = kw.get("content")
        if isinstance(content, list):
            kw["content"] = [cls.from_dict(b) for b in content]
        return _built(cls, kw)


BLOCK_TYPES = ("text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "other")


# --- messages, system, tools ------------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Usage | None:
        if not d:
            return None
        return cls(**{k: d.get(k) for k in cls.__slots__})

    @classmethod
    def from_wire(cls, raw: Any) -> Usage | None:
        """Usage from a provider's usage object, each token counted in one field only.

        Anthropic's shape (`input_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`,
        `output_tokens`) is taken as it is: its input_tokens already leaves the cached tokens out.
        OpenAI's (`prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`) counts
        the cached tokens inside prompt_tokens, and so does litellm's for every provider (it adds
        Anthropic's cache reads and writes to prompt_tokens): they are taken out of input_tokens,
        so input_tokens means the same in every format and `total` counts each token once."""
        if not isinstance(raw, dict):
            return None
        details = raw.get("prompt_tokens_details")
        details = details if isinstance(details, dict) else {}
        cache_write = _count(raw.get("cache_creation_input_tokens"))
        cache_read = _count(raw.get("cache_read_input_tokens"), details.get("cached_tokens"))
        output = _count(raw.get("output_tokens"), raw.get("completion_tokens"))
        prompt = _count(raw.get("prompt_tokens"))
        if _count(raw.get("input_tokens")) is not None or prompt is None:
            uncached = _count(raw.get("input_tokens"))
        else:
            uncached = max(0, prompt - (cache_read or 0) - (cache_write or 0))
        usage = cls(
            input_tokens=uncached,
            output_tokens=output,
            cache_creation_input_tokens=cache_write,
            cache_read_input_tokens=cache_read,
        )
        return usage if usage.to_dict() else None

    @property
    def total(self) -> int:
        """Every token the request and its response counted: input (not cached), cache reads,
        cache writes and output."""
        return sum(
            v or 0
            for v in (
                self.input_tokens,
                self.cache_read_input_tokens,
                self.cache_creation_input_tokens,
                self.output_tokens,
            )
        )


# The four kinds of tokens a request is billed for, by the names the page and the API give them,
# with the Usage field of each.
USAGE_KINDS = (
    ("input", "input_tokens"),
    ("cache_read", "cache_read_input_tokens"),
    ("cache_write", "cache_creation_input_tokens"),
    ("output", "output_tokens"),
)


def _count(*values: Any) -> int | None:
    """The first value that is a token count (an int, not a bool)."""
    return next((v for v in values if isinstance(v, int) and not isinstance(v, bool)), None)


@dataclass(slots=True)
class Message:
    """A turn. role: "user", "assistant" or "tool" (an OpenAI-style tool message holds exactly the
    tool_result block it answers; Anthropic-style histories carry tool_result blocks in user
    messages instead: both are kept as read, because indexes must match the source).

    `content_form` records how the source wrote the content so a writer can give it back:
    "string" (one text block was a bare string), "blocks", "null" or "empty" (OpenAI `null` or
    `""` with tool_calls), "missing" (no content key).
    `cache_control` is a message-level marker (litellm's OpenAI-format extension).
    """

    role: str
    blocks: list[Block] = field(default_factory=list)
    content_form: str = "blocks"
    cache_control: CacheControl | None = None
    name: str | None = None
    usage: Usage | None = None
    model: str | None = None
    timestamp: str | None = None
    id: str | None = None
    source: SourceRef = field(default_factory=SourceRef)
    extra: dict[str, Any] = field(default_factory=dict)

    def tool_uses(self) -> list[Block]:
        """The tool calls the model is sent (a call the log records but never sends is left out)."""
        return [b for b in self.blocks if b.type == "tool_use" and b.sent]

    def sent_blocks(self) -> list[Block]:
        """The blocks a request built from this message holds."""
        return [b for b in self.blocks if b.sent]

    def tool_results(self) -> list[Block]:
        return [b for b in self.blocks if b.type == "tool_result"]

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.blocks if b.type == "text" and b.text)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "blocks": [b.to_dict() for b in self.blocks]}
        if self.content_form != "blocks":
            d["content_form"] = self.content_form
        for name in ("name", "model", "timestamp", "id"):
            value = getattr(self, name)
            if value is not None:
                d[name] = value
        if self.cache_control is not None:
            d["cache_control"] = self.cache_control.to_wire()
        if self.usage is not None:
            d["usage"] = self.usage.to_dict()
        d["source"] = self.source.to_dict()
        if self.extra:
            d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        kw = dict(d)  # as Block.from_dict does
        kw["blocks"] = [Block.from_dict(b) for b in kw.get("blocks", ())]
        if "usage" in kw:
            kw["usage"] = Usage.from_dict(kw["usage"])
        return _built(cls, kw)


@dataclass(slots=True)
class SystemPart:
    """A piece of the system prompt. OpenAI-style histories may hold several system (or
    developer) messages, some in the middle: `before` is the index of the message it preceded,
    so a writer can put it back where it was; Anthropic's top-level `system` has before=0."""

    blocks: list[Block] = field(default_factory=list)
    role: str = "system"
    before: int = 0
    content_form: str = "blocks"
    cache_control: CacheControl | None = None
    source: SourceRef = field(default_factory=SourceRef)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(b.text or "" for b in self.blocks if b.type == "text")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "blocks": [b.to_dict() for b in self.blocks],
            "role": self.role,
            "before": self.before,
            "source": self.source.to_dict(),
        }
        if self.content_form != "blocks":
            d["content_form"] = self.content_form
        if self.cache_control is not None:
            d["cache_control"] = self.cache_control.to_wire()
        if self.extra:
            d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SystemPart:
        return cls(
            blocks=[Block.from_dict(b) for b in d.get("blocks", [])],
            role=d.get("role", "system"),
            before=d.get("before", 0),
            content_form=d.get("content_form", "blocks"),
            cache_control=CacheControl.from_wire(d.get("cache_control")),
            source=SourceRef.from_dict(d.get("source")),
            extra=d.get("extra") or {},
        )


@dataclass(slots=True)
class Tool:
    """A tool definition. `parameters` is the JSON schema (OpenAI `parameters`, Anthropic
    `input_schema`); server tools (Anthropic `type: web_search_...`) keep their type in `kind`."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    kind: str = "function"
    cache_control: CacheControl | None = None
    source: SourceRef = field(default_factory=SourceRef)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "source": self.source.to_dict()}
        if self.description is not None:
            d["description"] = self.description
        if self.parameters is not None:
            d["parameters"] = self.parameters
        if self.cache_control is not None:
            d["cache_control"] = self.cache_control.to_wire()
        if self.extra:
            d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tool:
        return cls(
            name=d["name"],
            description=d.get("description"),
            parameters=d.get("parameters"),
            kind=d.get("kind", "function"),
            cache_control=CacheControl.from_wire(d.get("cache_control")),
            source=SourceRef.from_dict(d.get("source")),
            extra=d.get("extra") or {},
        )


@dataclass(slots=True)
class History:
    """One conversation as the rest of the product sees it.

    format        the format it was read from ("openai", "anthropic", ...)
    external_id   the id the format gives the conversation (session id, trace id...), if any
    record        for documents that hold several conversations (litellm JSONL), which one
    error         the error a provider answered, when the log carries it (litellm failures)
    meta          what the format says about the conversation that is not a message (title,
                  OpenHands agent state, Claude Code records that are not turns, counts of them)
    request       top-level keys of a request document other than messages/system/tools
                  (max_tokens, tool_choice, thinking...): the check needs them, the writer keeps them
    """

    format: str
    messages: list[Message] = field(default_factory=list)
    system: list[SystemPart] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    model: str | None = None
    provider: str | None = None
    usage: Usage | None = None
    external_id: str | None = None
    record: int | None = None
    title: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    error: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    # -- derived facts that pages, storage and rules all want
    def blocks(self) -> Iterator[tuple[int, int, Block]]:
        for i, message in enumerate(self.messages):
            for j, block in enumerate(message.blocks):
                yield i, j, block

    @property
    def tool_call_count(self) -> int:
        return sum(1 for _, _, b in self.blocks() if b.type == "tool_use")

    @property
    def token_count(self) -> int:
        if self.usage is not None:
            return self.usage.total
        return sum(m.usage.total for m in self.messages if m.usage is not None)

    def cache_markers(self) -> list[tuple[str, Any]]:
        """Every cache marker, in prefix order (tools, system, messages), as (where, element)."""
        found: list[tuple[str, Any]] = []
        for k, tool in enumerate(self.tools):
            if tool.cache_control:
                found.append((f"tools[{k}]", tool))
        for k, part in enumerate(self.system):
            if part.cache_control:
                found.append((f"system[{k}]", part))
            for j, block in enumerate(part.blocks):
                if block.cache_control:
                    found.append((f"system[{k}].blocks[{j}]", block))
        for i, message in enumerate(self.messages):
            if message.cache_control:
                found.append((f"messages[{i}]", message))
            for j, block in enumerate(message.blocks):
                if block.cache_control:
                    found.append((f"messages[{i}].blocks[{j}]", block))
        return found

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": self.format,
            "system": [p.to_dict() for p in self.system],
            "tools": [t.to_dict() for t in self.tools],
            "messages": [m.to_dict() for m in self.messages],
        }
        for name in ("model", "provider", "external_id", "record", "title", "started_at", "ended_at", "error"):
            value = getattr(self, name)
            if value is not None:
                d[name] = value
        if self.usage is not None:
            d["usage"] = self.usage.to_dict()
        if self.request:
            d["request"] = self.request
        if self.meta:
            d["meta"] = self.meta
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(
            format=d["format"],
            messages=[Message.from_dict(m) for m in d.get("messages", [])],
            system=[SystemPart.from_dict(p) for p in d.get("system", [])],
            tools=[Tool.from_dict(t) for t in d.get("tools", [])],
            model=d.get("model"),
            provider=d.get("provider"),
            usage=Usage.from_dict(d.get("usage")),
            external_id=d.get("external_id"),
            record=d.get("record"),
            title=d.get("title"),
            started_at=d.get("started_at"),
            ended_at=d.get("ended_at"),
            error=d.get("error"),
            request=d.get("request") or {},
            meta=d.get("meta") or {},
        )
