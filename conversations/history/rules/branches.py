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

from ..findings import Finding
from .base import Context, rule


@rule("abandoned-tool-call", severity="warning", fix="reattach-abandoned-call")
def abandoned_tool_call(ctx: Context) -> Iterator[Finding]:
    """A tool call left off the conversation's branch without a result: on resume the agent
    silently forgets it and its work is lost."""
    held = {b.id for m in ctx.history.messages for b in m.tool_uses()}
    for batch in ctx.history.meta.get("abandoned") or []:
        at = batch.get("after_message")
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
