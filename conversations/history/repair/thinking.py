"""Extended thinking: drop the thinking blocks a request cannot carry, or turn thinking off."""

from __future__ import annotations

from ..findings import Finding
from ..model import Message
from .registry import strategy
from .work import Work

THINKING = ("thinking", "redacted_thinking")
# Request parameters that turn extended thinking on (litellm maps reasoning_effort to it).
THINKING_PARAMS = ("thinking", "reasoning_effort")


@strategy("drop-thinking")
def drop_thinking(work: Work, findings: list[Finding]) -> None:
    """Remove the thinking blocks the provider refuses: the ones a finding names, those without
    a signature (or without text) when a finding is about that, and those of the final assistant
    message when thinking is off. Earlier turns' valid thinking stays: the provider ignores it."""
    messages = work.history.messages
    doomed: set[int] = set()
    for finding in findings:
        message = work.at(finding.message_index)
        if message is None:
            continue
        if (
            finding.content_index is not None
            and 0 <= finding.content_index < len(message.blocks)
            and message.blocks[finding.content_index].type in THINKING
        ):
            doomed.add(id(message.blocks[finding.content_index]))
        if finding.rule == "thinking-in-final-without-thinking-enabled":
            doomed.update(id(b) for b in message.blocks if b.type in THINKING)
    rules = {f.rule for f in findings}
    unsigned = "thinking-signature-missing" in rules
    textless = "thinking-text-missing" in rules
    for message in messages:
        for block in message.blocks:
            if block.type == "thinking" and ((unsigned and not block.signature) or (textless and block.text is None)):
                doomed.add(id(block))
    _remove(work, doomed)


def _remove(work: Work, doomed: set[int]) -> None:
    if not doomed:
        return
    out: list[Message] = []
    messages = work.history.messages
    for message in messages:
        kept = [b for b in message.blocks if id(b) not in doomed]
        if len(kept) == len(message.blocks):
            out.append(message)
            continue
        count = len(message.blocks) - len(kept)
        if not kept and messages[-1] is not message:
            work.note(
                "remove-message", message, f"removed {work.name(message)}: it held only thinking the provider refuses"
            )
            continue
        message.blocks = kept
        work.note("drop-thinking", message, f"removed {count} thinking block(s) from {work.name(message)}")
        out.append(message)
    work.history.messages = out


@strategy("disable-thinking")
def disable_thinking(work: Work, findings: list[Finding]) -> None:
    """Send the request with extended thinking off (the history has no thinking block to start
    the current tool-use turn, and one cannot be made up: it must carry the provider's
    signature)."""
    request = work.history.request
    present = [k for k in THINKING_PARAMS if k in request]
    for key in present:
        del request[key]
    if present:
        work.note(
            "disable-thinking", None, f"turned extended thinking off for the request (removed {', '.join(present)})"
        )
