"""`manage.py ingest`: real logs in, conversations and immutable revisions out; bad files store
nothing and are reported; the same bytes twice change nothing."""

import json
import shutil
from io import StringIO

import pytest
from django.core.management import call_command

from conversations.history.formats import load_path
from conversations.models import AuditEvent, Conversation, Original, Revision, Source
from tests.support import FIXTURES, SEED, V1_FIXTURE

pytestmark = pytest.mark.django_db


def ingest(*paths, fmt=None):
    """Run the command as a user would, with --json; (exit status, parsed summary)."""
    out, err = StringIO(), StringIO()
    args = [str(p) for p in paths] + ["--json"] + (["--format", fmt] if fmt else [])
    try:
        call_command("ingest", *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, json.loads(out.getvalue())


def stored_counts():
    return (Source.objects.count(), Conversation.objects.count(), Revision.objects.count(), Original.objects.count())


def test_it_loads_every_shared_fixture_and_skips_what_is_not_a_log():
    status, summary = ingest(FIXTURES / "seed", FIXTURES / "formats")

    assert status == 0, summary["failed"]
    # 3 seed histories, openai, anthropic, claude-code, litellm-log, the OpenHands event directory
    # and its trajectory, the OpenHands V1 conversation folder.
    assert summary["ingested"] == 10
    # PROVENANCE.md three times, proxy-config.yaml, the litellm fixture's .md provenance.
    assert summary["skipped"] == 5
    assert summary["failed"] == []
    formats = sorted(Conversation.objects.values_list("format", flat=True))
    assert formats == [
        "anthropic",
        "claude-code",
        "litellm-log",
        "openai",
        "openai",
        "openai",
        "openai",
        "openhands",
        "openhands",
        "openhands-v1",
    ]


def test_a_folder_of_openhands_v1_conversations_gives_one_conversation_each(tmp_path):
    from tests.v1_folders import V1Log

    for name, text in (("0a1b", "first"), ("2c3d", "second")):
        log = V1Log()
        log.user(f"the {text} conversation")
        log.agent("On it.")
        log.write(tmp_path / "conversations" / name)
    (tmp_path / "conversations" / "0a1b" / "observations").mkdir()
    (tmp_path / "conversations" / "0a1b" / "observations" / "out.json").write_text("{}")

    status, summary = ingest(tmp_path / "conversations")

    assert status == 0, summary["failed"]
    assert summary["ingested"] == 2 and summary["failed"] == []
    titles = sorted(Conversation.objects.values_list("title", flat=True))
    assert titles == ["the first conversation", "the second conversation"]
    assert set(Conversation.objects.values_list("format", flat=True)) == {"openhands-v1"}


def test_a_v1_conversation_is_stored_byte_for_byte_with_the_sdk_sidecars_by_name():
    status, _ = ingest(V1_FIXTURE)

    assert status == 0
    stored = {f.name: bytes(f.data) for f in Original.objects.get().files.all()}
    assert stored == load_path(V1_FIXTURE).files
    assert stored["events/.eventlog.lock"] == b""


def test_the_same_bytes_again_change_nothing():
    ingest(FIXTURES / "seed", FIXTURES / "formats")
    before = stored_counts()

    status, summary = ingest(FIXTURES / "seed", FIXTURES / "formats")

    assert status == 0
    assert summary["ingested"] == 0
    assert summary["unchanged"] == 10
    assert stored_counts() == before


def test_new_bytes_at_the_same_path_add_a_revision_with_its_parent(fixture_copy):
    path = fixture_copy("formats/openai-request.json")
    ingest(path)
    document = json.loads(path.read_text())
    document["messages"].append({"role": "user", "content": "And the payments dashboard?"})
    path.write_text(json.dumps(document))

    status, summary = ingest(path)

    assert (status, summary["ingested"]) == (0, 1)
    conversation = Conversation.objects.get()
    first, second = conversation.revisions.order_by("number")
    assert second.parent == first
    assert conversation.latest_revision == second
    assert conversation.message_count == len(first.history.messages) + 1
    assert second.reason.startswith("re-ingested")


def test_two_files_with_the_same_session_are_two_conversations(tmp_path):
    for name in ("a.jsonl", "b.jsonl"):
        shutil.copyfile(FIXTURES / "formats" / "claude-code-session.jsonl", tmp_path / name)

    status, summary = ingest(tmp_path)

    assert (status, summary["ingested"]) == (0, 2)
    assert Conversation.objects.values("external_id").distinct().count() == 1


def test_the_original_is_kept_byte_for_byte():
    path = FIXTURES / "formats" / "claude-code-session.jsonl"
    ingest(path)

    original = Revision.objects.get().original
    assert bytes(original.files.get().data) == path.read_bytes()


def test_an_openhands_directory_is_one_conversation_with_every_file_kept():
    ingest(FIXTURES / "formats" / "openhands-events")

    conversation = Conversation.objects.get()
    assert conversation.format == "openhands"
    names = set(conversation.latest_revision.original.files.values_list("name", flat=True))
    assert names == {"metadata.json", *(f"events/{i}.json" for i in range(12))}


def test_a_truncated_file_exits_1_names_itself_and_stores_nothing(tmp_path):
    bad = tmp_path / "truncated.json"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assis')

    status, summary = ingest(bad)

    assert status == 1
    [failure] = summary["failed"]
    assert failure["path"] == str(bad)
    assert "truncated.json" in failure["error"] and "JSON" in failure["error"]
    assert stored_counts() == (0, 0, 0, 0)


def test_a_bad_file_among_good_ones_fails_alone(tmp_path):
    shutil.copyfile(FIXTURES / "formats" / "openai-request.json", tmp_path / "good.json")
    (tmp_path / "garbage.json").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.jsonl").write_bytes(b"")

    status, summary = ingest(tmp_path)

    assert status == 1
    assert summary["ingested"] == 1
    errors = {item["path"].rsplit("/", 1)[-1]: item["error"] for item in summary["failed"]}
    assert set(errors) == {"garbage.json"}
    assert "UTF-8" in errors["garbage.json"]
    # An empty file is a normal file of a log folder (a session never written to): skipped, not failed.
    assert summary["skipped_files"] == [{"path": str(tmp_path / "empty.jsonl"), "reason": "the file is empty"}]
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"messages": "not a list"}', "messages"),
        (
            '{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"type": "function", '
            '"function": {"name": "ls", "arguments": "{}"}}]}]}',
            "id",
        ),
        ("[" * 5000 + "]" * 5000, "nested"),
        ("\x00\x01\x02", "NUL"),
    ],
)
def test_malformed_documents_get_a_clear_error_and_store_nothing(tmp_path, content, reason):
    bad = tmp_path / "bad.json"
    bad.write_text(content)

    status, summary = ingest(bad, fmt="openai")

    assert status == 1
    assert reason in summary["failed"][0]["error"]
    assert stored_counts() == (0, 0, 0, 0)


