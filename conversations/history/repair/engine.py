"""The repair loop: check, apply the strategies for what the check found, check again.

    result = repair(history, target="anthropic")
    result = repair(history, route=(config, "claude-3-5-sonnet-20241022"))
    result.history, result.edits, result.before, result.after

Each round applies, in ORDER, the strategy of every fix code the findings name (errors, and
warnings with include_warnings), then checks again. It stops when nothing fixable is left, when
a round changes nothing, when the findings come back to a state already seen (two strategies
undoing each other), or after MAX_ROUNDS. The input history is never changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..check import check
from ..edits import Edit
from ..errors import HistoryError
from ..findings import Finding, Verdict
from ..model import History
from ..routes import deployment_target, load_config, route_deployments
from ..targets import Target, resolve, target_for_model
from ..tokens import Counted
from .registry import ORDER, STRATEGIES
from .work import Work

MAX_ROUNDS = 6


class RepairError(HistoryError):
    """A repair asked for in a way that cannot be done (a target and a route at once)."""


Route = tuple[dict[str, Any] | str | Path, str]  # (router config, model group)


@dataclass
class Step:
    """One strategy a round would run, with the findings it answers."""

    fix: str
    findings: list[Finding]


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    uncovered: list[Finding] = field(default_factory=list)  # fixes without a strategy

    @property
    def empty(self) -> bool:
        return not self.steps


@dataclass
class RepairResult:
    history: History
    edits: list[Edit]
    before: list[Verdict]
    after: list[Verdict]
    # For each message of `history`, the index of the input's message it is a copy of (None for a
    # message the repair made): what storage needs to share the unchanged ones.
    origins: list[int | None] | None = None

    @property
    def changed(self) -> bool:
        return bool(self.edits)

    @property
    def accepted(self) -> bool:
        return all(v.accepted for v in self.after)

    def remaining(self, include_warnings: bool = False) -> list[Finding]:
        """What is still wrong after the repair (errors; warnings too when asked)."""
        return [f for v in self.after for f in v.findings if _counts(f, include_warnings)]


def _counts(finding: Finding, include_warnings: bool) -> bool:
    # An error the log proves answered (Finding.answered) is still repaired: the repair makes the
    # history right for any provider, not only for the one that answered it then.
    return finding.severity == "error" or (include_warnings and finding.severity == "warning")


def plan(verdicts: list[Verdict], *, include_warnings: bool = False) -> Plan:
    """The strategies a round would apply for these verdicts, in the order it applies them, and
    the findings no strategy covers."""
    by_fix: dict[str, list[Finding]] = {}
    uncovered: list[Finding] = []
    for verdict in verdicts:
        for finding in verdict.findings:
            if not _counts(finding, include_warnings):
                continue
            if finding.fix in STRATEGIES:
                by_fix.setdefault(finding.fix, []).append(finding)
            else:
                uncovered.append(finding)
    steps = [Step(fix, by_fix[fix]) for fix in ORDER if fix in by_fix]
    return Plan(steps=steps, uncovered=uncovered)


Judge = Callable[[History], list[Verdict]]


def repair(
    history: History,
    *,
    target: Target | str | None = None,
    route: Route | None = None,
    include_warnings: bool = False,
    judge: Judge | None = None,
    build_request: bool | None = None,
    before: list[Verdict] | None = None,
    sender: str | None = None,
) -> RepairResult:
    """A copy of `history` repaired for `target` (default: the conversation's own) or for every
    deployment of `route` = (router config, model group), with the edits made and the verdicts
    before and after.

    `judge` replaces the check run each round, for a history that does not go through litellm:
    e.g. `lambda h: [check_body(h, anthropic.to_request(h), target=t)]` for a client that sends
    its Anthropic request itself (Claude Code). `target` then only gives the limits strategies
    read (cache breakpoints, max output). build_request: check.check's option (default: the
    replay of litellm's transformation wherever it covers the history; True: litellm's own).
    `before`: the verdicts the first check would give, when the caller has them already (stored
    at ingest), so it is not run; verdicts for other targets than the ones judged are ignored.
    `sender`: the client whose request is judged (senders.py; default the format's own)."""
    if target is not None and route is not None:
        raise RepairError("repair for a target or for a route, not both")
    default_judge, targets = _judge(history, target, route, build_request, sender)
    if (
        before is None
        or [v.target for v in before] != [t.label for t in targets]
        or (sender is not None and any(v.sender != sender for v in before))
    ):
        before = (judge or default_judge)(history)
    work = Work(history, targets)
    # Each round's check counts the tokens of what the strategies changed, not the whole history.
    counts = {v.target: Counted(history, v.input_tokens) for v in before if v.input_tokens is not None}

    def judge_work() -> list[Verdict]:
        if judge is not None:
            return judge(work.history)
        origins = work.origins()
        return default_judge(work.history, {label: c.to(origins) for label, c in counts.items()})

    verdicts = before
    seen: set[State] = set()
    for _ in range(MAX_ROUNDS):
        steps = plan(_on_history(verdicts, len(work.history.messages)), include_warnings=include_warnings).steps
        state = _state(verdicts, include_warnings)
        if not steps or state in seen:
            break
        seen.add(state)
        work.begin_round()
        made = len(work.edits)
        for step in steps:
            STRATEGIES[step.fix](work, step.findings)
        if len(work.edits) == made:
            break  # no strategy could act: what is left is reported, not looped on
        verdicts = judge_work()
    return RepairResult(
        history=work.history, edits=list(work.edits), before=before, after=verdicts, origins=work.origins()
    )


def _on_history(verdicts: list[Verdict], count: int) -> list[Verdict]:
    """The verdicts without the findings on the next request's placeholder turn (message index
    `count`, nextturn.py): it is no message of the history, and no strategy writes it."""
    return [
        dataclasses.replace(v, findings=[f for f in v.findings if f.message_index is None or f.message_index < count])
        for v in verdicts
    ]


def judge_for(
    history: History,
    *,
    target: Target | str | None = None,
    route: Route | None = None,
    build_request: bool | None = None,
) -> list[Verdict]:
    """The verdicts `repair` would give `history` for the same target or route: what a written
    repair is judged on once read back."""
    return _judge(history, target, route, build_request)[0](history)


# What a round's findings come to: (target, rule, fix, message index, content index) of each.
State = frozenset[tuple[str, str, str, int | None, int | None]]


def _state(verdicts: list[Verdict], include_warnings: bool) -> State:
    return frozenset(
        (v.target, f.rule, f.fix, f.message_index, f.content_index)
        for v in verdicts
        for f in v.findings
        if _counts(f, include_warnings)
    )


def _judge(
    history: History,
    target: Target | str | None,
    route: Route | None,
    build_request: bool | None = None,
    sender: str | None = None,
) -> tuple[Callable[..., list[Verdict]], list[Target]]:
    """The check to run each round, and the targets it judges for (strategies read their limits).
    The check takes the history and, by target label, the token counts it may count from."""

    def checking(targets: list[Target]) -> Callable[..., list[Verdict]]:
        return lambda h, counts=None: [
            check(h, target=t, build_request=build_request, counted=(counts or {}).get(t.label), sender=sender)
            for t in targets
        ]

    if route is not None:
        config, group = route
        loaded = load_config(config)
        targets = [deployment_target(d) for d in route_deployments(loaded, group)]
        return checking(targets), targets
    own = target_for_model(history.model)
    if target is None:
        resolved = own
    else:
        resolved = resolve(target) if isinstance(target, str) else target
        # As check_history does: `anthropic` for a conversation that ran on an Anthropic model
        # means that model (its limits), not the profile's default one.
        if isinstance(target, str) and own.name == resolved.name:
            resolved = own
    return checking([resolved]), [resolved]


__all__ = ["repair", "plan", "Plan", "Step", "RepairResult", "RepairError", "MAX_ROUNDS"]
