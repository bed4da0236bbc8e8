"""POST /api/conversations/<id>/repair: a dry run shows the edits and the verdicts before and
after and stores nothing; a repair stores a new revision; a stale `revision` is a 409."""

import json

import pytest

from conversations.api.auth import api_token_create
from conversations.models import AuditEvent, Conversation, Revision
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db

LIST = "/api/conversations"
UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"
TOOL_ID = "toolu_01A9xKqv3VbN7mZ2rT5sY8wD"
ROUTE_CONFIG = """
model_list:
  - model_name: claude
    litellm_params: {model: anthropic/claude-3-5-sonnet-20241022, max_tokens: 1024}
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o}
litellm_settings:
  fallbacks: [{claude: [gpt]}]
"""


@pytest.fixture
def api(client, repairer):
    _, token = api_token_create(repairer)
    headers = {"Authorization": f"Bearer {token}"}

    class Api:
        def post(self, url, body, **kwargs):
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            return client.post(url, data, content_type="application/json", headers=headers, **kwargs)

        def get(self, url, **params):
            return client.get(url, params, headers=headers)

    return Api()


@pytest.fixture
def broken(api):
    return api.post(f"{LIST}?name=session.json", UNANSWERED.read_bytes()).json()["id"]


def test_a_dry_run_shows_the_edits_and_both_verdicts_and_stores_nothing(api, broken):
    response = api.post(f"{LIST}/{broken}/repair", {"target": "anthropic", "dry_run": True})

    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True and body["changed"] is True and body["revision"] == 1
    assert body["before"][0]["accepted"] is False and body["after"][0]["accepted"] is True
    assert any(e["op"] and e["message_index"] == 1 and TOOL_ID in e["description"] for e in body["edits"])
    assert Revision.objects.count() == 1


def test_a_repair_stores_a_new_revision_that_the_provider_accepts(api, broken, repairer):
    response = api.post(f"{LIST}/{broken}/repair", {"target": "anthropic", "revision": 1})

    assert response.status_code == 201
    body = response.json()
    assert body["revision"] == 2 and response["Location"] == body["url"]
    revision = Revision.objects.get(conversation_id=broken, number=2)
    assert revision.author == repairer and revision.parent.number == 1
    assert AuditEvent.objects.filter(action="repair", revision=revision).exists()
    detail = api.get(f"{LIST}/{broken}").json()
    assert detail["revision"] == 2 and detail["verdicts"][0]["accepted"] is True
    document = json.loads(api.get(f"{LIST}/{broken}/revisions/2", **{"as": "openai"}).content)
    answers = [m for m in document["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in answers] == [TOOL_ID]


def test_a_repair_from_a_stale_revision_is_a_409_and_writes_nothing(api, broken):
    api.post(f"{LIST}?name=session.json", UNANSWERED.read_bytes().replace(b"Hello?", b"Hi?"))

    response = api.post(f"{LIST}/{broken}/repair", {"target": "anthropic", "revision": 1})

    assert response.status_code == 409
    assert response.json()["revision"] == 2 and "Nothing was written" in response.json()["reason"]
    assert Revision.objects.filter(conversation_id=broken).count() == 2


def test_nothing_to_repair_adds_no_revision(api):
    clean = api.post(LIST, json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})).json()

    response = api.post(f"{LIST}/{clean['id']}/repair", {"target": "openai"})

    assert response.status_code == 200 and response.json()["changed"] is False
    assert Revision.objects.count() == 1


def test_a_route_repair_judges_every_deployment_fallbacks_included(api, broken):
    response = api.post(
        f"{LIST}/{broken}/repair", {"route": {"config": ROUTE_CONFIG, "model_group": "claude"}, "dry_run": True}
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert [v["target"] for v in body["before"]] == [
        "claude via anthropic/claude-3-5-sonnet-20241022",
        "gpt via openai/gpt-4o",
    ]
    assert all(v["accepted"] for v in body["after"])


def test_no_target_means_the_conversations_own(api, broken):
    response = api.post(f"{LIST}/{broken}/repair", {"dry_run": True})

    assert response.json()["before"][0]["target"] == "anthropic"


@pytest.mark.parametrize(
    "body, reason",
    [
        ({"target": "anthropic", "route": {"config": ROUTE_CONFIG, "model_group": "claude"}}, "not both"),
        ({"target": "claude"}, "target: 'claude' is not one of"),
        ({"route": {"config": "model_list: [", "model_group": "claude"}}, "route.config: The config is not YAML"),
        ({"route": {"config": ROUTE_CONFIG, "model_group": "llama"}}, "no model group 'llama'"),
        ({"route": {"config": "/etc/hostname", "model_group": "claude"}}, "not a litellm proxy config"),
        ({"route": "claude"}, "route: expected"),
        ({"target": "anthropic", "dry_run": "yes"}, "dry_run: expected true or false"),
        ({"target": "anthropic", "revision": "1"}, "revision: expected a revision number"),
        ({"target": "anthropic", "force": True}, "unknown key(s) force"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(api, broken, body, reason):
    response = api.post(f"{LIST}/{broken}/repair", body)

    assert response.status_code == 400
    assert reason in response.json()["reason"]
    assert Revision.objects.count() == 1


def test_a_body_that_is_not_json_is_a_400(api, broken):
    response = api.post(f"{LIST}/{broken}/repair", b"target=anthropic")

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["reason"]


def test_repairing_an_unknown_conversation_is_a_404(api):
    assert api.post(f"{LIST}/404/repair", {"target": "anthropic"}).status_code == 404


def test_the_repaired_conversation_keeps_its_source(api, broken):
    api.post(f"{LIST}/{broken}/repair", {"target": "anthropic"})

    conversation = Conversation.objects.get(pk=broken)
    assert conversation.source.location == "session.json" and conversation.latest_revision.number == 2
