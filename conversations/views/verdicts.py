"""The pages' view of the prediction engine (conversations.verdicts): verdicts and their findings
as plain dicts, the same for a stored Verdict row and for a route checked on demand, so the page
and its JSON twin show them one way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from conversations.history.findings import FIXES
from conversations.history.senders import SENDERS
from conversations.models import Finding, Revision, Verdict, verdict_status
from conversations.verdicts import RULES_VERSION, TARGETS, revision_verdicts, sender_verdicts

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def target_names() -> list[str]:
    return list(TARGETS)


def sender_names() -> list[str]:
    return list(SENDERS)


def sender_checked(revision: Revision, extra: Iterable[str], sender: str) -> list[dict]:
    """The verdicts by another sender than the format's: checked now, never stored (issue 17)."""
    found = [verdict_dict(v) for v in sender_verdicts(revision, [t for t in extra if t in TARGETS], sender)]
    if found:
        found[0]["own"] = True
    return found


def revision_checked(revision: Revision, extra: Iterable[str] = ()) -> list[dict]:
    """The revision's verdicts: its own target first, every target already checked, and `extra`
    targets (checked now, and stored by conversations.verdicts for next time).

    Fresh stored verdicts are read as they are: revision_verdicts reads the whole history, which a
    5,000-message conversation cannot afford on every page view. It is called only for what is
    missing or was stored by older rules."""
    stored = list(Verdict.objects.filter(revision=revision))
    fresh = {v.target for v in stored if v.rules_version == RULES_VERSION}
    stale = [v.target for v in stored if v.target not in fresh and not v.own_target and v.target in TARGETS]
    checked = False
    if not any(v.own_target and v.target in fresh for v in stored):
        revision_verdicts(revision, None)
        checked = True
    missing = [t for t in dict.fromkeys([*extra, *stale]) if t not in fresh]
    if missing:
        revision_verdicts(revision, missing)
        checked = True
    if checked:
        stored = list(Verdict.objects.filter(revision=revision))
    findings = _findings_by_target(revision, [v.target for v in stored])
    # The own target, then the route's deployments in the order litellm tries them, then the rest.
    ordered = sorted(stored, key=lambda v: (not v.own_target, v.position is None, v.position or 0, v.target))
    return [verdict_dict(v, findings.get(v.target, [])) for v in ordered]


def _findings_by_target(revision: Revision, targets: list[str]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    if not targets:
        return grouped
    for finding in revision.findings.filter(target__in=targets).order_by("id"):
        grouped.setdefault(finding.target, []).append(finding)
    return grouped


def verdict_dict(verdict: Any, findings: Iterable[Any] | None = None) -> dict:
    """One verdict as the page shows it: a stored Verdict with its Finding rows passed in, or a
    pure-core Verdict (a route checked on demand) carrying its own `findings`."""
    if findings is None:
        findings = verdict.findings
    items = sorted(
        (finding_dict(f) for f in findings),
        key=lambda f: (SEVERITY_ORDER.get(f["severity"], 3), -1 if f["message_index"] is None else f["message_index"]),
    )
    # An error the log proves answered does not count against the verdict (issue 17 part 3).
    errors = [f for f in items if f["severity"] == "error" and not f["answered"]]
    warnings = [f for f in items if f["severity"] == "warning"]
    accepted = bool(verdict.accepted)
    located = [f["message_index"] for f in errors + warnings if f["message_index"] is not None]
    return {
        "target": verdict.target,
        "label": getattr(verdict, "label", None) or verdict.target,
        "provider": verdict.provider or "",
        "own": bool(getattr(verdict, "own_target", False)),
        # 1, 2, ...: a deployment of the conversation's route, in the order litellm tries them.
        "deployment": (verdict.position + 1) if getattr(verdict, "route_version_id", None) else None,
        "status": verdict_status(accepted, len(warnings)),
        "accepted": accepted,
        "errors": len(errors),
        "warnings": len(warnings),
        # Computed, not the stored first_rule: an info finding is never what a badge should name.
        "first_rule": next((f["rule"] for f in errors + warnings), ""),
        "provider_error": next((f["provider_error"] for f in errors if f["provider_error"]), ""),
        "first_message": min(located) if located else None,
        "findings": items,
        "sender": getattr(verdict, "sender", "") or "",
        "notes": list(getattr(verdict, "notes", None) or []),
        "applicable": bool(getattr(verdict, "applicable", True)),
        "logged_failure": getattr(verdict, "logged_failure", None),
    }


def finding_dict(finding: Any) -> dict:
    if isinstance(finding, dict):
        get = finding.get
    else:

        def get(name, default=None):
            return getattr(finding, name, default)

    fix = get("fix") or ""
    return {
        "rule": get("rule"),
        "severity": get("severity"),
        "message_index": get("message_index"),
        "wire_index": get("wire_index"),
        "provider_error": get("provider_error") or "",
        "explanation": get("explanation") or "",
        "fix": fix,
        "fix_text": FIXES.get(fix, "") if fix != "none" else "",
        "guess": get("guess") or None,
        "answered": get("answered"),
    }


def findings_by_message(verdicts: list[dict]) -> dict[int, list[dict]]:
    """message index -> [finding with its target], for the inline notes."""
    placed: dict[int, list[dict]] = {}
    for verdict in verdicts:
        for finding in verdict["findings"]:
            if finding["message_index"] is not None:
                placed.setdefault(finding["message_index"], []).append({**finding, "target": verdict["label"]})
    return placed
