"""Requests that must get a clear answer, never a 500: odd page numbers, unknown API parameters,
malformed route configs, NaN in a log, a lone surrogate, an oversized upload; and no public
password reset."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conversations.api.auth import api_token_create
from conversations.history.formats.document import Document
from conversations.ingest import ingest_document
from conversations.models import Conversation, Source
from tests.support import broken_body

pytestmark = pytest.mark.django_db

CONFIG = """model_list:
  - model_name: claude
    litellm_params: {model: anthropic/claude-3-5-sonnet-20241022}
"""
MALFORMED_CONFIGS = [
    CONFIG.replace("litellm_params:", "model_info: xy\n    litellm_params:"),
    CONFIG + "router_settings: [1]\n",
    CONFIG + "litellm_settings: {fallbacks: 1}\n",
    CONFIG + "litellm_settings: {fallbacks: [{claude: [1, {a: b}]}]}\n",
    "- model_list\n- 1\n",
]


@pytest.fixture
def api(client, repairer):
    _, token = api_token_create(repairer)
    headers = {"Authorization": f"Bearer {token}"}

    class Api:
        def get(self, url, **params):
            return client.get(url, params, headers=headers)

        def post(self, url, body, content_type="application/json"):
            return client.post(url, body, content_type=content_type, headers=headers)

    return Api()


def stored(body, name="log.json") -> Conversation:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    outcome = ingest_document(Document.from_bytes(name, data), kind=Source.Kind.UPLOAD, location=name)
    assert outcome.status == "ingested", outcome.error
    return Conversation.objects.get(pk=outcome.added[0])


# --- accounts ---------------------------------------------------------------------------------------


def test_there_is_no_public_password_reset(client):
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.get("/accounts/reset/MQ/set-password/").status_code == 404
    assert client.get("/accounts/login/").status_code == 200


# --- page numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["9" * 40, "-1", "abc", "0", "1e9", "99999999999"])
def test_an_absurd_page_number_is_the_last_page_or_a_404(client, viewer, api, page):
    stored(broken_body(1))
    client.force_login(viewer)

    assert client.get("/", {"page": page}).status_code in (200, 404)
    assert api.get("/api/conversations", page=page).status_code in (400, 404)


# --- the API list's parameters ----------------------------------------------------------------------


def test_an_unknown_parameter_name_is_a_400_naming_it(api):
    for name in ("foo", "verdicts"):
        response = api.get("/api/conversations", **{name: "stuck"})

        assert response.status_code == 400
        assert repr(name) in response.json()["reason"]


def test_a_target_must_be_built_in_or_a_stored_route_label(api):
    stored(broken_body(1))

    assert api.get("/api/conversations", target="anthropic").status_code == 200
    response = api.get("/api/conversations", target="no-such-target")
    assert response.status_code == 400 and "no-such-target" in response.json()["reason"]


def test_a_target_alone_lists_the_conversations_with_a_verdict_for_it(api):
    conversation = stored(broken_body(1))
    own = conversation.latest_revision.verdicts.get(own_target=True).target
    other = "bedrock" if own != "bedrock" else "anthropic"

    assert api.get("/api/conversations", target=own).json()["count"] == 1
    assert api.get("/api/conversations", target=other).json()["count"] == 0


def test_a_route_label_with_spaces_is_a_target(api):
    conversation = stored(broken_body(1))
    conversation.latest_revision.verdicts.create(target="claude via anthropic/claude-3-5", accepted=True)

    response = api.get("/api/conversations", target="claude via anthropic/claude-3-5")

    assert response.status_code == 200 and response.json()["count"] == 1


# --- route configs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("config", MALFORMED_CONFIGS)
def test_a_malformed_route_config_is_a_400_in_the_api(api, config):
    conversation = stored(broken_body(1))

    response = api.post(
        f"/api/conversations/{conversation.pk}/repair",
        json.dumps({"route": {"config": config, "model_group": "claude"}, "dry_run": True}),
    )

    assert response.status_code == 400, response.content[:300]


@pytest.mark.parametrize("config", MALFORMED_CONFIGS)
def test_a_malformed_route_config_is_the_forms_error_on_the_page(client, viewer, config):
    conversation = stored(broken_body(1))
    client.force_login(viewer)

    response = client.post(f"/conversations/{conversation.pk}/route/", {"config": config, "group": "claude"})

    assert response.status_code == 400


# --- NaN and infinities ----------------------------------------------------------------------------


def test_nan_and_infinity_are_kept_in_the_original_and_null_in_json(client, viewer, api):
    body = broken_body(1)
    raw = json.dumps(body).replace('"model": "gpt-4o"', '"model": "gpt-4o", "temperature": NaN, "top_p": Infinity')
    raw = raw.replace('"content": "hello?"', '"content": "hello?", "weight": -Infinity')
    conversation = stored(raw.encode())
    client.force_login(viewer)

    original = bytes(conversation.latest_revision.original.files.get().data)
    assert b"NaN" in original and b"-Infinity" in original
    for response in (
        api.get(f"/api/conversations/{conversation.pk}"),
        client.get(f"/conversations/{conversation.pk}.json"),
    ):
        assert response.status_code == 200
        text = response.content.decode()
        assert "NaN" not in text and "Infinity" not in text
        json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    for index in range(conversation.message_count):
        page = client.get(reverse("conversations:raw", args=[conversation.pk, index]))
        assert page.status_code == 200
        assert b"NaN" not in page.content and b"Infinity" not in page.content


# --- a lone surrogate --------------------------------------------------------------------------------


def test_a_lone_surrogate_is_stored_and_every_view_renders_it(client, viewer):
    raw = json.dumps(broken_body(1)).replace("task 1: list the files", "task 1: \\ud800 list the files")
    conversation = stored(raw.encode())
    client.force_login(viewer)
    pk = conversation.pk

    urls = [
        reverse("conversations:detail", args=[pk]),
        reverse("conversations:detail-json", args=[pk]),
        reverse("conversations:raw", args=[pk, 0]),
        reverse("conversations:wire", args=[pk, "openai"]),
        reverse("conversations:wire", args=[pk, "anthropic"]),
        "/",
        "/?q=files",
    ]
    for url in urls:
        assert client.get(url).status_code == 200, url
    _, token = api_token_create(viewer)
    headers = {"Authorization": f"Bearer {token}"}
    for url in (f"/api/conversations/{pk}", f"/api/conversations/{pk}/revisions/1?as=source"):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
    assert b"\\ud800" in bytes(conversation.latest_revision.original.files.get().data)


# --- an oversized upload ------------------------------------------------------------------------------


def test_an_upload_over_the_limit_in_total_is_a_413_before_any_file_is_read(client, viewer, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    client.force_login(viewer)
    files = [SimpleUploadedFile(f"part{i}.json", b" " * 600) for i in range(3)]  # each under, all over

    response = client.post(reverse("conversations:upload"), {"files": files})

    # Answered from the declared length: the CSRF check never parsed the body, the view never ran.
    assert response.status_code == 413
    assert b"1,000 bytes" in response.content
    assert Conversation.objects.count() == 0
