"""What a support engineer asks first of a conversation: is it stuck?

One function decides, from the verdicts of the deployments a conversation's next request can
reach (its route's, in the order litellm tries them; without a route, every target it was checked
against) and what its log proves about an earlier failure:

- stuck: a logged request failure that neither recovered nor was followed by a repair, or every
  deployment rejects the next request;
- at_risk: some deployment rejects but another accepts (litellm falls over to it, until it does
  not), or a warning that is not a guess;
- healthy: none of these;
- unchecked: not judged yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .findings import Finding, Verdict

# The list's order: what needs a person first.
STATUSES = ("stuck", "at_risk", "healthy", "unchecked")
LABELS = {"stuck": "stuck", "at_risk": "at risk", "healthy": "healthy", "unchecked": "unchecked"}


@dataclass(frozen=True, slots=True)
class Judged:
    """One deployment's verdict, as much of it as the status needs. `warnings`: the warnings that
    do not rest on a guess about the request (a guess alone never puts a conversation at risk)."""

    accepted: bool
    warnings: int = 0


def status_of(judged: Sequence[Judged], *, failure_unresolved: bool = False) -> str:
    """The status of a conversation from its deployments' verdicts. `failure_unresolved`: its log
    records a request failure that no later answered request recovered and no repair followed."""
    if failure_unresolved:
        return "stuck"
    if not judged:
        return "unchecked"
    accepting = [j for j in judged if j.accepted]
    if not accepting:
        return "stuck"
    if len(accepting) < len(judged) or any(j.warnings for j in judged):
        return "at_risk"
    return "healthy"


def risks(verdict: Verdict) -> list[Finding]:
    """The warnings that put a conversation at risk: those that do not rest on a guess about the
    request (a parameter the log does not record) and that the log does not prove answered."""
    return [f for f in verdict.findings if f.severity == "warning" and not f.guess and f.answered is None]


def judged(verdict: Verdict) -> Judged:
    return Judged(verdict.accepted, len(risks(verdict)))


def judged_each(verdicts: Sequence[Verdict]) -> list[Judged]:
    """The verdicts that say something: a sender that does not apply to a target judged nothing."""
    return [judged(v) for v in verdicts if v.applicable]


def failure_unresolved(logged_failure: dict[str, Any] | None) -> bool:
    """A failure the log records that is a request error no later answered request recovered
    (failures.logged_failure's shape)."""
    return bool(logged_failure and logged_failure.get("request_error") and not logged_failure.get("recovered"))
