"""litellm's transformation of an OpenAI request into a provider's messages, replayed without litellm.

Importing litellm takes seconds and building a request with it costs more than judging it, so a
check replays what litellm 1.110.2 does to the messages (merging turns, moving cache markers,
placeholders for empty text, sanitised ids, the system prompt pulled out...) for the histories
it covers (covers(): text, tool calls and tool results, a leading system prompt, cache markers,
names and ids litellm sends as they are). Each function below ports the litellm function named
in its docstring, for that domain only. tests/core/test_replay.py holds the result to litellm's
own output on every fixture and on random histories; anything else is left to litellm.

The replay builds the neutral wire view directly (wire.WireMessage/WireBlock), with each block's
origin (the history message it came from) and each message's sources, as wire.parse_body would
read litellm's body.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .formats.openai import HINT, OWN_KEYS, is_native
from .model import Block, History
from .modelmap import _bedrock_base, load, model_info, provider_of
from .targets import Target
from .wire_blocks import WireBlock, WireMessage

EMPTY_PLACEHOLDER = "[System: Empty message content sanitised to satisfy protocol]"
# What litellm raises for a request with no message but the system prompt (wire._short_error's form).
ANTHROPIC_EMPTY = (
    "AnthropicError: litellm.BadRequestError: Anthropic requires at least one non-system message. Either "
    "provide one, or set `litellm.modify_params = True` // `litellm_settings::modify_params: True` to add the "
    "dummy user message - {'role': 'user', 'content': 'Please continue.'}."
)
CONVERSE_NO_TOOL_CHOICE = (
    "UnsupportedParamsError: litellm.UnsupportedParamsError: Bedrock doesn't support tool_choice=none. "
    "To drop it from the call, set `litellm.drop_params = True."
)
CONVERSE_EMPTY = (
    "BadRequestError: litellm.BadRequestError: Invalid Message bedrock requires at least one non-system message"
)
# litellm's tool-id sanitising (factory.py: sanitize_anthropic_tool_use_id, _sanitize_bedrock_tool_use_id).
ANTHROPIC_ID_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
BEDROCK_ID_INVALID = re.compile(r"[^a-zA-Z0-9_.:-]")
BEDROCK_ID_MAX = 64
BEDROCK_ID_HASH = 8
ID_FALLBACK = "tool_use_id"
# Names every provider takes as they are (litellm rewrites others, differently for each).
PLAIN_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")
# Request parameters whose translation the replay does not port (see wire.PASSED_PARAMS).
UNREPLAYED_PARAMS = ("thinking", "reasoning_effort")
# Keys of an OpenAI message litellm reads for none of the targets replayed.
IGNORED_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id", "name", "cache_control", "refusal"})


@dataclass
class Replayed:
    """What a replay gives: the wire messages and system blocks, and the tool names litellm adds."""

    messages: list[WireMessage]
    system: list[WireBlock] = field(default_factory=list)
    error: str | None = None  # what litellm raises building this request


# --- what the replay covers --------------------------------------------------------------------------


def covers_target(target: Target) -> str | None:
    """None when the replay builds requests for this target's model; else why not. OpenAI's
    reasoning models (o-series, GPT-5) take other parameters, which litellm maps its own way."""
    if target.wire_format == "openai" and (model_info(target.model) or {}).get("supports_reasoning"):
        return f"{target.model} is a reasoning model (litellm maps its parameters)"
    return None


def covers(history: History) -> str | None:
    """None when every part of the history is one the replay ports; else what is not. One pass
    over the blocks (a check of a long history pays for it once)."""
    native = is_native(history)  # only an OpenAI log's own keys are written back into its messages
    for key in UNREPLAYED_PARAMS:
        if history.request.get(key) is not None:
            return f"the {key} parameter (litellm sets max_tokens and thinking from it)"
    for part in history.system:
        if part.role != "system" or part.before != 0:
            return "a system message after the conversation started"
        if any(b.type != "text" for b in part.blocks):
            return "a system prompt with other than text"
    names: set[str | None] = set()
    for tool in history.tools:
        if tool.kind != "function":
            return f"the {tool.kind} tool {tool.name!r}"
        names.add(tool.name)
    hint = HINT if native else None
    for message in history.messages:
        if message.role not in MESSAGE_ROLES:
            return f"a {message.role} message"
        if native and message.extra and _extra_read(message.extra, HINT):
            return "a message key litellm reads, or a function message"
        for block in message.blocks:
            kind = block.type
            if kind == "text":
                continue
            if kind == "tool_use":
                why = _call_covered(block, hint)
                names.add(block.name)
            elif kind == "tool_result":
                why = _result_covered(block)
            else:
                why = f"a {kind} block"
            if why:
                return why
    for name in names:
        if not isinstance(name, str) or not PLAIN_NAME.match(name) or name.startswith("tool_search"):
            return f"the tool name {name!r} (litellm rewrites such names)"
    return None


MESSAGE_ROLES = frozenset({"user", "assistant", "tool"})


def _extra_read(extra: dict[str, Any], hint: str) -> bool:
    return any(key not in IGNORED_KEYS and key != hint and key not in OWN_KEYS for key in extra) or (
        extra.get(hint, {}).get("role") == "function"
    )


def _call_covered(block: Block, hint: str | None) -> str | None:
    if hint is not None and block.extra and block.extra.get(hint):
        return "a tool call written in an unusual shape"
    call_id = block.id
    if not isinstance(call_id, str) or call_id.startswith("srvtoolu_") or SIGNATURE_SEPARATOR in call_id:
        return "a server tool call, or an id carrying a thought signature"
    if not isinstance(block.input, dict):
        return "tool-call arguments that are not a JSON object"
    return None


def _result_covered(block: Block) -> str | None:
    if not isinstance(block.tool_use_id, str) or SIGNATURE_SEPARATOR in block.tool_use_id:
        return "a tool result without the plain id of its call"
    content = block.content
    if isinstance(content, list) and not all(b.type == "text" or _tool_reference(b) for b in content):
        return "a tool result with other than text"
    return None


def _tool_reference(block: Block) -> bool:
    """Claude Code's reference to a deferred tool, inside a tool result."""
    raw = block.extra.get("raw")
    return block.type == "other" and isinstance(raw, dict) and raw.get("type") == "tool_reference"


