"""Anthropic Messages API requests (docs/formats.md §3a).

A request body `{"model", "max_tokens", "system", "tools", "messages", ...}` or a bare list of
messages. The top-level `system` becomes one SystemPart (before=0); tool_result blocks stay in
the user messages that carry them, as read, so message indexes match the provider's errors
("messages.26: ...").

Writing a history read from another format (original None) makes a valid-looking Messages body
the way litellm would send it: system parts on top, consecutive role:tool messages and the user
message right after them merged into one user turn with the tool_result blocks first, message-
level cache markers moved onto the message's last block, and `max_tokens` always present.
"""

from __future__ import annotations

from typing import Any, cast

from ..model import Block, CacheControl, History, Message, SystemPart, Tool
from .document import Document
from .openai import (
    DEFAULT_FILE,
    Where,
    cache_out,
    dump_json,
    json_or_none,
    kind_of,
    raw_out,
    reorder_like,
    rest,
    rewritten,
    with_extra,
)
from .openai import (
    is_native as is_openai_dialect,
)

NAME = "anthropic"
WRITABLE = True
HINT = "_anthropic"
# Required by the API; what to send when the history does not say.
DEFAULT_MAX_TOKENS = 4096
# Parameters that mean the same in a Messages request whatever the history was read from.
PORTABLE_PARAMS = (
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tool_choice",
    "thinking",
    "metadata",
    "stream",
    "service_tier",
)
_ANTHROPIC_BLOCKS = ("tool_use", "tool_result", "thinking", "redacted_thinking")
_OPENAI_ONLY_ROLES = ("system", "developer", "tool", "function")
_OPENAI_ONLY_PARTS = ("image_url", "input_audio")


# --- detection and reading -------------------------------------------------------------------


def sniff(doc: Document) -> bool:
    """A dict with messages plus `max_tokens`, a top-level `system` or Anthropic blocks, or a
    bare message list with Anthropic blocks; never anything with OpenAI-only roles or shapes."""
    obj = json_or_none(doc)
    if isinstance(obj, dict):
        messages = obj.get("messages")
        if not isinstance(messages, list) or _has_openai_tools(obj.get("tools")):
            return False
        marked = "max_tokens" in obj or "system" in obj
    elif isinstance(obj, list):
        messages, marked = obj, False
    else:
        return False
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        return False
    if any(_openai_only(m) for m in messages):
        return False
    return bool(messages or marked) and (marked or _has_anthropic_blocks(messages))


def _has_openai_tools(tools: Any) -> bool:
    return isinstance(tools, list) and any(isinstance(t, dict) and "function" in t for t in tools)


def _openai_only(message: dict[str, Any]) -> bool:
    if message.get("role") in _OPENAI_ONLY_ROLES or "tool_calls" in message or "tool_call_id" in message:
        return True
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") in _OPENAI_ONLY_PARTS for b in content
    )


def _has_anthropic_blocks(messages: list[Any]) -> bool:
    return any(
        isinstance(b, dict) and b.get("type") in _ANTHROPIC_BLOCKS
        for m in messages
        if isinstance(m.get("content"), list)
        for b in m["content"]
    )


def read(doc: Document) -> list[History]:
    name, _ = doc.single
    return [parse_request(doc.json(name), file=name)]


def parse_request(obj: Any, *, file: str | None, path: str = "$", line: int | None = None) -> History:
    """One History from a Messages request body or a bare list of messages found at `path`."""
    at = Where(file, line)
    history = History(format=NAME)
    if isinstance(obj, list):
        history.meta["shape"] = "list"
        history.messages = _read_messages(obj, at, path)
        return history
    if not isinstance(obj, dict):
        raise at.error(
            f"expected a Messages request (an object with `messages`) or a list of messages, got {kind_of(obj)}", path
        )
    if "messages" not in obj:
        raise at.error("no `messages` key: not a Messages request", path)
    history.messages = _read_messages(obj["messages"], at, f"{path}.messages")
    history.system = _read_system(obj.get("system"), at, f"{path}.system")
    history.tools = _read_tools(obj.get("tools"), at, f"{path}.tools")
    model = obj.get("model")
    history.model = model if isinstance(model, str) else None
    history.request = rest(obj, ("messages", "system", "tools", "model"))
    return history


