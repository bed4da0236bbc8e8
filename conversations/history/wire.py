"""The request a provider would receive for a history, as litellm would build it.

Two ways to get it, one shape out (a WireRequest the rules read):

- build(history, target): litellm's own transformation functions, called offline (the exact
  body litellm would send), parsed into provider-neutral blocks;
- simulate(history, target): no litellm; the same grouping litellm applies (tool results merged
  with the user text after them, system prompt pulled out, a tool message's cache marker moved
  onto its tool_result...) replayed in pure Python. Cheaper, and it is also what gives the index
  map of build(): litellm does not say which input message went where, so the simulated grouping
  is checked against litellm's output (same length, same roles) and then trusted.

Both start from the OpenAI request dict of the history (formats.openai.to_request), which is what
a client hands litellm; simulate() for OpenAI itself takes the plainest messages (text, tool calls,
tool results) straight from the history instead, as their dicts would give them (formats.openai.
plain_out), and makes the request dict only if a rule asks for it. Every wire message lists the
history messages it came from (`sources`), and every block the history message it came from
(`origin`): that is how an index in a provider's error ("messages.6") becomes a message of the
history. Everything here is linear in the history.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from .model import History, SystemPart
from .targets import Target

if TYPE_CHECKING:
    from .formats.openai import Plain

# litellm replaces empty text for Anthropic-shaped requests with this (factory.py,
# _sanitize_empty_text_content), independent of modify_params.
EMPTY_PLACEHOLDER = "[System: Empty message content sanitised to satisfy protocol]"
DUMMY_TOOL = "dummy_tool"


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


@dataclass(slots=True)
class WireRequest:
    """format: anthropic | converse | openai | gemini. built: litellm built it (else simulated).
    exact: the index map was checked against litellm's output. changes: what litellm did to the
    history on the way (each a short sentence). error: litellm refused to build the request."""

    target: Target
    format: str
    messages: list[WireMessage]
    system: list[WireBlock] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    tool_markers: int = 0
    body: dict[str, Any] | None = None
    built: bool = False
    exact: bool = True
    changes: list[str] = field(default_factory=list)
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    history_markers: int = 0
    # The OpenAI request the wire was made from (litellm's token counter reads it); the replay
    # for OpenAI makes it from `_history` only when asked.
    _request: dict[str, Any] | None = field(default=None, repr=False)
    _history: History | None = field(default=None, repr=False)

    @property
    def request(self) -> dict[str, Any]:
        if self._request is None:
            self._request = openai_request(self._history)[0] if self._history is not None else {}
        return self._request

    @request.setter
    def request(self, value: dict[str, Any]) -> None:
        self._request = value

    @property
    def thinking(self) -> bool:
        thinking = self.params.get("thinking")
        if isinstance(thinking, dict):
            return thinking.get("type") in ("enabled", "adaptive")
        return bool(self.params.get("reasoning_effort"))

    def wire_index_of(self, message_index: int) -> int | None:
        """The first wire message a history message went into."""
        for k, message in enumerate(self.messages):
            if message_index in message.sources:
                return k
        return None

    def markers(self) -> Iterable[tuple[str, int | None, WireBlock]]:
        """Every cache marker in prefix order as (where, wire message index, block)."""
        for block in self.system:
            if block.cache or block.type == "cache_point":
                yield "system", None, block
        for k, message in enumerate(self.messages):
            for block in message.blocks:
                if block.cache or block.type == "cache_point":
                    yield "messages", k, block


# --- entry points -------------------------------------------------------------------------------


def openai_request(history: History) -> tuple[dict[str, Any], list[int | None]]:
    """The OpenAI request a client would hand litellm for this history, and for each of its
    messages the history message it came from (None for system messages)."""
    from .formats import openai as openai_format

    request = openai_format.to_request(history)
    return request, origins_of(history, request.get("messages") or [])


def origins_of(history: History, messages: list[dict[str, Any]]) -> list[int | None]:
    """Which history message each OpenAI message of to_request(history) came from (None for the
    system prompt). Mirrors formats.openai.messages_out: system parts go before the message they
    preceded; a tool message gives one message per tool_result; an Anthropic-style user message
    gives one tool message per tool_result, then a user message for the rest (if any)."""
    origins = request_origins(history)
    if len(origins) != len(messages):
        # to_request changed shape: keep what lines up rather than guess.
        origins = (origins + [None] * len(messages))[: len(messages)]
    return origins


def request_origins(history: History) -> list[int | None]:
    """origins_of without the request: what to_request(history) would give, message by message."""
    count = len(history.messages)
    parts_at: dict[int, int] = {}
    for part in history.system:
        at = min(max(part.before, 0), count)
        parts_at[at] = parts_at.get(at, 0) + 1
    origins: list[int | None] = []
    for i, message in enumerate(history.messages):
        origins.extend([None] * parts_at.get(i, 0))
        results = len(message.tool_results())
        if message.role == "tool":
            n = results
        elif results:
            n = results + (1 if len(message.blocks) > results else 0)
        else:
            n = 1
        origins.extend([i] * n)
    origins.extend([None] * parts_at.get(count, 0))
    return origins


def simulate(history: History, target: Target) -> WireRequest:
    if target.wire_format == "openai":
        return _simulate_openai(history, target)
    request, origins = openai_request(history)
    return from_request(request, origins, target, use_litellm=False)


def build(history: History, target: Target) -> WireRequest:
    request, origins = openai_request(history)
    return from_request(request, origins, target, use_litellm=True)


def from_request(
    request: dict[str, Any], origins: list[int | None], target: Target, *, use_litellm: bool = True
) -> WireRequest:
    """The wire request for an OpenAI request dict whose messages came from `origins`."""
    messages = list(request.get("messages") or [])
    params = {k: v for k, v in request.items() if k != "messages"}
    sim = _simulate(messages, origins, target, tools_defined=bool(request.get("tools")))
    sim.params = params
    sim.request = request
    sim.history_markers = _count_markers(messages, request.get("tools"))
    sim.tool_markers = sum(
        1
        for t in request.get("tools") or []
        if isinstance(t, dict) and t.get("cache_control") is not None and target.wire_format == "anthropic"
    )
    sim.tools = _tool_names(request.get("tools"))
    sim.changes = _changes(sim)
    if not sim.tools and target.wire_format == "anthropic" and any("dummy tool" in c for c in sim.changes):
        sim.tools = [DUMMY_TOOL]
    if not use_litellm:
        return sim
    try:
        body = litellm_body(messages, params, target)
    except Exception as exc:  # litellm refused before anything was sent: report, judge the rest
        sim.error = _short_error(exc)
        return sim
    wire = parse_body(body, target)
    wire.params = params
    wire.request = request
    wire.history_markers = sim.history_markers
    wire.built = True
    wire.exact = _assign_sources(wire, sim)
    wire.changes = _changes(wire)
    return wire


def _tool_names(tools: Any) -> list[str]:
    return [((t.get("function") or {}).get("name") or t.get("name") or "") for t in tools or [] if isinstance(t, dict)]


def _simulate_openai(history: History, target: Target) -> WireRequest:
    """simulate() for OpenAI, whose wire is the request's own message list (system messages
    included) without cache markers. A message the request writes plainly (most of an agent's
    history: text, tool calls, tool results) becomes wire messages straight from the history;
    the others go through their request dicts, as from_request takes them. The request itself
    is made only if a rule asks for it (the token counter, near the context window)."""
    from .formats import openai as openai_format

    native = openai_format.is_native(history)
    params = openai_format.request_params(history)
    count = len(history.messages)
    parts_at: dict[int, list[SystemPart]] = {}
    for part in history.system:
        parts_at.setdefault(min(max(part.before, 0), count), []).append(part)
    wire: list[WireMessage] = []
    markers = _count_markers([], params.get("tools"))

    def from_dicts(dicts: list[dict[str, Any]], origin: int | None) -> None:
        nonlocal markers
        markers += _count_markers(dicts, None)
        for raw in dicts:
            message = _openai_message(raw)
            message.sources = [origin] if origin is not None else []
            for block in message.blocks:
                block.origin = origin
                block.cache = None  # litellm strips cache_control for OpenAI
            wire.append(message)

    for i in range(count + 1):
        if i in parts_at:
            from_dicts([openai_format.system_out(p, native) for p in parts_at[i]], None)
        if i == count:
            break
        plain = openai_format.plain_out(history.messages[i], native)
        if plain is None:
            from_dicts(openai_format.message_out(history.messages[i], native), i)
        else:
            wire.extend(_plain_wire(p, i) for p in plain)
    sim = WireRequest(
        target=target,
        format="openai",
        messages=wire,
        built=False,
        params=params,
        history_markers=markers,
        tools=_tool_names(params.get("tools")),
    )
    sim._history = history
    sim.changes = _changes(sim)
    return sim


def _plain_wire(plain: Plain, i: int) -> WireMessage:
    """The wire message of a formats.openai.Plain message: what _openai_message reads from its
    request dict."""
    if plain.role == "tool":
        return WireMessage(
            "tool", [WireBlock("tool_result", 0, origin=i, id=plain.tool_call_id, text=plain.texts[0])], [i]
        )
    blocks = [WireBlock("text", k, origin=i, text=text) for k, text in enumerate(plain.texts)]
    blocks += [
        WireBlock("tool_use", len(blocks) + k, origin=i, id=call_id, name=name)
        for k, (call_id, name) in enumerate(plain.calls)
    ]
    return WireMessage(plain.role, blocks, [i])


# --- litellm ------------------------------------------------------------------------------------

# Request keys litellm maps into the provider body (what an agent sends besides messages).
PASSED_PARAMS = (
    "tools",
    "tool_choice",
    "max_tokens",
    "max_completion_tokens",
    "thinking",
    "reasoning_effort",
    "temperature",
    "top_p",
    "stop",
    "parallel_tool_calls",
)


def litellm_body(messages: list[dict[str, Any]], params: dict[str, Any], target: Target) -> dict[str, Any]:
    """The body litellm 1.110.2 would send, from its own transformation functions (offline).
    Matches litellm.utils.return_raw_request for every seed x target (tests/fixtures/wire/)."""
    litellm = _litellm()
    from litellm.utils import ProviderConfigManager, get_optional_params

    kwargs = {k: params[k] for k in PASSED_PARAMS if params.get(k) is not None}
    litellm_params: dict[str, Any] = {}
    if target.model_info:
        litellm_params["model_info"] = dict(target.model_info)
    optional = get_optional_params(
        model=target.api_model, custom_llm_provider=target.llm_provider, messages=messages, stream=None, **kwargs
    )
    if target.wire_format == "gemini":
        from litellm.llms.vertex_ai.gemini.transformation import transform_request_body

        # litellm's Gemini path may first create a cachedContents entry from the marked prefix
        # (an HTTP call); the body here is the one generateContent gets without it.
        return dict(
            transform_request_body(
                messages=list(messages),
                model=target.api_model,
                optional_params=optional,
                custom_llm_provider=target.llm_provider,
                litellm_params=litellm_params,
                cached_content=None,
            )
        )
    config = ProviderConfigManager.get_provider_chat_config(
        model=target.api_model, provider=litellm.LlmProviders(target.llm_provider)
    )
    body: dict[str, Any] = config.transform_request(
        model=target.api_model,
        messages=list(messages),
        optional_params=optional,
        litellm_params=litellm_params,
        headers={},
    )
    return body


def _litellm() -> Any:  # litellm is untyped to mypy
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _short_error(exc: Exception) -> str:
    text = str(exc).split("\nReceived Messages=")[0]
    return f"{exc.__class__.__name__}: {text}"[:1000]


# --- parsing a provider body into the neutral view ----------------------------------------------

# What each parser gives: (messages, system blocks, tool names, cache markers on tools).
Parsed = tuple[list[WireMessage], list[WireBlock], list[str], int]


def parse_body(body: dict[str, Any], target: Target) -> WireRequest:
    parser = PARSERS[target.wire_format]
    messages, system, tools, tool_markers = parser(body)
    return WireRequest(
        target=target,
        format=target.wire_format,
        messages=messages,
        system=system,
        tools=tools,
        tool_markers=tool_markers,
        body=body,
    )


def _anthropic_blocks(content: Any) -> list[WireBlock]:
    if isinstance(content, str):
        return [WireBlock("text", 0, text=content, raw=content)]
    blocks = []
    for j, raw in enumerate(content or []):
        blocks.append(_anthropic_block(raw, j))
    return blocks


def _anthropic_block(raw: Any, j: int) -> WireBlock:
    if not isinstance(raw, dict):
        return WireBlock("other", j, raw=raw)
    kind = raw.get("type")
    cache = raw.get("cache_control")
    if kind == "text":
        return WireBlock("text", j, text=raw.get("text"), cache=cache, raw=raw)
    if kind in ("image", "document"):
        return WireBlock(kind, j, cache=cache, raw=raw)
    if kind == "tool_use":
        return WireBlock("tool_use", j, id=raw.get("id"), name=raw.get("name"), cache=cache, raw=raw)
    if kind == "tool_result":
        return WireBlock(
            "tool_result",
            j,
            id=raw.get("tool_use_id"),
            text=_flatten(raw.get("content")),
            cache=cache,
            is_error=raw.get("is_error"),
            raw=raw,
        )
    if kind == "thinking":
        return WireBlock(
            "thinking",
            j,
            text=raw.get("thinking"),
            signature=raw.get("signature"),
            has_signature="signature" in raw,
            has_text="thinking" in raw,
            raw=raw,
        )
    if kind == "redacted_thinking":
        return WireBlock("redacted_thinking", j, raw=raw)
    if kind == "server_tool_use":
        return WireBlock("server_tool_use", j, id=raw.get("id"), name=raw.get("name"), raw=raw)
    if isinstance(kind, str) and kind.endswith("_tool_result"):
        return WireBlock("server_tool_result", j, id=raw.get("tool_use_id"), name=kind, raw=raw)
    return WireBlock("other", j, cache=cache, raw=raw)


def _parse_anthropic(body: dict[str, Any]) -> Parsed:
    messages = [WireMessage(m.get("role", ""), _anthropic_blocks(m.get("content"))) for m in body.get("messages") or []]
    system = _anthropic_blocks(body.get("system") or [])
    tools = [t.get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)]
    markers = sum(1 for t in body.get("tools") or [] if isinstance(t, dict) and t.get("cache_control"))
    return messages, system, tools, markers


def _converse_blocks(content: list[Any]) -> list[WireBlock]:
    blocks = []
    for j, raw in enumerate(content or []):
        if not isinstance(raw, dict):
            blocks.append(WireBlock("other", j, raw=raw))
        elif "text" in raw:
            blocks.append(WireBlock("text", j, text=raw["text"], raw=raw))
        elif "toolUse" in raw:
            use = raw["toolUse"]
            blocks.append(WireBlock("tool_use", j, id=use.get("toolUseId"), name=use.get("name"), raw=raw))
        elif "toolResult" in raw:
            result = raw["toolResult"]
            blocks.append(
                WireBlock(
                    "tool_result",
                    j,
                    id=result.get("toolUseId"),
                    text=_flatten(result.get("content")),
                    is_error=result.get("status") == "error" or None,
                    raw=raw,
                )
            )
        elif "cachePoint" in raw:
            blocks.append(WireBlock("cache_point", j, cache=raw["cachePoint"], raw=raw))
        elif "reasoningContent" in raw:
            reasoning = raw["reasoningContent"]
            text = reasoning.get("reasoningText") or {}
            kind = "redacted_thinking" if "redactedContent" in reasoning else "thinking"
            blocks.append(
                WireBlock(
                    kind,
                    j,
                    text=text.get("text"),
                    signature=text.get("signature"),
                    has_signature="signature" in text,
                    raw=raw,
                )
            )
        elif "image" in raw or "document" in raw:
            blocks.append(WireBlock("image" if "image" in raw else "document", j, raw=raw))
        else:
            blocks.append(WireBlock("other", j, raw=raw))
    return blocks


def _parse_converse(body: dict[str, Any]) -> Parsed:
    messages = [WireMessage(m.get("role", ""), _converse_blocks(m.get("content"))) for m in body.get("messages") or []]
    system = _converse_blocks(body.get("system") or [])
    tool_config = body.get("toolConfig") or {}
    tools = [
        t["toolSpec"].get("name", "") for t in tool_config.get("tools") or [] if isinstance(t, dict) and "toolSpec" in t
    ]
    markers = sum(1 for t in tool_config.get("tools") or [] if isinstance(t, dict) and "cachePoint" in t)
    return messages, system, tools, markers


def _gemini_blocks(parts: list[Any]) -> list[WireBlock]:
    blocks = []
    for j, raw in enumerate(parts or []):
        if not isinstance(raw, dict):
            blocks.append(WireBlock("other", j, raw=raw))
            continue
        call = raw.get("function_call") or raw.get("functionCall")
        response = raw.get("function_response") or raw.get("functionResponse")
        signature = raw.get("thoughtSignature") or raw.get("thought_signature")
        if call is not None:
            blocks.append(
                WireBlock(
                    "tool_use",
                    j,
                    id=call.get("id"),
                    name=call.get("name"),
                    signature=signature,
                    has_signature=signature is not None,
                    raw=raw,
                )
            )
        elif response is not None:
            content = (
                (response.get("response") or {}).get("content") if isinstance(response.get("response"), dict) else None
            )
            text = content if isinstance(content, str) else json.dumps(response.get("response"))
            blocks.append(
                WireBlock("tool_result", j, id=response.get("id"), name=response.get("name"), text=text, raw=raw)
            )
        elif raw.get("thought") is True:
            blocks.append(WireBlock("thinking", j, text=raw.get("text"), raw=raw))
        elif "text" in raw:
            blocks.append(WireBlock("text", j, text=raw["text"], raw=raw))
        elif any(k in raw for k in ("inline_data", "inlineData", "file_data", "fileData")):
            blocks.append(WireBlock("image", j, raw=raw))
        else:
            blocks.append(WireBlock("other", j, raw=raw))
    return blocks


def _parse_gemini(body: dict[str, Any]) -> Parsed:
    messages = [
        WireMessage("assistant" if c.get("role") == "model" else "user", _gemini_blocks(c.get("parts")))
        for c in body.get("contents") or []
    ]
    instruction = body.get("system_instruction") or body.get("systemInstruction") or {}
    system = _gemini_blocks(instruction.get("parts") or [])
    tools = [
        d.get("name", "")
        for t in body.get("tools") or []
        if isinstance(t, dict)
        for d in (t.get("function_declarations") or t.get("functionDeclarations") or [])
    ]
    return messages, system, tools, 0


def _openai_message(raw: dict[str, Any]) -> WireMessage:
    blocks: list[WireBlock] = []
    content = raw.get("content")
    role = raw.get("role", "")
    if role == "tool":
        blocks.append(
            WireBlock(
                "tool_result",
                0,
                id=raw.get("tool_call_id"),
                text=_flatten(content),
                cache=raw.get("cache_control") or _first_part_cache(content),
                raw=raw,
            )
        )
    else:
        for block in _openai_content_blocks(content, raw.get("cache_control")):
            block.index = len(blocks)
            blocks.append(block)
    for call in raw.get("tool_calls") or []:
        function = call.get("function") or {}
        blocks.append(WireBlock("tool_use", len(blocks), id=call.get("id"), name=function.get("name"), raw=call))
    return WireMessage(role, blocks)


def _parse_openai(body: dict[str, Any]) -> Parsed:
    messages = [_openai_message(m) for m in body.get("messages") or []]
    tools = [(t.get("function") or {}).get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)]
    return messages, [], tools, 0


PARSERS = {"anthropic": _parse_anthropic, "converse": _parse_converse, "gemini": _parse_gemini, "openai": _parse_openai}


# --- the simulation: litellm's grouping replayed on OpenAI messages ------------------------------


def _simulate(
    messages: list[dict[str, Any]], origins: list[int | None], target: Target, *, tools_defined: bool = True
) -> WireRequest:
    fmt = target.wire_format
    leading = 0
    while leading < len(messages) and messages[leading].get("role") in ("system", "developer"):
        leading += 1
    system = [b for m in messages[:leading] for b in _openai_content_blocks(m.get("content"), m.get("cache_control"))]
    if fmt == "openai":
        wire = [_openai_message(m) for m in messages]
        for message, origin in zip(wire, origins, strict=False):
            message.sources = [origin] if origin is not None else []
            for block in message.blocks:
                block.origin = origin
                block.cache = None  # litellm strips cache_control for OpenAI
        return WireRequest(target=target, format=fmt, messages=wire, built=False)
    drops = fmt == "converse" and target.prompt_caching is False and target.litellm_drops_markers
    if fmt == "gemini" or drops:
        for block in system:
            block.cache = None  # litellm sends none: Gemini caches apart, Converse drops them
    body = messages[leading:]
    body_origins = origins[leading:]
    grouped = GROUPERS[fmt](body)
    tools_as_text = fmt == "converse" and not tools_defined
    wire = []
    for role, members in grouped:
        blocks = []
        for i in members:
            for block in _unit_blocks(body[i], fmt):
                block.origin = body_origins[i]
                blocks.append(_as_text(block) if tools_as_text else block)
        blocks = _finish_blocks(blocks, role, fmt, caching=not drops)
        sources = list(dict.fromkeys(body_origins[i] for i in members if body_origins[i] is not None))
        wire.append(WireMessage(role, blocks, cast("list[int]", sources)))  # the Nones are left out
    if fmt in ("anthropic", "converse") and wire and wire[-1].role == "assistant":
        for block in wire[-1].blocks:  # litellm rstrips the final assistant text
            if block.type == "text" and block.text is not None:
                block.text = block.text.rstrip()
    return WireRequest(target=target, format=fmt, messages=wire, system=system, built=False)


def _as_text(block: WireBlock) -> WireBlock:
    """Converse without tool definitions: litellm writes tool calls and results as text."""
    if block.type == "tool_use":
        return WireBlock(
            "text", 0, origin=block.origin, text=f"[tool call {block.id}: {block.name}]", cache=block.cache
        )
    if block.type == "tool_result":
        return WireBlock(
            "text", 0, origin=block.origin, text=f"[tool result for {block.id}: {block.text}]", cache=block.cache
        )
    return block


def _side(message: dict[str, Any], fmt: str) -> str:
    role = message.get("role")
    if role == "assistant":
        return "assistant"
    if fmt == "gemini" and role in ("tool", "function"):
        return "tool"
    return "user"  # user, tool, and a mid-conversation system message (litellm makes it a user turn)


def _runs(messages: list[dict[str, Any]], fmt: str) -> list[tuple[str, list[int]]]:
    runs: list[tuple[str, list[int]]] = []
    for i, message in enumerate(messages):
        if fmt in ("converse", "gemini") and message.get("role") in ("system", "developer"):
            continue  # Converse and Gemini send every system message as system
        side = _side(message, fmt)
        if runs and runs[-1][0] == side:
            runs[-1][1].append(i)
        else:
            runs.append((side, [i]))
    return runs


def _emits(message: dict[str, Any], fmt: str) -> bool:
    """Whether litellm turns this message into any content for the provider."""
    role = message.get("role")
    content = message.get("content")
    if role in ("tool", "function"):
        return True
    has_calls = bool(message.get("tool_calls")) or bool(message.get("thinking_blocks"))
    if fmt == "anthropic":
        if role == "assistant":
            return has_calls or (content is not None and content != [])
        return True  # empty user content becomes a placeholder
    if fmt == "converse":
        texts = _texts(content)
        nonblank = any(t.strip() for t in texts) if role == "assistant" else any(texts)
        return has_calls or nonblank or _has_media(content)
    # gemini
    if role == "assistant":
        return has_calls or isinstance(content, str) or bool(content)
    return isinstance(content, str) or any(t for t in _texts(content)) or _has_media(content)


def _group_anthropic(messages: list[dict[str, Any]]) -> list[tuple[str, list[int]]]:
    out = []
    for side, members in _runs(messages, "anthropic"):
        if any(_emits(messages[i], "anthropic") for i in members):
            out.append(("assistant" if side == "assistant" else "user", members))
    return out


def _group_converse(messages: list[dict[str, Any]]) -> list[tuple[str, list[int]]]:
    out: list[tuple[str, list[int]]] = []
    for side, members in _runs(messages, "converse"):
        if not any(_emits(messages[i], "converse") for i in members):
            continue
        role = "assistant" if side == "assistant" else "user"
        if role == "user" and out and out[-1][0] == "user":
            out[-1][1].extend(members)  # Converse merges user content into the previous user turn
        else:
            out.append((role, list(members)))
    return out


def _group_gemini(messages: list[dict[str, Any]]) -> list[tuple[str, list[int]]]:
    out = []
    for side, members in _runs(messages, "gemini"):
        if any(_emits(messages[i], "gemini") for i in members):
            out.append(("assistant" if side == "assistant" else "user", members))
    return out


GROUPERS = {"anthropic": _group_anthropic, "converse": _group_converse, "gemini": _group_gemini}


def _unit_blocks(message: dict[str, Any], fmt: str) -> list[WireBlock]:
    """The blocks litellm makes of one OpenAI message (before cachePoints and placeholders)."""
    role = message.get("role")
    content = message.get("content")
    if role in ("tool", "function"):
        cache = message.get("cache_control") or _first_part_cache(content)
        if fmt == "gemini":
            cache = None
        return [
            WireBlock(
                "tool_result",
                0,
                id=message.get("tool_call_id"),
                text=_flatten(content),
                cache=cache,
                is_error=message.get("is_error"),
                raw=message,
            )
        ]
    blocks: list[WireBlock] = []
    if role == "assistant" and fmt != "gemini":
        for raw in message.get("thinking_blocks") or []:
            if isinstance(raw, dict):
                blocks.append(_anthropic_block(raw, 0))
    text_blocks = _openai_content_blocks(content, message.get("cache_control"))
    if fmt == "anthropic" and not text_blocks and isinstance(content, str):
        text_blocks = [WireBlock("text", 0, text=content, cache=message.get("cache_control"))]
    blocks.extend(text_blocks)
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        blocks.append(WireBlock("tool_use", 0, id=call.get("id"), name=function.get("name"), raw=call))
    if fmt == "anthropic":
        blocks = _anthropic_empty_text(blocks, role, bool(message.get("tool_calls")), content)
    if fmt == "gemini":
        for block in blocks:
            block.cache = None
    return blocks


def _anthropic_empty_text(blocks: list[WireBlock], role: str | None, has_calls: bool, content: Any) -> list[WireBlock]:
    kept = []
    for block in blocks:
        if block.type == "text" and not (block.text or "").strip():
            if role == "assistant" and has_calls:
                continue  # dropped: the tool calls carry the turn
            block.text = EMPTY_PLACEHOLDER
            block.origin = None
        kept.append(block)
    if not kept and role == "user" and not content:
        kept.append(WireBlock("text", 0, text=EMPTY_PLACEHOLDER))
    return kept


def _finish_blocks(blocks: list[WireBlock], role: str, fmt: str, caching: bool = True) -> list[WireBlock]:
    """Per-format last touches on one wire message: Converse cache markers become cachePoint
    blocks after their block and blank assistant text is dropped; Anthropic puts a user
    message's tool_result blocks where litellm does (in message order)."""
    if fmt == "converse":
        out: list[WireBlock] = []
        for block in blocks:
            if role == "assistant" and block.type == "text" and not (block.text or "").strip():
                continue
            marker = block.cache if caching else None
            block.cache = None
            out.append(block)
            if marker is not None:
                out.append(WireBlock("cache_point", 0, origin=block.origin, cache={"type": "default"}))
        blocks = out
    for j, block in enumerate(blocks):
        block.index = j
    return blocks