# --- shared helpers -------------------------------------------------------------------------------------


def texts_of(content: Any) -> str:
    """litellm's convert_content_list_to_str: a string content, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def flatten(content: Any) -> str:
    """What wire.parse_body reads as a tool result's text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text") or "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def anthropic_id(tool_id: str) -> str:
    return ANTHROPIC_ID_INVALID.sub("_", tool_id) or ID_FALLBACK


def bedrock_id(tool_id: str) -> str:
    sanitized = BEDROCK_ID_INVALID.sub("_", tool_id) or ID_FALLBACK
    if sanitized == tool_id and len(sanitized) <= BEDROCK_ID_MAX:
        return sanitized
    digest = hashlib.sha256(tool_id.encode()).hexdigest()[:BEDROCK_ID_HASH]
    return f"{sanitized[: BEDROCK_ID_MAX - BEDROCK_ID_HASH - 1]}_{digest}"


def numbered(blocks: list[WireBlock]) -> list[WireBlock]:
    for j, block in enumerate(blocks):
        block.index = j
    return blocks


def sources_of(origins: list[int | None]) -> list[int]:
    if len(origins) == 1:  # most turns: one message
        return [] if origins[0] is None else [origins[0]]
    return list(dict.fromkeys(o for o in origins if o is not None))


def leading_system(messages: list[dict[str, Any]]) -> int:
    k = 0
    while k < len(messages) and messages[k].get("role") == "system":
        k += 1
    return k


# --- Anthropic (and Bedrock InvokeModel, which sends Anthropic's body) ------------------------------------


def anthropic(messages: list[dict[str, Any]], origins: list[int | None], target: Target) -> Replayed:
    """AnthropicConfig.transform_request: the leading system run becomes `system`
    (translate_system_message), the rest anthropic_messages_pt; a dummy tool when the request
    has tool calls but defines no tools."""
    lead = leading_system(messages)
    system = [b for m in messages[:lead] for b in _anthropic_system(m)]
    body = [_sanitized_empty_text(m) for m in messages[lead:]]
    if not body:
        return Replayed([], numbered(system), error=ANTHROPIC_EMPTY)
    return Replayed(_anthropic_messages(body, origins[lead:]), numbered(system))


def _anthropic_system(message: dict[str, Any]) -> list[WireBlock]:
    content = message.get("content")
    if isinstance(content, str):
        return [WireBlock("text", 0, text=content, cache=message.get("cache_control"))] if content else []
    out = []
    for part in content if isinstance(content, list) else []:
        if part.get("type") == "text" and not part.get("text"):
            continue
        out.append(WireBlock("text", 0, text=part.get("text"), cache=part.get("cache_control")))
    return out