def _read_messages(raw: Any, at: Where, path: str) -> list[Message]:
    if not isinstance(raw, list):
        raise at.error(f"`messages` must be a list, got {kind_of(raw)}", path)
    messages = []
    for i, item in enumerate(raw):
        here = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise at.error(f"a message must be an object, got {kind_of(item)}", here)
        role = item.get("role")
        if not isinstance(role, str):
            raise at.error(
                "message without a role" if role is None else f"role must be a string, got {kind_of(role)}", here
            )
        # Any role string is kept as read: a rule, not the reader, says Anthropic rejects it.
        blocks, form = _read_content(item, here, at)
        messages.append(
            Message(
                role=role,
                blocks=blocks,
                content_form=form,
                cache_control=CacheControl.from_wire(item.get("cache_control")),
                source=at.ref(here),
                extra=rest(item, ("role", "content", "cache_control")),
            )
        )
    return messages


def _read_content(item: dict[str, Any], here: str, at: Where) -> tuple[list[Block], str]:
    if "content" not in item:
        return [], "missing"
    content = item["content"]
    if content is None:
        return [], "null"
    if isinstance(content, str):
        return [Block.text_block(content, source=at.ref(f"{here}.content"))], "string"
    if isinstance(content, list):
        return _read_blocks(content, f"{here}.content", at), "blocks"
    raise at.error(f"content must be a string or a list of blocks, got {kind_of(content)}", f"{here}.content")


def _read_blocks(raw: list[Any], path: str, at: Where) -> list[Block]:
    return [read_block(b, f"{path}[{k}]", at) for k, b in enumerate(raw)]


def read_block(raw: Any, here: str, at: Where) -> Block:
    """One Anthropic content block."""
    if not isinstance(raw, dict):
        raise at.error(f"a content block must be an object, got {kind_of(raw)}", here)
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise at.error("content block without a type", here)
    cache = CacheControl.from_wire(raw.get("cache_control"))
    ref = at.ref(here)
    if kind == "text":
        _require_str(raw, "text", here, at)
        return Block(
            type="text",
            text=raw["text"],
            cache_control=cache,
            source=ref,
            extra=rest(raw, ("type", "text", "cache_control")),
        )
    if kind in ("image", "document"):
        source = raw.get("source")
        if not isinstance(source, dict):
            raise at.error(f"{kind} block without a `source` object", here)
        return Block(
            type=kind,
            media=source,
            cache_control=cache,
            source=ref,
            extra=rest(raw, ("type", "source", "cache_control")),
        )
    if kind == "tool_use":
        _require_str(raw, "id", here, at, what="tool_use without an id")
        _require_str(raw, "name", here, at, what="tool_use without a name")
        return Block(
            type="tool_use",
            id=raw["id"],
            name=raw["name"],
            input=raw.get("input"),
            cache_control=cache,
            source=ref,
            extra=rest(raw, ("type", "id", "name", "input", "cache_control")),
        )
    if kind == "tool_result":
        return _read_tool_result(raw, cache, here, at)
    if kind == "thinking":
        _optional_str(raw, "thinking", here, at)
        _optional_str(raw, "signature", here, at)
        return Block(
            type="thinking",
            text=raw.get("thinking"),
            signature=raw.get("signature"),
            cache_control=cache,
            source=ref,
            extra=rest(raw, ("type", "thinking", "signature", "cache_control")),
        )
    if kind == "redacted_thinking":
        _optional_str(raw, "data", here, at)
        return Block(
            type="redacted_thinking",
            data=raw.get("data"),
            cache_control=cache,
            source=ref,
            extra=rest(raw, ("type", "data", "cache_control")),
        )
    # server_tool_use, web_search_tool_result, container_upload...: kept whole.
    return Block(type="other", cache_control=cache, source=ref, extra={"raw": raw})


