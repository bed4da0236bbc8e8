"""Secrets never come back out: a litellm log carrying an API key (under its key name, pasted into
a message, and in the error text) and an Authorization header is ingested, and no page, JSON twin,
raw record, wire view, download, API document, admin page or line of the application's own log
output shows any of them."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from django.urls import reverse

from conversations.api.auth import api_token_create
from conversations.ingest import ingest_path
from conversations.models import Conversation
from tests.support import FIXTURES

LITELLM = FIXTURES / "formats" / "litellm-standard-logging-failure.json"
API_KEY = "sk-ant-api03-Qm9uZ3JhdHVsYXRpb25zWW91Rm91bmRJdA-7c1e"
BEARER = "tok_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SECRETS = [API_KEY, BEARER, "Qm9uZ3JhdHVsYXRpb25z"]


def leaky_log(tmp_path):
    log = json.loads(LITELLM.read_text())
    log["model_parameters"] = {**log.get("model_parameters", {}), "api_key": API_KEY}
    log.setdefault("metadata", {})["headers"] = {"Authorization": f"Bearer {BEARER}", "x-api-key": API_KEY}
    hidden = log.setdefault("hidden_params", {})
    hidden["additional_headers"] = {**(hidden.get("additional_headers") or {}), "authorization": f"Bearer {BEARER}"}
    log["messages"].append({"role": "user", "content": f"my key is {API_KEY}, use it"})
    log["error_str"] = f"{log.get('error_str', '')} (sent with Authorization: Bearer {BEARER})"
    path = tmp_path / "leaky-litellm.json"
    path.write_text(json.dumps(log))
    return path


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Ingested once per module inside a transaction rolled back at the end."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            admin_user = get_user_model().objects.create_superuser("secrets-admin", password="x-pass-1")
            outcome = ingest_path(leaky_log(tmp_path_factory.mktemp("leaky")))
            assert outcome.status == "ingested", outcome.error
            conversation = Conversation.objects.get(pk=outcome.added[0])
            _, token = api_token_create(admin_user)
            yield {"c": conversation, "admin": admin_user, "token": token}
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def urls(c: Conversation) -> list[str]:
    pk, rev = c.pk, c.latest_revision
    pages = [
        reverse("conversations:detail", args=[pk]),
        reverse("conversations:detail-json", args=[pk]),
        reverse("conversations:list"),
        reverse("conversations:diff", args=[pk]),
        reverse("conversations:repair", args=[pk]) + "?target=anthropic",
    ]
    pages += [reverse("conversations:raw", args=[pk, i]) for i in range(rev.message_count)]
    pages += [reverse("conversations:wire", args=[pk, t]) for t in ("anthropic", "openai", "bedrock", "gemini")]
    pages += [
        reverse("conversations:download", args=[pk, rev.number]) + f"?as={a}" for a in ("source", "openai", "anthropic")
    ]
    pages += [
        reverse(f"admin:conversations_{m}_changelist")
        for m in ("conversation", "revision", "source", "finding", "auditevent")
    ]
    pages += [
        reverse("admin:conversations_conversation_change", args=[pk]),
        reverse("admin:conversations_revision_change", args=[rev.pk]),
        reverse("admin:conversations_source_change", args=[c.source_id]),
    ]
    return pages


def assert_clean(body: bytes, where: str) -> None:
    for secret in SECRETS:
        assert secret.encode() not in body, f"{secret[:12]}... leaks in {where}"


@pytest.mark.django_db
def test_the_stored_history_holds_none_of_them(world):
    revision = world["c"].latest_revision
    text = json.dumps(revision.history.to_dict(), default=str)
    assert "my key is [REDACTED], use it" in text  # the message stays, minus the key
    assert_clean(text.encode(), "the stored history")


@pytest.mark.django_db
def test_no_page_download_or_admin_page_shows_a_secret(world, caplog):
    client = Client()
    client.force_login(world["admin"])
    caplog.set_level(logging.DEBUG)
    seen = 0
    for url in urls(world["c"]):
        response = client.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        seen += response.status_code == 200
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert_clean(body, url)
    assert seen >= 15
    assert_clean(caplog.text.encode(), "the application's log output")


@pytest.mark.django_db
def test_no_api_document_shows_a_secret(world, caplog):
    c = world["c"]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world['token']}"}
    caplog.set_level(logging.DEBUG)
    documents = [reverse("api:conversation", args=[c.pk]), reverse("api:conversations")]
    documents += [
        reverse("api:revision", args=[c.pk, c.latest_revision.number]) + suffix
        for suffix in ("", "?as=source", "?as=openai", "?as=anthropic", "?as=canonical")
    ]
    for url in documents:
        response = Client().get(url, **headers)
        assert response.status_code in (200, 400, 422), (url, response.status_code)
        assert_clean(response.content, url)
    assert_clean(caplog.text.encode(), "the application's log output")
