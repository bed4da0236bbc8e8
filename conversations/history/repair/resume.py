"""Repairs for what a client's own resume does to its log (rules/resume.py)."""

from __future__ import annotations

from ..findings import Finding
from ..formats.claude_code import RECHAIN
from .registry import strategy
from .work import Work


@strategy("reparent-off-chain-results")
def reparent_off_chain_results(work: Work, findings: list[Finding]) -> None:
    """Ask the Claude Code writer to re-parent the result records that sit off the chain onto it
    (formats/claude_code/rechain.py), so one walk from the leaf passes every call and result. The
    messages do not change and no result is added: only those records' parentUuid, when written."""
    if work.history.format != "claude-code" or work.history.meta.get(RECHAIN) is True:
        return
    turns = [t for t in work.history.meta.get("off_chain_results") or [] if isinstance(t, dict)]
    if not turns:
        return
    work.history.meta[RECHAIN] = True
    for turn in turns:
        ids = [i for i in turn.get("tool_use_ids", []) if isinstance(i, str)]
        calls = [c for c in turn.get("calls", []) if isinstance(c, dict)]
        named = ids + [str(c.get("tool_use_id")) for c in calls]
        caller = next(
            (m for m in work.history.messages if any(b.type == "tool_use" and b.id in named for b in m.blocks)), None
        )
        where = f" of {work.name(caller)}" if caller is not None else ""
        if ids:
            lines = ", ".join(str(n) for n in turn.get("lines", []))
            what = f"re-parented the result record(s) on line {lines} ({', '.join(ids)}){where} onto the chain"
        else:
            lines = ", ".join(str(c.get("line")) for c in calls)
            what = f"re-parented result records so the call record(s) on line {lines}{where} are on the chain"
        work.note(
            "reparent-results",
            caller,
            f"{what}, so Claude Code's resume keeps them (only result records' parentUuid changes when written)",
        )
