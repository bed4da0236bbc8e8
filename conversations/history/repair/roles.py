"""Roles and their order: known roles only, a user message first, no two turns of one role in a
row, and a user message last where the model does not continue an assistant message."""

from __future__ import annotations

from ..findings import Finding
from ..model import Block, Message
from .registry import strategy
from .work import Work

# Roles other tools and providers use, and what they are to a Messages-style API.
ROLE_MAP = {
    "system": "user",
    "developer": "user",
    "human": "user",
    "tool": "user",
    "function": "user",
    "model": "assistant",
    "ai": "assistant",
    "bot": "assistant",
}
# What a new first user message says when the history starts with the assistant (usually a
# history trimmed from the front) and what a new last user message says after a final answer.
START_TEXT = "(earlier conversation omitted)"
CONTINUE_TEXT = "Continue."


@strategy("fix-role")
def fix_role(work: Work, findings: list[Finding]) -> None:
    """Map a role the provider does not know onto user or assistant."""
    allowed = ("user", "assistant", "tool") if work.style == "openai" else ("user", "assistant")
    for message in work.history.messages:
        if message.role in allowed:
            continue
        new = ROLE_MAP.get(message.role, "user")
        work.note("fix-role", message, f"changed the role of {work.name(message)} from {message.role!r} to {new!r}")
        message.role = new


@strategy("fix-role-order")
def fix_role_order(work: Work, findings: list[Finding]) -> None:
    """Merge consecutive user (or assistant) messages into one, and start with a user message.
    Which of the two depends on the findings (both when a rule's name does not say)."""
    rules = {f.rule for f in findings}
    first = any("first" in r for r in rules)
    alternate = any("alternat" in r for r in rules)
    if not first and not alternate:
        first = alternate = True
    if alternate:
        _merge_runs(work)
    messages = work.history.messages
    if first and messages and messages[0].role != "user":
        opener = work.new_message("user", [Block.text_block(START_TEXT)], after=None, content_form="string")
        messages.insert(0, opener)
        work.note(
            "add-message",
            messages[1],
            f"added a user message {START_TEXT!r} before {work.name(messages[1])}, which started the conversation",
        )


def _merge_runs(work: Work) -> None:
    out: list[Message] = []
    for message in work.history.messages:
        previous = out[-1] if out else None
        if previous is None or message.role != previous.role or message.role not in ("user", "assistant"):
            out.append(message)
            continue
        _merge(previous, message)
        work.note(
            "merge-messages",
            message,
            f"merged {work.name(message)} into {work.name(previous)} (two {message.role} messages in a row)",
        )
    work.history.messages = out


def _merge(into: Message, other: Message) -> None:
    """`other`'s blocks after `into`'s; tool results first in a user turn, tool calls last in an
    assistant turn, as the provider wants them. A message-level cache marker stays on the block
    it stood for (the message's last one)."""
    if into.cache_control is not None and into.blocks and into.blocks[-1].cache_control is None:
        into.blocks[-1].cache_control = into.cache_control
        into.cache_control = None
    if other.cache_control is not None:
        into.cache_control = other.cache_control
    blocks = into.blocks + other.blocks
    if into.role == "user":
        blocks = [b for b in blocks if b.type == "tool_result"] + [b for b in blocks if b.type != "tool_result"]
    else:
        blocks = [b for b in blocks if b.type != "tool_use"] + [b for b in blocks if b.type == "tool_use"]
    into.blocks = blocks
    if into.content_form != "blocks" and len(blocks) > 1:
        into.content_form = "blocks"


@strategy("drop-final-assistant")
def drop_final_assistant(work: Work, findings: list[Finding]) -> None:
    """For a model that does not continue an assistant message (no prefill): remove a final
    assistant message that says nothing, else add a user turn after it (nothing is lost)."""
    messages = work.history.messages
    if not messages or messages[-1].role != "assistant":
        return
    last = messages[-1]
    if last.tool_uses():
        return  # an unanswered tool call: add-missing-tool-result's business
    if all(b.type == "text" and not (b.text or "").strip() for b in last.sent_blocks()):
        messages.pop()
        work.note("remove-message", last, f"removed {work.name(last)}: an empty final assistant message")
        return
    messages.append(work.new_message("user", [Block.text_block(CONTINUE_TEXT)], after=last, content_form="string"))
    work.note(
        "add-message",
        last,
        f"added a user message {CONTINUE_TEXT!r} after {work.name(last)}, so the conversation ends with the user",
    )
