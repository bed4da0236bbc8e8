"""Prompt caching: breakpoints a provider refuses, breakpoints that silently cache nothing, and
breakpoints in harmful places (docs/provider-rules.md s.1 "Prompt caching", s.2a, s.2b).

Markers are counted on the wire: litellm moves a tool message's marker onto its tool_result
(Anthropic) or a cachePoint after it (Converse), strips them for OpenAI and Gemini, and drops
Converse cachePoints for a model or deployment without prompt caching.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

from ..findings import Finding
from ..wire_blocks import WireBlock
from .base import Context, rule

TOO_MANY = "A maximum of {limit} blocks with cache_control may be provided. Found {n}."
TTL_ORDER = (
    "{where}.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block."
)
NO_EXPLICIT_CACHING = "You do not have access to explicit prompt caching"
# Texts an agent writes when a tool call never ran: OpenHands' synthetic ErrorObservation
# (AGENT_ERROR$ERROR_ACTION_NOT_EXECUTED_ERROR), litellm's modify_params stand-in, Claude Code's
# interrupt marker.
SYNTHETIC_RESULTS = (
    "The action has not been executed",
    "[Error occurred in processing last action]",
    "[System: Tool execution skipped/interrupted",
    "[Request interrupted by user for tool use]",
)
CHARS_PER_TOKEN = 4  # a coarse estimate: only ever used for "info", never to reject


def _markers(ctx: Context) -> list[tuple[str, int | None, WireBlock]]:
    """The request's cache markers, listed once per check (several rules read them)."""
    return ctx.memo("markers", lambda: list(ctx.wire.markers()))


def _count(ctx: Context) -> int:
    return ctx.wire.tool_markers + len(_markers(ctx))


@rule("cache-control-too-many", severity="error", fix="trim-cache-markers")
def cache_control_too_many(ctx: Context) -> Iterator[Finding]:
    """More cache breakpoints than the API allows (4), counted over tools, system and messages.
    litellm passes them through unless drop_params is set."""
    limit = ctx.target.max_cache_breakpoints
    n = _count(ctx)
    if limit is None or limit == 0 or n <= limit:
        return
    yield ctx.found(
        "cache-control-too-many",
        wire_index=None,
        message_index=None,
        provider_error=ctx.said(TOO_MANY.format(limit=limit, n=n)),
        explanation=f"The request carries {n} cache breakpoints (tools, system prompt "
        f"and messages together); {ctx.target.label} allows {limit}.",
    )


def _ttl(block: WireBlock) -> str:
    return (block.cache or {}).get("ttl") or "5m"


@rule("cache-ttl-order", severity="error", fix="reorder-cache-ttl")
def cache_ttl_order(ctx: Context) -> Iterator[Finding]:
    """A 1h breakpoint after a 5m one, in tools, system, messages order (text quoted in a
    proxy's notes; not in Anthropic's docs)."""
    seen_short = False
    for _where, k, block in _markers(ctx):
        ttl = _ttl(block)
        if ttl == "1h" and seen_short:
            place = f"messages.{k}.content.{block.index}" if k is not None else f"system.{block.index}"
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "cache-ttl-order",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                provider_error=ctx.said(TTL_ORDER.format(where=place)),
                explanation=f"{ctx.describe(at)} has a 1-hour cache breakpoint after a "
                f"5-minute one; longer TTLs must come first.",
            )
            return
        if ttl != "1h":
            seen_short = True


@rule("cache-below-minimum", severity="info", fix="none")
def cache_below_minimum(ctx: Context) -> Iterator[Finding]:
    """A breakpoint whose prefix is shorter than the model's minimum cacheable length: accepted,
    nothing cached (cache_creation_input_tokens: 0; strands-agents/harness-sdk#1404)."""
    minimum = ctx.target.min_cacheable_tokens
    if not minimum or not ctx.wire.history_markers:
        return
    enough = minimum * CHARS_PER_TOKEN
    chars = len(json.dumps(ctx.wire.params.get("tools") or []))
    # Prefixes only grow: once one reaches the minimum, every later breakpoint does too.
    places = itertools.chain(
        ((None, b) for b in ctx.wire.system), ((k, b) for k, m in enumerate(ctx.messages) for b in m.blocks)
    )
    for k, block in places:
        chars += _chars(block)
        if chars >= enough:
            return
        if block.cache or block.type == "cache_point":
            yield _below(ctx, k, block, chars, minimum)


