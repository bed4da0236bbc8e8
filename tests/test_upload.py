"""Uploading logs from the list page: several files at once, each atomic, a size limit."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conversations.models import Conversation, Source
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db


def upload(client, *files, **data):
    return client.post(reverse("conversations:upload"), {"files": list(files), **data}, follow=True)


def fixture_file(name):
    return SimpleUploadedFile(name, (FIXTURES / "formats" / name).read_bytes())


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_login_page_itself_is_open(client):
    assert client.get("/accounts/login/").status_code == 200


def test_several_files_upload_at_once(client, viewer):
    client.force_login(viewer)

    response = upload(client, fixture_file("openai-request.json"), fixture_file("claude-code-session.jsonl"))

    assert response.status_code == 200
    assert Conversation.objects.count() == 2
    assert set(Source.objects.values_list("kind", "location")) == {
        ("upload", "openai-request.json"),
        ("upload", "claude-code-session.jsonl"),
    }
    assert b"conversation(s) loaded" in response.content


def test_a_bad_upload_stores_nothing_and_says_why(client, viewer):
    client.force_login(viewer)

    response = upload(
        client, SimpleUploadedFile("broken.json", b'{"messages": [{"role": "us'), fixture_file("anthropic-request.json")
    )

    assert Conversation.objects.get().format == "anthropic"
    assert b"broken.json" in response.content and b"nothing was stored" in response.content


def test_a_file_that_holds_no_conversation_is_skipped_and_says_why(client, viewer):
    summary_only = FIXTURES / "real" / "claude-code-summary-only" / "4e27c414-a885-46a0-b5c8-d58e1417377d.jsonl"
    client.force_login(viewer)

    response = upload(client, SimpleUploadedFile("session.jsonl", summary_only.read_bytes()))

    assert Conversation.objects.count() == 0
    assert b"holds no conversation (no user or assistant record (1 summary)" in response.content


def test_an_upload_over_the_limit_is_refused(client, viewer, settings):
    settings.UPLOAD_MAX_BYTES = 100
    client.force_login(viewer)

    response = upload(client, fixture_file("openai-request.json"))

    assert Conversation.objects.count() == 0
    assert b"larger than the limit" in response.content


def test_uploading_the_same_file_twice_changes_nothing(client, viewer):
    client.force_login(viewer)
    upload(client, fixture_file("openai-request.json"))

    response = upload(client, fixture_file("openai-request.json"))

    assert Conversation.objects.get().revisions.count() == 1
    assert b"unchanged" in response.content


def test_a_forced_format_that_does_not_exist_is_refused(client, viewer):
    client.force_login(viewer)

    response = upload(client, fixture_file("openai-request.json"), format="yaml")

    assert Conversation.objects.count() == 0
    assert b"Unknown format" in response.content
