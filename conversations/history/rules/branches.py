"""Tool calls on a branch the conversation left (OpenHands V1: docs/formats-openhands-v1.md,
"The conversation is a tree"). The SDK saves leaf_event_id at the end of an agent step, so a
process that dies mid tool call leaves its ActionEvent beyond the saved leaf: on resume the
agent follows the branch from the leaf, never sees that call, and the work it did is lost. No
provider refuses anything, so it is a warning, and the same for every target.

The reader lists such calls in `meta["abandoned"]`; a call that the history holds again (put
back by the repair) is no longer abandoned.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..findings import Finding
from ..model import Message
from .base import Context, rule


@rule("abandoned-tool-call", severity="warning", fix="reattach-abandoned-call")
def abandoned_tool_call(ctx: Context) -> Iterator[Finding]:
    """A tool call left off the conversation's branch without a result: on resume the agent
    silently forgets it and its work is lost."""
    held = {b.id for m in ctx.history.messages for b in m.tool_uses()}
    for batch in ctx.history.meta.get("abandoned") or []:
        at = after_index(ctx.history.messages, batch)
        for call in batch.get("unanswered") or []:
            if call.get("id") in held:
                continue
            where = f"after {ctx.describe(at)}" if at is not None else "before the first message"
            yield ctx.found(
                "abandoned-tool-call",
                message_index=at,
                explanation=(
                    f"The {call.get('name')} call {call.get('id')} ({call.get('file')}) hangs off the "
                    f"conversation's branch {where} and was never answered (the process stopped "
                    f"while it ran): on resume the agent silently forgets this call; its work is lost."
                ),
            )


def after_index(messages: list[Message], batch: dict[str, Any]) -> int | None:
    """Where the abandoned branch leaves the conversation now: the message read from the batch's
    `after_event` (the reader's `after_message` is an index at read time, which a repair that adds
    a message before it makes stale), else that index; None: before the first message."""
    event = batch.get("after_event")
    if event is not None:
        for k, message in enumerate(messages):
            if message.source.event == event or any(b.source.event == event for b in message.blocks):
                return k
    at = batch.get("after_message")
    return at if isinstance(at, int) else None