def _sanitized_empty_text(message: dict[str, Any]) -> dict[str, Any]:
    """factory._sanitize_empty_text_content: empty text becomes the placeholder (dropped from an
    assistant turn that has tool calls)."""
    role = message.get("role")
    if role not in ("user", "assistant"):
        return message
    content = message.get("content")
    drop = role == "assistant" and any(c.get("type") == "function" for c in message.get("tool_calls") or [])
    if isinstance(content, str):
        if content.strip():
            return message
        return {**message, "content": None if drop else EMPTY_PLACEHOLDER}
    if not isinstance(content, list) or not any(_empty_text(p) for p in content):
        return message
    if drop:
        return {**message, "content": [p for p in content if not _empty_text(p)]}
    return {**message, "content": [{**p, "text": EMPTY_PLACEHOLDER} if _empty_text(p) else p for p in content]}


def _empty_text(part: Any) -> bool:
    if not isinstance(part, dict) or part.get("type") != "text":
        return False
    text = part.get("text")
    return not text.strip() if isinstance(text, str) else True


def _anthropic_messages(messages: list[dict[str, Any]], origins: list[int | None]) -> list[WireMessage]:
    """factory.anthropic_messages_pt: consecutive user and tool messages merge into one user turn,
    consecutive assistant messages into one assistant turn; the final assistant text is
    stripped of trailing whitespace."""
    out: list[WireMessage] = []
    later = _tool_result_later(messages)
    i, n = 0, len(messages)
    while i < n:
        start = i
        blocks: list[WireBlock] = []
        while i < n and messages[i].get("role") != "assistant":  # user, tool (and, outside covers(), any other)
            blocks += _anthropic_user_blocks(messages[i], origins[i], later[i])
            i += 1
        if blocks:
            out.append(WireMessage("user", numbered(blocks), sources_of(origins[start:i])))
        elif i > start:
            placeholder = _empty_turn_placeholder(messages, origins, start, i)
            if placeholder is not None:
                out.append(WireMessage("user", [placeholder], sources_of(origins[start:i])))
        turn = i
        blocks = []
        seen: set[str] = set()
        while i < n and messages[i].get("role") == "assistant":
            blocks += _anthropic_assistant_blocks(messages[i], origins[i], seen)
            i += 1
        if blocks:
            out.append(WireMessage("assistant", numbered(blocks), sources_of(origins[turn:i])))
    if out and out[-1].role == "assistant":
        for block in out[-1].blocks:
            if block.type == "text" and block.text is not None:
                block.text = block.text.rstrip()
    return out


def _tool_result_later(messages: list[dict[str, Any]]) -> list[bool]:
    """factory._tool_result_later_in_turn: whether a tool result follows in the same user turn."""
    out = [False] * len(messages)
    later = False
    for k in range(len(messages) - 1, -1, -1):
        role = messages[k].get("role")
        out[k] = later
        later = role in ("user", "tool", "function") and (later or role in ("tool", "function"))
    return out


def _anthropic_user_blocks(message: dict[str, Any], origin: int | None, result_follows: bool) -> list[WireBlock]:
    if message.get("role") in ("tool", "function"):
        content = message.get("content")
        return [
            WireBlock(
                "tool_result",
                0,
                origin=origin,
                id=anthropic_id(message.get("tool_call_id") or ""),
                text=flatten(_anthropic_result_content(content)),
                cache=message.get("cache_control"),
            )
        ]
    content = message.get("content")
    if not content:
        cache = message.get("cache_control")
        if result_follows or not cache:
            return []
        return [WireBlock("text", 0, text=EMPTY_PLACEHOLDER, cache=_cache_value(cache))]
    if isinstance(content, str):
        return [WireBlock("text", 0, origin=origin, text=content, cache=_cache_value(message.get("cache_control")))]
    return [
        WireBlock("text", 0, origin=origin, text=part.get("text"), cache=_cache_value(part.get("cache_control")))
        for part in content
        if isinstance(part, dict) and part.get("type") == "text"
    ]


def _anthropic_result_content(content: Any) -> Any:
    """convert_to_anthropic_tool_result's content: a string, or its text parts (a tool
    reference keeps no text)."""
    if isinstance(content, str) or not isinstance(content, list):
        return content if isinstance(content, str) else ""
    return [
        {"type": "text", "text": p.get("text")} if p.get("type") == "text" else {"type": "tool_reference"}
        for p in content
        if isinstance(p, dict) and p.get("type") in ("text", "tool_reference")
    ]


