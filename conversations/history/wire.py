"""The request a provider would receive for a history, as litellm would build it.

Two ways to get it, one shape out (a WireRequest the rules read):

- build(history, target): litellm's own transformation functions, called offline (the exact
  body litellm would send), parsed into provider-neutral blocks;
- simulate(history, target): no litellm; replay.py replays litellm's transformation of the
  messages (grouping, cache markers, placeholders, sanitised ids, the system prompt...) in pure
  Python. It is held to build() by tests/core/test_replay.py (every fixture and target, and
  random histories: the same messages, blocks, ids, markers, changes and max_tokens), and it is
  also what gives build() its index map: litellm does not say which input message went where, so
  the replayed grouping is checked against litellm's output (same length, same roles) and trusted.

request_for() picks: the replay wherever it covers the history and target (replay.covers,
REPLAYED_PROVIDERS) and the installed litellm is the one it was verified against, else litellm.

Both start from the OpenAI request dict of the history (formats.openai.to_request), which is what
a client hands litellm; simulate() for OpenAI itself takes the plainest messages (text, tool calls,
tool results) straight from the history instead, as their dicts would give them (formats.openai.
plain_out), and makes the request dict only if a rule asks for it. Every wire message lists the
history messages it came from (`sources`), and every block the history message it came from
(`origin`): that is how an index in a provider's error ("messages.6") becomes a message of the
history. Everything here is linear in the history.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from . import modelmap, replay
from .formats import openai as openai_format
from .model import History, SystemPart
from .targets import Target
from .wire_blocks import WireBlock, WireMessage

if TYPE_CHECKING:
    from .formats.openai import Plain

DUMMY_TOOL = "dummy_tool"


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
    # The max_tokens at the top of the body (Anthropic's, or OpenAI's when passed): litellm
    # fills in its own default for Anthropic when the request gives none.
    max_tokens: int | None = None
    # How many messages the OpenAI request has (litellm's token counter counts each): None when
    # the wire was not made from one (a body as logged).
    request_size: int | None = None
    # The OpenAI request the wire was made from (litellm's token counter reads it); the replay
    # for OpenAI makes it from `_history` only when asked.
    _request: dict[str, Any] | None = field(default=None, repr=False)
    # Whether the next request has thinking on where the body does not say (nextturn.thinking:
    # the log's last assistant message holds thinking); None: unknown.
    assumed_thinking: bool | None = None
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
        if self.assumed_thinking and "thinking" not in self.params and "reasoning_effort" not in self.params:
            return True
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


# --- which of the two: the replay where it is held to litellm, else litellm ----------------------

# The litellm the replay was verified against (tests/core/test_replay.py: every fixture, every
# target, and random histories give the request litellm builds). Another installed version may
# build differently: checks then ask litellm itself.
REPLAY_VERIFIED_WITH = "1.110.2"
# The providers whose requests the replay builds (through litellm's own provider names); any
# other (Azure, the OpenAI-compatible ones a route may name) is built by litellm. Vertex AI sends
# Anthropic's messages for Claude and Gemini's contents for Gemini, as litellm builds them for
# those providers (tests/core/test_replay.py holds both).
REPLAYED_PROVIDERS = ("anthropic", "bedrock", "openai", "gemini", "vertex_ai")

_log = logging.getLogger(__name__)


def request_for(history: History, target: Target, *, use_litellm: bool | None = None) -> WireRequest:
    """The request the rules judge: litellm's own transformation (use_litellm=True), the replay
    (False), or by default the replay wherever it is held to litellm's output, else litellm's."""
    if use_litellm is None:
        use_litellm = not replay_verified() or replay_covers(history, target) is not None
    return build(history, target) if use_litellm else simulate(history, target)


def replay_covers(history: History, target: Target) -> str | None:
    """None when the replay builds what litellm builds for this history and target; else why not
    (the check then builds the request with litellm)."""
    if target.llm_provider not in REPLAYED_PROVIDERS:
        return f"the replay does not build {target.llm_provider} requests"
    return replay.covers_target(target) or replay.covers(history)


def replay_max_tokens(params: dict[str, Any], target: Target) -> int | None:
    return replay.max_tokens(params, target)


@functools.cache
def replay_verified() -> bool:
    """Whether the installed litellm is the one the replay was verified against; says once in
    the log when it is not."""
    installed = modelmap.installed_litellm()
    if installed == REPLAY_VERIFIED_WITH:
        return True
    _log.warning(
        "litellm %s is installed; the request replay was verified against litellm %s, so checks "
        "build each request with litellm's own transformation (slower to start)",
        installed or "(none)",
        REPLAY_VERIFIED_WITH,
    )
    return False


def simulate(history: History, target: Target) -> WireRequest:
    if target.wire_format == "openai":
        return _simulate_openai(history, target)
    if target.wire_format == "anthropic" or (target.wire_format == "converse" and history.tools):
        # These conversions never read a call's arguments: the messages are made without them
        # (a third of the cost of the whole request), and the request itself only if asked.
        messages = openai_format.messages_without_arguments(history)
        request = {**openai_format.request_params(history), "messages": messages}
        sim = from_request(request, origins_of(history, messages), target, use_litellm=False)
        sim._request, sim._history = None, history
        return sim
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
    sim = _simulate(
        messages, origins, target, tools_defined=bool(request.get("tools")), tool_choice=request.get("tool_choice")
    )
    sim.params = params
    sim.request = request
    sim.request_size = len(messages)
    sim.history_markers = _count_markers(messages, request.get("tools"))
    sim.tool_markers = _tool_markers(request.get("tools"), target)
    sim.tools = _tool_names(request.get("tools"))
    sim.max_tokens = replay_max_tokens(params, target)
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
    wire.request_size = sim.request_size
    wire.history_markers = sim.history_markers
    wire.built = True
    wire.exact = _assign_sources(wire, sim)
    wire.changes = _changes(wire)
    return wire


def _tool_markers(tools: Any, target: Target) -> int:
    """The cache markers litellm sends on tool definitions: Anthropic's as they are, Converse's
    as cachePoint entries when the model takes them."""
    marked = sum(1 for t in tools or [] if isinstance(t, dict) and t.get("cache_control") is not None)
    if target.wire_format == "anthropic":
        return marked
    if target.wire_format == "converse" and marked:
        return marked if replay.converse_cache_points(target).accepted else 0
    return 0


def _tool_names(tools: Any) -> list[str]:
    return [((t.get("function") or {}).get("name") or t.get("name") or "") for t in tools or [] if isinstance(t, dict)]


def _simulate_openai(history: History, target: Target) -> WireRequest:
    """simulate() for OpenAI, whose wire is the request's own message list (system messages
    included) without cache markers. A message the request writes plainly (most of an agent's
    history: text, tool calls, tool results) becomes wire messages straight from the history;
    the others go through their request dicts, as from_request takes them. The request itself
    is made only if a rule asks for it (the token counter, near the context window)."""
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
        max_tokens=replay_max_tokens(params, target),
        request_size=len(wire),
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
    sent = body.get("max_tokens")
    return WireRequest(
        target=target,
        format=target.wire_format,
        messages=messages,
        system=system,
        tools=tools,
        tool_markers=tool_markers,
        body=body,
        max_tokens=sent if isinstance(sent, int) and not isinstance(sent, bool) else None,
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
    if role == "tool" and isinstance(content, list):
        # litellm drops tool_reference parts (a reference-only result keeps an empty text).
        content = [p for p in content if not (isinstance(p, dict) and p.get("type") == "tool_reference")] or ""
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
    messages: list[dict[str, Any]],
    origins: list[int | None],
    target: Target,
    *,
    tools_defined: bool = True,
    tool_choice: Any = None,
) -> WireRequest:
    """The replay of litellm's transformation of these OpenAI messages (replay.py), as the
    neutral wire view; OpenAI's own is the message list with the cache markers stripped."""
    fmt = target.wire_format
    if fmt == "openai":
        wire = [_openai_message(m) for m in messages]
        for message, origin in zip(wire, origins, strict=False):
            message.sources = [origin] if origin is not None else []
            for block in message.blocks:
                block.origin = origin
                block.cache = None  # litellm strips cache_control for OpenAI
        return WireRequest(target=target, format=fmt, messages=wire, built=False)
    if fmt == "anthropic":
        replayed = replay.anthropic(messages, origins, target)
    elif fmt == "converse":
        replayed = replay.converse(messages, origins, target, tools=tools_defined, tool_choice=tool_choice)
    else:
        replayed = replay.gemini(messages, origins, target)
    return WireRequest(
        target=target, format=fmt, messages=replayed.messages, system=replayed.system, error=replayed.error
    )


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
    by_id: dict[tuple[str, str], list[int | None]] = {}
    rest: list[WireBlock] = []
    points = [b.origin for b in simulated.blocks if b.type == "cache_point"]
    points_match = len(points) == sum(1 for b in actual.blocks if b.type == "cache_point")
    for block in simulated.blocks:
        if block.id and block.type in ("tool_use", "tool_result"):
            by_id.setdefault((block.type, block.id), []).append(block.origin)
        elif block.type != "cache_point":
            rest.append(block)
    fallback = simulated.first_source
    k = 0
    last = fallback
    for block in actual.blocks:
        if block.id and block.type in ("tool_use", "tool_result") and (block.type, block.id) in by_id:
            # The same id twice (a call answered twice): each takes the next origin, the last repeats.
            origins = by_id[(block.type, block.id)]
            block.origin = origins.pop(0) if len(origins) > 1 else origins[0]
        elif block.type == "cache_point":
            block.origin = points.pop(0) if points_match else last  # the marker's own message
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
        and any(
            m.get("tool_calls") is not None or (wire.format == "converse" and m.get("role") == "tool")
            for m in wire.request.get("messages") or []
        )
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
