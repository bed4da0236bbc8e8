"""The next request: what a client sends when a conversation goes on (issue 17 part 1).

A transcript (Claude Code, OpenHands V0, V1, output.jsonl) that ends on the assistant's answer, or
a litellm payload whose `response` is its last message, records that answer as RECEIVED: no client
resends it as a prefill, a resume appends the next user turn. The check judges that request: the
history with PLACEHOLDER appended, a user turn that is never stored, counted, written back or
downloaded. A request body the log records as sent (an anthropic or openai request, the guard's
and the callback's) is judged as it is.

Also here: what the log records of the request parameters a check rests on (thinking, max_tokens,
tools, the system prompt, cache markers): anything it does not record is a guess.
"""

from __future__ import annotations

import dataclasses

from .model import Block, History, Message

PLACEHOLDER_TEXT = "(the next user message)"
# Message.extra key of the placeholder turn: the page draws it dashed.
PLACEHOLDER = "placeholder"

# Formats whose assistant messages are replies the log records as received.
TRANSCRIPTS = ("claude-code", "openhands", "openhands-v1", "openhands-output")
RECEIVED = (*TRANSCRIPTS, "litellm-log")

THINKING_TYPES = ("thinking", "redacted_thinking")


def ends_on_received_reply(history: History) -> bool:
    """Whether the final message is an answer the log records as received."""
    if not history.messages or history.messages[-1].role != "assistant":
        return False
    if history.format in TRANSCRIPTS:
        return True
    return history.format == "litellm-log" and history.messages[-1].extra.get("from_response") is True


def placeholder() -> Message:
    return Message(role="user", blocks=[Block.text_block(PLACEHOLDER_TEXT)], extra={PLACEHOLDER: True})


def next_request(history: History) -> History:
    """The history of the request the client sends next: a shallow copy with the placeholder
    appended when the log ends on a received reply, else `history` itself. The placeholder's
    index is len(history.messages), which a finding on it names."""
    if not ends_on_received_reply(history):
        return history
    return dataclasses.replace(history, messages=[*history.messages, placeholder()])


def is_placeholder(message: Message) -> bool:
    return message.extra.get(PLACEHOLDER) is True


def without_placeholder(history: History) -> History:
    """The history as the log has it: the next request's placeholder taken off (it is never
    counted: not in messages, not in tokens)."""
    if history.messages and is_placeholder(history.messages[-1]):
        return dataclasses.replace(history, messages=history.messages[:-1])
    return history


def records_request(history: History) -> bool:
    """Whether the log records the request's parameters: a request body (anthropic, openai) or a
    litellm payload does; a transcript does not."""
    return history.format not in TRANSCRIPTS


def thinking(history: History) -> bool | None:
    """Whether the next request has extended thinking on: the thinking config the log records
    for the last request (a request body or a litellm payload records it, its absence is off);
    else, for a transcript, on when the LAST assistant message holds a thinking block (the
    client had it on when it got that answer); None (unknown) when only earlier messages hold
    them, or when it holds none (a transcript records no config)."""
    request = history.request
    if "thinking" in request or "reasoning_effort" in request:
        config = request.get("thinking")
        if isinstance(config, dict):
            return config.get("type") in ("enabled", "adaptive")
        return bool(request.get("reasoning_effort"))
    if records_request(history):
        return False  # a request body records its config: none is thinking off
    last = next((m for m in reversed(history.messages) if m.role == "assistant"), None)
    if last is not None and any(b.type in THINKING_TYPES for b in last.blocks):
        return True
    return None