def _cache_value(cache: Any) -> Any:
    """add_cache_control_to_content keeps a marker only when it is a dict."""
    return cache if isinstance(cache, dict) else None


def _empty_turn_placeholder(
    messages: list[dict[str, Any]], origins: list[int | None], start: int, end: int
) -> WireBlock | None:
    """factory._empty_user_turn_placeholder: a user turn that made no content gets the
    placeholder (with the cache marker of its last empty user message)."""
    for k in range(end - 1, start - 1, -1):
        if messages[k].get("role") == "user" and not messages[k].get("content"):
            return WireBlock("text", 0, text=EMPTY_PLACEHOLDER, cache=_cache_value(messages[k].get("cache_control")))
    return None


def _anthropic_assistant_blocks(message: dict[str, Any], origin: int | None, seen: set[str]) -> list[WireBlock]:
    blocks: list[WireBlock] = []
    content = message.get("content")
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and part.get("text"):
                blocks.append(
                    WireBlock(
                        "text", 0, origin=origin, text=part["text"], cache=_cache_value(part.get("cache_control"))
                    )
                )
    elif isinstance(content, str) and content:
        blocks.append(
            WireBlock("text", 0, origin=origin, text=content, cache=_cache_value(message.get("cache_control")))
        )
    for call in message.get("tool_calls") or []:
        if call.get("type") != "function":
            continue
        tool_id = anthropic_id(call.get("id") or "")
        if tool_id in seen:
            continue  # litellm drops a tool_use whose id the turn already has
        seen.add(tool_id)
        name = (call.get("function") or {}).get("name")
        blocks.append(
            WireBlock(
                "tool_use", 0, origin=origin, id=tool_id, name=name, cache=_cache_value(call.get("cache_control"))
            )
        )
    return blocks


# --- max_tokens ---------------------------------------------------------------------------------------

DEFAULT_ANTHROPIC_MAX_TOKENS = 128_000  # litellm's DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS


def max_tokens(params: dict[str, Any], target: Target) -> int | None:
    """The max_tokens at the top of the body litellm builds: the request's for OpenAI (when it
    passes one), the request's or litellm's default for Anthropic's body; none elsewhere."""
    passed = None
    for key in ("max_tokens", "max_completion_tokens"):
        value = params.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            passed = value if isinstance(value, int) else max(1, int(round(value)))
    if target.wire_format == "openai":
        value = params.get("max_tokens")
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if target.wire_format != "anthropic":
        return None
    if passed is not None:
        return passed
    configured = _token_limit((target.model_info or {}).get("max_output_tokens"))
    if configured is not None:
        return configured
    if target.llm_provider == "bedrock":
        row = load().entries.get(_bedrock_base(target.api_model)) or {}
        mapped = row.get("max_output_tokens")
        return mapped if isinstance(mapped, int) and not isinstance(mapped, bool) else DEFAULT_ANTHROPIC_MAX_TOKENS
    return _mapped_max_tokens(target.api_model)


