"""A deletion holds: new bytes for a soft-deleted conversation are kept as a revision of it, which
stays deleted and out of sight until an admin restores it; ingest, the API and the upload page say
so, and the attempt is audited. Once `prune` has removed it, new bytes start a new conversation."""

import json
import shutil
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from conversations.api.auth import api_token_create
from conversations.models import AuditEvent, Conversation
from tests.support import FIXTURES, broken_body

pytestmark = pytest.mark.django_db

OPENAI = FIXTURES / "formats" / "openai-request.json"


def ingest(path):
    out = StringIO()
    try:
        call_command("ingest", str(path), "--json", "--jobs", "1", stdout=out, stderr=StringIO())
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, json.loads(out.getvalue())


def soft_delete(conversation):
    Conversation.objects.filter(pk=conversation.pk).update(deleted_at=timezone.now())


def changed(path):
    """New bytes at the same path: the same request with one more user turn."""
    body = json.loads(path.read_text())
    body["messages"].append({"role": "user", "content": "and once more, please"})
    path.write_text(json.dumps(body, indent=2))


@pytest.fixture
def deleted(tmp_path):
    path = tmp_path / "log.json"
    shutil.copyfile(OPENAI, path)
    assert ingest(path)[0] == 0
    conversation = Conversation.objects.get()
    soft_delete(conversation)
    return path, conversation


def test_new_bytes_for_a_deleted_conversation_are_kept_as_its_revision_and_it_stays_deleted(deleted):
    path, conversation = deleted
    changed(path)

    status, summary = ingest(path)

    assert status == 0
    assert (summary["ingested"], summary["skipped"]) == (0, 1)
    assert summary["skipped_files"] == [{"path": str(path), "reason": "deleted conversation"}]
    conversation.refresh_from_db()
    assert conversation.deleted_at is not None
    assert conversation.revisions.count() == 2
    assert Conversation.objects.live().count() == 0
    event = AuditEvent.objects.get(action="ingest_deleted")
    assert event.conversation_id == conversation.pk
    assert event.detail["by"] == "command line"
    assert event.detail["source"] == "path" and event.detail["path"] == str(path.resolve())


def test_the_same_bytes_again_for_a_deleted_conversation_are_skipped_too(deleted):
    path, conversation = deleted

    status, summary = ingest(path)

    assert (status, summary["skipped"], summary["unchanged"]) == (0, 1, 0)
    assert Conversation.objects.get().deleted_at is not None


def test_the_deleted_conversation_stays_out_of_the_pages_and_the_api(client, viewer, deleted):
    path, conversation = deleted
    changed(path)
    ingest(path)
    client.force_login(viewer)

    assert client.get(reverse("conversations:detail", args=[conversation.pk])).status_code == 404
    assert conversation.title.encode() not in client.get("/").content or not conversation.title
    _, token = api_token_create(viewer)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/conversations/{conversation.pk}", headers=headers).status_code == 404
    assert client.get("/api/conversations", headers=headers).json()["count"] == 0


def test_the_api_answers_409_and_the_attempt_is_audited_with_the_user(client, viewer):
    _, token = api_token_create(viewer)
    headers = {"Authorization": f"Bearer {token}"}
    url = "/api/conversations?name=mine.json"
    first = client.post(url, json.dumps(broken_body(1)), content_type="application/json", headers=headers)
    pk = first.json()["id"]
    Conversation.objects.filter(pk=pk).update(deleted_at=timezone.now())

    again = client.post(url, json.dumps(broken_body(2)), content_type="application/json", headers=headers)

    assert again.status_code == 409
    assert again.json() == {"status": 409, "reason": f"conversation {pk} was deleted; an admin can restore it"}
    assert Conversation.objects.get(pk=pk).revisions.count() == 2
    event = AuditEvent.objects.get(action="ingest_deleted")
    assert (event.actor, event.detail["by"], event.detail["path"]) == (viewer, viewer.username, "mine.json")


def test_the_upload_page_says_the_conversation_was_deleted(client, viewer):
    client.force_login(viewer)
    data = OPENAI.read_bytes()
    client.post(reverse("conversations:upload"), {"files": [SimpleUploadedFile("a.json", data)]})
    conversation = Conversation.objects.get()
    soft_delete(conversation)

    response = client.post(
        reverse("conversations:upload"), {"files": [SimpleUploadedFile("a.json", data + b"\n")]}, follow=True
    )

    assert f"conversation {conversation.pk} was deleted; an admin can restore it".encode() in response.content
    assert Conversation.objects.live().count() == 0


def test_an_admin_restores_it_with_every_revision_kept_meanwhile(client, admin_user, deleted):
    path, conversation = deleted
    changed(path)
    ingest(path)
    client.force_login(admin_user)

    client.post(
        "/admin/conversations/conversation/?state=deleted",
        {"action": "restore_action", "_selected_action": [str(conversation.pk)], "index": "0"},
    )

    conversation.refresh_from_db()
    assert conversation.deleted_at is None
    assert conversation.latest_revision.number == 2
    assert AuditEvent.objects.filter(action="restore", conversation=conversation, actor=admin_user).exists()
    assert client.get(reverse("conversations:detail", args=[conversation.pk])).status_code == 200


def test_after_prune_new_bytes_start_a_new_conversation(deleted, settings):
    path, conversation = deleted
    Conversation.objects.filter(pk=conversation.pk).update(deleted_at=timezone.now() - timedelta(days=400))
    settings.RETENTION_DAYS = 30
    call_command("prune", stdout=StringIO(), stderr=StringIO())

    status, summary = ingest(path)

    assert (status, summary["ingested"]) == (0, 1)
    (fresh,) = Conversation.objects.all()
    assert fresh.pk != conversation.pk and fresh.deleted_at is None
