"""Size limits: the context window, images (docs/provider-rules.md s.1 "Size limits", s.3, s.4).

Counting a request's tokens exactly costs litellm's tokenizer about 15 ms per 100,000 tokens, so
the window rule asks first whether the request can be near the window at all (tokens.py):

1. at the most tokens a byte of text ever makes (half a token: Chinese and Japanese run near 0.3,
   code near 0.4, English prose near 0.2), a request under NEAR of the window needs no counting;
2. else its characters are counted at the rate a sample of them tokenizes at (with the tokenizer
   litellm's counter uses for the model, loaded without litellm), and only an estimate between
   NEAR and FAR of the window is counted exactly; above FAR the estimate is the count. A large
   request (over EXACT_CHARS) in that band is counted only when the estimate's own margin (its
   sampling error, from the spread of the sample) straddles the window;
3. a repaired history is counted from the count of the one it was repaired from: only the
   messages the repair changed are counted.

A flat 4 characters a token, the usual rule of thumb, is off by far more than that band allows:
code makes a token of 2.5 characters, Chinese of 1.2, so a coding agent's history 5% over the
window looked a quarter under it. Tool-call arguments count, as the provider counts them.

The number in the predicted error is the offline count, so it is approximate; the explanation
says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from .. import nextturn, tokens
from ..findings import Finding
from ..wire import request_origins
from .base import Context, rule

PROMPT_TOO_LONG = "prompt is too long: {n} tokens > {limit} maximum"
OPENAI_TOO_LONG = (
    "This model's maximum context length is {limit} tokens. However, your messages "
    "resulted in {n} tokens. Please reduce the length of the messages."
)
GEMINI_TOO_LONG = (
    "The input token count ({n}) exceeds the maximum number of tokens allowed "
    "({limit})."
)  # paraphrased (commonly reported form)
IMAGE_TOO_LARGE = (
    "messages.{n}.content.{m}.image.source.base64: image exceeds 5 MB maximum: "
    "{size} bytes > 5242880 bytes"
)  # paraphrased
TOO_MANY_IMAGES = "messages: Too many images: {n} > {limit} maximum"  # paraphrased
IMAGE_LIMIT_BYTES = 5 * 1024 * 1024
MAX_IMAGES = 100
NEAR = 0.8  # count exactly between these shares of the window: a sampled rate is off by far
FAR = 1.25  # less than this for the texts agents send, so outside them the estimate decides
# Above this many characters (some 250,000 tokens, 40 ms of tokenizing and more) a request in
# that band is counted only when the estimate cannot tell over from under within its own margin.
EXACT_CHARS = 1_000_000


def sent_texts(ctx: Context) -> list[str]:
    """The texts the request sends, as litellm's counter counts them: tool definitions, system
    prompt, message texts, tool results with the id they answer, and tool-call arguments (the
    wire keeps only a call's name, the history its arguments). Not the next request's
    placeholder: its text stands for a message no one has written yet."""
    history = nextturn.without_placeholder(ctx.history)
    placeholder_at = len(history.messages) if history is not ctx.history else None
    texts = [json.dumps(ctx.wire.params.get("tools") or [])]
    texts += [block.text for block in ctx.wire.system if block.text]
    for message in ctx.messages:
        for block in message.blocks:
            if placeholder_at is not None and block.origin == placeholder_at:
                continue
            if block.text:
                texts.append(block.text)
            elif block.type == "tool_use":
                texts.append(block.name or "")
            if block.type == "tool_result" and block.id:
                texts.append(block.id)
    return texts + tokens.arguments_text(history)


def input_tokens(ctx: Context) -> int | None:
    """The request's input tokens when it may be over the window; None when clearly under.
    Counted from the count of the history it was made from when the check has one (a repair's
    check), else estimated, and counted exactly only near the window."""
    window = ctx.target.context_window
    if not window:
        return None
    history = nextturn.without_placeholder(ctx.history)
    if ctx.counted is not None:
        n = tokens.recount(ctx.counted, history, ctx.target.model)
        if n is not None:
            ctx.input_tokens = n
            return n
    texts = sent_texts(ctx)
    chars = sum(map(len, texts))  # a UTF-8 byte count is at least this: skip it when this is enough
    if (
        chars * tokens.MOST_TOKENS_PER_BYTE < NEAR * window
        and tokens.utf8_size(texts) * tokens.MOST_TOKENS_PER_BYTE + tokens.PER_MESSAGE * len(history.messages)
        < NEAR * window
    ):
        return None  # under even at the most tokens a byte ever makes
    size = ctx.wire.request_size
    rough = tokens.estimated(texts, size if size is not None else len(request_origins(history)), ctx.target.model)
    if rough.tokens < NEAR * window:
        return None
    if rough.tokens > FAR * window:
        return rough.tokens  # over by far more than the estimate can be off: no need to count
    if chars > EXACT_CHARS and (rough.over(window) or rough.under(window)):
        return rough.tokens if rough.over(window) else None  # sure enough, and costly to count
    exact = tokens.exact(history, ctx.target.model)
    if exact is None:
        return rough.tokens
    ctx.input_tokens = exact
    return exact


def _overflow(ctx: Context, code: str, text: str) -> Iterator[Finding]:
    n = input_tokens(ctx)
    limit = ctx.target.context_window
    if n is None or limit is None or n <= limit:
        return
    yield ctx.found(
        code,
        wire_index=None,
        message_index=None,
        provider_error=text.format(n=n, limit=limit),
        explanation=f"The request is about {n:,} tokens (counted offline, so the "
        f"provider's number will differ a little); {ctx.target.model} takes "
        f"{limit:,}.",
    )


@rule("context-overflow", severity="error", fix="truncate-history")
def context_overflow(ctx: Context) -> Iterator[Finding]:
    """More input tokens than the model's context window (Anthropic and Bedrock wording)."""
    for finding in _overflow(ctx, "context-overflow", PROMPT_TOO_LONG):
        finding.provider_error = ctx.said(finding.provider_error or "")
        yield finding


@rule("openai-context-overflow", severity="error", fix="truncate-history")
def openai_context_overflow(ctx: Context) -> Iterator[Finding]:
    """More input tokens than the model's context window (context_length_exceeded)."""
    yield from _overflow(ctx, "openai-context-overflow", OPENAI_TOO_LONG)


@rule("gemini-context-overflow", severity="error", fix="truncate-history")
def gemini_context_overflow(ctx: Context) -> Iterator[Finding]:
    """More input tokens than the model's window (wording commonly reported, not verified)."""
    yield from _overflow(ctx, "gemini-context-overflow", GEMINI_TOO_LONG)


def _image_bytes(raw: object) -> int | None:
    """Decoded size of a base64 image, from its length (no decoding needed)."""
    if not isinstance(raw, dict):
        return None
    source = raw.get("source")
    data = source.get("data") if isinstance(source, dict) else None
    if not isinstance(data, str):
        return None
    return (len(data) * 3) // 4 - data[-2:].count("=")


@rule("image-too-large", severity="error", fix="shrink-images")
def image_too_large(ctx: Context) -> Iterator[Finding]:
    """An image over 5 MB once decoded (Anthropic API limit; wording not verified)."""
    for k, j, block in ctx.blocks_of("image"):
        size = _image_bytes(block.raw)
        if size is not None and size > IMAGE_LIMIT_BYTES:
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "image-too-large",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                provider_error=ctx.said(IMAGE_TOO_LARGE.format(n=k, m=j, size=size)),
                explanation=f"{ctx.describe(at)} has an image of {size:,} bytes; "
                f"the limit is 5 MB (the provider's wording for this "
                f"is not confirmed).",
            )


@rule("too-many-images", severity="error", fix="shrink-images")
def too_many_images(ctx: Context) -> Iterator[Finding]:
    """More than 100 images in one request (Anthropic API; wording not verified)."""
    n = len(ctx.blocks_of("image"))
    if n > MAX_IMAGES:
        yield ctx.found(
            "too-many-images",
            wire_index=None,
            message_index=None,
            provider_error=ctx.said(TOO_MANY_IMAGES.format(n=n, limit=MAX_IMAGES)),
            explanation=f"The request holds {n} images; the API takes at most "
            f"{MAX_IMAGES} (the provider's wording is not confirmed).",
        )
