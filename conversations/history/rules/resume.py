"""What a client's own resume does to its log, before any provider sees it: the same whatever the
target, so these rules run for every target.

Claude Code writes the results of one response's parallel tool calls on side branches of its uuid
tree (docs/formats.md s.2, corrected), and its resume, at least up to the versions of
anthropics/claude-code#31330, walks one chain from the leaf: it keeps only the branch the chain
went on from and loses the other results ("only the last result retained"). Our reader takes them
in (what the model saw live), and records which it took from off the path in
`meta["off_chain_results"]`; this rule says what the resume would lose. (Rarely, a call's record is
off the path while its result is on it: the resume would then send a result answering no call.)
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from ..formats.claude_code import NAME as CLAUDE_CODE
from ..formats.claude_code import RECHAIN  # set by this warning's repair: the writer then fixes it
from .base import Context, plural, rule

ONE_CHAIN = "Claude Code's resume, at least up to the versions of anthropics/claude-code#31330, walks one chain: "


@rule("parallel-results-off-chain", severity="warning", fix="reparent-off-chain-results")
def parallel_results_off_chain(ctx: Context) -> Iterator[Finding]:
    """Results of parallel tool calls that Claude Code wrote on side branches: a resume that walks
    one chain from the leaf loses them, and the model then sees those calls unanswered
    (anthropics/claude-code#31330, #39830)."""
    history = ctx.history
    if history.format != CLAUDE_CODE or history.meta.get(RECHAIN) is True:
        return
    turns = history.meta.get("off_chain_results")
    if not isinstance(turns, list) or not turns:
        return
    caller = {
        block.id: i
        for i, message in enumerate(history.messages)
        if message.role == "assistant"
        for block in message.blocks
        if block.type == "tool_use"
    }
    for turn in turns:
        ids = [i for i in turn.get("tool_use_ids", []) if isinstance(i, str)]
        calls = [c for c in turn.get("calls", []) if isinstance(c, dict)]
        at = next((caller[i] for i in ids + [c.get("tool_use_id") for c in calls] if i in caller), None)
        if ids:
            yield ctx.found(
                "parallel-results-off-chain",
                message_index=at,
                explanation=ONE_CHAIN + f"it will lose {plural(len(ids), 'result')} and the model will see them as "
                f"missing: {_named(ids, turn.get('tools') or [])} (result records on line "
                f"{', '.join(str(n) for n in turn.get('lines', []))}, on side branches of the uuid tree).",
            )
        elif calls:
            call_ids = [str(c.get("tool_use_id")) for c in calls]
            yield ctx.found(
                "parallel-results-off-chain",
                message_index=at,
                explanation=ONE_CHAIN + f"it will lose {plural(len(calls), 'call')} whose results it keeps, and the "
                f"provider will refuse those results as answering no call: "
                f"{_named(call_ids, [str(c.get('tool', '')) for c in calls])} (tool_use records on line "
                f"{', '.join(str(c.get('line')) for c in calls)}, on side branches of the uuid tree).",
            )


def _named(ids: list[str], tools: list[str]) -> str:
    return ", ".join(f"{i} ({tools[k]})" if k < len(tools) and tools[k] else i for k, i in enumerate(ids))
