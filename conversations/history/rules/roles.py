"""Roles and order for Anthropic-shaped requests (docs/provider-rules.md s.1 "Roles and order").

The first-party API accepts a history that starts with an assistant message and merges
consecutive same-role turns; Bedrock InvokeModel still rejects both with Anthropic's older texts,
so the registry runs first-message-not-user and roles-not-alternating for Bedrock only.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from .base import Context, rule

FIRST_NOT_USER = 'messages: first message must use the "user" role'
NOT_ALTERNATING = (
    'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" roles in a row'
)
INVALID_ROLE = "messages.{n}.role: Input should be 'user' or 'assistant'"  # paraphrased
TRAILING_WHITESPACE = "messages: final assistant content cannot end with trailing whitespace"
NO_PREFILL = "This model does not support assistant message prefill. The conversation must end with a user message."


@rule("first-message-not-user", severity="error", fix="fix-role-order")
def first_message_not_user(ctx: Context) -> Iterator[Finding]:
    """The first message is an assistant message (trimmed history, or a greeting stored first)."""
    if ctx.messages and ctx.messages[0].role == "assistant":
        at = ctx.message_of(0)
        yield ctx.found(
            "first-message-not-user",
            wire_index=None,
            message_index=at,
            provider_error=ctx.said(FIRST_NOT_USER),
            explanation=f"The request starts with {ctx.describe(at)}; {ctx.target.label} wants a user message first.",
        )


@rule("roles-not-alternating", severity="error", fix="fix-role-order")
def roles_not_alternating(ctx: Context) -> Iterator[Finding]:
    """Two messages in a row with the same role (after litellm's own merging)."""
    for k in range(1, len(ctx.messages)):
        role = ctx.messages[k].role
        if role == ctx.messages[k - 1].role:
            at = ctx.message_of(k)
            yield ctx.found(
                "roles-not-alternating",
                wire_index=None,
                message_index=at,
                provider_error=ctx.said(NOT_ALTERNATING.format(role=role)),
                explanation=f"{ctx.describe(at)} follows another {role} message "
                f"(wire messages {k - 1} and {k}); {ctx.target.label} "
                f"does not merge them.",
            )
            return


@rule("invalid-role", severity="error", fix="fix-role")
def invalid_role(ctx: Context) -> Iterator[Finding]:
    """A role other than user/assistant in the messages array (wording not seen verbatim)."""
    for k, message in enumerate(ctx.messages):
        if message.role not in ("user", "assistant", "system"):
            at = ctx.message_of(k)
            yield ctx.found(
                "invalid-role",
                wire_index=k,
                message_index=at,
                provider_error=ctx.said(INVALID_ROLE.format(n=k)),
                explanation=f"{ctx.describe(at)} is sent with role {message.role!r}, which the provider does not know.",
            )


@rule("final-assistant-trailing-whitespace", severity="error", fix="strip-trailing-whitespace")
def final_assistant_trailing_whitespace(ctx: Context) -> Iterator[Finding]:
    """A final assistant message (prefill) ending in whitespace. litellm strips it; a request
    built another way may not."""
    if not ctx.messages or ctx.messages[-1].role != "assistant":
        return
    texts = [b for b in ctx.messages[-1].blocks if b.type == "text"]
    if texts and texts[-1].text and texts[-1].text != texts[-1].text.rstrip():
        at = ctx.message_of(len(ctx.messages) - 1)
        yield ctx.found(
            "final-assistant-trailing-whitespace",
            wire_index=None,
            message_index=at,
            provider_error=ctx.said(TRAILING_WHITESPACE),
            explanation=f"The history ends with {ctx.describe(at)} whose text ends in whitespace.",
        )


@rule("prefill-unsupported", severity="error", fix="drop-final-assistant")
def prefill_unsupported(ctx: Context) -> Iterator[Finding]:
    """A final assistant message on a model without prefill (Opus 4.6, Sonnet 4.6 and later);
    a trailing tool call is tool-result-missing's business, not a prefill."""
    if ctx.target.prefill is not False or not ctx.messages:
        return
    last = ctx.messages[-1]
    if last.role != "assistant" or any(b.type == "tool_use" for b in last.blocks):
        return
    at = ctx.message_of(len(ctx.messages) - 1)
    yield ctx.found(
        "prefill-unsupported",
        wire_index=None,
        message_index=at,
        provider_error=ctx.said(NO_PREFILL),
        explanation=f"The history ends with {ctx.describe(at)}, which "
        f"{ctx.target.model} would have to continue (prefill); this model "
        f"does not allow it.",
    )
