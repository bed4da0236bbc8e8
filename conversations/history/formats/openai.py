"""OpenAI Chat Completions requests, as sent to OpenAI or to litellm (docs/formats.md §3b).

Reads a request object (`{"model", "messages", "tools", ...}`), a bare list of messages, or an
OpenHands LOG_COMPLETIONS file (`{"messages", "response", "kwargs": {"tools", ...}, ...}`).
System and developer messages become History.system parts that remember which message they
preceded; a `role: "tool"` message becomes a tool message holding one tool_result block.

litellm extensions are read as what they mean, not as unknown keys: `cache_control` on a part, a
message or a tool, and assistant `thinking_blocks`. An OpenAI-format list carrying them is "OpenAI
format sent to litellm" (the Ambiguity rule): meta["litellm_extensions"] names them so the check
validates against the litellm route's target provider, not against OpenAI.

`to_request(history)` gives the OpenAI request for any History, whatever format it was read
from: it is what the prediction engine hands to litellm, and what `write` produces when there
is no original to follow.

Also home of the small JSON helpers the anthropic module shares (style-preserving dump, key
order, sniffing guard), because both formats are single JSON request files.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict, cast

from ..errors import FormatError
from ..model import Block, CacheControl, History, Message, SourceRef, SystemPart, Tool, Usage
from .document import Document, json_indent, loads

NAME = "openai"
WRITABLE = True
DEFAULT_FILE = "request.json"

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
SYSTEM_ROLES = ("system", "developer")
# Formats whose histories hold OpenAI-dialect extras (litellm logs carry an OpenAI request):
# their unknown keys are OpenAI keys and may be written back into an OpenAI request.
OPENAI_DIALECTS = frozenset({NAME, "litellm-log"})
# What only this writer needs to give back the exact document (a string `image_url`, a missing
# `type`...). Kept in `extra` under this key and never written out as a key.
HINT = "_openai"
# Keys this program adds to a message's extra for its own use (litellm_log marks the answer it took
# from the response, nextturn the placeholder of the next user turn): never written into a
# request, where the provider would refuse an unknown key and the replay (history.replay) would
# hand the check to litellm.
OWN_KEYS = frozenset({"from_response", "placeholder"})
# Top-level keys that describe a logged document rather than ask anything of the model.
NOT_REQUEST = ("usage",)
# Request parameters that mean the same thing for any provider litellm routes to.
PORTABLE_PARAMS = (
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "n",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "response_format",
    "reasoning_effort",
    "thinking",
    "stream",
)

_OMIT = object()  # "write no `content` key at all"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", re.S)


# --- shared JSON helpers (also used by anthropic.py) -------------------------------------------


@dataclass(frozen=True, slots=True)
class Where:
    """The file and JSONL line being read: makes SourceRefs and errors that name the place."""

    file: str | None
    line: int | None = None

    def ref(self, path: str) -> SourceRef:
        return SourceRef(file=self.file, line=self.line, path=path)

    def error(self, reason: str, path: str) -> FormatError:
        return FormatError(reason, file=self.file, line=self.line, path=path)


def kind_of(value: Any) -> str:
    """How a JSON value is named in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def rest(raw: dict[str, Any], known: set[str] | tuple[str, ...]) -> dict[str, Any]:
    """The keys of a record the canonical model does not name (they go to `extra`)."""
    return {k: v for k, v in raw.items() if k not in known}


def with_extra(out: dict[str, Any], extra: dict[str, Any], native: bool, hint: str) -> dict[str, Any]:
    """Put a record's unknown keys back, only when writing into the format they came from: an
    OpenHands `llm_metrics` or a Claude Code `uuid` has no place in a request body."""
    if native:
        for key, value in extra.items():
            if key != hint and key not in out and key not in OWN_KEYS:
                out[key] = value
    return out


def cache_out(out: dict[str, Any], cache: CacheControl | None) -> dict[str, Any]:
    if cache is not None:
        out["cache_control"] = cache.to_wire()
    return out


def raw_out(block: Block) -> dict[str, Any] | None:
    """An `other` block as read, with its cache marker as it is now (a repair may move it)."""
    raw = block.extra.get("raw")
    if not isinstance(raw, dict):
        return None
    out = dict(raw)
    out.pop("cache_control", None)
    return cache_out(out, block.cache_control)


def json_or_none(doc: Document) -> Any:
    """The JSON of a single-file, single-value document, or None: sniffing never raises, and
    never claims a directory or a JSONL file."""
    if doc.is_dir or len(doc.files) != 1:
        return None
    try:
        if doc.looks_like_jsonl():
            return None
        return doc.json()
    except FormatError:
        return None


def reorder_like(new: Any, old: Any) -> Any:
    """`new` with its keys in the order `old` had them (new keys last), recursively: a written
    document then differs from the original only where the history changed."""
    if isinstance(new, dict) and isinstance(old, dict):
        out = {k: reorder_like(new[k], old[k]) for k in old if k in new}
        out.update((k, v) for k, v in new.items() if k not in out)
        return out
    if isinstance(new, list) and isinstance(old, list):
        return [reorder_like(n, o) for n, o in zip(new, old, strict=False)] + new[len(old) :]
    return new