def _require_str(raw: dict[str, Any], key: str, here: str, at: Where, what: str | None = None) -> None:
    if not isinstance(raw.get(key), str):
        raise at.error(what or f"`{key}` must be a string, got {kind_of(raw.get(key))}", here)


def _optional_str(raw: dict[str, Any], key: str, here: str, at: Where) -> None:
    if raw.get(key) is not None:
        _require_str(raw, key, here, at)


def _read_tool_result(raw: dict[str, Any], cache: CacheControl | None, here: str, at: Where) -> Block:
    _require_str(raw, "tool_use_id", here, at, what="tool_result without a tool_use_id")
    content = raw.get("content")
    if isinstance(content, list):
        content = _read_blocks(content, f"{here}.content", at)
    elif content is not None and not isinstance(content, str):
        raise at.error(
            f"tool_result content must be a string or a list of blocks, got {kind_of(content)}", f"{here}.content"
        )
    is_error = raw.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise at.error(f"is_error must be a boolean, got {kind_of(is_error)}", f"{here}.is_error")
    return Block.tool_result(
        raw["tool_use_id"],
        content,
        is_error=is_error,
        cache_control=cache,
        source=at.ref(here),
        extra=rest(raw, ("type", "tool_use_id", "content", "is_error", "cache_control")),
    )


def _read_system(raw: Any, at: Where, path: str) -> list[SystemPart]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [
            SystemPart(blocks=[Block.text_block(raw, source=at.ref(path))], content_form="string", source=at.ref(path))
        ]
    if isinstance(raw, list):
        return [SystemPart(blocks=_read_blocks(raw, path, at), source=at.ref(path))]
    raise at.error(f"system must be a string or a list of text blocks, got {kind_of(raw)}", path)


def _read_tools(raw: Any, at: Where, path: str) -> list[Tool]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise at.error(f"`tools` must be a list, got {kind_of(raw)}", path)
    tools = []
    for k, tool in enumerate(raw):
        here = f"{path}[{k}]"
        if not isinstance(tool, dict):
            raise at.error(f"a tool must be an object, got {kind_of(tool)}", here)
        _require_str(tool, "name", here, at, what="tool without a name")
        _optional_str(tool, "description", here, at)
        kind = tool.get("type")
        server = isinstance(kind, str) and kind != "custom"
        # A custom tool keeps `type: "custom"` in extra; a server tool's type is its kind.
        known = ("name", "description", "input_schema", "cache_control") + (("type",) if server else ())
        tools.append(
            Tool(
                name=tool["name"],
                description=tool.get("description"),
                parameters=tool.get("input_schema"),
                kind=cast(str, kind) if server else "function",  # server: kind is a str
                cache_control=CacheControl.from_wire(tool.get("cache_control")),
                source=at.ref(here),
                extra=rest(tool, known),
            )
        )
    return tools


# --- writing ---------------------------------------------------------------------------------


def to_request(history: History) -> dict[str, Any]:
    """The Messages request body for any History."""
    native = history.format == NAME
    body: dict[str, Any] = {}
    if history.model:
        body["model"] = history.model
    params = params_out(history, native)
    body["max_tokens"] = params.pop("max_tokens", DEFAULT_MAX_TOKENS)
    system = system_out(history, native)
    if system is not None:
        body["system"] = system
    body["messages"] = [m for m, _ in messages_out(history, native)]
    if history.tools:
        body["tools"] = [tool_out(t, native) for t in history.tools]
    for key, value in params.items():
        body.setdefault(key, value)
    return body


def write(history: History, original: Document | None = None) -> Document:
    """The history as a Messages request. With an original of this format: its keys, their
    order, its shape and layout; without: a complete request body."""
    if original is None or history.format != NAME:
        return Document.from_bytes(DEFAULT_FILE, dump_json(to_request(history)))
    return rewritten(original, history, _rewrite)


