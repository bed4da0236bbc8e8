"""OpenAI Chat Completions (docs/provider-rules.md s.3). The wire is the OpenAI message list itself,
system messages included, so a wire index counts them (OpenAI's `param: messages.[N]`).

OpenAI accepts what Anthropic's older API refused: consecutive same-role messages, an assistant
message first, `content: null` next to tool_calls. Only tool pairing and sizes are checked.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from ..wire_blocks import WireMessage
from .base import Context, rule

RESPONSE_MISSING = (
    "An assistant message with 'tool_calls' must be followed by tool messages "
    "responding to each 'tool_call_id'. The following tool_call_ids did not have "
    "response messages: {ids}"
)
ORPHAN = "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."
ID_TOO_LONG = (
    "Invalid 'messages[{k}].tool_calls[{j}].id': string too long. Expected a string with "
    "maximum length 40, but got a string with length {n} instead."
)
TOO_MANY_MESSAGES = (
    "Invalid 'messages': array too long. Expected an array with maximum length "
    "2048, but got an array with length {n} instead."
)  # paraphrased
NAME_TOO_LONG = (
    "Invalid 'tools[{k}].function.name': string too long. Expected a string with maximum "
    "length 64, but got a string with length {n} instead."
)
MAX_MESSAGES = 2048
MAX_ID = 40
MAX_NAME = 64


# (assistant index, its call ids, [(tool index, id)], index of the first message after)
Run = tuple[int, list[str], list[tuple[int, str | None]], int]


def _runs(ctx: Context) -> list[Run]:
    """(assistant index, its call ids, [(tool index, id)], index of the first message after),
    for each assistant message with tool calls; shared by the rules that read them."""
    return ctx.memo("openai-runs", lambda: list(_find_runs(ctx.messages)))


def _find_runs(msgs: list[WireMessage]) -> Iterator[Run]:
    for k, message in enumerate(msgs):
        if message.role != "assistant":
            continue
        calls = [b.id or "" for b in message.blocks if b.type == "tool_use"]
        if not calls:
            continue
        j = k + 1
        answers = []
        while j < len(msgs) and msgs[j].role == "tool":
            result = next((b for b in msgs[j].blocks if b.type == "tool_result"), None)
            answers.append((j, result.id if result else None))
            j += 1
        yield k, calls, answers, j


@rule("openai-tool-response-missing", severity="error", fix="add-missing-tool-result")
def tool_response_missing(ctx: Context) -> Iterator[Finding]:
    """An assistant message's tool_calls not all answered by the tool messages right after it.
    Which message OpenAI's `param` names is not confirmed: we name the first message after the
    tool messages (the one that came too early), or the assistant message at the end."""
    for k, calls, answers, j in _runs(ctx):
        answered = {i for _, i in answers}
        missing = [i for i in calls if i not in answered]
        if not missing:
            continue
        at = ctx.message_of(k)
        n = j if j < len(ctx.messages) else k
        after = f"{ctx.describe(ctx.message_of(j))} comes next" if j < len(ctx.messages) else "the history ends"
        yield ctx.found(
            "openai-tool-response-missing",
            wire_index=n,
            message_index=at,
            provider_error=RESPONSE_MISSING.format(ids=", ".join(missing)),
            explanation=f"{ctx.describe(at)} calls {', '.join(missing)}, but {after} "
            f"without a tool message answering "
            f"{'it' if len(missing) == 1 else 'them'}.",
        )


@rule("openai-tool-orphan", severity="error", fix="drop-orphan-tool-result")
def tool_orphan(ctx: Context) -> Iterator[Finding]:
    """A tool message that does not follow an assistant message with tool_calls (or a run of
    tool messages after one)."""
    msgs = ctx.messages
    for k, message in enumerate(msgs):
        if message.role != "tool":
            continue
        j = k - 1
        while j >= 0 and msgs[j].role == "tool":
            j -= 1
        if j >= 0 and msgs[j].role == "assistant" and any(b.type == "tool_use" for b in msgs[j].blocks):
            continue
        at = ctx.message_of(k)
        before = ctx.describe(ctx.message_of(j)) if j >= 0 else "nothing"
        yield ctx.found(
            "openai-tool-orphan",
            wire_index=k,
            message_index=at,
            provider_error=ORPHAN,
            explanation=f"{ctx.describe(at)} answers a tool call, but {before} comes "
            f"before it, not an assistant message with tool_calls.",
        )


@rule("openai-tool-call-id-unknown", severity="error", fix="drop-orphan-tool-result")
def tool_call_id_unknown(ctx: Context) -> Iterator[Finding]:
    """A tool message whose tool_call_id is not among the calls it follows. OpenAI words it as
    one of the two errors above (the unanswered call is listed as missing a response)."""
    for k, calls, answers, _ in _runs(ctx):
        for j, answer_id in answers:
            if answer_id in calls:
                continue
            missing = [i for i in calls if i not in {a for _, a in answers}]
            at = ctx.message_of(j)
            text = RESPONSE_MISSING.format(ids=", ".join(missing)) if missing else ORPHAN
            yield ctx.found(
                "openai-tool-call-id-unknown",
                wire_index=j,
                message_index=at,
                provider_error=text,
                explanation=f"{ctx.describe(at)} answers {answer_id!r}, which "
                f"{ctx.describe(ctx.message_of(k))} did not call (it calls "
                f"{', '.join(calls)}).",
            )


@rule("openai-tool-call-id-too-long", severity="warning", fix="rewrite-tool-use-ids")
def tool_call_id_too_long(ctx: Context) -> Iterator[Finding]:
    """A tool call id over 40 characters (ids from other providers). OpenAI enforced this in
    2024-2025; vercel/ai PR #17233 could not reproduce it in 2026, hence a warning."""
    for k, message in enumerate(ctx.messages):
        calls = [b for b in message.blocks if b.type == "tool_use"]
        for j, block in enumerate(calls):
            if len(block.id or "") > MAX_ID:
                at = ctx.message_of(k)
                text = ID_TOO_LONG.format(k=k, j=j, n=len(block.id or ""))
                yield ctx.found(
                    "openai-tool-call-id-too-long",
                    wire_index=k,
                    message_index=at,
                    explanation=f"{ctx.describe(at)} has a tool call id of "
                    f"{len(block.id or '')} characters; OpenAI has answered "
                    f"'{text}' for such ids.",
                )
                return


