"""Verdicts stored with revisions: the own target at ingest, other targets on demand, re-checked
when the rules change."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import verdicts
from conversations.history.targets import UnknownTarget
from conversations.models import Chunk, Finding, Revision, Verdict
from tests.support import FIXTURES, SEED, ingested

pytestmark = pytest.mark.django_db


def revision_of(path) -> Revision:
    return ingested(path).latest_revision


def test_ingest_checks_the_conversations_own_target_and_stores_its_findings():
    revision = revision_of(FIXTURES / "samples" / "unanswered-tool-call.json")

    [verdict] = revision.verdicts.all()
    assert verdict.own_target and verdict.target == "anthropic"
    assert not verdict.accepted
    assert verdict.rules_version == verdicts.RULES_VERSION
    missing = revision.findings.get(rule="tool-result-missing")
    assert missing.message_index == 1
    assert missing.provider_error.startswith("messages.2: `tool_use` ids were found without `tool_result` blocks")


def test_a_seed_with_no_model_is_judged_by_the_default_target_and_accepted():
    revision = revision_of(SEED[0])

    [verdict] = revision.verdicts.all()
    assert (verdict.target, verdict.accepted) == ("anthropic", True)
    # The cache marker on the synthetic error result is a warning, not a rejection.
    assert verdict.warnings >= 1
    assert verdict.status == "warnings"


def test_other_targets_are_checked_on_demand_and_cached():
    revision = revision_of(FIXTURES / "samples" / "unanswered-tool-call.json")

    [openai] = verdicts.revision_verdicts(revision, ["openai"])
    again = verdicts.revision_verdicts(Revision.objects.get(pk=revision.pk), ["openai"])

    assert not openai.accepted and openai.first_rule == "openai-tool-response-missing"
    assert again[0].pk == openai.pk
    assert Verdict.objects.filter(revision=revision).count() == 2


def test_a_verdict_from_older_rules_is_checked_again():
    revision = revision_of(FIXTURES / "samples" / "unanswered-tool-call.json")
    Verdict.objects.filter(revision=revision).update(rules_version="1999.1.1")

    [verdict] = verdicts.revision_verdicts(revision)

    assert verdict.rules_version == verdicts.RULES_VERSION
    assert Verdict.objects.filter(revision=revision).count() == 1
    assert Finding.objects.filter(revision=revision, rule="tool-result-missing").count() == 1


def test_an_unknown_target_is_refused():
    revision = revision_of(SEED[0])

    with pytest.raises(UnknownTarget):
        verdicts.revision_verdicts(revision, ["no-such-provider"])


def test_the_seed_route_sends_two_of_three_to_a_bedrock_refusal():
    config = (FIXTURES / "seed" / "proxy-config.yaml").read_text()
    refused = {}
    for path in SEED:
        revision = revision_of(path)
        routed = verdicts.route_verdicts(revision, config, "claude-3-5-sonnet-20241022")
        assert [v.provider for v in routed] == ["bedrock", "anthropic"]
        refused[path.name] = any(
            "You do not have access to explicit prompt caching" in (f.provider_error or "") for f in routed[0].findings
        )

    assert refused == {p.name: "proxy-vs-direct" not in p.name for p in SEED}


def test_a_pasted_error_is_explained_against_the_prediction():
    revision = revision_of(FIXTURES / "formats" / "litellm-standard-logging-failure.json")

    explanation = verdicts.explain_error(revision)

    assert "messages.26" in explanation["summary"] or any(e["error"]["wire_index"] == 26 for e in explanation["errors"])
    assert any(e["agrees"] is False for e in explanation["errors"])


def test_an_error_against_a_history_too_large_to_compare_is_recognised_without_reading_its_messages(tmp_path):
    calls = [{"id": f"c{k}", "type": "function", "function": {"name": "ls", "arguments": "{}"}} for k in range(2_001)]
    path = tmp_path / "many.json"
    path.write_text(
        json.dumps(
            {
                "model": "anthropic/claude-sonnet-4-5",
                "messages": [{"role": "user", "content": "go"}, {"role": "assistant", "tool_calls": calls}],
            }
        )
    )
    revision = revision_of(path)

    with CaptureQueriesContext(connection) as queries:
        explanation = verdicts.explain_error(revision, "AnthropicException - messages.1: x")

    [item] = explanation["errors"]
    assert item["target"] == "anthropic" and item["agrees"] is None and "too large to compare" in item["reason"]
    assert not [q for q in queries if Chunk._meta.db_table in q["sql"]]


def test_the_wire_request_is_what_litellm_would_send():
    revision = revision_of(SEED[0])

    request = verdicts.wire_request(revision, "anthropic")

    assert request["format"] == "anthropic"
    assert len(request["body"]["messages"]) == 7


@pytest.mark.parametrize(
    "sample",
    [
        FIXTURES / "samples" / "unanswered-tool-call.json",
        FIXTURES / "samples" / "user-text-before-tool-result.json",
        *SEED,
    ],
)
def test_a_stored_own_verdict_reads_back_as_the_check_returned_it(sample):
    revision = revision_of(sample)
    history = revision.history

    stored = verdicts.own_verdicts_stored([revision])[revision.pk]

    fresh = verdicts.own_verdict(history)
    assert stored.to_dict(detail=True) == fresh.to_dict(detail=True)
    assert stored.logged_failure == fresh.logged_failure


def test_a_verdict_stored_under_older_rules_is_not_read_back():
    revision = revision_of(FIXTURES / "samples" / "unanswered-tool-call.json")
    Verdict.objects.filter(revision=revision).update(rules_version="2026.11.1")

    assert verdicts.own_verdicts_stored([revision]) == {}
