"""An upload or API post over INGEST_INLINE_MAX_BYTES is ingested by a background job (issue 16
part 2): its bytes staged first, then ingested by the task through the database task backend (a
worker run in process, `db_worker --batch`), with the inline path's redaction, deletion rule and
audit; the API answers 202 and a status URL, the upload page shows the progress."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from conversations import tasks
from conversations.api.auth import api_token_create
from conversations.ingest.staged import ingest_claim
from conversations.models import AuditEvent, Conversation, IngestJob, Source
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/api/conversations"
UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"


@pytest.fixture
def small_threshold(settings, tmp_path):
    settings.INGEST_INLINE_MAX_BYTES = 1_000
    settings.INGEST_STAGING_DIR = tmp_path / "staged"
    return settings.INGEST_STAGING_DIR


def token_headers(user) -> dict:
    _, token = api_token_create(user)
    return {"Authorization": f"Bearer {token}"}


def post(client, user, body: bytes, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(
        f"{LIST}?{query}" if query else LIST, body, content_type="application/json", headers=token_headers(user)
    )


def run_worker() -> None:
    """The database backend's own worker, in process, until no task is due (the watchdog is not
    due yet: it waits a lease)."""
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0.1", verbosity=0)


def padded(log: dict, size: int) -> bytes:
    """`log` as JSON of at least `size` bytes (a long first user message)."""
    body = json.dumps(log).encode()
    log = json.loads(body)
    log["messages"][0]["content"] = str(log["messages"][0]["content"]) + " " + "x" * max(0, size - len(body))
    return json.dumps(log).encode()


def big_unanswered(size: int = 5_000) -> bytes:
    return padded(json.loads(UNANSWERED.read_text()), size)


def test_a_post_over_the_threshold_answers_202_with_a_status_url_that_ends_with_the_conversation(
    client, viewer, small_threshold
):
    response = post(client, viewer, big_unanswered(), name="big.json")

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"job", "status_url"}
    assert body["status_url"] == f"http://testserver/api/ingest-jobs/{body['job']}"
    assert response["Location"] == body["status_url"]
    assert not Conversation.objects.exists()
    [staged] = small_threshold.iterdir()  # kept on disk before the answer
    queued = client.get(body["status_url"], headers=token_headers(viewer)).json()
    assert queued["status"] == "queued" and queued["conversations"] == [] and queued["error"] is None

    run_worker()

    done = client.get(body["status_url"], headers=token_headers(viewer)).json()
    conversation = Conversation.objects.get()
    assert done["status"] == "done" and done["progress"]["percent"] == 100
    assert done["conversations"] == [
        {"id": conversation.pk, "url": f"http://testserver/api/conversations/{conversation.pk}"}
    ]
    assert conversation.source.kind == Source.Kind.API and conversation.source.location == "big.json"
    assert conversation.get_status_display() == "stuck"
    assert not staged.exists()
    [event] = AuditEvent.objects.filter(action="ingest")
    assert event.actor == viewer and event.detail["conversations"] == [conversation.pk]


def test_a_post_under_the_threshold_is_answered_as_before(client, viewer, small_threshold):
    response = post(client, viewer, b'{"messages": [{"role": "user", "content": "hi"}]}')

    assert response.status_code == 201 and response.json()["status"] == "ingested"
    assert not IngestJob.objects.exists()


def test_a_bad_file_gives_its_error_at_the_status_url_and_stores_nothing(client, viewer, small_threshold):
    body = b'{"messages": [{"role": "user", "content": "' + b"y" * 2_000 + b'"}, {"role": 7}]}'
    response = post(client, viewer, body, name="broken.json")
    run_worker()

    state = client.get(response.json()["status_url"], headers=token_headers(viewer)).json()
    assert state["status"] == "failed" and state["conversations"] == []
    assert "broken.json" in state["error"] and "nothing was stored" in state["error"]
    assert not Conversation.objects.exists()
    assert not list(small_threshold.iterdir())


def test_secrets_are_redacted_as_inline(client, viewer, small_threshold):
    log = {
        "model": "gpt-4o",
        "api_key": "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
        "messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}],
    }
    post(client, viewer, padded(log, 3_000), name="secret.json")
    run_worker()

    conversation = Conversation.objects.get()
    original = b"".join(f.data for f in conversation.latest_revision.original.files.all())
    assert b"sk-proj-abcdefghijklmnopqrstuvwxyz0123456789" not in original
    assert conversation.latest_revision.redactions


def test_new_bytes_for_a_deleted_conversation_are_held_and_the_job_says_so(client, viewer, small_threshold):
    first = post(client, viewer, big_unanswered(4_000), name="gone.json")
    run_worker()
    conversation = Conversation.objects.get()
    conversation.deleted_at = conversation.created_at
    conversation.save(update_fields=["deleted_at"])

    again = post(client, viewer, big_unanswered(5_000), name="gone.json")
    run_worker()

    state = client.get(again.json()["status_url"], headers=token_headers(viewer)).json()
    assert first.status_code == again.status_code == 202
    assert state["status"] == "failed"
    assert state["error"] == f"conversation {conversation.pk} was deleted; an admin can restore it"
    conversation.refresh_from_db()
    assert conversation.deleted_at is not None and conversation.revisions.count() == 2
    assert AuditEvent.objects.filter(action="ingest_deleted", conversation=conversation, actor=viewer).exists()


def test_another_users_job_is_not_found(client, viewer, django_user_model, small_threshold):
    job = post(client, viewer, big_unanswered()).json()["job"]
    other = django_user_model.objects.create_user("other", password="other-pass-1")

    answer = client.get(f"/api/ingest-jobs/{job}", headers=token_headers(other))

    assert answer.status_code == 404 and answer.json()["reason"] == f"no ingest job {job}"


def test_the_watchdog_ingests_the_staged_file_of_a_job_whose_worker_died(viewer, small_threshold):
    job = tasks.ingest_start([big_unanswered()], name="died.json", kind=Source.Kind.API, user=viewer)
    claimed = ingest_claim(job.pk)  # a worker took it, then died: its lease is left to expire
    assert claimed is not None and tasks.ingest_watch.call(job.pk) == "waiting"
    IngestJob.objects.filter(pk=job.pk).update(lease_expires_at=claimed.started_at)

    assert tasks.ingest_watch.call(job.pk) == "resumed"

    job.refresh_from_db()
    assert job.status == "done" and job.attempts == 2
    assert job.result["conversations"] == [Conversation.objects.get().pk]
    assert tasks.ingest_watch.call(job.pk) == "finished"


def test_an_upload_over_the_threshold_shows_its_progress_then_links_to_the_conversation(
    client, viewer, small_threshold
):
    client.force_login(viewer)
    upload = SimpleUploadedFile("big-upload.json", big_unanswered(), content_type="application/json")

    response = client.post("/upload/", {"files": [upload]})

    job = IngestJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/upload/?job={job.pk}"
    page = client.get(response["Location"]).content.decode()
    assert "big-upload.json" in page and "waiting for a worker" in page
    assert f'hx-get="/upload/?job={job.pk}"' in page  # it polls itself
    run_worker()
    partial = client.get(f"/upload/?job={job.pk}", headers={"HX-Request": "true"}).content.decode()
    conversation = Conversation.objects.get()
    assert conversation.source.kind == Source.Kind.UPLOAD
    assert "<html" not in partial and "hx-get" not in partial  # done: no more polling
    assert f'href="/conversations/{conversation.pk}/"' in partial


def test_the_upload_page_shows_no_one_elses_upload(client, viewer, django_user_model, small_threshold):
    other = django_user_model.objects.create_user("other", password="other-pass-1")
    job = tasks.ingest_start([big_unanswered()], name="theirs.json", kind=Source.Kind.UPLOAD, user=other)
    client.force_login(viewer)

    page = client.get(f"/upload/?job={job.pk}")

    assert page.status_code == 404 and "theirs.json" not in page.content.decode()


def test_a_real_body_over_10_mb_is_ingested_in_the_background(client, viewer, settings, tmp_path):
    settings.INGEST_STAGING_DIR = tmp_path / "staged"
    body = big_unanswered(10 * 1024 * 1024 + 1)

    response = post(client, viewer, body, name="ten-mb.json")
    assert response.status_code == 202
    run_worker()

    state = client.get(response.json()["status_url"], headers=token_headers(viewer)).json()
    assert state["status"] == "done" and state["size"] == len(body)
    assert len(state["conversations"]) == 1