@rule("openai-too-many-messages", severity="error", fix="split-history")
def too_many_messages(ctx: Context) -> Iterator[Finding]:
    """More than 2,048 messages (wording by analogy with OpenAI's other length errors)."""
    n = len(ctx.messages)
    if n > MAX_MESSAGES:
        yield ctx.found(
            "openai-too-many-messages",
            wire_index=None,
            message_index=None,
            provider_error=TOO_MANY_MESSAGES.format(n=n),
            explanation=f"The request has {n:,} messages; OpenAI takes at most {MAX_MESSAGES:,}.",
        )


@rule("openai-tool-name-too-long", severity="error", fix="shorten-tool-names")
def tool_name_too_long(ctx: Context) -> Iterator[Finding]:
    """A tool name over 64 characters (MCP tools often are)."""
    for k, tool in enumerate(ctx.wire.params.get("tools") or []):
        name = ((tool or {}).get("function") or {}).get("name") or ""
        if len(name) > MAX_NAME:
            yield ctx.found(
                "openai-tool-name-too-long",
                wire_index=None,
                message_index=None,
                provider_error=NAME_TOO_LONG.format(k=k, n=len(name)),
                explanation=f"Tool {k} is called {name!r} ({len(name)} characters); OpenAI takes at most {MAX_NAME}.",
            )