def _rewrite(source: Any, history: History) -> Any:
    by_path = _original_messages(source)
    messages = [reorder_like(m, by_path.get(path)) for m, path in messages_out(history, native=True)]
    if not isinstance(source, dict):
        return messages
    out: dict[str, Any] = {}
    for key, value in source.items():
        if key == "messages":
            out[key] = messages
        elif key == "system":
            system = system_out(history, native=True)
            if system is not None:
                out[key] = reorder_like(system, value)
            elif not value:
                out[key] = value  # "" or [] as read; a prompt removed since is dropped
        elif key == "tools":
            tools = [tool_out(t, True) for t in history.tools]
            out[key] = reorder_like(tools, value) if tools or (isinstance(value, list) and value) else value
        elif key == "model":
            out[key] = history.model if history.model is not None else value
        elif key in history.request:
            out[key] = history.request[key]
        # else: a parameter removed from the request since it was read
    for key, value in history.request.items():
        out.setdefault(key, value)
    if "system" not in out and history.system:
        out["system"] = system_out(history, native=True)
    if "tools" not in out and history.tools:
        out["tools"] = [tool_out(t, True) for t in history.tools]
    if "model" not in out and history.model:
        out["model"] = history.model
    return out


def _original_messages(source: Any) -> dict[str | None, Any]:
    if isinstance(source, list):
        return {f"$[{i}]": m for i, m in enumerate(source)}
    if isinstance(source, dict) and isinstance(source.get("messages"), list):
        return {f"$.messages[{i}]": m for i, m in enumerate(source["messages"])}
    return {}


def system_out(history: History, native: bool) -> str | list[dict[str, Any]] | None:
    """The top-level `system`: a string when there is one string-form part without cache
    markers, else text blocks (each part's own marker on its last block)."""
    parts = history.system
    if not parts:
        return None
    if len(parts) == 1 and parts[0].content_form == "string" and len(parts[0].blocks) == 1:
        only = parts[0].blocks[0]
        if (
            only.type == "text"
            and only.cache_control is None
            and parts[0].cache_control is None
            and not (native and only.extra)
        ):
            return only.text or ""
    blocks: list[dict[str, Any]] = []
    for part in parts:
        written = [b for b in (block_out(x, native) for x in part.blocks) if b is not None]
        if written and part.cache_control is not None and "cache_control" not in written[-1]:
            cache_out(written[-1], part.cache_control)
        blocks.extend(written)
    return blocks


def messages_out(history: History, native: bool) -> list[tuple[dict[str, Any], str | None]]:
    """Messages in Anthropic's shape, each with the source path it came from (for key order)."""
    if native:
        return [(_message_out(m, m.blocks, native), m.source.path) for m in history.messages]
    out: list[tuple[dict[str, Any], str | None]] = []
    pending: list[dict[str, Any]] = []  # tool_result blocks of role:tool messages, waiting for a user turn
    for message in history.messages:
        if message.role == "tool":
            pending.extend(_tool_results_out(message))
            continue
        if pending and message.role == "user":
            merged = _message_out(message, message.sent_blocks(), native)
            merged["content"] = pending + _as_blocks(merged["content"])
            out.append((merged, None))
            pending = []
            continue
        if pending:
            out.append(({"role": "user", "content": pending}, None))
            pending = []
        out.append((_message_out(message, message.sent_blocks(), native), None))
    if pending:
        out.append(({"role": "user", "content": pending}, None))
    return out


def _as_blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or [])


def _tool_results_out(message: Message) -> list[dict[str, Any]]:
    blocks = [b for b in (block_out(x, native=False) for x in message.tool_results()) if b is not None]
    if blocks and message.cache_control is not None and "cache_control" not in blocks[-1]:
        cache_out(blocks[-1], message.cache_control)
    return blocks


def _message_out(message: Message, blocks: list[Block], native: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role if native else _role_out(message.role)}
    written = [b for b in (block_out(x, native) for x in blocks) if b is not None]
    plain = (
        message.content_form == "string"
        and len(blocks) == 1
        and blocks[0].type == "text"
        and blocks[0].cache_control is None
        and not (native and blocks[0].extra)
    )
    if plain:
        out["content"] = blocks[0].text or ""
    elif native and not written and message.content_form in ("null", "missing"):
        if message.content_form == "null":
            out["content"] = None
    else:
        out["content"] = written
    if message.cache_control is not None:
        if native:
            out["cache_control"] = message.cache_control.to_wire()
        elif written and "cache_control" not in written[-1]:
            # litellm moves a message-level marker onto the message's last block.
            cache_out(written[-1], message.cache_control)
            out["content"] = written
    return with_extra(out, message.extra, native, HINT)