def _mapped_max_tokens(model: str) -> int:
    """litellm.get_max_tokens(model), else its default."""
    entries = load().entries
    row = entries.get(model)
    if row is None:
        _, bare = provider_of(model)
        row = entries.get(bare)
    value = (row or {}).get("max_output_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_ANTHROPIC_MAX_TOKENS


def _token_limit(value: Any) -> int | None:
    """litellm's coerce_token_limit."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (str, float)):
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            return None
    return None


# --- Bedrock Converse ---------------------------------------------------------------------------------

OPENAI_FAMILY = re.compile(r"(^|[./])openai\.")


def converse(
    messages: list[dict[str, Any]], origins: list[int | None], target: Target, *, tools: bool, tool_choice: Any = None
) -> Replayed:
    """AmazonConverseConfig._transform_request: the leading system run becomes `system`
    (_transform_system_message), tool calls and results become text when the request defines no
    tools (_neutralize_orphaned_tool_blocks), the rest _bedrock_converse_messages_pt."""
    points = converse_cache_points(target)
    lead = leading_system(messages)
    system: list[WireBlock] = []
    for message in messages[:lead]:
        system += _converse_system(message, points)
    body, body_origins = messages[lead:], origins[lead:]
    if not tools and any(
        (m.get("role") == "assistant" and m.get("tool_calls")) or m.get("role") in ("tool", "function") for m in body
    ):
        body = [_as_text(m) for m in body]
    if tool_choice == "none":  # get_optional_params refuses it before any message is converted
        error: str | None = CONVERSE_NO_TOOL_CHOICE
    else:
        error = None if body else CONVERSE_EMPTY
    converted = _converse_messages(body, body_origins, target, points) if body else []
    return Replayed(converted, numbered(system), error=error)


@dataclass(frozen=True)
class CachePoints:
    """Whether litellm sends cachePoint blocks to this Bedrock model, and with which ttl."""

    accepted: bool
    ttl: bool

    def block(self, cache: Any, origin: int | None) -> WireBlock | None:
        if cache is None or not self.accepted:
            return None
        point: dict[str, Any] = {"type": "default"}
        if isinstance(cache, dict) and cache.get("ttl") in ("5m", "1h") and self.ttl:
            point["ttl"] = cache["ttl"]
        return WireBlock("cache_point", 0, origin=origin, cache=point)


def converse_cache_points(target: Target) -> CachePoints:
    """common_utils.bedrock_model_accepts_cache_points and bedrock_cache_point_ttl_supported, for
    the model litellm is handed (its route prefix kept) and the deployment's model_info."""
    entries = load().entries
    model, info = target.api_model, target.model_info
    base = _bedrock_base(model)
    keys = (model, base)
    ttl = any((entries.get(k) or {}).get("cache_creation_input_token_cost_above_1hr") is not None for k in keys)
    if OPENAI_FAMILY.search(model):
        return CachePoints(False, ttl)
    explicit = None if info is None else info.get("supports_prompt_cache_breakpoint")
    if explicit is not None:
        return CachePoints(explicit is True, ttl)
    registered = tuple(f"bedrock/{route}{model}" for route in ("", "converse/", "converse_like/"))
    for key in (*registered, model, base):
        flag = (entries.get(key) or {}).get("supports_prompt_cache_breakpoint")
        if flag is not None:
            return CachePoints(flag is True, ttl)
    if not any(k in entries for k in keys):
        return CachePoints(True, ttl)  # a model the map does not know keeps its markers
    deployment = None if info is None else _lax_bool(info.get("supports_prompt_caching"))
    if deployment is not None:
        return CachePoints(deployment, ttl)
    return CachePoints(any((entries.get(k) or {}).get("supports_prompt_caching") is True for k in keys), ttl)


def _lax_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _converse_system(message: dict[str, Any], points: CachePoints) -> list[WireBlock]:
    content = message.get("content")
    out: list[WireBlock] = []
    if isinstance(content, str) and content:
        out.append(WireBlock("text", 0, text=content))
        point = points.block(message.get("cache_control"), None)
        out += [point] if point else []
    elif isinstance(content, list):
        for part in content:
            if part.get("type") == "text" and part.get("text"):
                out.append(WireBlock("text", 0, text=part["text"]))
                point = points.block(part.get("cache_control"), None)
                out += [point] if point else []
    return out


def _as_text(message: dict[str, Any]) -> dict[str, Any]:
    """AmazonConverseConfig._neutralize_orphaned_tool_blocks: without tool definitions, tool calls
    and tool results travel as text (their cache markers are lost)."""
    role = message.get("role")
    if role == "assistant" and message.get("tool_calls"):
        calls = []
        for call in message["tool_calls"]:
            function = call.get("function") or {}
            label = f"tool call {call.get('id')}" if call.get("id") else "tool call"
            calls.append(f"[{label}: {function.get('name') or 'unknown_tool'}({function.get('arguments') or ''})]")
        text = "\n".join(part for part in (texts_of(message.get("content")), *calls) if part)
        return {"role": "assistant", "content": text}
    if role in ("tool", "function"):
        label = f"tool result for {message.get('tool_call_id') or message.get('name') or 'unknown'}"
        rendered = texts_of(message.get("content")).strip() or "<non-text tool result omitted>"
        return {"role": "user", "content": f"[{label}: {rendered}]"}
    return message


def _converse_messages(
    messages: list[dict[str, Any]], origins: list[int | None], target: Target, points: CachePoints
) -> list[WireMessage]:
    """factory._bedrock_converse_messages_pt: user runs, tool runs and assistant runs, a user or
    tool run merged into the user turn before it."""
    out: list[WireMessage] = []

    def user_turn(blocks: list[WireBlock], members: list[int | None]) -> None:
        if not blocks:
            return
        if out and out[-1].role == "user":
            out[-1].blocks += blocks
            out[-1].sources = sources_of([*out[-1].sources, *members])
        else:
            out.append(WireMessage("user", blocks, sources_of(members)))

    i, n = 0, len(messages)
    while i < n:
        start = i
        blocks: list[WireBlock] = []
        while i < n and messages[i].get("role") not in ("tool", "function", "assistant"):
            blocks += _converse_user_blocks(messages[i], origins[i], points)
            i += 1
        user_turn(blocks, origins[start:i])
        tools_start = i
        blocks, ids = [], set()
        while i < n and messages[i].get("role") in ("tool", "function"):
            message = messages[i]
            result = WireBlock(
                "tool_result",
                0,
                origin=origins[i],
                id=bedrock_id(str(message.get("tool_call_id"))),
                text=flatten(_converse_result_content(message.get("content"))),
            )
            if result.id not in ids:  # _deduplicate_bedrock_tool_content keeps the first
                ids.add(result.id)
                blocks.append(result)
            point = points.block(_tool_message_cache(message), origins[i])
            blocks += [point] if point else []
            i += 1
        user_turn(blocks, origins[tools_start:i])
        turn = i
        blocks = []
        while i < n and messages[i].get("role") == "assistant":
            blocks += _converse_assistant_blocks(messages[i], origins[i], points)
            i += 1
        blocks = _sorted_assistant(_first_tool_uses(blocks))
        if blocks:
            out.append(WireMessage("assistant", blocks, sources_of(origins[turn:i])))
    if out and out[-1].role == "assistant" and "claude" in target.api_model.lower():
        last = max((j for j, b in enumerate(out[-1].blocks) if b.type == "text"), default=None)
        if last is not None and out[-1].blocks[last].text is not None:
            out[-1].blocks[last].text = (out[-1].blocks[last].text or "").rstrip()
    for turn_message in out:
        numbered(turn_message.blocks)
    return out


def _converse_user_blocks(message: dict[str, Any], origin: int | None, points: CachePoints) -> list[WireBlock]:
    content = message.get("content")
    out: list[WireBlock] = []
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                if not (part.get("text") or "").strip():
                    continue  # skip_empty_text_blocks drops it, marker and all
                out.append(WireBlock("text", 0, origin=origin, text=part["text"]))
            point = points.block(part.get("cache_control"), origin)
            out += [point] if point else []
    elif isinstance(content, str) and content:
        out.append(WireBlock("text", 0, origin=origin, text=content))
        point = points.block(message.get("cache_control"), origin)
        out += [point] if point else []
    return out


def _converse_result_content(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    out = []
    for part in content if isinstance(content, list) else []:
        if part.get("type") == "text":
            out.append({"text": part.get("text")})
        elif part.get("type") == "tool_reference" and isinstance(part.get("tool_name"), str):
            out.append({"text": part["tool_name"]})
    return out


def _tool_message_cache(message: dict[str, Any]) -> Any:
    if message.get("cache_control") is not None:
        return message["cache_control"]
    content = message.get("content")
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict) and part.get("cache_control") is not None:
            return part["cache_control"]
    return None


def _converse_assistant_blocks(message: dict[str, Any], origin: int | None, points: CachePoints) -> list[WireBlock]:
    content = message.get("content")
    out: list[WireBlock] = []
    if isinstance(content, str) and not content.strip() and _has_other_values(message):
        content = None  # skip_empty_text_blocks: the turn's other fields carry it
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict) or (part.get("type") == "text" and not (part.get("text") or "").strip()):
                continue  # skip_empty_text_blocks drops blank text, marker and all
            if part.get("type") == "text":
                out.append(WireBlock("text", 0, origin=origin, text=part["text"]))
            point = points.block(part.get("cache_control"), origin)
            out += [point] if point else []
    elif isinstance(content, str):
        if content.strip():
            out.append(WireBlock("text", 0, origin=origin, text=content))
        point = points.block(message.get("cache_control"), origin)
        out += [point] if point else []
    for call in message.get("tool_calls") or []:
        if "function" not in call:
            continue
        out.append(
            WireBlock("tool_use", 0, origin=origin, id=bedrock_id(call.get("id")), name=call["function"].get("name"))
        )
        point = points.block(call.get("cache_control"), origin)
        out += [point] if point else []
    return out


