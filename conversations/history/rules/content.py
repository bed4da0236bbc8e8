"""Empty content, for Anthropic-shaped requests (docs/provider-rules.md s.1 "Content emptiness").

litellm replaces empty text with a placeholder on the way to Anthropic, so through litellm most
of these only fire for what it does not touch (an empty text block carrying a cache marker, an
empty system block); they are checked on what would be sent either way.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from .base import Context, rule

EMPTY_MESSAGE = "messages.{n}: all messages must have non-empty content except for the optional final assistant message"
EMPTY_TEXT = "messages: text content blocks must be non-empty"
BLANK_TEXT = "messages: text content blocks must contain non-whitespace text"
CACHE_ON_EMPTY = "messages.{n}.content.{m}.text: cache_control cannot be set for empty text blocks"
SYSTEM_EMPTY = "system: text content blocks must be non-empty"  # paraphrased, by analogy


@rule("empty-message-content", severity="error", fix="remove-empty-messages")
def empty_message_content(ctx: Context) -> Iterator[Finding]:
    """A message with no content at all, other than a final assistant message."""
    last = len(ctx.messages) - 1
    for k, message in enumerate(ctx.messages):
        if message.blocks or (k == last and message.role == "assistant"):
            continue
        at = ctx.message_of(k)
        yield ctx.found(
            "empty-message-content",
            wire_index=k,
            message_index=at,
            provider_error=ctx.said(EMPTY_MESSAGE.format(n=k)),
            explanation=f"{ctx.describe(at)} has no content (an empty reply or an empty turn was stored).",
        )


@rule("empty-text-block", severity="error", fix="remove-empty-blocks")
def empty_text_block(ctx: Context) -> Iterator[Finding]:
    """An empty or whitespace-only text block; the API names no index, so the finding does. A
    whitespace-only block in an assistant turn is a warning: claude-opus-4-6 answered a session
    that sent such blocks back twice (docs/provider-rules-corrections.md); an empty one there
    (miurla/morphic#83) and either in a user turn stay errors until a source shows otherwise."""
    reported = -1
    for k, _, block in ctx.blocks_of("text"):
        if k == reported or block.cache or (block.text or "").strip():
            continue  # one per message is enough to find it
        reported = k
        at = block.origin if block.origin is not None else ctx.message_of(k)
        text = EMPTY_TEXT if not block.text else BLANK_TEXT
        kind = "an empty" if not block.text else "a whitespace-only"
        # Whitespace-only in an assistant turn was answered (claude-opus-4-6); an empty one was
        # refused (miurla/morphic#83).
        assistant = ctx.messages[k].role == "assistant" and bool(block.text)
        yield ctx.found(
            "empty-text-block",
            severity="warning" if assistant else None,
            wire_index=None,
            message_index=at,
            content_index=ctx.content_index(block),
            provider_error=ctx.said(text),
            explanation=f"{ctx.describe(at)} has {kind} text block (wire message "
            f"{k}); the provider's error does not say which."
            + (
                " In an assistant turn this is a warning: claude-opus-4-6 has answered requests "
                "that sent whitespace-only blocks back."
                if assistant
                else ""
            ),
        )


@rule("cache-control-on-empty-text", severity="error", fix="remove-empty-blocks")
def cache_control_on_empty_text(ctx: Context) -> Iterator[Finding]:
    """A cache marker on an empty text block (a client adds an empty text block to carry the
    marker, e.g. next to a pasted screenshot)."""
    for k, j, block in ctx.blocks_of("text"):
        if block.cache and not block.text:
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "cache-control-on-empty-text",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                provider_error=ctx.said(CACHE_ON_EMPTY.format(n=k, m=j)),
                explanation=f"{ctx.describe(at)} puts a cache marker on an empty text block.",
            )


@rule("system-empty-text", severity="error", fix="remove-empty-blocks")
def system_empty_text(ctx: Context) -> Iterator[Finding]:
    """An empty text block in the system prompt (wording not seen verbatim)."""
    for block in ctx.wire.system:
        if block.type == "text" and not (block.text or "").strip():
            yield ctx.found(
                "system-empty-text",
                wire_index=None,
                message_index=None,
                provider_error=ctx.said(SYSTEM_EMPTY),
                explanation="The system prompt has an empty text block (the provider's "
                "wording for this case is not confirmed).",
            )
            return