def _role_out(role: str) -> str:
    return role if role in ("user", "assistant") else "user"


def block_out(block: Block, native: bool) -> dict[str, Any] | None:
    """One Anthropic content block."""
    kind = block.type
    if kind == "other":
        return raw_out(block)
    if kind == "text":
        out: dict[str, Any] = {"type": "text", "text": block.text or ""}
    elif kind in ("image", "document"):
        out = {"type": kind, "source": block.media}
    elif kind == "tool_use":
        tool_input = block.input if native or block.input is not None else {}
        out = {"type": "tool_use", "id": block.id, "name": block.name, "input": tool_input}
    elif kind == "tool_result":
        out = {"type": "tool_result", "tool_use_id": block.tool_use_id}
        if isinstance(block.content, list):
            out["content"] = [b for b in (block_out(x, native) for x in block.content) if b is not None]
        elif block.content is not None:
            out["content"] = block.content
        if block.is_error is not None:
            out["is_error"] = block.is_error
    elif kind == "thinking":
        out = {"type": "thinking", "thinking": block.text or ""}
        if block.signature is not None:
            out["signature"] = block.signature
    elif kind == "redacted_thinking":
        out = {"type": "redacted_thinking", "data": block.data}
    else:
        return None
    cache_out(out, block.cache_control)
    return with_extra(out, block.extra, native, HINT)


def tool_out(tool: Tool, native: bool) -> dict[str, Any]:
    if tool.kind != "function":
        raw = tool.extra.get("raw")
        if isinstance(raw, dict):
            # An OpenAI-side provider tool kept whole by the openai reader.
            return cache_out(rest(raw, ("cache_control",)), tool.cache_control)
        out: dict[str, Any] = {"type": tool.kind, "name": tool.name}
        # A server tool's other keys (max_uses, allowed_domains) are its configuration.
        out.update(rest(tool.extra, (HINT,)))
        return cache_out(out, tool.cache_control)
    out = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    if tool.parameters is not None or not native:
        out["input_schema"] = tool.parameters if tool.parameters is not None else {"type": "object", "properties": {}}
    cache_out(out, tool.cache_control)
    return with_extra(out, tool.extra, native, HINT)


# --- request parameters ----------------------------------------------------------------------


def params_out(history: History, native: bool) -> dict[str, Any]:
    """history.request as Messages parameters."""
    if native:
        return dict(history.request)
    if is_openai_dialect(history):
        return params_from_openai(history.request)
    return {k: v for k, v in history.request.items() if k in PORTABLE_PARAMS}


def params_from_openai(request: dict[str, Any]) -> dict[str, Any]:
    """OpenAI parameters in Messages terms, as litellm maps them for Anthropic."""
    out: dict[str, Any] = {}
    parallel = request.get("parallel_tool_calls")
    for key, value in request.items():
        if key in ("max_tokens", "max_completion_tokens"):
            out["max_tokens"] = value
        elif key in ("temperature", "top_p", "top_k", "stream", "thinking", "service_tier"):
            out[key] = value
        elif key == "stop":
            out["stop_sequences"] = [value] if isinstance(value, str) else value
        elif key == "tool_choice":
            out["tool_choice"] = _tool_choice_from_openai(value)
        elif key == "user":
            out["metadata"] = {"user_id": value}
    if parallel is False:
        choice = out.get("tool_choice")
        out["tool_choice"] = {
            **(choice if isinstance(choice, dict) else {"type": "auto"}),
            "disable_parallel_tool_use": True,
        }
    return out


def _tool_choice_from_openai(choice: Any) -> Any:
    if isinstance(choice, str):
        return {"type": {"auto": "auto", "required": "any", "none": "none"}.get(choice, choice)}
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        if not isinstance(function, dict):
            function = {}
        return {"type": "tool", "name": function.get("name")}
    return choice