def test_a_file_over_the_size_limit_is_refused(tmp_path, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    path = tmp_path / "big.json"
    shutil.copyfile(FIXTURES / "formats" / "openai-request.json", path)

    status, summary = ingest(path)

    assert status == 1
    assert "limit" in summary["failed"][0]["error"]
    assert stored_counts() == (0, 0, 0, 0)


def test_secrets_are_redacted_before_storage_and_listed_on_the_revision(tmp_path):
    record = json.loads((FIXTURES / "formats" / "litellm-standard-logging-failure.json").read_text())
    record["metadata"]["user_api_key"] = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    record["hidden_params"]["additional_headers"]["authorization"] = "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig"
    path = tmp_path / "failure.json"
    raw = json.dumps(record, indent=1).encode()
    path.write_bytes(raw)

    ingest(path)

    revision = Revision.objects.get()
    stored = bytes(revision.original.files.get().data)
    assert b"sk-proj-abcdefghijklmnopqrstuvwxyz" not in stored
    assert b"eyJhbGciOiJIUzI1NiJ9" not in stored
    assert {r["key"] for r in revision.redactions} == {"user_api_key", "authorization"}
    # Everything but the two values is byte for byte the input.
    expected = raw.replace(b"sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", b"[REDACTED]").replace(
        b"Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", b"[REDACTED]"
    )
    assert stored == expected
    # The idempotence hash is over the input as read: the same file again is a no-op.
    assert ingest(path)[1]["unchanged"] == 1


def test_each_ingest_that_changes_something_is_audited():
    ingest(FIXTURES / "formats" / "anthropic-request.json")
    ingest(FIXTURES / "formats" / "anthropic-request.json")

    [event] = AuditEvent.objects.all()
    assert event.action == "ingest"
    assert event.detail["conversations"] == [Conversation.objects.get().pk]


def test_revisions_cannot_be_edited_in_place():
    ingest(FIXTURES / "formats" / "anthropic-request.json")
    revision = Revision.objects.get()
    revision.reason = "rewritten history"

    with pytest.raises(ValueError, match="immutable"):
        revision.save()


def test_the_conversation_summary_counts_messages_tool_calls_and_tokens():
    ingest(FIXTURES / "formats" / "openhands-events")

    conversation = Conversation.objects.get()
    assert conversation.title == "Run inventory-svc test suite"
    assert conversation.model == "litellm_proxy/claude-sonnet-4-20250514"
    assert conversation.tool_call_count == 3
    assert conversation.message_count == len(conversation.latest_revision.history.messages)
    assert conversation.token_count > 0
    assert conversation.first_at < conversation.last_at


def test_a_seed_history_counts_messages_without_the_system_prompt():
    ingest(SEED[0])

    conversation = Conversation.objects.get()
    assert conversation.message_count == 8
    assert len(conversation.latest_revision.history.system) == 1


def searched(text):
    from conversations.search import text_search

    return list(text_search(Conversation.objects.all(), text).values_list("pk", flat=True))


def test_search_follows_the_latest_revision_of_a_re_ingested_file(fixture_copy):
    path = fixture_copy("formats/openai-request.json")
    ingest(path)
    conversation = Conversation.objects.get()
    assert searched("kumquat") == []
    document = json.loads(path.read_text())
    document["messages"].append({"role": "user", "content": "Ship the kumquat fix."})
    path.write_text(json.dumps(document))

    ingest(path)

    assert searched("kumquat") == [conversation.pk]


def test_a_revision_added_by_a_person_is_searchable_by_its_new_text():
    from conversations.history.model import Block, Message
    from conversations.revisions import revision_add

    ingest(FIXTURES / "formats" / "openai-request.json")
    conversation = Conversation.objects.get()
    history = conversation.latest_revision.history
    history.messages.append(Message(role="user", blocks=[Block.text_block("Try the quince route.")]))

    revision_add(conversation, history, user=None, reason="test", expected=1, action="edit")

    assert searched("quince") == [conversation.pk]
    assert conversation.search_entry.text.count("quince") == 1


def test_an_ingest_told_to_rest_rests_after_each_file_as_long_as_it_took(monkeypatch):
    import time

    rests = []
    monkeypatch.setattr(time, "sleep", rests.append)  # record the rests instead of taking them
    out = StringIO()
    began = time.monotonic()

    call_command("ingest", str(FIXTURES / "samples"), "--jobs", "1", "--rest", "100", stdout=out, stderr=StringIO())

    assert "3 ingested" in out.getvalue()
    assert len(rests) == 4  # after each of the three logs and the PROVENANCE file the walk skips
    # Each rest is the time its file took: together, no more than the whole run.
    assert 0 < sum(rests) <= time.monotonic() - began


def test_an_ingest_rests_only_when_told(monkeypatch):
    import time

    rests = []
    monkeypatch.setattr(time, "sleep", rests.append)

    call_command("ingest", str(FIXTURES / "samples"), "--jobs", "1", stdout=StringIO(), stderr=StringIO())

    assert rests == []