def _has_other_values(message: dict[str, Any]) -> bool:
    """common_utils.is_non_content_values_set."""
    return any(v is not None for k, v in message.items() if k not in ("content", "role", "name"))


def _first_tool_uses(blocks: list[WireBlock]) -> list[WireBlock]:
    """_deduplicate_bedrock_content_blocks(..., "toolUse"): a repeated toolUse id is dropped."""
    seen: set[str | None] = set()
    out = []
    for block in blocks:
        if block.type == "tool_use" and block.id:
            if block.id in seen:
                continue
            seen.add(block.id)
        out.append(block)
    return out


def _sorted_assistant(blocks: list[WireBlock]) -> list[WireBlock]:
    """_sort_bedrock_assistant_content_blocks: text before tool calls (a cachePoint sorts with
    the tool calls)."""
    return sorted(blocks, key=lambda b: 2 if b.type in ("tool_use", "cache_point") else 1)


# --- Gemini ---------------------------------------------------------------------------------------------

SIGNATURE_SEPARATOR = "__thought__"
GEMINI_OLDER = re.compile(r"^gemini-(?:[12](?:\.\d+)?|exp|(?:pro|flash)(?!-(?:lite-)?latest$))(?:-|$)")
# litellm's placeholder thought signature (base64 of "skip_thought_signature_validator").
DUMMY_SIGNATURE = "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I="