class JsonStyle(TypedDict):
    """json.dumps arguments (and a final newline) that give a document's layout back."""

    indent: int | str | None
    separators: tuple[str, str]
    ensure_ascii: bool
    newline: bool


def json_style(text: str) -> JsonStyle:
    """json.dumps arguments that reproduce the layout of `text`: indent 2/4/tab or one line,
    separators, and whether non-ASCII was escaped."""
    indent = json_indent(text)
    if indent is not None:
        separators = (",", ": ")
    else:
        # Look at the structure only: a string value may hold '": ' of its own.
        structure = _STRING.sub('""', text)
        separators = (", ", ": ") if re.search(r'"\s*:\s', structure) else (",", ":")
    ensure_ascii = text.isascii() and re.search(r"\\u[0-9a-fA-F]{4}", text) is not None
    return {"indent": indent, "separators": separators, "ensure_ascii": ensure_ascii, "newline": text.endswith("\n")}


def dump_json(obj: Any, like: str | None = None) -> bytes:
    """JSON bytes, in the layout of the text `like` when given, else indent 2 with a newline."""
    style: JsonStyle = (
        json_style(like)
        if like is not None
        else {"indent": 2, "separators": (",", ": "), "ensure_ascii": False, "newline": True}
    )
    text = json.dumps(obj, indent=style["indent"], separators=style["separators"], ensure_ascii=style["ensure_ascii"])
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate read from a \ud800 escape: escape it again
        data = json.dumps(obj, indent=style["indent"], separators=style["separators"]).encode("ascii")
    return data + (b"\n" if style["newline"] else b"")


def usage_from(raw: Any) -> Usage | None:
    """Usage from an OpenAI (`prompt_tokens`...) or Anthropic (`input_tokens`...) usage object
    (cached tokens counted once: Usage.from_wire)."""
    return Usage.from_wire(raw)


# --- detection and reading -------------------------------------------------------------------


def sniff(doc: Document) -> bool:
    obj = json_or_none(doc)
    if isinstance(obj, dict):
        return looks_like_messages(obj.get("messages"), allow_empty="model" in obj)
    return looks_like_messages(obj)


def looks_like_messages(value: Any, allow_empty: bool = False) -> bool:
    if not isinstance(value, list):
        return False
    if not value:
        return allow_empty
    return all(isinstance(m, dict) and m.get("role") in ROLES for m in value)


def read(doc: Document) -> list[History]:
    name, _ = doc.single
    return [parse_request(doc.json(name), file=name)]


def is_completion_log(obj: Any) -> bool:
    """An OpenHands LOG_COMPLETIONS file: the call's keyword arguments sit under `kwargs`."""
    return isinstance(obj, dict) and isinstance(obj.get("kwargs"), dict) and "response" in obj


def parse_request(obj: Any, *, file: str | None, path: str = "$", line: int | None = None) -> History:
    """One History from an OpenAI request object or a bare list of messages.

    `path` is the JSON path of `obj` inside its document ("$" for a request file; a litellm log
    passes the path of the object it hands over), `line` its JSONL line if any: every SourceRef
    and FormatError names them."""
    at = Where(file, line)
    history = History(format=NAME, meta={"dialect": NAME})
    if isinstance(obj, list):
        history.meta["shape"] = "list"
        history.messages, history.system = parse_messages(obj, at=at, path=path)
    elif isinstance(obj, dict):
        if "messages" not in obj:
            raise at.error("no `messages` key: not a chat completions request", path)
        params, params_path = obj, path
        if is_completion_log(obj):
            history.meta["shape"] = "openhands-completion"
            params, params_path = obj["kwargs"], f"{path}.kwargs"
            response = obj.get("response")
            history.usage = usage_from(response.get("usage") if isinstance(response, dict) else None)
        else:
            history.usage = usage_from(obj.get("usage"))
        history.messages, history.system = parse_messages(obj["messages"], at=at, path=f"{path}.messages")
        history.tools = parse_tools(params.get("tools"), at=at, path=f"{params_path}.tools")
        history.model = _model(obj, params, history)
        history.request = {k: v for k, v in params.items() if k not in ("messages", "tools", "model", *NOT_REQUEST)}
    else:
        raise at.error(
            "expected a chat completions request (an object with `messages`) or a list "
            f"of messages, got {kind_of(obj)}",
            path,
        )
    extensions = _litellm_extensions(history)
    if extensions:
        history.meta["litellm_extensions"] = extensions
    return history


def _model(obj: dict[str, Any], params: dict[str, Any], history: History) -> str | None:
    model = params.get("model")
    if isinstance(model, str):
        return model
    response = obj.get("response")
    if params is not obj and isinstance(response, dict) and isinstance(response.get("model"), str):
        # OpenHands passes the model through functools.partial, so only the response names it.
        history.meta["model_from"] = "response"
        return cast(str, response["model"])
    return None


def _litellm_extensions(history: History) -> list[str]:
    found = set()
    if history.cache_markers():
        found.add("cache_control")
    if any(b.type in ("thinking", "redacted_thinking") for _, _, b in history.blocks()):
        found.add("thinking_blocks")
    return sorted(found)