# --- small helpers ------------------------------------------------------------------------------


def _openai_content_blocks(content: Any, message_cache: dict[str, Any] | None) -> list[WireBlock]:
    if content is None:
        return []
    if isinstance(content, str):
        return [WireBlock("text", 0, text=content, cache=message_cache)] if content else []
    blocks = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            blocks.append(WireBlock("text", 0, text=part.get("text"), cache=part.get("cache_control"), raw=part))
        elif kind in ("image_url", "image", "input_image"):
            blocks.append(WireBlock("image", 0, cache=part.get("cache_control"), raw=part))
        elif kind in ("file", "document", "input_file"):
            blocks.append(WireBlock("document", 0, cache=part.get("cache_control"), raw=part))
        else:
            blocks.append(WireBlock("other", 0, cache=part.get("cache_control"), raw=part))
    return blocks


def _first_part_cache(content: Any) -> dict[str, Any] | None:
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("cache_control") is not None:
                return cast("dict[str, Any]", part["cache_control"])
    return None


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return []


def _has_media(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(p, dict) and p.get("type") not in ("text", None) for p in content
    )


def _flatten(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text") or ""))
            else:
                parts.append(str(part))
        return "\n".join(parts)
    return str(content)


def _count_markers(messages: list[dict[str, Any]], tools: Any) -> int:
    count = 0
    for message in messages:
        if message.get("cache_control") is not None:
            count += 1
        content = message.get("content")
        if isinstance(content, list):
            count += sum(1 for p in content if isinstance(p, dict) and p.get("cache_control") is not None)
    for tool in tools or []:
        if isinstance(tool, dict) and tool.get("cache_control") is not None:
            count += 1
    return count


# --- the index map: trust the simulated grouping once it matches litellm's output --------------


def _assign_sources(wire: WireRequest, sim: WireRequest) -> bool:
    """Copy the simulated sources and block origins onto litellm's messages. Returns whether the
    simulation matched litellm (same number of messages, same roles); when it does not, messages
    are aligned by role in order (best effort) and the map is marked inexact."""
    exact = len(wire.messages) == len(sim.messages) and all(
        a.role == b.role for a, b in zip(wire.messages, sim.messages, strict=False)
    )
    if exact:
        pairs = list(zip(wire.messages, sim.messages, strict=False))
    else:
        pairs = []
        k = 0
        for message in wire.messages:
            while k < len(sim.messages) and sim.messages[k].role != message.role:
                k += 1
            if k < len(sim.messages):
                pairs.append((message, sim.messages[k]))
                k += 1
    for actual, simulated in pairs:
        actual.sources = list(simulated.sources)
        _assign_origins(actual, simulated)
    return exact


def _assign_origins(actual: WireMessage, simulated: WireMessage) -> None:
    by_id: dict[tuple[str, str], int | None] = {}
    rest: list[WireBlock] = []
    for block in simulated.blocks:
        if block.id and block.type in ("tool_use", "tool_result"):
            by_id.setdefault((block.type, block.id), block.origin)
        elif block.type != "cache_point":
            rest.append(block)
    fallback = simulated.first_source
    k = 0
    last = fallback
    for block in actual.blocks:
        if block.id and block.type in ("tool_use", "tool_result") and (block.type, block.id) in by_id:
            block.origin = by_id[(block.type, block.id)]
        elif block.type == "cache_point":
            block.origin = last
        else:
            while (
                k < len(rest) and rest[k].type != block.type and not (block.type == "text" and rest[k].type == "text")
            ):
                k += 1
            if k < len(rest):
                block.origin = rest[k].origin
                k += 1
            else:
                block.origin = fallback
        last = block.origin


def _changes(wire: WireRequest) -> list[str]:
    """What litellm changed on the way, in words a person reads in a report."""
    changes = []
    if (
        wire.format in ("anthropic", "converse")
        and not wire.params.get("tools")
        and any(m.get("tool_calls") or m.get("role") == "tool" for m in wire.request.get("messages") or [])
    ):
        changes.append(
            "litellm added a dummy tool definition (the history has tool calls but the request defines no tools)"
            if wire.format == "anthropic"
            else "litellm rewrote every tool call and tool result as plain text (no tools "
            "defined, so Converse would refuse toolUse blocks)"
        )
    sent = wire.tool_markers + sum(1 for _ in wire.markers())
    if wire.history_markers and not sent:
        changes.append(MARKERS_GONE[wire.format].format(n=wire.history_markers))
    return changes


MARKERS_GONE = {
    "openai": "litellm strips the {n} cache markers (OpenAI caches prompt prefixes by itself)",
    "gemini": "litellm sends no cache markers to Gemini: it turns the marked prefix into a "
    "cachedContents entry first when it is long enough, else drops the {n} markers",
    "anthropic": "litellm removed all {n} cache markers",
    "converse": "litellm 1.110.2 sends none of the {n} cache markers to a Bedrock model or "
    "deployment without prompt caching",
}
