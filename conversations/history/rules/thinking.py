"""Extended thinking (docs/provider-rules.md s.1 "Extended thinking"). Whether thinking is on comes
from the request the history carries (`thinking`, or `reasoning_effort` that litellm maps to it).

Not checked: thinking-latest-modified (whether the latest thinking blocks were edited needs the
original response, which a history does not carry).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from ..wire_blocks import WireBlock
from .base import Context, rule

MISSING_BEFORE_TOOL_USE = (
    "messages.{n}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. "
    "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
    "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include "
    "thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please "
    "consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)
SIGNATURE_MISSING = "messages.{n}.content.{m}.thinking.signature: Field required"
TEXT_MISSING = "messages.{n}.content.{m}.thinking.thinking: Field required"
SIGNATURE_INVALID = "messages.{n}.content.{m}: Invalid `signature` in `thinking` block"
FINAL_WITHOUT_THINKING = (
    "messages.{n}.content.{m}: When thinking is disabled, an `assistant` message in the final "
    "position cannot contain `thinking`. To use thinking blocks, enable `thinking` in your request."
)
THINKING_TYPES = ("thinking", "redacted_thinking")


@rule("thinking-missing-before-tool-use", severity="error", fix="disable-thinking")
def thinking_missing_before_tool_use(ctx: Context) -> Iterator[Finding]:
    """Thinking on, mid tool loop (the last message answers tool calls), and the assistant turn
    that made those calls does not start with a thinking block."""
    msgs = ctx.messages
    if not ctx.wire.thinking or len(msgs) < 2:
        return
    last = msgs[-1]
    if last.role != "user" or not any(b.type == "tool_result" for b in last.blocks):
        return
    k = len(msgs) - 2
    turn = msgs[k]
    if turn.role != "assistant" or not turn.blocks or turn.blocks[0].type in THINKING_TYPES:
        return
    found = turn.blocks[0].type
    at = ctx.message_of(k)
    yield ctx.found(
        "thinking-missing-before-tool-use",
        wire_index=k,
        message_index=at,
        provider_error=ctx.said(MISSING_BEFORE_TOOL_USE.format(n=k, found=found)),
        explanation=f"Thinking is enabled and the conversation is in a tool loop, but "
        f"{ctx.describe(at)}, which made the pending tool calls, carries no "
        f"thinking block (the history dropped it, or thinking was off when "
        f"it was produced).",
    )


def _thinking_blocks(ctx: Context) -> list[tuple[int, int, WireBlock]]:
    """Every thinking block of an assistant message, listed once per check."""
    return ctx.memo(
        "thinking_blocks",
        lambda: [(k, j, b) for k, j, b in ctx.blocks_of("thinking") if ctx.messages[k].role == "assistant"],
    )


@rule("thinking-signature-missing", severity="error", fix="drop-thinking")
def thinking_signature_missing(ctx: Context) -> Iterator[Finding]:
    """A thinking block stored without its signature."""
    for k, j, block in _thinking_blocks(ctx):
        if not block.has_signature:
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "thinking-signature-missing",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                provider_error=ctx.said(SIGNATURE_MISSING.format(n=k, m=j)),
                explanation=f"{ctx.describe(at)} replays a thinking block without the signature that came with it.",
            )


@rule("thinking-text-missing", severity="error", fix="drop-thinking")
def thinking_text_missing(ctx: Context) -> Iterator[Finding]:
    """A thinking block with a signature but no thinking text field."""
    for k, j, block in _thinking_blocks(ctx):
        if block.has_signature and not block.has_text:
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "thinking-text-missing",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                provider_error=ctx.said(TEXT_MISSING.format(n=k, m=j)),
                explanation=f"{ctx.describe(at)} replays a thinking block that has a signature but lost its text.",
            )


@rule("thinking-signature-invalid", severity="error", fix="drop-thinking")
def thinking_signature_invalid(ctx: Context) -> Iterator[Finding]:
    """A signature that cannot verify. Only the certain case is flagged: an empty signature
    (a real signature cannot be checked offline)."""
    for k, j, block in _thinking_blocks(ctx):
        if block.has_signature and not block.signature:
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "thinking-signature-invalid",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                provider_error=ctx.said(SIGNATURE_INVALID.format(n=k, m=j)),
                explanation=f"{ctx.describe(at)} replays a thinking block with an empty signature.",
            )


@rule("thinking-in-final-without-thinking-enabled", severity="error", fix="drop-thinking")
def thinking_in_final(ctx: Context) -> Iterator[Finding]:
    """Thinking off, and the final message is an assistant message holding thinking."""
    if ctx.wire.thinking or not ctx.messages or ctx.messages[-1].role != "assistant":
        return
    k = len(ctx.messages) - 1
    for j, block in enumerate(ctx.messages[k].blocks):
        if block.type in THINKING_TYPES:
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "thinking-in-final-without-thinking-enabled",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                provider_error=ctx.said(FINAL_WITHOUT_THINKING.format(n=k, m=j)),
                explanation=f"The history ends with {ctx.describe(at)} holding a "
                f"thinking block, and the request has thinking off.",
            )
            return