def parse_messages(raw: Any, *, at: Where, path: str) -> tuple[list[Message], list[SystemPart]]:
    """Messages and system parts of an OpenAI `messages` list found at `path`."""
    if not isinstance(raw, list):
        raise at.error(f"`messages` must be a list, got {kind_of(raw)}", path)
    messages: list[Message] = []
    system: list[SystemPart] = []
    for i, item in enumerate(raw):
        here = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise at.error(f"a message must be an object, got {kind_of(item)}", here)
        if "role" not in item:
            raise at.error("message without a role", here)
        role = item["role"]
        if role not in ROLES:
            raise at.error(f"unknown role {role!r} (expected one of {', '.join(ROLES)})", f"{here}.role")
        if role in SYSTEM_ROLES:
            system.append(_read_system(item, len(messages), here, at))
        elif role in ("tool", "function"):
            messages.append(_read_tool_message(item, here, at))
        else:
            messages.append(_read_chat_message(item, here, at))
    return messages, system


def _read_content(item: dict[str, Any], here: str, at: Where) -> tuple[list[Block], str]:
    if "content" not in item:
        return [], "missing"
    content = item["content"]
    if content is None:
        return [], "null"
    if isinstance(content, str):
        return [Block.text_block(content, source=at.ref(f"{here}.content"))], "string"
    if isinstance(content, list):
        return [_read_part(p, f"{here}.content[{k}]", at) for k, p in enumerate(content)], "blocks"
    raise at.error(f"content must be a string, a list of parts or null, got {kind_of(content)}", f"{here}.content")


def _read_part(part: Any, here: str, at: Where) -> Block:
    if not isinstance(part, dict):
        raise at.error(f"a content part must be an object, got {kind_of(part)}", here)
    ptype = part.get("type")
    if not isinstance(ptype, str):
        raise at.error("content part without a type", here)
    cache = CacheControl.from_wire(part.get("cache_control"))
    if ptype == "text":
        if not isinstance(part.get("text"), str):
            raise at.error(f"text part: `text` must be a string, got {kind_of(part.get('text'))}", here)
        return Block(
            type="text",
            text=part["text"],
            cache_control=cache,
            source=at.ref(here),
            extra=rest(part, ("type", "text", "cache_control")),
        )
    if ptype == "image_url":
        return _read_image(part, cache, here, at)
    # input_audio, file and anything newer: kept whole, so it is written back untouched.
    return Block(type="other", cache_control=cache, source=at.ref(here), extra={"raw": part})


def _read_image(part: dict[str, Any], cache: CacheControl | None, here: str, at: Where) -> Block:
    image = part.get("image_url")
    hint: dict[str, Any] = {}
    if isinstance(image, str):
        url, hint["image_url_string"] = image, True
    elif isinstance(image, dict) and isinstance(image.get("url"), str):
        url = image["url"]
        if len(image) > 1:
            hint["image_url"] = rest(image, ("url",))  # detail, format
    else:
        raise at.error("image_url part without a url", here)
    extra = rest(part, ("type", "image_url", "cache_control"))
    if hint:
        extra[HINT] = hint
    return Block(type="image", media=media_from_url(url), cache_control=cache, source=at.ref(here), extra=extra)


def media_from_url(url: str) -> dict[str, Any]:
    match = _DATA_URL.fullmatch(url)
    if match:
        return {"type": "base64", "media_type": match.group(1), "data": match.group(2)}
    return {"type": "url", "url": url}


def media_url(media: dict[str, Any] | None) -> str | None:
    if not isinstance(media, dict):
        return None
    if media.get("type") == "base64" and isinstance(media.get("data"), str):
        return f"data:{media.get('media_type')};base64,{media['data']}"
    if media.get("type") == "url" and isinstance(media.get("url"), str):
        return cast(str, media["url"])
    return None


def _read_system(item: dict[str, Any], before: int, here: str, at: Where) -> SystemPart:
    blocks, form = _read_content(item, here, at)
    return SystemPart(
        blocks=blocks,
        role=item["role"],
        before=before,
        content_form=form,
        cache_control=CacheControl.from_wire(item.get("cache_control")),
        source=at.ref(here),
        extra=rest(item, ("role", "content", "cache_control")),
    )


def _read_chat_message(item: dict[str, Any], here: str, at: Where) -> Message:
    blocks, form = _read_content(item, here, at)
    known = {"role", "content", "cache_control"}
    name = item.get("name")
    if isinstance(name, str):
        known.add("name")
    else:
        name = None
    if item["role"] == "assistant":
        thinking = _read_thinking(item.get("thinking_blocks"), f"{here}.thinking_blocks", at)
        calls = _read_tool_calls(item, here, at)
        if thinking:
            known.add("thinking_blocks")
        if calls:
            known.add("tool_calls")
            if form == "string" and item["content"] == "":
                blocks, form = [], "empty"
        # Canonical order, as a provider would return them: thinking, text, tool calls.
        blocks = thinking + blocks + calls
    # tool_calls: null / [] and thinking_blocks of an unknown shape stay in `extra` as read.
    return Message(
        role=item["role"],
        blocks=blocks,
        content_form=form,
        name=name,
        cache_control=CacheControl.from_wire(item.get("cache_control")),
        source=at.ref(here),
        extra=rest(item, known),
    )


