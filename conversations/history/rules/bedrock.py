"""Bedrock Converse's own validation, which runs before Claude sees the request
(docs/provider-rules.md s.2b). What Converse passes on to Claude comes back as Anthropic's text behind
"The model returned the following errors: " (the registry sets that wrapper)."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from .base import Context, rule
from .pairing import missing_findings

FIRST_NOT_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts with a user message."
)
# aws-samples/bedrock-access-gateway#25 quotes the start; the whole sentence as several clients
# quote the ValidationException in their code.
NOT_ALTERNATING = (
    "A conversation must alternate between user and assistant roles. Make sure the "
    "conversation alternates between user and assistant roles and try again."
)
RESULT_COUNT = (
    "The number of toolResult blocks at messages.{n}.content exceeds the number of toolUse blocks of previous turn."
)
TOOLCONFIG = "The toolConfig field must be defined when using toolUse and toolResult content blocks."
BLANK_TEXT = (
    "The text field in the ContentBlock object at messages.{n}.content.{m} is blank. Add "
    "text to the text field, and try again."
)
MIXED_TURN = "messages.{n}.content: Conversation blocks and tool result blocks cannot be provided in the same turn."


@rule("bedrock-first-not-user", severity="error", fix="fix-role-order")
def first_not_user(ctx: Context) -> Iterator[Finding]:
    """The first Converse message is not a user message."""
    if ctx.messages and ctx.messages[0].role != "user":
        at = ctx.message_of(0)
        yield ctx.found(
            "bedrock-first-not-user",
            wire_index=None,
            message_index=at,
            provider_error=FIRST_NOT_USER,
            explanation=f"The request starts with {ctx.describe(at)}; Converse wants a "
            f"user message first (a trimmed history often starts with an "
            f"assistant turn).",
        )


@rule("bedrock-roles-not-alternating", severity="error", fix="fix-role-order")
def roles_not_alternating(ctx: Context) -> Iterator[Finding]:
    """Two Converse messages in a row with the same role (litellm merges user content but not
    two assistant turns around an empty one)."""
    for k in range(1, len(ctx.messages)):
        if ctx.messages[k].role == ctx.messages[k - 1].role:
            at = ctx.message_of(k)
            yield ctx.found(
                "bedrock-roles-not-alternating",
                wire_index=None,
                message_index=at,
                provider_error=NOT_ALTERNATING,
                explanation=f"{ctx.describe(at)} follows another "
                f"{ctx.messages[k].role} turn (wire messages {k - 1} and "
                f"{k}); Converse does not merge them.",
            )
            return


@rule("bedrock-tool-result-count", severity="error", fix="drop-orphan-tool-result")
def tool_result_count(ctx: Context) -> Iterator[Finding]:
    """A user turn with more toolResult blocks than the previous turn had toolUse blocks."""
    previous_uses = 0
    for k, message in enumerate(ctx.messages):
        results = [b for b in message.blocks if b.type == "tool_result"]
        if message.role == "user" and len(results) > previous_uses:
            at = ctx.message_of(k)
            yield ctx.found(
                "bedrock-tool-result-count",
                wire_index=k,
                message_index=at,
                provider_error=RESULT_COUNT.format(n=k),
                explanation=f"Wire message {k} ({ctx.describe(at)} and what litellm "
                f"merged into it) answers {len(results)} tool calls, but "
                f"the turn before made {previous_uses}.",
            )
        previous_uses = sum(1 for b in message.blocks if b.type == "tool_use") if message.role == "assistant" else 0


@rule("bedrock-tool-result-missing", severity="error", fix="add-missing-tool-result")
def tool_result_missing(ctx: Context) -> Iterator[Finding]:
    """A toolUse without its toolResult in the next turn; Converse passes Claude's own error on
    (wrapped; the Converse-side wording is not confirmed)."""
    yield from missing_findings(ctx, "bedrock-tool-result-missing")


@rule("bedrock-toolconfig-required", severity="error", fix="define-tools")
def toolconfig_required(ctx: Context) -> Iterator[Finding]:
    """toolUse/toolResult blocks in a request without toolConfig. litellm avoids it by writing
    the tool blocks as text (litellm-tools-as-text); a request built another way does not."""
    if ctx.wire.tools:
        return
    for k, message in enumerate(ctx.messages):
        if any(b.type in ("tool_use", "tool_result") for b in message.blocks):
            at = ctx.message_of(k)
            yield ctx.found(
                "bedrock-toolconfig-required",
                wire_index=None,
                message_index=at,
                provider_error=TOOLCONFIG,
                explanation=f"{ctx.describe(at)} has tool blocks, and the request defines no tools.",
            )
            return


@rule("bedrock-blank-text", severity="error", fix="remove-empty-blocks")
def blank_text(ctx: Context) -> Iterator[Finding]:
    """An empty or whitespace-only text block."""
    for k, message in enumerate(ctx.messages):
        for j, block in enumerate(message.blocks):
            if block.type == "text" and not (block.text or "").strip():
                at = block.origin if block.origin is not None else ctx.message_of(k)
                yield ctx.found(
                    "bedrock-blank-text",
                    wire_index=k,
                    message_index=at,
                    content_index=ctx.content_index(block),
                    provider_error=BLANK_TEXT.format(n=k, m=j),
                    explanation=f"{ctx.describe(at)} gives Converse a blank text block.",
                )
                return


def _claude(ctx: Context) -> bool:
    return "claude" in ctx.target.api_model or "anthropic." in ctx.target.api_model


@rule("bedrock-mixed-tool-result-turn", severity="warning", fix="move-tool-results-first")
def mixed_tool_result_turn(ctx: Context) -> Iterator[Finding]:
    """toolResult blocks and text in one user turn (litellm merges a tool message with the user
    message after it). Rejected for Llama 4 (strands-agents/harness-sdk#1223) and, in 2024, for
    Claude 3 Opus (BerriAI/litellm#6053); current Claude models accept it in our evidence, so it
    is an error for other models and a warning for Claude."""
    for k, message in enumerate(ctx.messages):
        kinds = {b.type for b in message.blocks}
        if message.role != "user" or "tool_result" not in kinds or not kinds & {"text", "image", "document"}:
            continue
        at = ctx.message_of(k)
        claude = _claude(ctx)
        yield ctx.found(
            "bedrock-mixed-tool-result-turn",
            wire_index=k,
            message_index=at,
            severity="warning" if claude else "error",
            provider_error=None if claude else MIXED_TURN.format(n=k),
            explanation=f"Wire message {k} mixes tool results with other content "
            f"(litellm merged {ctx.describe(at)} with what follows). "
            + (
                "Claude on Converse accepts this today; older Converse adapters refused it."
                if claude
                else f"Converse refuses this for {ctx.target.api_model}."
            ),
        )
