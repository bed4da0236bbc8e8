"""Resume a (repaired) conversation: send it to its model through litellm and take the reply.

No ORM and no settings: the Django side passes the model, the base URL and the key (from its
settings, never from a log) and stores what comes back. A provider's refusal is raised as
ResumeError whose text is the provider's own message, verbatim, so the page can show exactly what
the provider said and the revision can store it.

    result = resume(history, model="anthropic/claude-sonnet-4-5", continuation="Please go on.",
                    api_key=settings_key)
    result.reply_message          # the assistant's answer, a canonical Message
    result.history_with_reply     # the history + the continuation + the reply (a copy)
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from conversations.history.formats.openai import parse_arguments, to_request
from conversations.history.model import Block, History, Message, SourceRef, Usage
from conversations.history.redact import redact_text

# Sent when neither the caller nor the history says: litellm would otherwise send the model's
# maximum from its cost map, or 128000 for a model the map does not know, which the real API
# rejects (docs/litellm-notes.md, "Anthropic max_tokens").
DEFAULT_MAX_TOKENS = 4096
# Request parameters of the history that still mean the same thing on a resumed call. Streaming,
# `n`, `user`... are the original client's business, not ours.
CARRIED_PARAMS = (
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "seed",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "thinking",
    "reasoning_effort",
)


ERROR_MAX = 2_000
_TRACEBACK = re.compile(r"Traceback \(most recent call last\):")
# A file of this machine named in a message (a module, a site-packages path, a settings file).
_SERVER_PATH = re.compile(r"(?<![\w:/])/(?:[\w.@+-]{1,255}/){1,64}[\w.@+-]{1,255}\.(?:py|pyc|so|cfg|toml|env)\b")


def shown_error(text: str) -> str:
    """An error text fit to show and store: the part before any traceback, server paths out,
    secrets redacted, at most ERROR_MAX characters."""
    text = _TRACEBACK.split(text, maxsplit=1)[0].rstrip() or "(no message)"
    text = _SERVER_PATH.sub("<path>", text[: ERROR_MAX * 4])
    text = redact_text(text)
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"


class ResumeError(Exception):
    """The provider (or the way to it) refused the call. str() is the provider's error message as
    it sent it; `body` the whole response body when there was one; `status_code` the HTTP status
    (None for a connection failure); `kind` litellm's exception class (BadRequestError,
    RateLimitError, Timeout...)."""

    def __init__(
        self, message: str, *, status_code: int | None = None, body: str | None = None, kind: str | None = None
    ):
        # What is shown and audited: redacted (a provider may echo the key back), without a
        # traceback or a server path, cut to ERROR_MAX characters.
        message = shown_error(message)
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = shown_error(body) if body is not None else None
        self.kind = kind


@dataclass(slots=True)
class ResumeResult:
    history_with_reply: History
    reply_message: Message
    raw_response: dict


def build_call(history: History, *, model: str, continuation: str | None, extra: dict | None = None) -> dict:
    """The keyword arguments for litellm.completion (without credentials): the history as an
    OpenAI request, the continuation as a last user message, max_tokens always set."""
    request = to_request(history)
    messages = list(request["messages"])
    if continuation:
        messages.append({"role": "user", "content": continuation})
    call: dict[str, Any] = {"model": model, "messages": messages}
    if request.get("tools"):
        call["tools"] = request["tools"]
    for key in CARRIED_PARAMS:
        if key in request and (key not in ("tool_choice", "parallel_tool_calls") or call.get("tools")):
            call[key] = request[key]
    call["max_tokens"] = _max_tokens(request, extra)
    # A resumed call is one call: a retry would send it twice and hide a 429 from the person.
    call["max_retries"] = 0
    call["num_retries"] = 0
    call.update({k: v for k, v in (extra or {}).items()})
    return call


def _max_tokens(request: dict, extra: dict | None) -> int:
    for value in ((extra or {}).get("max_tokens"), request.get("max_tokens"), request.get("max_completion_tokens")):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_MAX_TOKENS


def resume(
    history: History,
    *,
    model: str,
    continuation: str | None,
    api_base: str | None = None,
    api_key: str | None = None,
    extra: dict | None = None,
    timeout: float = 60,
) -> ResumeResult:
    """Send `history` (plus `continuation` as a user message, when given) to `model` and return
    the history with the reply appended. The input history is not changed. Raises ResumeError
    with the provider's own error text when the call fails."""
    call = build_call(history, model=model, continuation=continuation, extra=extra)
    if api_base is not None:
        call["api_base"] = api_base
    if api_key is not None:
        call["api_key"] = api_key
    call["timeout"] = timeout
    litellm = _litellm()
    try:
        response = litellm.completion(**call)
    except Exception as exc:  # litellm maps every provider failure to its own exception classes
        raise _resume_error(exc) from exc
    raw = response.model_dump() if hasattr(response, "model_dump") else dict(response)
    reply = reply_message(raw)
    updated = copy.deepcopy(history)
    if continuation:
        updated.messages.append(Message(role="user", blocks=[Block.text_block(continuation)], content_form="string"))
    updated.messages.append(reply)
    return ResumeResult(history_with_reply=updated, reply_message=reply, raw_response=raw)