def _read_thinking(raw: Any, here: str, at: Where) -> list[Block]:
    if not isinstance(raw, list) or not raw or not all(_thinking_shaped(t) for t in raw):
        return []
    blocks = []
    for k, item in enumerate(raw):
        cache = CacheControl.from_wire(item.get("cache_control"))
        if item["type"] == "thinking":
            blocks.append(
                Block(
                    type="thinking",
                    text=item.get("thinking"),
                    signature=item.get("signature"),
                    cache_control=cache,
                    source=at.ref(f"{here}[{k}]"),
                    extra=rest(item, ("type", "thinking", "signature", "cache_control")),
                )
            )
        else:
            blocks.append(
                Block(
                    type="redacted_thinking",
                    data=item.get("data"),
                    cache_control=cache,
                    source=at.ref(f"{here}[{k}]"),
                    extra=rest(item, ("type", "data", "cache_control")),
                )
            )
    return blocks


def _thinking_shaped(item: Any) -> bool:
    """A thinking block litellm would take: its text, signature or data a string when present."""
    if not isinstance(item, dict) or item.get("type") not in ("thinking", "redacted_thinking"):
        return False
    keys = ("thinking", "signature") if item["type"] == "thinking" else ("data",)
    return all(isinstance(item.get(k), (str, type(None))) for k in keys)


def _read_tool_calls(item: dict[str, Any], here: str, at: Where) -> list[Block]:
    raw = item.get("tool_calls")
    if raw is None or raw == []:
        return []
    if not isinstance(raw, list):
        raise at.error(f"tool_calls must be a list, got {kind_of(raw)}", f"{here}.tool_calls")
    return [_read_tool_call(call, f"{here}.tool_calls[{k}]", at) for k, call in enumerate(raw)]


