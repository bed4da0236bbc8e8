"""The request around the messages: tool definitions, tool names, max_tokens."""

from __future__ import annotations

import hashlib

from ..findings import Finding
from ..model import SourceRef, Tool
from .registry import strategy
from .work import Work

MAX_TOOL_NAME = 64
# What a resumed call asks for when no target says more (docs/litellm-notes.md: always pass it).
DEFAULT_MAX_TOKENS = 4096
# Formats whose documents are requests, so their parameters are written back.
REQUEST_FORMATS = ("openai", "anthropic", "litellm-log")
# A schema that accepts any arguments: the log kept the calls but not the definitions.
ANY_OBJECT = {"type": "object", "properties": {}}


@strategy("define-tools")
def define_tools(work: Work, findings: list[Finding]) -> None:
    """Add a definition for every tool the history calls but the request does not define
    (Bedrock Converse needs toolConfig as soon as tool blocks appear), accepting any object."""
    defined = {t.name for t in work.history.tools}
    for message in work.history.messages:
        for block in message.tool_uses():
            if block.name and block.name not in defined:
                defined.add(block.name)
                work.history.tools.append(Tool(name=block.name, parameters=dict(ANY_OBJECT), source=SourceRef()))
                work.note(
                    "define-tool",
                    None,
                    f"added a definition for the tool {block.name!r} (the log has none; it "
                    "accepts any object as arguments)",
                )


@strategy("shorten-tool-names")
def shorten_tool_names(work: Work, findings: list[Finding]) -> None:
    """Shorten tool names over 64 characters, in the definitions and in every call."""
    history = work.history
    names = {t.name for t in history.tools} | {b.name for m in history.messages for b in m.tool_uses() if b.name}
    mapping: dict[str | None, str] = {}  # looked up with a call's name, which may be None
    for name in sorted(n for n in names if len(n) > MAX_TOOL_NAME):
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        new = f"{name[: MAX_TOOL_NAME - 9]}_{digest}"
        n = 1
        while new in names or new in mapping.values():
            new = f"{name[: MAX_TOOL_NAME - 12]}_{digest}_{n}"
            n += 1
        mapping[name] = new
        work.note(
            "shorten-tool-name",
            None,
            f"renamed the tool {name!r} to {new!r} (at most {MAX_TOOL_NAME} characters), in its definition and calls",
        )
    if not mapping:
        return
    for tool in history.tools:
        tool.name = mapping.get(tool.name, tool.name)
    for message in history.messages:
        for block in message.tool_uses():
            block.name = mapping.get(block.name, block.name)
        if message.role == "tool" and message.name in mapping:
            message.name = mapping[message.name]


@strategy("set-max-tokens")
def set_max_tokens(work: Work, findings: list[Finding]) -> None:
    """Pass max_tokens explicitly: the targets' smallest known maximum output, else 4096; an
    explicit value above what a target allows is lowered to it."""
    request = work.history.request
    known = [t.max_output_tokens for t in work.targets if t.max_output_tokens]
    asked = next((k for k in ("max_tokens", "max_completion_tokens") if isinstance(request.get(k), int)), None)
    if asked is not None:
        if not known or request[asked] <= min(known):
            return
        value = min(known)
        request[asked] = value
        work.note(
            "set-max-tokens", None, f"lowered {asked} from the request's value to {value}, the most the model allows"
        )
        return
    value = min(known + [DEFAULT_MAX_TOKENS]) if known else DEFAULT_MAX_TOKENS
    request["max_tokens"] = value
    if work.history.format in REQUEST_FORMATS:
        work.note("set-max-tokens", None, f"set max_tokens to {value} in the request")
    else:
        work.note(
            "set-max-tokens",
            None,
            f"set max_tokens to {value} for the request (a {work.history.format} log does not "
            "store request parameters: pass it when resuming, as conversations.resume does)",
        )
