"""Put an abandoned tool call back on the conversation's branch (OpenHands V1: the
`abandoned-tool-call` warning, repaired only when warnings are).

The reader keeps, in `meta["abandoned"]`, each response whose calls hang off the branch: its
assistant message (read from the action events themselves) and the results that exist. The
repair inserts that message where its branch left the conversation's (after the message it
hangs off and that message's results), followed by a result for each call: the real one where
it exists, else the error result the SDK's own recovery writes for an interrupted call. The
V1 writer then re-parents the actions onto the branch and writes the new results as
AgentErrorEvents right after them.
"""

from __future__ import annotations

from typing import Any

from ..findings import Finding
from ..model import Block, Message
from .registry import strategy
from .work import Work

# LocalConversation._emit_orphaned_action_errors (openhands-sdk 1.58.2).
INTERRUPTED = "Tool call interrupted before completion. The conversation was paused."


@strategy("reattach-abandoned-call")
def reattach_abandoned_call(work: Work, findings: list[Finding]) -> None:
    """Re-attach each abandoned response with an unanswered call, answered."""
    for batch in work.history.meta.get("abandoned") or []:
        held = {b.id for m in work.history.messages for b in m.tool_uses()}
        assistant = Message.from_dict(batch["message"])
        calls = assistant.tool_uses()
        if not calls or any(c.id in held for c in calls):
            continue  # already back (an earlier round), or a call the history holds elsewhere
        _reattach(work, batch, assistant, calls)


def _reattach(work: Work, batch: dict[str, Any], assistant: Message, calls: list[Block]) -> None:
    messages = work.history.messages
    anchor = _anchor(messages, batch)
    at = 0 if anchor is None else messages.index(anchor) + 1
    while at < len(messages) and messages[at].role == "tool":
        at += 1  # never between a call and its results
    results = {r.blocks[0].tool_use_id: r for r in map(Message.from_dict, batch.get("results") or []) if r.blocks}
    new: list[Message] = [_adopted(work, assistant, anchor)]
    for call in calls:
        found = results.get(call.id)
        if found is not None:
            new.append(_adopted(work, found, anchor))
        else:
            block = Block.tool_result(call.id, INTERRUPTED, is_error=True)
            new.append(work.new_message("tool", [block], after=anchor, content_form="string", name=call.name))
    messages[at:at] = new
    unanswered = batch.get("unanswered") or []
    named = ", ".join(f"{c['name']} {c['id']} ({c['file']})" for c in unanswered)
    where = f"after {work.name(anchor)}" if anchor is not None else "at the start"
    work.note(
        "reattach-tool-call",
        anchor,
        f"put the abandoned call{'s' if len(unanswered) > 1 else ''} {named} back on the conversation's "
        f"branch {where}, answered by an error result ({INTERRUPTED!r})",
    )


def _anchor(messages: list[Message], batch: dict[str, Any]) -> Message | None:
    """The message the abandoned branch hangs off: the one read from `after_event`; the last
    message when it is no longer there; None (the start) when the branch leaves before any."""
    event = batch.get("after_event")
    if event is None and batch.get("after_message") is None:
        return None
    for message in messages:
        if message.source.event == event or any(b.source.event == event for b in message.blocks):
            return message
    return messages[-1] if messages else None


def _adopted(work: Work, message: Message, anchor: Message | None) -> Message:
    """A message read from the log, added by the repair (Work knows it as new)."""
    added = work.new_message(
        message.role, message.blocks, after=anchor, content_form=message.content_form, name=message.name
    )
    added.source, added.id, added.timestamp, added.usage = message.source, message.id, message.timestamp, message.usage
    added.extra = dict(message.extra)
    return added