def _read_tool_call(call: Any, here: str, at: Where) -> Block:
    if not isinstance(call, dict):
        raise at.error(f"a tool call must be an object, got {kind_of(call)}", here)
    if not isinstance(call.get("id"), str) or not call["id"]:
        raise at.error("tool call without an id", here)
    function = call.get("function")
    if not isinstance(function, dict):
        raise at.error("tool call without a `function` object", here)
    if not isinstance(function.get("name"), str) or not function["name"]:
        raise at.error("tool call without a function name", f"{here}.function")
    hint: dict[str, Any] = {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        tool_input = parse_arguments(arguments)
    else:
        # An object where a JSON string belongs, or nothing at all: keep which, to write it back.
        hint["arguments"] = "object" if "arguments" in function else "missing"
        tool_input, arguments = function.get("arguments"), None
    if "type" not in call:
        hint["no_type"] = True
    elif call["type"] != "function":
        hint["type"] = call["type"]
    function_extra = rest(function, ("name", "arguments"))
    if function_extra:
        hint["function"] = function_extra
    extra = rest(call, ("id", "type", "function", "cache_control"))
    if hint:
        extra[HINT] = hint
    return Block(
        type="tool_use",
        id=call["id"],
        name=function["name"],
        input=tool_input,
        arguments=arguments,
        cache_control=CacheControl.from_wire(call.get("cache_control")),
        source=at.ref(here),
        extra=extra,
    )


def parse_arguments(arguments: str) -> Any:
    """The parsed arguments string, or None when it is not valid JSON (a rule reports it)."""
    try:
        return loads(arguments)
    except (ValueError, RecursionError):
        return None


def _read_tool_message(item: dict[str, Any], here: str, at: Where) -> Message:
    role = item["role"]
    call_id = item.get("tool_call_id")
    if role == "tool" and not isinstance(call_id, str):
        raise at.error("tool message without a tool_call_id", here)
    blocks, form = _read_content(item, here, at)
    content: str | list[Block] | None
    if form == "string":
        content = blocks[0].text
    elif form == "blocks":
        content = blocks
    else:
        content = None
    known = {"role", "content", "tool_call_id", "cache_control"}
    name = item.get("name")
    if isinstance(name, str):
        known.add("name")
    else:
        name = None
    extra = rest(item, known)
    if role == "function":
        extra[HINT] = {"role": "function"}  # legacy: answers by name, not by id
    result = Block.tool_result(call_id if isinstance(call_id, str) else None, content, source=at.ref(here))
    return Message(
        role="tool",
        blocks=[result],
        content_form=form,
        name=name,
        cache_control=CacheControl.from_wire(item.get("cache_control")),
        source=at.ref(here),
        extra=extra,
    )


def parse_tools(raw: Any, *, at: Where, path: str) -> list[Tool]:
    """Tool definitions of an OpenAI `tools` list found at `path` (None: no tools)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise at.error(f"`tools` must be a list, got {kind_of(raw)}", path)
    return [_read_tool(tool, f"{path}[{k}]", at) for k, tool in enumerate(raw)]


def _read_tool(tool: Any, here: str, at: Where) -> Tool:
    if not isinstance(tool, dict):
        raise at.error(f"a tool must be an object, got {kind_of(tool)}", here)
    cache = CacheControl.from_wire(tool.get("cache_control"))
    if "function" not in tool:
        # A provider-native tool passed through litellm ({"type": "web_search_20250305", ...}).
        name = tool.get("name")
        if not isinstance(name, str):
            name = str(tool.get("type"))
        return Tool(
            name=name,
            kind=str(tool.get("type") or "unknown"),
            cache_control=cache,
            source=at.ref(here),
            extra={"raw": tool},
        )
    function = tool["function"]
    if not isinstance(function, dict):
        raise at.error(f"tool `function` must be an object, got {kind_of(function)}", f"{here}.function")
    if not isinstance(function.get("name"), str):
        raise at.error("tool without a function name", f"{here}.function")
    hint: dict[str, Any] = {}
    if "type" not in tool:
        hint["no_type"] = True
    elif tool["type"] != "function":
        hint["type"] = tool["type"]
    outer = rest(tool, ("type", "function", "cache_control"))
    if outer:
        hint["outer"] = outer
    # Function-level extras (`strict`) stay visible to the rules under their own names.
    extra = rest(function, ("name", "description", "parameters"))
    if hint:
        extra[HINT] = hint
    return Tool(
        name=function["name"],
        description=function.get("description"),
        parameters=function.get("parameters"),
        cache_control=cache,
        source=at.ref(here),
        extra=extra,
    )


# --- writing ---------------------------------------------------------------------------------


def is_native(history: History) -> bool:
    """Whether the history was read from OpenAI-format data (its extras are OpenAI keys)."""
    return history.format in OPENAI_DIALECTS or history.meta.get("dialect") == NAME


def to_request(history: History) -> dict[str, Any]:
    """The OpenAI Chat Completions request (litellm's input) for any History.

    Anthropic-style user messages holding tool_result blocks become one role:tool message per
    result, then a user message with the rest; a tool_result's cache marker becomes the tool
    message's (as litellm's reverse adapter does); base64 images become data: URLs; thinking
    becomes `thinking_blocks`."""
    native = is_native(history)
    request: dict[str, Any] = {}
    if history.model:
        request["model"] = history.model
    request["messages"] = [m for m, _ in messages_out(history, native)]
    for key, value in request_params(history).items():
        request.setdefault(key, value)
    return request


def request_params(history: History) -> dict[str, Any]:
    """to_request(history) without its messages, in the same order: the model, the tools and
    the parameters (what the wire's replay needs besides the messages)."""
    native = is_native(history)
    params: dict[str, Any] = {}
    if history.model:
        params["model"] = history.model
    if history.tools:
        params["tools"] = [tool_out(t, native) for t in history.tools]
    for key, value in params_out(history, native).items():
        if key != "messages":
            params.setdefault(key, value)
    return params


def write(history: History, original: Document | None = None) -> Document:
    """The history as an OpenAI request. With an original of this format: its keys, their order,
    its shape and layout, with `messages`/`tools` regenerated; without: a clean request."""
    if original is None or not is_native(history):
        return Document.from_bytes(DEFAULT_FILE, dump_json(to_request(history)))
    return rewritten(original, history, _rewrite)


def rewritten(original: Document, history: History, rewrite: Callable[[Any, History], Any]) -> Document:
    """The original request file with `rewrite(parsed, history)` in place of its content, in the
    original's own layout (indentation, key order, escaping). Shared by the request writers."""
    file_name, _ = original.single
    text = original.text(file_name)
    source = original.json(file_name)
    return Document(name=original.name, files={file_name: dump_json(rewrite(source, history), like=text)})


def _rewrite(source: Any, history: History) -> Any:
    by_path = _original_messages(source)
    messages = [reorder_like(m, by_path.get(path)) for m, path in messages_out(history, native=True)]
    if isinstance(source, list):
        return messages
    if is_completion_log(source):
        out: dict[str, Any] = {}
        for key, value in source.items():
            if key == "messages":
                out[key] = messages
            elif key == "kwargs":
                out[key] = _rebuild_params(value, history, messages=None)
            else:
                out[key] = value  # the log's own record: response, cost, timestamp
        return out
    return _rebuild_params(source, history, messages=messages)


def _original_messages(source: Any) -> dict[str | None, Any]:
    if isinstance(source, list):
        return {f"$[{i}]": m for i, m in enumerate(source)}
    if isinstance(source, dict) and isinstance(source.get("messages"), list):
        return {f"$.messages[{i}]": m for i, m in enumerate(source["messages"])}
    return {}


def _rebuild_params(source: dict[str, Any], history: History, messages: list[Any] | None) -> dict[str, Any]:
    """The original object's keys in order: messages/tools/model from the history, parameters
    from history.request (one removed there is removed here), then parameters added since."""
    out: dict[str, Any] = {}
    for key, value in source.items():
        if key == "messages" and messages is not None:
            out[key] = messages
        elif key == "tools":
            out[key] = _tools_back(value, history)
        elif key == "model":
            out[key] = history.model if history.model is not None else value
        elif key in history.request:
            out[key] = history.request[key]
        elif key in NOT_REQUEST:
            out[key] = value
    for key, value in history.request.items():
        out.setdefault(key, value)
    if "tools" not in out and history.tools:
        out["tools"] = [tool_out(t, True) for t in history.tools]
    if "model" not in out and history.model and history.meta.get("model_from") != "response":
        out["model"] = history.model
    return out


def _tools_back(original: Any, history: History) -> Any:
    if not history.tools:
        # `tools: []` or `null` as read; a list that had tools has lost them all.
        return [] if isinstance(original, list) and original else original
    return reorder_like([tool_out(t, True) for t in history.tools], original)


def messages_out(history: History, native: bool) -> list[tuple[dict[str, Any], str | None]]:
    """OpenAI messages, each with the source path of the record it came from (for key order)."""
    count = len(history.messages)
    parts_at: dict[int, list[SystemPart]] = defaultdict(list)
    for part in history.system:
        parts_at[min(max(part.before, 0), count)].append(part)
    out: list[tuple[dict[str, Any], str | None]] = []
    for i, message in enumerate(history.messages):
        out.extend((system_out(p, native), p.source.path) for p in parts_at.get(i, ()))
        out.extend(_message_out(message, native))
    out.extend((system_out(p, native), p.source.path) for p in parts_at.get(count, ()))
    return out


def messages_without_arguments(history: History) -> list[dict[str, Any]]:
    """to_request(history)["messages"] without any tool call's `arguments`, for readers that
    never look at them (the replay of litellm's Anthropic and Converse conversion): a message
    written with plain fields is made without parsing its calls' arguments again (arguments_out),
    at a fraction of the cost; any other exactly as message_out makes it, minus the arguments."""
    native = is_native(history)
    count = len(history.messages)
    parts_at: dict[int, list[SystemPart]] = defaultdict(list)
    for part in history.system:
        parts_at[min(max(part.before, 0), count)].append(part)
    out: list[dict[str, Any]] = []
    for i, message in enumerate(history.messages):
        out.extend(system_out(p, native) for p in parts_at.get(i, ()))
        plain = _plain_dicts(message, native)
        if plain is None:
            plain = [_without_arguments(m) for m in message_out(message, native)]
        out.extend(plain)
    out.extend(system_out(p, native) for p in parts_at.get(count, ()))
    return out


def _plain_dicts(message: Message, native: bool) -> list[dict[str, Any]] | None:
    """message_out(message) minus the arguments, for a message with no cache marker and no key
    of the source's beside the named ones; None for any other."""
    if message.cache_control is not None or (native and message.extra and not _plain_extra(message.extra, native)):
        return None
    if message.role == "tool":
        results = message.tool_results()
        if native and message.extra.get(HINT, {}).get("role") == "function":
            return None
        out = []
        for result in results:
            if result.cache_control is not None:
                return None
            item: dict[str, Any] = {"role": "tool"}
            content = _result_content(result, message.content_form, native)
            if content is not _OMIT:
                item["content"] = content
            item["tool_call_id"] = result.tool_use_id
            if message.name is not None:
                item["name"] = message.name
            out.append(item)
        return out
    if message.role not in ("user", "assistant"):
        return None
    calls = []
    others = []
    for block in message.blocks:
        if not block.sent:
            return None  # a call the agent never sends (an OpenHands finish): message_out leaves it out
        if block.type == "tool_use":
            if block.cache_control is not None or (native and block.extra):
                return None
            calls.append({"id": block.id, "type": "function", "function": {"name": block.name}})
        elif block.type == "text":
            others.append(block)
        else:
            return None  # thinking, media, tool results: message_out's own way
    item = {"role": message.role}
    content = _content_out(others, message.content_form, native, has_calls=bool(calls))
    if content is not _OMIT:
        item["content"] = content
    if calls:
        item["tool_calls"] = calls
    if message.name is not None:
        item["name"] = message.name
    return [item]


def _without_arguments(message: dict[str, Any]) -> dict[str, Any]:
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return message
    stripped = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and "arguments" in function:
            call = {**call, "function": {k: v for k, v in function.items() if k != "arguments"}}
        stripped.append(call)
    return {**message, "tool_calls": stripped}


def system_out(part: SystemPart, native: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"role": part.role if part.role in SYSTEM_ROLES else "system"}
    content = _content_out(part.blocks, part.content_form, native, has_calls=False)
    if content is not _OMIT:
        out["content"] = content
    cache_out(out, part.cache_control)
    return with_extra(out, part.extra, native, HINT)


def message_out(message: Message, native: bool) -> list[dict[str, Any]]:
    """The OpenAI messages one history message becomes, as to_request writes them (a tool message
    gives one per tool result, an Anthropic-style user turn its results and then the rest)."""
    return [m for m, _ in _message_out(message, native)]


class Plain(NamedTuple):
    """One OpenAI message as far as a wire reads it: its role, its content's texts (a string
    content is one text; an empty string none), its tool calls' (id, name), and for a tool
    message the call it answers."""

    role: str
    texts: list[str]
    calls: list[tuple[str | None, str | None]]
    tool_call_id: str | None = None


def plain_out(message: Message, native: bool) -> list[Plain] | None:
    """message_out(message) reduced to Plain messages without making the dicts, for a message
    written with plain fields only: text and tool calls, or tool results of text; no cache
    marker, no key kept from the source. None for any other (the caller makes the dicts).
    The wire's OpenAI replay takes most of an agent's messages this way, at a third of the cost."""
    if message.cache_control is not None or not _plain_extra(message.extra, native):
        return None
    if message.role == "tool":
        if native and message.extra.get(HINT, {}).get("role") == "function":
            return None
        out = []
        for block in message.blocks:
            if block.type != "tool_result":
                continue
            if block.cache_control is not None or not _plain_extra(block.extra, native):
                return None
            content = block.content
            if isinstance(content, list):
                if not all(
                    b.type == "text" and b.cache_control is None and _plain_extra(b.extra, native) for b in content
                ):
                    return None
                content = "\n".join(b.text or "" for b in content)
            elif not isinstance(content, str):
                return None
            out.append(Plain("tool", [content], [], block.tool_use_id))
        return out
    if message.role not in ("user", "assistant"):
        return None
    texts, calls = [], []
    for block in message.blocks:
        if block.type in ("thinking", "redacted_thinking") or not block.sent:
            continue  # thinking_blocks: no part of the OpenAI wire; a block never sent: none either
        if block.cache_control is not None or not _plain_extra(block.extra, native):
            return None
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            if native and "name" in block.extra.get(HINT, {}).get("function", {}):
                return None
            calls.append((block.id, block.name))
        else:
            return None
    if message.content_form == "string" and len(texts) == 1 and texts[0] is not None:
        strings = [texts[0]] if texts[0] else []  # a string content (_content_out, _plain_text)
    else:
        strings = [t or "" for t in texts]  # content parts
    return [Plain(message.role, strings, calls)]


def _plain_extra(extra: dict[str, Any], native: bool) -> bool:
    """No key of the source's that with_extra would write next to the named ones."""
    return not native or not extra or all(key == HINT or key in OWN_KEYS for key in extra)


def _message_out(message: Message, native: bool) -> list[tuple[dict[str, Any], str | None]]:
    path = message.source.path if native else None
    if message.role == "tool":
        return [(_tool_message_out(message, r, native), path) for r in message.tool_results()]
    results = message.tool_results()
    if not results:
        return [(_chat_message_out(message, message.sent_blocks(), native), path)]
    # An Anthropic-style user turn: its tool results go first, as tool messages.
    out: list[tuple[dict[str, Any], str | None]] = [
        (
            cache_out(
                {"role": "tool", "tool_call_id": r.tool_use_id, "content": _result_content(r, "blocks", native)},
                r.cache_control,
            ),
            None,
        )
        for r in results
    ]
    others = [b for b in message.blocks if b.type != "tool_result" and b.sent]
    if others:
        out.append((_chat_message_out(message, others, native), None))
    elif message.cache_control is not None and "cache_control" not in out[-1][0]:
        cache_out(out[-1][0], message.cache_control)
    return out


def _chat_message_out(message: Message, blocks: list[Block], native: bool) -> dict[str, Any]:
    thinking = [b for b in blocks if b.type in ("thinking", "redacted_thinking")]
    calls = [b for b in blocks if b.type == "tool_use"]
    content_blocks = [b for b in blocks if b.type not in ("thinking", "redacted_thinking", "tool_use")]
    out: dict[str, Any] = {"role": message.role}
    content = _content_out(content_blocks, message.content_form, native, has_calls=bool(calls))
    if content is not _OMIT:
        out["content"] = content
    if calls:
        out["tool_calls"] = [_call_out(b, native) for b in calls]
    if thinking:
        out["thinking_blocks"] = [_thinking_out(b, native) for b in thinking]
    if message.name is not None:
        out["name"] = message.name
    cache_out(out, message.cache_control)
    return with_extra(out, message.extra, native, HINT)


def _content_out(blocks: list[Block], form: str, native: bool, has_calls: bool) -> Any:
    if form == "string" and len(blocks) == 1 and _plain_text(blocks[0], native):
        return blocks[0].text
    parts = [p for p in (part_out(b, native) for b in blocks) if p is not None]
    if parts:
        return parts
    if form == "null":
        return None
    if form in ("empty", "string"):
        return ""
    if form == "missing":
        return _OMIT
    # An assistant turn of only tool calls says `content: null` in OpenAI's own shape.
    return None if has_calls and not native else []


def _plain_text(block: Block, native: bool) -> bool:
    return (
        block.type == "text"
        and block.text is not None
        and block.cache_control is None
        and not (native and rest(block.extra, (HINT,)))
    )


def part_out(block: Block, native: bool) -> dict[str, Any] | None:
    """One OpenAI content part (None for blocks that are not content: tool calls and results)."""
    kind = block.type
    if kind == "other":
        return raw_out(block)
    if kind == "text":
        out: dict[str, Any] = {"type": "text", "text": block.text or ""}
    elif kind == "image" and media_url(block.media) is not None:
        out = {"type": "image_url", "image_url": _image_url_out(block, native)}
    elif kind in ("image", "document"):
        # A PDF, or an image by file id: litellm takes Anthropic's own block for these.
        out = {"type": kind, "source": block.media}
    elif kind == "thinking":
        out = {"type": "thinking", "thinking": block.text or ""}
    else:
        return None
    cache_out(out, block.cache_control)
    return with_extra(out, block.extra, native, HINT)


def _image_url_out(block: Block, native: bool) -> Any:
    url = media_url(block.media)
    hint = block.extra.get(HINT, {}) if native else {}
    if hint.get("image_url_string"):
        return url
    return {"url": url, **hint.get("image_url", {})}


def arguments_out(block: Block) -> str:
    """The arguments string: exactly as read while the input is unchanged, else the input's JSON."""
    if block.arguments is not None:
        parsed = parse_arguments(block.arguments)
        if parsed == block.input:
            return block.arguments
    return json.dumps(block.input if block.input is not None else {})


def _call_out(block: Block, native: bool) -> dict[str, Any]:
    hint = block.extra.get(HINT, {}) if native else {}
    function: dict[str, Any] = {"name": block.name}
    if hint.get("arguments") == "object":
        function["arguments"] = block.input
    elif not (hint.get("arguments") == "missing" and block.input is None):
        function["arguments"] = arguments_out(block)
    function.update(hint.get("function", {}))
    out: dict[str, Any] = {"id": block.id}
    if not hint.get("no_type"):
        out["type"] = hint.get("type", "function")
    out["function"] = function
    cache_out(out, block.cache_control)
    return with_extra(out, block.extra, native, HINT)


def _thinking_out(block: Block, native: bool) -> dict[str, Any]:
    if block.type == "redacted_thinking":
        out: dict[str, Any] = {"type": "redacted_thinking", "data": block.data}
    else:
        out = {"type": "thinking", "thinking": block.text}
        if block.signature is not None:
            out["signature"] = block.signature
    cache_out(out, block.cache_control)
    return with_extra(out, block.extra, native, HINT)


def _tool_message_out(message: Message, result: Block, native: bool) -> dict[str, Any]:
    hint = message.extra.get(HINT, {}) if native else {}
    role = "function" if hint.get("role") == "function" else "tool"
    out: dict[str, Any] = {"role": role}
    content = _result_content(result, message.content_form, native)
    if content is not _OMIT:
        out["content"] = content
    if role == "tool" or result.tool_use_id is not None:
        out["tool_call_id"] = result.tool_use_id
    if message.name is not None:
        out["name"] = message.name
    cache_out(out, message.cache_control or result.cache_control)
    return with_extra(out, message.extra, native, HINT)


def _result_content(result: Block, form: str, native: bool) -> Any:
    content = result.content
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return [p for p in (part_out(b, native) for b in content) if p is not None]
    if native and form == "null":
        return None
    if native and form == "missing":
        return _OMIT
    return ""


def tool_out(tool: Tool, native: bool) -> dict[str, Any]:
    if tool.kind != "function":
        raw = tool.extra.get("raw")
        if isinstance(raw, dict):
            out = rest(raw, ("cache_control",))
        else:
            # An Anthropic server tool: litellm forwards it as is to Anthropic.
            out = {"type": tool.kind, "name": tool.name, **rest(tool.extra, (HINT, "raw"))}
        return cache_out(out, tool.cache_control)
    hint = tool.extra.get(HINT, {}) if native else {}
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    with_extra(function, tool.extra, native, HINT)
    out = {}
    if not hint.get("no_type"):
        out["type"] = hint.get("type", "function")
    out["function"] = function
    cache_out(out, tool.cache_control)
    out.update(hint.get("outer", {}))
    return out


# --- request parameters ----------------------------------------------------------------------


def params_out(history: History, native: bool) -> dict[str, Any]:
    """history.request as OpenAI parameters."""
    if native:
        return rest(history.request, ("messages", "tools", "model"))
    if history.format == "anthropic":
        return params_from_anthropic(history.request)
    return {k: v for k, v in history.request.items() if k in PORTABLE_PARAMS}


def params_from_anthropic(request: dict[str, Any]) -> dict[str, Any]:
    """Anthropic Messages parameters in OpenAI terms, as litellm's reverse adapter maps them."""
    out: dict[str, Any] = {}
    for key, value in request.items():
        if key in ("max_tokens", "temperature", "top_p", "top_k", "stream", "thinking", "service_tier"):
            out[key] = value
        elif key == "stop_sequences":
            out["stop"] = value
        elif key == "tool_choice":
            out["tool_choice"] = _tool_choice_from_anthropic(value)
            if isinstance(value, dict) and value.get("disable_parallel_tool_use") is True:
                out["parallel_tool_calls"] = False
        elif key == "metadata" and isinstance(value, dict) and "user_id" in value:
            out["user"] = value["user_id"]
    return out


def _tool_choice_from_anthropic(choice: Any) -> Any:
    if not isinstance(choice, dict):
        return choice
    kind = choice.get("type")
    if not isinstance(kind, str):
        return choice
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return {"auto": "auto", "any": "required", "none": "none"}.get(kind, choice)
