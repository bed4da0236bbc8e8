"""The API's conversation endpoints: add a log and get its verdicts, list with the list page's
filters a page at a time, read one with its findings and revisions, read a revision as a document."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.api.auth import api_token_create
from conversations.history.formats.document import load_path
from conversations.ingest import ingest_document, ingest_path
from conversations.models import Conversation, Revision, Source
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db

LIST = "/api/conversations"
UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"
LITELLM_FAILURE = FIXTURES / "formats" / "litellm-standard-logging-failure.json"
# check_history's contract: issue 4's keys and issue 17's guess and answered
CONTRACT_KEYS = {
    "rule",
    "severity",
    "message_index",
    "wire_index",
    "provider_error",
    "explanation",
    "fix",
    "guess",
    "answered",
}


@pytest.fixture
def api(client, viewer):
    """The test client with a viewer's token on every call."""
    _, token = api_token_create(viewer)
    headers = {"Authorization": f"Bearer {token}"}

    class Api:
        user = viewer

        def get(self, url, **params):
            return client.get(url, params, headers=headers)

        def post(self, url, body, content_type="application/json", **params):
            query = "&".join(f"{k}={v}" for k, v in params.items())
            return client.post(f"{url}?{query}" if query else url, body, content_type=content_type, headers=headers)

    return Api()


def simple_log(n: int, model: str = "gpt-4o") -> bytes:
    return json.dumps(
        {
            "model": model,
            "messages": [
                {"role": "user", "content": f"question number {n}"},
                {"role": "assistant", "content": "an answer"},
            ],
        }
    ).encode()


# --- POST /api/conversations ---------------------------------------------------------------------


def test_posting_a_log_stores_it_and_answers_with_its_verdicts(api):
    response = api.post(LIST, UNANSWERED.read_bytes())

    assert response.status_code == 201
    body = response.json()
    conversation = Conversation.objects.get(pk=body["id"])
    assert conversation.source.kind == Source.Kind.API
    assert response["Location"] == body["url"]
    own = body["verdicts"][0]
    assert own["target"] == "anthropic" and own["accepted"] is False
    assert set(own) == {"target", "provider", "accepted", "findings", "sender", "notes", "applicable"}
    missing = next(f for f in own["findings"] if f["rule"] == "tool-result-missing")
    assert set(missing) == CONTRACT_KEYS
    assert missing["message_index"] == 1 and "toolu_01A9xKqv3VbN7mZ2rT5sY8wD" in missing["provider_error"]


def test_posting_the_same_log_twice_stores_it_once(api):
    first = api.post(LIST, UNANSWERED.read_bytes())
    again = api.post(LIST, UNANSWERED.read_bytes())

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["status"] == "unchanged" and again.json()["id"] == first.json()["id"]
    assert Conversation.objects.count() == 1


def test_new_bytes_under_the_same_name_add_a_revision(api):
    first = api.post(LIST, simple_log(1), name="agent-session-7")
    second = api.post(LIST, simple_log(2), name="agent-session-7")

    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert Revision.objects.filter(conversation_id=first.json()["id"]).count() == 2
    assert Source.objects.get().location == "agent-session-7"


def test_a_capture_is_stored_as_one_and_a_forced_format_is_used(api):
    response = api.post(LIST, LITELLM_FAILURE.read_bytes(), kind="capture", format="litellm-log")

    conversation = Conversation.objects.get(pk=response.json()["id"])
    assert conversation.source.kind == Source.Kind.CAPTURE
    assert conversation.format == "litellm-log"


def test_an_unreadable_log_is_a_400_naming_the_place_and_stores_nothing(api):
    response = api.post(LIST, b'{"messages": [{"role": "user", "content": "hi"}, {"role": ', name="broken.json")

    assert response.status_code == 400
    assert response.json()["reason"].startswith("broken.json: line 1: truncated JSON")
    assert Conversation.objects.count() == 0 and Source.objects.count() == 0


def test_a_file_that_holds_no_conversation_is_a_400_saying_so(api):
    summary_only = FIXTURES / "real" / "claude-code-summary-only" / "4e27c414-a885-46a0-b5c8-d58e1417377d.jsonl"
    response = api.post(LIST, summary_only.read_bytes(), name="session.jsonl")

    assert response.status_code == 400
    assert response.json()["reason"].startswith("session.jsonl: no conversation found (no user or assistant record")
    assert Conversation.objects.count() == 0 and Source.objects.count() == 0


