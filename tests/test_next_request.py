"""Issue 17 on the Django side and the command line: the sender, what the log proves and the
failure it records, stored with the verdicts, on the page, in the API and in check_history."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from conversations.api.auth import api_token_create
from conversations.models import Finding, Verdict
from tests.support import FIXTURES, ingested

SYNTHETIC = FIXTURES / "synthetic"
FINISHED = SYNTHETIC / "finished-run-no-prefill.jsonl"
WHITESPACE = SYNTHETIC / "whitespace-text-answered-twice.jsonl"
SUBAGENT = FIXTURES / "real" / "claude-code-2.1.114-subagent" / "agent-a4ca7529859c158c2.jsonl"
LITELLM_FAILURE = FIXTURES / "formats" / "litellm-standard-logging-failure.json"
TRAJECTORY = FIXTURES / "formats" / "openhands-trajectory.json"


def run(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command("check_history", *map(str, args), stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


# --- check_history ------------------------------------------------------------------------------------


def test_check_history_names_the_sender_and_the_proof_and_keeps_exit_0_for_answered_errors():
    code, out, _ = run(WHITESPACE, "--json")
    [item] = json.loads(out)
    [verdict] = item["verdicts"]
    assert code == 0 and verdict["sender"] == "claude-code" and verdict["accepted"]
    assert item["messages"] == 6  # the placeholder is not counted
    assert [f["answered"]["message_index"] for f in verdict["findings"]] == [5, 5]
    assert item["logged_failure"] is None


def test_check_history_says_answered_then_in_its_report():
    _, out, _ = run(WHITESPACE)
    assert "answered then (message 5, 2026-03-10)" in out
    assert "accepted (sent by claude-code)" in out


def test_a_sender_that_applies_to_no_target_of_a_path_is_an_error_for_it():
    code, out, err = run(TRAJECTORY, "--sender", "direct", "--json")
    [item] = json.loads(out)
    assert code == 2 and item["error"].startswith("direct: not applicable")
    assert "direct: not applicable" in err


def test_the_sender_option_judges_another_clients_request():
    code, out, _ = run(FINISHED, "--target", "bedrock", "--sender", "litellm", "--json")
    [verdict] = json.loads(out)[0]["verdicts"]
    assert verdict["sender"] == "litellm" and "litellm-tools-as-text" in [f["rule"] for f in verdict["findings"]]
    code, out, _ = run(FINISHED, "--target", "bedrock", "--json")
    [verdict] = json.loads(out)[0]["verdicts"]
    assert verdict["sender"] == "claude-code" and not verdict["findings"]


def test_the_litellm_failure_gives_its_logged_failure_and_exit_status_stays_the_verdicts():
    code, out, _ = run(LITELLM_FAILURE, "--json")
    [item] = json.loads(out)
    failure = item["logged_failure"]
    assert code == 0
    assert failure["request_error"] is True and failure["recovered"] is False and failure["explained_by"] is None
    assert "messages.26 is past the end of this history" in failure["why_unexplained"]


def test_a_conversation_without_a_model_is_judged_by_the_default_and_says_so():
    _, out, _ = run(FIXTURES / "seed" / "openhands-6852-proxy-vs-direct.json", "--json")
    [verdict] = json.loads(out)[0]["verdicts"]
    assert verdict["notes"] == ["model unknown: judged as anthropic"]


# --- stored verdicts ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ingest_stores_the_sender_the_proof_and_the_logged_failure():
    conversation = ingested(WHITESPACE)
    own = Verdict.objects.get(revision=conversation.latest_revision, own_target=True)
    assert (own.accepted, own.errors, own.sender) == (True, 0, "claude-code")
    findings = Finding.objects.filter(revision=conversation.latest_revision, rule="empty-text-block")
    assert [f.answered["message_index"] for f in findings] == [5, 5]

    failing = ingested(LITELLM_FAILURE)
    stored = Verdict.objects.get(revision=failing.latest_revision, own_target=True).logged_failure
    assert stored["request_error"] and "past the end of this history" in stored["why_unexplained"]


@pytest.mark.django_db
def test_the_real_subagent_is_stored_accepted():
    conversation = ingested(SUBAGENT)
    own = Verdict.objects.get(revision=conversation.latest_revision, own_target=True)
    assert own.accepted and own.errors == 0
    guesses = set(Finding.objects.filter(revision=conversation.latest_revision).values_list("guess", flat=True))
    assert guesses == {"client version"}


# --- the page -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_draws_the_next_request_as_a_dashed_turn_after_a_received_reply(client, viewer):
    client.force_login(viewer)
    conversation = ingested(FINISHED)
    html = client.get(conversation.get_absolute_url()).content.decode()
    assert 'class="turn role-user placeholder' in html and 'id="m4"' in html
    assert "(the next user message)" in html
    assert "sent by claude-code" in html


@pytest.mark.django_db
def test_a_request_body_gets_no_placeholder_turn(client, viewer):
    client.force_login(viewer)
    conversation = ingested(FIXTURES / "formats" / "anthropic-request.json")
    assert "(the next user message)" not in client.get(conversation.get_absolute_url()).content.decode()


@pytest.mark.django_db
def test_the_page_shows_what_the_log_proves_and_its_logged_failure(client, viewer):
    client.force_login(viewer)
    html = client.get(ingested(WHITESPACE).get_absolute_url()).content.decode()
    assert "answered then (message" in html and "2026-03-10" in html
    html = client.get(ingested(LITELLM_FAILURE).get_absolute_url()).content.decode()
    assert "The log records a failure" in html and "past the end of this history" in html


@pytest.mark.django_db
def test_the_page_judges_another_sender_on_request(client, viewer):
    client.force_login(viewer)
    conversation = ingested(FINISHED)
    url = reverse("conversations:detail-json", args=[conversation.pk])
    page = client.get(url, {"sender": "litellm", "target": "bedrock"}).json()
    assert page["senders"]["chosen"] == "litellm"
    bedrock = next(v for v in page["verdicts"] if v["target"] == "bedrock")
    assert bedrock["sender"] == "litellm" and "litellm-tools-as-text" in [f["rule"] for f in bedrock["findings"]]


# --- the API ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_takes_a_sender_and_refuses_an_unknown_one(client, viewer):
    _, token = api_token_create(viewer)
    headers = {"Authorization": f"Bearer {token}"}
    conversation = ingested(FIXTURES / "formats" / "anthropic-request.json")
    url = f"/api/conversations/{conversation.pk}"
    stored = client.get(url, headers=headers).json()
    assert stored["verdicts"][0]["sender"] == "direct" and stored["logged_failure"] is None
    asked = client.get(url, {"sender": "litellm"}, headers=headers).json()
    assert asked["verdicts"][0]["sender"] == "litellm"
    assert client.get(url, {"sender": "carrier-pigeon"}, headers=headers).status_code == 400


@pytest.mark.django_db
def test_the_repair_body_takes_a_sender(client, repairer):
    _, token = api_token_create(repairer)
    headers = {"Authorization": f"Bearer {token}"}
    conversation = ingested(FIXTURES / "samples" / "unanswered-tool-call.json")
    url = f"/api/conversations/{conversation.pk}/repair"
    answer = client.post(url, {"dry_run": True, "sender": "litellm"}, content_type="application/json", headers=headers)
    assert answer.status_code == 200 and answer.json()["before"][0]["sender"] == "litellm"
    bad = client.post(url, {"dry_run": True, "sender": "fax"}, content_type="application/json", headers=headers)
    assert bad.status_code == 400 and "sender" in json.dumps(bad.json())
