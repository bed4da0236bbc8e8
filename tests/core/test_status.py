"""Is a conversation stuck? The one decision, from its deployments' verdicts and its log."""

from conversations.history.findings import Finding, Verdict
from conversations.history.status import Judged, judged, status_of

ACCEPTS = Judged(accepted=True)
REJECTS = Judged(accepted=False)


def test_nothing_judged_is_unchecked():
    assert status_of([]) == "unchecked"


def test_every_deployment_rejecting_is_stuck():
    assert status_of([REJECTS]) == "stuck"
    assert status_of([REJECTS, REJECTS]) == "stuck"


def test_one_deployment_rejecting_while_another_accepts_is_at_risk():
    assert status_of([REJECTS, ACCEPTS]) == "at_risk"
    assert status_of([ACCEPTS, REJECTS]) == "at_risk"


def test_a_warning_that_is_not_a_guess_puts_it_at_risk():
    assert status_of([Judged(accepted=True, warnings=1)]) == "at_risk"


def test_every_deployment_accepting_without_warnings_is_healthy():
    assert status_of([ACCEPTS, ACCEPTS]) == "healthy"


def test_an_unresolved_logged_failure_is_stuck_whatever_the_verdicts():
    assert status_of([ACCEPTS], failure_unresolved=True) == "stuck"
    assert status_of([], failure_unresolved=True) == "stuck"


def test_a_verdict_counts_its_warnings_as_risks_and_its_errors_as_a_rejection():
    def finding(severity: str) -> Finding:
        return Finding(
            rule="r",
            severity=severity,
            message_index=0,
            wire_index=None,
            provider_error=None,
            explanation="",
            fix="none",
        )

    assert judged(Verdict("anthropic", "anthropic", [finding("warning"), finding("info")])) == Judged(True, 1)
    assert judged(Verdict("anthropic", "anthropic", [finding("error")])) == Judged(False, 0)