def test_a_log_that_is_not_the_forced_format_is_a_400(api):
    response = api.post(LIST, simple_log(1), format="claude-code")

    assert response.status_code == 400
    assert Conversation.objects.count() == 0


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"format": "yaml"}, "format: 'yaml' is not one of"),
        ({"kind": "path"}, "kind: 'path' is not one of api, capture"),
    ],
)
def test_unknown_parameters_are_a_400(api, params, reason):
    response = api.post(LIST, simple_log(1), **params)

    assert response.status_code == 400
    assert response.json()["reason"].startswith(reason)


def test_an_empty_body_is_a_400(api):
    response = api.post(LIST, b"  \n")

    assert response.status_code == 400
    assert "empty" in response.json()["reason"]


def test_a_log_over_the_size_limit_is_a_413_and_stores_nothing(api, settings):
    settings.UPLOAD_MAX_BYTES = 200

    response = api.post(LIST, UNANSWERED.read_bytes())

    assert response.status_code == 413
    assert response.json()["limit"] == 200 and "200 bytes" in response.json()["reason"]
    assert Conversation.objects.count() == 0


def test_a_litellm_jsonl_log_lists_each_conversation(api):
    record = json.loads(LITELLM_FAILURE.read_text())
    second = {**record, "id": "another-call", "messages": record["messages"][:3]}
    body = (json.dumps(record) + "\n" + json.dumps(second) + "\n").encode()

    response = api.post(LIST, body, content_type="application/x-ndjson", name="calls.jsonl")

    entries = response.json()["conversations"]
    assert len(entries) == 2 and entries[0]["id"] == response.json()["id"]
    assert all(e["verdicts"] for e in entries)


# --- GET /api/conversations ----------------------------------------------------------------------


def ingest_bytes(data: bytes, name: str, kind=Source.Kind.API) -> Conversation:
    outcome = ingest_document(load_path_bytes(name, data), kind=kind, location=name)
    assert outcome.status == "ingested", outcome.error
    return Conversation.objects.get(pk=outcome.added[0])


def load_path_bytes(name: str, data: bytes):
    from conversations.history.formats.document import Document

    return Document.from_bytes(name, data)


def test_the_list_pages_with_next_links_until_every_conversation_was_seen(api):
    made = {ingest_bytes(simple_log(n), f"log-{n}.json").pk for n in range(30)}

    seen, url, pages = [], f"http://testserver{LIST}?per=25", 0
    while url:
        page = api.get(url.removeprefix("http://testserver")).json()
        seen += [row["id"] for row in page["results"]]
        url, pages = page["next"], pages + 1

    assert pages == 2 and page["count"] == 30 and page["previous"] is not None
    assert sorted(seen) == sorted(made)


def test_a_page_past_the_end_is_a_404(api):
    ingest_bytes(simple_log(1), "one.json")

    response = api.get(LIST, page="3")

    assert response.status_code == 404
    assert "1 page" in response.json()["reason"]


def test_the_list_filters_like_the_list_page(api):
    broken = ingest_bytes(UNANSWERED.read_bytes(), "unanswered.json")
    fine = ingest_bytes(simple_log(1, model="gpt-4o"), "fine.json")
    captured = ingest_bytes(LITELLM_FAILURE.read_bytes(), "capture.json", kind=Source.Kind.CAPTURE)
    Conversation.objects.filter(pk=fine.pk).update(last_at=timezone.now() - timedelta(days=40))

    def ids(**params):
        response = api.get(LIST, **params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids(provider="openai") == {fine.pk}
    assert ids(model="gpt-4o") == {fine.pk}
    assert ids(source="capture") == {captured.pk}
    assert ids(rule="tool-result-missing") == {broken.pk}
    assert broken.pk in ids(verdict="rejected") and fine.pk not in ids(verdict="rejected")
    assert ids(q="still there") == {broken.pk}
    old = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert fine.pk not in ids(since=old) and ids(until=old) == {fine.pk}


def test_list_rows_carry_their_verdict_badges(api):
    broken = ingest_bytes(UNANSWERED.read_bytes(), "unanswered.json")

    row = api.get(LIST).json()["results"][0]

    assert row["id"] == broken.pk and row["revision"] == 1
    badge = row["verdicts"][0]
    full = api.get(f"{LIST}/{broken.pk}").json()["verdicts"][0]
    errors = [f["rule"] for f in full["findings"] if f["severity"] == "error"]
    assert badge["status"] == "rejected" and badge["own_target"] is True
    assert badge["errors"] == len(errors) and badge["first_rule"] == errors[0]
    assert "tool-result-missing" in errors
    assert row["source"] == {"kind": "api", "location": "unanswered.json"}


@pytest.mark.parametrize(
    "params",
    [
        {"verdict": "maybe"},
        {"since": "last week"},
        {"per": "7"},
        {"rule": "drop table;"},
        {"page": "zero"},
        {"sort": "random"},
    ],
)
def test_a_malformed_filter_is_a_400_with_the_problem(api, params):
    response = api.get(LIST, **params)

    assert response.status_code == 400
    assert next(iter(params)) in response.json()["reason"]


def test_deleted_conversations_are_not_listed_or_shown(api):
    gone = ingest_bytes(simple_log(1), "gone.json")
    Conversation.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())

    assert api.get(LIST).json()["count"] == 0
    assert api.get(f"{LIST}/{gone.pk}").status_code == 404


