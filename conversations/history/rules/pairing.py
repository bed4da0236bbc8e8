"""Tool pairing for Anthropic-shaped requests (Messages API, Bedrock InvokeModel, and what
Converse passes on to Claude): every tool_use answered first thing in the next message, every
tool_result answering a tool_use of the message before, ids unique and well formed.

Texts: docs/provider-rules.md s.1 "Tool pairing", each quoted from the reports cited there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..findings import Finding
from ..wire_blocks import WireBlock
from .base import Context, ids, plural, rule, turns

MISSING = (
    "messages.{n}: `tool_use` ids were found without `tool_result` blocks immediately after: "
    "{ids}. Each `tool_use` block must have a corresponding `tool_result` block in the next "
    "message."
)
NOT_FIRST = (
    "messages.{n}: Did not find {count} `tool_result` block(s) at the beginning of this "
    "message. Messages following `tool_use` blocks must begin with a matching number of "
    "`tool_result` blocks."
)
ORPHAN = (
    "messages.{n}.content.{m}: unexpected `tool_use_id` found in `tool_result` blocks: {ids}. "
    "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
    "message."
)
SERVER_ORPHAN = (
    "messages.{n}.content.{m}: unexpected `tool_use_id` found in `{kind}` blocks: {ids}. "
    "Each `{kind}` block must have a corresponding `server_tool_use` block before it."
)
DUPLICATE = "messages.{n}.content.{m}: tool_use ids must be unique"
PATTERN = "messages.{n}.content.{m}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")

# Anthropic's first-party API merges consecutive same-role turns before it validates; Bedrock
# does not (it answers "roles must alternate" instead).
MERGING_TARGETS = ("anthropic",)


def _place(entry: tuple[int, int, WireBlock]) -> tuple[int, int]:
    return entry[0], entry[1]


def _turns(ctx: Context) -> list[tuple[int, str, list[WireBlock]]]:
    return ctx.memo("turns", lambda: list(turns(ctx.messages, merge=ctx.target.name in MERGING_TARGETS)))


@rule("tool-result-missing", severity="error", fix="add-missing-tool-result")
def tool_result_missing(ctx: Context) -> Iterator[Finding]:
    """An assistant turn's tool_use ids not all answered in the very next message (or a text
    block after the tool calls, which the API reads as an unfinished turn: opencode cassette
    rejects-malformed-assistant-tool-order-without-patch)."""
    yield from missing_findings(ctx, "tool-result-missing")


def missing_findings(ctx: Context, code: str) -> Iterator[Finding]:
    all_turns = _turns(ctx)
    for t, (k, role, blocks) in enumerate(all_turns):
        if role != "assistant":
            continue
        uses = ids(blocks, "tool_use")
        if not uses:
            continue
        nxt = all_turns[t + 1] if t + 1 < len(all_turns) else None
        answered = set(ids(nxt[2], "tool_result")) if nxt and nxt[1] == "user" else set()
        missing = [i for i in uses if i not in answered]
        last_use = max(j for j, b in enumerate(blocks) if b.type == "tool_use")
        text_after = any(b.type == "text" for b in blocks[last_use + 1 :])
        if not missing and not text_after:
            continue
        reported = missing or uses
        n = nxt[0] if nxt else len(ctx.messages)
        at = ctx.message_of(k)
        if text_after and not missing:
            why = (
                f"{ctx.describe(at)} has text after its tool call; Anthropic then treats the tool "
                f"call as unanswered even though the next message answers it."
            )
            fix = "move-text-before-tool-use"
        elif nxt is None:
            why = (
                f"{ctx.describe(at)} ends the history with {plural(len(missing), 'tool call')} "
                f"({', '.join(missing)}) that no tool result answers; the next request must start "
                f"with the results."
            )
            fix = None
        else:
            why = (
                f"{ctx.describe(at)} calls {', '.join(missing)}, but the message after it "
                f"({ctx.describe(ctx.message_of(nxt[0]))}) holds no tool result for "
                f"{'it' if len(missing) == 1 else 'them'} (interrupted, lost, or split over "
                f"several messages)."
            )
            fix = None
        yield ctx.found(
            code,
            wire_index=n,
            message_index=at,
            provider_error=ctx.said(MISSING.format(n=n, ids=", ".join(reported))),
            explanation=why,
            fix=fix,
        )


@rule("tool-result-not-first", severity="error", fix="move-tool-results-first")
def tool_result_not_first(ctx: Context) -> Iterator[Finding]:
    """All results are in the next message, but not at its start (litellm merges a user text
    written before the tool message into the same turn, ahead of the result)."""
    all_turns = _turns(ctx)
    for t, (k, role, blocks) in enumerate(all_turns[:-1]):
        n, next_role, following = all_turns[t + 1]
        if role != "assistant" or next_role != "user":
            continue
        uses = ids(blocks, "tool_use")
        if not uses:
            continue
        answered = set(ids(following, "tool_result"))
        if any(i not in answered for i in uses):
            continue  # tool-result-missing speaks for this turn
        leading = 0
        while leading < len(following) and following[leading].type == "tool_result":
            leading += 1
        if leading >= len(uses):
            continue
        first_other = next(b for b in following if b.type != "tool_result")
        at = first_other.origin if first_other.origin is not None else ctx.message_of(n)
        why = (
            f"The results of the {plural(len(uses), 'tool call')} in {ctx.describe(ctx.message_of(k))} "
            f"are in the next turn, but {ctx.describe(at)} puts other content before them; "
            f"Anthropic wants the tool_result blocks first."
        )
        yield ctx.found(
            "tool-result-not-first",
            wire_index=n,
            message_index=at,
            provider_error=ctx.said(NOT_FIRST.format(n=n, count=len(uses))),
            explanation=why,
        )


@rule("tool-result-orphan", severity="error", fix="drop-orphan-tool-result")
def tool_result_orphan(ctx: Context) -> Iterator[Finding]:
    """A tool_result whose id is not a tool_use of the message just before."""
    previous: list[str] = []
    for k, role, blocks in _turns(ctx):
        if role == "user":
            called = set(previous)  # a list's `in` made this quadratic in the number of calls
            orphans = [(j, b) for j, b in enumerate(blocks) if b.type == "tool_result" and b.id not in called]
            if orphans:
                m, first = orphans[0]
                at = first.origin if first.origin is not None else ctx.message_of(k)
                where = (
                    "no tool call comes before it"
                    if not previous
                    else "the message before it calls " + ", ".join(previous)
                )
                why = (
                    f"{ctx.describe(at)} answers {', '.join(b.id or '?' for _, b in orphans)}, but "
                    f"{where} (its call was trimmed away, or the result repeats an older one)."
                )
                yield ctx.found(
                    "tool-result-orphan",
                    wire_index=k,
                    message_index=at,
                    content_index=ctx.content_index(first),
                    provider_error=ctx.said(ORPHAN.format(n=k, m=m, ids=", ".join(b.id or "" for _, b in orphans))),
                    explanation=why,
                )
        previous = ids(blocks, "tool_use") if role == "assistant" else []


@rule("server-tool-result-orphan", severity="error", fix="drop-orphan-tool-result")
def server_tool_result_orphan(ctx: Context) -> Iterator[Finding]:
    """A server tool result (advisor_tool_result, web_search_tool_result...) with no
    server_tool_use before it."""
    if not ctx.blocks_of("server_tool_result"):
        return
    seen: set[str] = set()
    for k, j, block in sorted(ctx.blocks_of("server_tool_use") + ctx.blocks_of("server_tool_result"), key=_place):
        if block.type == "server_tool_use" and block.id:
            seen.add(block.id)
        elif block.type == "server_tool_result" and block.id not in seen:
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "server-tool-result-orphan",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                provider_error=ctx.said(SERVER_ORPHAN.format(n=k, m=j, kind=block.name, ids=block.id)),
                explanation=f"{ctx.describe(at)} holds a {block.name} for "
                f"{block.id}, but no server_tool_use with that id "
                f"comes before it.",
            )


@rule("tool-use-id-duplicate", severity="error", fix="drop-duplicate-tool-use")
def tool_use_id_duplicate(ctx: Context) -> Iterator[Finding]:
    """Two tool_use blocks share an id (the second one is named)."""
    first_at: dict[str, int | None] = {}
    for k, j, block in ctx.blocks_of("tool_use"):
        if not block.id:
            continue
        if block.id in first_at:
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "tool-use-id-duplicate",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                provider_error=ctx.said(DUPLICATE.format(n=k, m=j)),
                explanation=f"{ctx.describe(at)} calls {block.id}, an id already "
                f"used by {ctx.describe(first_at[block.id])}.",
            )
        else:
            first_at[block.id] = block.origin if block.origin is not None else ctx.message_of(k)


@rule("tool-use-id-pattern", severity="error", fix="rewrite-tool-use-ids")
def tool_use_id_pattern(ctx: Context) -> Iterator[Finding]:
    """A tool_use id Anthropic's schema refuses (empty, or with dots and colons such as ids
    carried over from other providers: `functions.bash:0`)."""
    for k, j, block in ctx.blocks_of("tool_use"):
        if not ID_PATTERN.match(block.id or ""):
            at = block.origin if block.origin is not None else ctx.message_of(k)
            yield ctx.found(
                "tool-use-id-pattern",
                wire_index=k,
                message_index=at,
                content_index=ctx.content_index(block),
                provider_error=ctx.said(PATTERN.format(n=k, m=j)),
                explanation=f"{ctx.describe(at)} has a tool call id {block.id!r} "
                f"that is not made of letters, digits, _ and - only.",
            )
