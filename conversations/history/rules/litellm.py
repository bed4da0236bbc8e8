"""What litellm itself does to a request: refuses to build it, invents a dummy tool, turns tool
calls into text, or sends a max_tokens the model does not allow (docs/litellm-notes.md)."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from .base import Context, rule

MAX_TOKENS = "max_tokens: {sent} > {limit}, which is the maximum allowed number of output tokens for {model}"


@rule("litellm-transform-error", severity="error", fix="none")
def transform_error(ctx: Context) -> Iterator[Finding]:
    """litellm raised while building the request: nothing reaches the provider."""
    if ctx.wire.error:
        yield ctx.found(
            "litellm-transform-error",
            wire_index=None,
            message_index=None,
            provider_error=ctx.wire.error,
            explanation=f"litellm refuses to build the {ctx.target.label} request "
            f"before sending anything; the rest of this verdict judges the "
            f"request as litellm would otherwise have built it.",
        )


@rule("litellm-dummy-tool", severity="info", fix="define-tools")
def dummy_tool(ctx: Context) -> Iterator[Finding]:
    """No tool definitions but tool blocks in the history: litellm adds `dummy_tool`."""
    change = next((c for c in ctx.wire.changes if "dummy tool" in c), None)
    if change:
        yield ctx.found(
            "litellm-dummy-tool",
            wire_index=None,
            message_index=None,
            explanation=change + "; the model sees a tool it cannot call.",
        )


@rule("litellm-tools-as-text", severity="warning", fix="define-tools")
def tools_as_text(ctx: Context) -> Iterator[Finding]:
    """Converse without tool definitions: litellm rewrites every tool call and result as plain
    text. Accepted, but the model now reads its own tool calls as prose (and may imitate them)."""
    change = next((c for c in ctx.wire.changes if "plain text" in c), None)
    if change:
        yield ctx.found(
            "litellm-tools-as-text",
            wire_index=None,
            message_index=None,
            explanation=change + "; the model sees its own tool calls as prose.",
        )


@rule("max-tokens-too-large", severity="error", fix="set-max-tokens")
def max_tokens_too_large(ctx: Context) -> Iterator[Finding]:
    """A max_tokens above the model's output limit. Typically litellm's default for a model its
    map does not know (128000 for claude-3-5-sonnet-20241022 in 1.110.2) when the caller passed
    none."""
    sent = ctx.wire.max_tokens
    limit = ctx.target.max_output_tokens
    if sent is None or not limit or sent <= limit:
        return
    model = ctx.target.api_model.split("/")[-1]
    passed = ctx.wire.params.get("max_tokens")
    why = "The request sets no max_tokens, so litellm sends its default" if passed is None else "The request asks for"
    # A log without request parameters (most agent logs) does not say what the client passes:
    # litellm's default is only a risk then, not a certain rejection.
    yield ctx.found(
        "max-tokens-too-large",
        wire_index=None,
        message_index=None,
        severity="error" if passed is not None else "warning",
        provider_error=ctx.said(MAX_TOKENS.format(sent=sent, limit=limit, model=model)),
        explanation=f"{why} of {sent:,} output tokens; {model} allows {limit:,}."
        + (
            ""
            if passed is not None
            else " The log does not say which max_tokens the "
            "client passes: if it passes none, this is what the provider answers."
        ),
    )


@rule("litellm-merged-turns", severity="warning", fix="none")
def merged_turns(ctx: Context) -> Iterator[Finding]:
    """Two user turns in a row that litellm merges into one on the way to a provider that wants
    roles to alternate: accepted, but the provider sees one message where the log has two
    (litellm's merge of consecutive same-role messages in its Anthropic, Converse and Gemini
    transformations; the same body sent as it is gets roles-not-alternating from Bedrock). An
    agent's assistant text followed by its tool call is merged the same way, as every agent
    expects: not reported. Nothing to repair: litellm already does it."""
    for k, message in enumerate(ctx.messages):
        if message.role != "user":
            continue
        sources = [s for s in message.sources if 0 <= s < len(ctx.history.messages)]
        same = [s for s in sources if ctx.history.messages[s].role == "user"]
        if len(same) < 2:
            continue
        at = same[1]
        yield ctx.found(
            "litellm-merged-turns",
            wire_index=k,
            message_index=at,
            explanation=f"{ctx.describe(at)} follows another {message.role} message; litellm merges them "
            f"into one {message.role} turn (wire message {k}) before {ctx.target.label} sees them.",
        )
        return