def _chars(block: WireBlock) -> int:
    """Characters a block adds to the prompt, roughly (tool calls count their name and a bit)."""
    if block.text is not None:
        return len(block.text)
    return len(block.name or "") + 40


def _below(ctx: Context, k: int | None, block: WireBlock, chars: int, minimum: int) -> Finding:
    at = block.origin if k is not None and block.origin is not None else ctx.message_of(k)
    where = "the system prompt" if k is None else ctx.describe(at)
    return ctx.found(
        "cache-below-minimum",
        wire_index=None,
        message_index=at if k is not None else None,
        explanation=f"The cache breakpoint in {where} closes a prefix of about "
        f"{chars // CHARS_PER_TOKEN:,} tokens, under {ctx.target.model}'s "
        f"minimum of {minimum:,}: the request is accepted but nothing is "
        f"cached.",
    )


def _synthetic(block: WireBlock) -> bool:
    if block.type != "tool_result":
        return False
    return bool(block.is_error) or any(s in (block.text or "") for s in SYNTHETIC_RESULTS)


@rule("cache-on-synthetic-error", severity="warning", fix="move-cache-marker")
def cache_on_synthetic_error(ctx: Context) -> Iterator[Finding]:
    """A cache breakpoint on a synthetic error result (an is_error result, or the text an agent
    writes when the tool never ran): accepted, but it caches a prefix ending in a placeholder
    that the next repair or retry replaces (the seed case, OpenHands PR #6852)."""
    for k, j, block in ctx.blocks_of("tool_result"):
        blocks = ctx.messages[k].blocks
        marked = block.cache is not None or (j + 1 < len(blocks) and blocks[j + 1].type == "cache_point")
        if marked and _synthetic(block):
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "cache-on-synthetic-error",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                explanation=f"{ctx.describe(at)} is a synthetic error result for "
                f"{block.id} (the tool never ran) and carries a cache "
                f"breakpoint: the cache write is wasted once the result "
                f"is repaired, and the marker sits where histories get "
                f"rewritten. Put it on the message before.",
            )


@rule("bedrock-no-explicit-caching", severity="error", fix="remove-cache-markers")
def bedrock_no_explicit_caching(ctx: Context) -> Iterator[Finding]:
    """Cache markers reach a Bedrock account or model without explicit prompt caching."""
    if ctx.target.prompt_caching is not False:
        return
    n = _count(ctx)
    if not n:
        return
    yield ctx.found(
        "bedrock-no-explicit-caching",
        wire_index=None,
        message_index=None,
        provider_error=NO_EXPLICIT_CACHING,
        explanation=f"{ctx.target.label} has no explicit prompt caching, and the "
        f"request carries {n} cache markers. (A litellm that reads the "
        f"deployment's model_info, as 1.110.2 does, drops the markers and "
        f"caches nothing instead; the seed's proxy sent them and was refused.)",
    )


@rule("cache-markers-dropped", severity="warning", fix="remove-cache-markers")
def cache_markers_dropped(ctx: Context) -> Iterator[Finding]:
    """The history has cache markers and litellm sends none: for OpenAI and Gemini that is the
    normal path (info); for a Bedrock deployment whose model_info says no prompt caching,
    litellm 1.110.2 drops them and the request succeeds with caching silently off (warning).
    A litellm that does not drop them gets "You do not have access to explicit prompt caching"."""
    if not ctx.wire.history_markers or _count(ctx):
        return
    change = next((c for c in ctx.wire.changes if "cache markers" in c), "litellm drops them")
    if ctx.wire.format in ("openai", "gemini"):
        yield ctx.found(
            "cache-markers-dropped",
            severity="info",
            fix="none",
            explanation=f"The history has {ctx.wire.history_markers} cache markers: {change}.",
        )
        return
    yield ctx.found(
        "cache-markers-dropped",
        explanation=f"The history has {ctx.wire.history_markers} cache markers and this "
        f"deployment has no prompt caching: {change}. Accepted, nothing is "
        f"cached. A litellm that still sends them (the seed's proxy, Feb "
        f"2025) gets '{NO_EXPLICIT_CACHING}'.",
    )