# --- GET /api/conversations/<id> -----------------------------------------------------------------


def test_a_conversation_comes_with_its_findings_and_revisions(api):
    pk = api.post(LIST, UNANSWERED.read_bytes(), name="session").json()["id"]
    api.post(LIST, UNANSWERED.read_bytes().replace(b"Are you still there?", b"Hello?"), name="session")

    body = api.get(f"{LIST}/{pk}").json()

    assert body["id"] == pk and body["revision"] == 2
    assert [r["number"] for r in body["revisions"]] == [2, 1]
    assert body["revisions"][0]["parent"] == 1 and body["revisions"][0]["author"] == "viewer"
    assert body["revisions"][0]["url"].endswith(f"/api/conversations/{pk}/revisions/2")
    assert any(f["rule"] == "tool-result-missing" for f in body["verdicts"][0]["findings"])


def test_a_captured_failure_shows_the_providers_error_and_the_route(api):
    pk = api.post(LIST, LITELLM_FAILURE.read_bytes(), kind="capture").json()["id"]

    body = api.get(f"{LIST}/{pk}").json()

    assert body["error"].startswith("litellm.BadRequestError: AnthropicException")
    assert "Did not find 1 tool_result block(s) at the beginning" in body["error"]
    assert body["meta"]["model_group"] == "claude-3-5-sonnet-anthropic"
    assert body["model"] == "anthropic/claude-3-5-sonnet-20241022"


def test_an_unknown_conversation_is_a_404(api):
    response = api.get(f"{LIST}/999")

    assert response.status_code == 404
    assert response.json()["reason"] == "no conversation 999"


# --- GET /api/conversations/<id>/revisions/<n> ---------------------------------------------------


def test_a_revision_as_source_gives_back_the_posted_document(api):
    original = (FIXTURES / "formats" / "openai-request.json").read_bytes()
    pk = api.post(LIST, original, name="openai-request.json").json()["id"]

    response = api.get(f"{LIST}/{pk}/revisions/1")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content) == json.loads(original)
    assert response["X-Revision"] == "1"


def test_a_revision_as_openai_and_as_anthropic(api):
    pk = api.post(LIST, UNANSWERED.read_bytes()).json()["id"]

    as_openai = json.loads(api.get(f"{LIST}/{pk}/revisions/1", **{"as": "openai"}).content)
    as_anthropic = json.loads(api.get(f"{LIST}/{pk}/revisions/1", **{"as": "anthropic"}).content)

    assert as_openai["messages"][2]["tool_calls"][0]["id"] == "toolu_01A9xKqv3VbN7mZ2rT5sY8wD"
    assert as_anthropic["system"] in ("You are a coding agent.", [{"type": "text", "text": "You are a coding agent."}])
    tool_use = as_anthropic["messages"][1]["content"][0]
    assert tool_use["type"] == "tool_use" and tool_use["name"] == "execute_bash"


def test_a_captured_call_as_source_is_the_openai_request_it_carried(api):
    pk = api.post(LIST, LITELLM_FAILURE.read_bytes()).json()["id"]
    record = json.loads(LITELLM_FAILURE.read_text())

    document = json.loads(api.get(f"{LIST}/{pk}/revisions/1").content)

    assert len(document["messages"]) == len(record["messages"])


def test_a_directory_source_comes_back_as_its_files(api):
    outcome = ingest_path(FIXTURES / "formats" / "openhands-events")
    pk = outcome.added[0]

    body = api.get(f"{LIST}/{pk}/revisions/1").json()

    assert set(body) == {"name", "files"}
    original = load_path(FIXTURES / "formats" / "openhands-events")
    assert set(body["files"]) == set(original.files)


def test_an_unknown_revision_or_format_is_refused(api):
    pk = api.post(LIST, UNANSWERED.read_bytes()).json()["id"]

    assert api.get(f"{LIST}/{pk}/revisions/5").status_code == 404
    refused = api.get(f"{LIST}/{pk}/revisions/1", **{"as": "yaml"})
    assert refused.status_code == 400 and "source, openai, anthropic" in refused.json()["reason"]