# --- the reply -------------------------------------------------------------------------------------


def reply_message(raw: dict) -> Message:
    """The assistant message of an OpenAI-shaped chat.completion (what litellm returns for every
    provider), as a new canonical message: thinking, then text, then tool calls."""
    choices = raw.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        raise ResumeError("the provider answered without a message (no choices)", body=json.dumps(raw))
    message = choices[0].get("message") or {}
    blocks: list[Block] = []
    for item in message.get("thinking_blocks") or []:
        if isinstance(item, dict) and item.get("type") == "thinking":
            blocks.append(Block(type="thinking", text=item.get("thinking"), signature=item.get("signature")))
        elif isinstance(item, dict) and item.get("type") == "redacted_thinking":
            blocks.append(Block(type="redacted_thinking", data=item.get("data")))
    content = message.get("content")
    if isinstance(content, str) and content:
        blocks.append(Block.text_block(content))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        parsed = parse_arguments(arguments) if isinstance(arguments, str) else arguments
        blocks.append(
            Block(
                type="tool_use",
                id=call.get("id"),
                name=function.get("name"),
                input=parsed,
                arguments=arguments if isinstance(arguments, str) else None,
            )
        )
    only_text = len(blocks) == 1 and blocks[0].type == "text"
    return Message(
        role="assistant",
        blocks=blocks,
        content_form="string" if only_text else "blocks",
        usage=_usage(raw.get("usage")),
        model=raw.get("model"),
        id=raw.get("id"),
        source=SourceRef(),
        extra={"stop_reason": choices[0].get("finish_reason")},
    )


def _usage(raw: Any) -> Usage | None:
    return Usage.from_wire(raw)


# --- errors ---------------------------------------------------------------------------------------

# litellm prefixes the provider's text: "litellm.BadRequestError: AnthropicException - <body>".
_PREFIX = re.compile(r"^(?:litellm\.\w+: )?(?:\w+Error: )?\w*Exception - ", re.S)


def _resume_error(exc: Exception) -> ResumeError:
    status = getattr(exc, "status_code", None)
    kind = type(exc).__name__
    text = str(getattr(exc, "message", None) or exc)
    body = _response_text(exc) or _embedded_body(_PREFIX.sub("", text, count=1))
    return ResumeError(
        _provider_message(body) or body or text,
        status_code=status if isinstance(status, int) else None,
        body=body,
        kind=kind,
    )


def _embedded_body(text: str) -> str:
    """The provider's JSON body inside litellm's message, which may add its own advice after it
    ("... Handle with `litellm.InternalServerError`."); the text itself when there is none."""
    start = text.find("{")
    if start < 0:
        return text
    try:
        _, end = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return text
    return text[start:end]


def _response_text(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    try:
        text = response.text if response is not None else None
    except Exception:  # a streamed or closed httpx response cannot be read again
        return None
    return text or None


def _provider_message(body: str) -> str | None:
    """The `message` of a provider's JSON error body: Anthropic {"type":"error","error":{...}},
    OpenAI and Google {"error":{...}}, Bedrock {"message": ...}; a Vertex envelope whose message
    is itself Anthropic's JSON is unwrapped once more."""
    try:
        value = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    message = error.get("message") if isinstance(error, dict) else value.get("message")
    if not isinstance(message, str):
        return None
    inner = _provider_message(message) if message.lstrip().startswith("{") else None
    return inner or message


def _litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm
