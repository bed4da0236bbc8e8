"""Repair, write back and resume through the Django side: every change a new revision, the
repairer role required, concurrent repairs refused, the source rewritten in its own format."""

import json
import shutil

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import repairs
from conversations.history import formats
from conversations.history.readback import readback_difference
from conversations.ingest import ingest_path
from conversations.models import AuditEvent, Chunk, Conversation
from conversations.resume import ResumeError
from conversations.writeback import ChangedOnDisk, WriteBackError
from tests.fakeprovider import FakeProvider
from tests.support import FIXTURES, ingested

pytestmark = pytest.mark.django_db


@pytest.fixture
def stuck(tmp_path):
    """The unanswered-tool-call sample, as a file under a write-back root."""
    path = tmp_path / "logs" / "stuck.json"
    path.parent.mkdir()
    shutil.copyfile(FIXTURES / "samples" / "unanswered-tool-call.json", path)
    return path


def test_a_repair_adds_a_revision_that_the_target_accepts(repairer, stuck):
    conversation = ingested(stuck)

    revision, result = repairs.repair_apply(conversation, user=repairer, expected=1, target="anthropic")

    assert revision.number == 2 and revision.parent.number == 1
    assert revision.author == repairer
    assert result.accepted
    assert any(e.op == "add-tool-result" for e in result.edits)
    conversation.refresh_from_db()
    assert conversation.latest_revision == revision
    # The earlier revision is untouched and still holds the broken history.
    first = conversation.revisions.get(number=1).history
    assert not any(b.type == "tool_result" for m in first.messages for b in m.blocks)
    assert AuditEvent.objects.filter(action="repair", revision=revision, actor=repairer).exists()


def test_a_viewer_cannot_repair(viewer, stuck):
    conversation = ingested(stuck)

    with pytest.raises(PermissionDenied):
        repairs.repair_apply(conversation, user=viewer, expected=1, target="anthropic")
    assert conversation.revisions.count() == 1


def test_the_second_of_two_concurrent_repairs_gets_a_conflict(repairer, stuck):
    conversation = ingested(stuck)
    repairs.repair_apply(conversation, user=repairer, expected=1, target="anthropic")

    with pytest.raises(repairs.Conflict, match="changed since you opened it"):
        repairs.repair_apply(Conversation.objects.get(pk=conversation.pk), user=repairer, expected=1, target="openai")
    assert conversation.revisions.count() == 2


def test_nothing_to_repair_adds_no_revision(repairer):
    conversation = ingested(FIXTURES / "formats" / "anthropic-request.json")

    revision, result = repairs.repair_apply(conversation, user=repairer, expected=1, target="anthropic")

    assert revision is None and not result.changed
    assert conversation.revisions.count() == 1


def test_an_earlier_revision_can_be_restored_as_a_new_one(repairer, stuck):
    from conversations.revisions import revision_restore

    conversation = ingested(stuck)
    repairs.repair_apply(conversation, user=repairer, expected=1, target="anthropic")

    restored = revision_restore(conversation, 1, user=repairer, expected=2)

    assert restored.number == 3
    assert restored.content_hash == conversation.revisions.get(number=1).content_hash


def test_write_back_rewrites_the_file_in_its_own_format_and_keeps_a_backup(repairer, stuck, settings):
    settings.WRITE_BACK_ROOTS = [stuck.parent.parent]
    conversation = ingested(stuck)
    revision, _ = repairs.repair_apply(conversation, user=repairer, expected=1, target="anthropic")

    written = repairs.writeback_apply(conversation, revision, user=repairer)

    document = json.loads(stuck.read_text())
    roles = [m["role"] for m in document["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert document["messages"][3]["tool_call_id"] == "toolu_01A9xKqv3VbN7mZ2rT5sY8wD"
    assert (
        written.backup
        and (FIXTURES / "samples" / "unanswered-tool-call.json").read_bytes() == open(written.backup, "rb").read()
    )
    # What is on disk is that revision now: ingesting it again is no change.
    assert ingest_path(stuck).status == "unchanged"


def test_write_back_is_refused_outside_the_allowed_roots(repairer, stuck, settings, tmp_path):
    settings.WRITE_BACK_ROOTS = [tmp_path / "elsewhere"]
    (tmp_path / "elsewhere").mkdir()
    conversation = ingested(stuck)
    revision, _ = repairs.repair_apply(conversation, user=repairer, expected=1, target="anthropic")
    before = stuck.read_bytes()

    with pytest.raises(WriteBackError, match="not under an allowed write-back root"):
        repairs.writeback_apply(conversation, revision, user=repairer)
    assert stuck.read_bytes() == before


def test_write_back_is_refused_when_the_file_changed_since_it_was_read(repairer, stuck, settings):
    settings.WRITE_BACK_ROOTS = [stuck.parent.parent]
    conversation = ingested(stuck)
    revision, _ = repairs.repair_apply(conversation, user=repairer, expected=1, target="anthropic")
    stuck.write_text(stuck.read_text().replace("Hello?", "Hello again?"))

    with pytest.raises(ChangedOnDisk):
        repairs.writeback_apply(conversation, revision, user=repairer)
    assert "Hello again?" in stuck.read_text()


def test_an_upload_is_downloaded_repaired_in_its_own_format_or_as_a_request(repairer):
    from conversations.ingest import ingest_document
    from conversations.models import Source

    doc = formats.Document.from_bytes(
        "session.jsonl", (FIXTURES / "formats" / "claude-code-session.jsonl").read_bytes()
    )
    outcome = ingest_document(doc, kind=Source.Kind.UPLOAD, location="session.jsonl")
    revision = Conversation.objects.get(pk=outcome.added[0]).latest_revision

    name, data = repairs.download_document(revision)
    assert name.endswith(".jsonl") and data == doc.files["session.jsonl"]
    name, data = repairs.download_document(revision, "anthropic")
    assert name.endswith(".anthropic.json")
    assert json.loads(data)["messages"][0]["role"] == "user"


@pytest.mark.parametrize(
    "path",
    [
        FIXTURES / "formats" / "claude-code-session.jsonl",
        FIXTURES / "samples" / "unanswered-tool-call.json",
        FIXTURES / "formats" / "openhands-events",
    ],
    ids=lambda p: p.name,
)
def test_an_ingested_revision_downloads_as_its_stored_original_without_reading_its_history(path):
    revision = ingested(path).latest_revision
    stored = repairs.original_document(revision)

    with CaptureQueriesContext(connection) as queries:
        doc = repairs.revision_document(revision)

    assert doc.files == stored.files and doc.is_dir == stored.is_dir
    assert not [q for q in queries if Chunk._meta.db_table in q["sql"]]


def test_a_repaired_revision_is_still_written_and_read_back_before_it_is_downloaded(repairer, stuck):
    conversation = ingested(stuck)
    revision, _ = repairs.repair_apply(conversation, user=repairer, expected=1, target="anthropic")

    doc = repairs.revision_document(revision)

    assert doc.files != repairs.original_document(revision).files
    assert readback_difference(revision.history, doc) is None
    assert [m["role"] for m in json.loads(doc.single[1])["messages"]] == ["system", "user", "assistant", "tool", "user"]


def test_resume_stores_the_models_reply_as_a_new_revision(repairer, stuck, settings):
    conversation = ingested(stuck)
    repairs.repair_apply(conversation, user=repairer, expected=1, target="anthropic")
    with FakeProvider(reply="Here are the files.") as fake:
        settings.RESUME_API_BASE = fake.api_base("anthropic")
        settings.RESUME_API_KEY = "sk-test-not-a-real-key"

        revision = repairs.conversation_resume(
            conversation, user=repairer, expected=2, continuation="Please go on.", model="anthropic/claude-sonnet-4-5"
        )

    history = revision.history
    assert history.messages[-1].role == "assistant" and history.messages[-1].text == "Here are the files."
    assert history.messages[-2].text == "Please go on."
    assert revision.reason.startswith("resumed")


def test_resume_of_an_unrepaired_history_shows_the_providers_error_and_stores_nothing(repairer, stuck, settings):
    conversation = ingested(stuck)
    with FakeProvider() as fake:
        settings.RESUME_API_BASE = fake.api_base("anthropic")
        settings.RESUME_API_KEY = "sk-test-not-a-real-key"

        with pytest.raises(ResumeError, match="tool_use` ids were found without `tool_result` blocks"):
            repairs.conversation_resume(
                conversation, user=repairer, expected=1, continuation="", model="anthropic/claude-sonnet-4-5"
            )

    assert conversation.revisions.count() == 1
    assert AuditEvent.objects.get(action="resume-failed").detail["error"]