def gemini(messages: list[dict[str, Any]], origins: list[int | None], target: Target) -> Replayed:
    """transform_request_body: system messages become system_instruction where the model takes
    one (transform_system_message), the rest gemini_convert_messages_with_history."""
    model = target.api_model
    system: list[WireBlock] = []
    body, body_origins = messages, origins
    if _gemini_system_messages(target):
        kept = [(m, o) for m, o in zip(messages, origins, strict=True) if m.get("role") != "system"]
        for m in messages:
            if m.get("role") != "system":
                continue
            content = m.get("content")
            if isinstance(content, str):
                system.append(WireBlock("text", 0, text=content))
            elif isinstance(content, list):
                system.append(WireBlock("text", 0, text="".join(p.get("text") or "" for p in content)))
        body, body_origins = [m for m, _ in kept], [o for _, o in kept]
        if system and not body:
            body, body_origins = [{"role": "user", "content": "."}], [None]
    converted, error = _gemini_contents(body, body_origins, model)
    return Replayed(converted, numbered(system), error=error)


def gemini_3_or_newer(model: str) -> bool:
    """VertexGeminiConfig._is_gemini_3_or_newer."""
    name = model.split("/")[-1].lower()
    fine_tuned = name.isdigit() or (model.startswith("gemini/") and not name.startswith("gemini-"))
    if not name or fine_tuned or name.startswith("gemma-"):
        return False
    return not GEMINI_OLDER.match(name)


def _gemini_system_messages(target: Target) -> bool:
    """get_supports_system_message: the map's supports_system_messages for the model."""
    model = target.api_model
    if "gemini/" in model:
        return True
    info = model_info(f"gemini/{model}") or {}
    if info.get("supports_system_messages") is True:
        return True
    if info.get("supports_system_messages") is None:
        m = load()
        key = m.key(model)
        return key is not None and m.entries[key].get("supports_system_messages") is True
    return False


def _gemini_contents(
    messages: list[dict[str, Any]], origins: list[int | None], model: str
) -> tuple[list[WireMessage], str | None]:
    """factory's gemini_convert_messages_with_history, for text and tool calls."""
    ids = gemini_3_or_newer(model)
    out: list[WireMessage] = []
    error: str | None = None
    last_calls: dict[str, Any] | None = None
    responses: list[WireBlock] = []
    response_origins: list[int | None] = []
    i, n = 0, len(messages)
    while i < n:
        start = i
        parts: list[WireBlock] = []
        while i < n and messages[i].get("role") not in ("assistant", "tool", "function"):
            parts += _gemini_user_parts(messages[i], origins[i])
            i += 1
        if parts:
            if not any(p.type == "text" and p.text is not None for p in parts):
                parts.append(WireBlock("text", 0, text=" "))
            out.append(WireMessage("user", numbered(parts), sources_of(origins[start:i])))
        turn = i
        parts = []
        while i < n and messages[i].get("role") == "assistant":
            message = messages[i]
            parts += _gemini_assistant_text(message, origins[i])
            calls = message.get("tool_calls")
            if calls is not None:
                for call, arguments in _gemini_calls(message, origins[i], ids):
                    if not any(_same_call(p, call, arguments) for p in parts):
                        call.raw = arguments  # the string; parsed only to tell two calls apart
                        parts.append(call)
                if calls:
                    last_calls = message
            i += 1
        if parts:
            out.append(WireMessage("assistant", numbered(parts), sources_of(origins[turn:i])))
        if i < n and messages[i].get("role") in ("tool", "function"):
            response, why = _gemini_response(messages[i], origins[i], last_calls, ids)
            error = error or why
            responses.append(response)
            response_origins.append(origins[i])
            i += 1
        if i < n and messages[i].get("role") not in ("tool", "function") and responses:
            out.append(WireMessage("user", numbered(responses), sources_of(response_origins)))
            responses, response_origins = [], []
    if responses:
        out.append(WireMessage("user", numbered(responses), sources_of(response_origins)))
    if not out:
        out.append(WireMessage("user", [WireBlock("text", 0, text=" ")], []))
    return out, error


def _gemini_user_parts(message: dict[str, Any], origin: int | None) -> list[WireBlock]:
    content = message.get("content")
    if isinstance(content, str):
        return [WireBlock("text", 0, origin=origin, text=content)]
    if isinstance(content, list):
        return [
            WireBlock("text", 0, origin=origin, text=p["text"])
            for p in content
            if p.get("type") == "text" and "text" in p and len(p["text"]) > 0
        ]
    return []


def _gemini_assistant_text(message: dict[str, Any], origin: int | None) -> list[WireBlock]:
    content = message.get("content")
    if isinstance(content, str):
        return [WireBlock("text", 0, origin=origin, text=content)]
    if isinstance(content, list):
        return [
            WireBlock("text", 0, origin=origin, text=p["text"])
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        ]
    return []


def _gemini_calls(message: dict[str, Any], origin: int | None, ids: bool) -> list[tuple[WireBlock, Any]]:
    """convert_to_gemini_tool_call_invoke: a function_call part per tool call (with its
    arguments string), the first with litellm's placeholder thought signature on Gemini 3+."""
    out: list[tuple[WireBlock, Any]] = []
    for call in message.get("tool_calls") or []:
        if "function" not in call:
            continue
        function = call["function"]
        call_id = (call.get("id") or "").split(SIGNATURE_SEPARATOR, 1)[0] if ids else ""
        signature = DUMMY_SIGNATURE if not out and ids else None
        block = WireBlock(
            "tool_use",
            0,
            origin=origin,
            id=call_id or None,
            name=function.get("name", "") or "",
            signature=signature,
            has_signature=signature is not None,
        )
        out.append((block, function.get("arguments", "")))
    return out


def _args(arguments: Any) -> Any:
    """The call's arguments as litellm's json.loads reads them (litellm raises on invalid JSON:
    covers() keeps such calls out; a build still gets its index map)."""
    if isinstance(arguments, str) and not arguments:
        return {"type": "object"}
    try:
        return json.loads(arguments)
    except (TypeError, ValueError):
        return arguments


def _same_call(part: WireBlock, call: WireBlock, arguments: Any) -> bool:
    """check_if_part_exists_in_parts: the same function call (name, args, id) is already in
    the turn; the arguments are parsed only for a call of the same name and id."""
    if part.type != "tool_use" or part.name != call.name or part.id != call.id:
        return False
    return bool(_args(part.raw) == _args(arguments))


def _gemini_response(
    message: dict[str, Any], origin: int | None, last_calls: dict[str, Any] | None, ids: bool
) -> tuple[WireBlock, str | None]:
    """convert_to_gemini_tool_call_result: a function_response part named after the call it
    answers (litellm raises when there is none)."""
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    if isinstance(content, list):
        text = "".join(p.get("text", "") for p in content if p.get("type", "") == "text")
    call_id = message.get("tool_call_id")
    name = None
    if last_calls is not None and isinstance(call_id, str) and call_id:
        for call in last_calls.get("tool_calls") or ():
            if call.get("id") == call_id:
                function = call.get("function")
                name = function.get("name") if isinstance(function, dict) else None
                break
    if name is None:
        name = message.get("name", "")
    error = None
    if not name:
        error = (
            "Exception: Missing corresponding tool call for tool response message. Received - "
            f"message={message}, last_message_with_tool_calls={last_calls}"
        )[:1000]
    response: dict[str, Any] = {"content": text}
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and not _part_reference(text, parsed):
            response = parsed
    inner = response.get("content")
    seen_text = inner if isinstance(inner, str) else json.dumps(response)
    response_id = (call_id or "").split(SIGNATURE_SEPARATOR, 1)[0] if ids and isinstance(call_id, str) else None
    return WireBlock("tool_result", 0, origin=origin, id=response_id or None, name=name, text=seen_text), error


def _part_reference(text: str, parsed: Any) -> bool:
    """factory._contains_part_reference: a JSON result naming a `$ref` is kept as text."""
    if "$ref" not in text and "\\u0024ref" not in text.lower():
        return False
    stack = [parsed]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "$ref" in node:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
