"""Writing an OpenHands V1 conversation back: in place (never by swapping the folder an
agent-server may hold open), under the SDK's own lock, refused while it runs or when it changed
since it was read, and nothing written when nothing changed."""

import fcntl
import json
import os
import threading
import time

import pytest

from conversations import repairs
from conversations.history import formats
from conversations.history.formats import load_path
from conversations.history.formats.document import document_hash
from conversations.history.repair import repair
from conversations.ingest import ingest_path
from conversations.models import Conversation
from conversations.writeback import ChangedOnDisk, WriteBackError, write_back
from conversations.writeback.inplace import ConversationRunning, LockHeld
from tests.v1_folders import fixture_files, without_last_observation, write_folder


@pytest.fixture
def conversation(tmp_path):
    """The SDK-written conversation as a process that died mid call left it, under a root."""
    return write_folder(
        tmp_path / "conversations" / "4f7c2a9e1b3d4e8a9c6f2d5b8e1a7c30", without_last_observation(fixture_files())
    )


def roots(folder):
    return [folder.parent]


def repaired(folder):
    doc = load_path(folder)
    (history,) = formats.read(doc)
    result = repair(history, target="anthropic", include_warnings=True, build_request=False)
    assert result.edits
    return doc, formats.write(result.history, doc)


def snapshot(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def set_status(folder, status):
    path = folder / "base_state.json"
    state = json.loads(path.read_bytes())
    path.write_bytes(
        path.read_bytes().replace(
            f'"execution_status":"{state["execution_status"]}"'.encode(), f'"execution_status":"{status}"'.encode()
        )
    )


@pytest.fixture
def held_lock():
    """Hold the SDK's lock on a folder, as a running EventLog.append would."""
    fds = []

    def hold(folder):
        fd = os.open(folder / "events" / ".eventlog.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        fds.append(fd)
        return fd

    yield hold
    for fd in fds:
        os.close(fd)


def test_the_repair_is_written_in_place_and_the_folder_is_never_swapped(conversation):
    doc, new = repaired(conversation)
    inode = os.stat(conversation).st_ino
    before = snapshot(conversation)

    result = write_back(conversation, new, expected_hash=document_hash(doc), roots=roots(conversation))

    assert os.stat(conversation).st_ino == inode and result.path == conversation.resolve()
    after = snapshot(conversation)
    added = sorted(set(after) - set(before))
    assert [n for n in added if not n.startswith(".inspector-backup")] == [
        n for n in sorted(new.files) if n not in doc.files
    ]
    assert not (conversation / "events" / ".eventlog-len-26.marker").exists()
    assert after["base_state.json"] == new.files["base_state.json"]
    # The replaced base_state.json is kept, inside the folder where neither the SDK nor ingest reads.
    assert result.backup.parent == conversation.resolve() and result.backup.name.startswith(".inspector-backup-")
    assert (result.backup / "base_state.json").read_bytes() == before["base_state.json"]
    (history,) = formats.read(load_path(conversation))
    assert (
        history.meta["abandoned"] == []
        and history.messages[-1].blocks[0].tool_use_id == "toolu_01Xe5Qa9Jc3Hm7Rt1Lv6Ub2N"
    )
    assert not [p for p in (conversation / "events").iterdir() if p.name.endswith(".tmp")]


def test_write_back_is_refused_while_the_conversation_runs(conversation):
    doc, new = repaired(conversation)
    set_status(conversation, "running")
    before = snapshot(conversation)

    with pytest.raises(ConversationRunning, match="the conversation is running"):
        write_back(conversation, new, expected_hash=document_hash(load_path(conversation)), roots=roots(conversation))
    assert snapshot(conversation) == before


def test_write_back_is_refused_when_the_folder_changed_since_it_was_read(conversation):
    doc, new = repaired(conversation)
    set_status(conversation, "idle")  # the SDK saved its state meanwhile
    before = snapshot(conversation)

    with pytest.raises(ChangedOnDisk):
        write_back(conversation, new, expected_hash=document_hash(doc), roots=roots(conversation))
    assert snapshot(conversation) == before


def test_write_back_waits_for_the_sdk_lock_and_then_writes(conversation, held_lock):
    doc, new = repaired(conversation)
    fd = held_lock(conversation)
    released = []

    def release_soon():
        time.sleep(0.5)
        released.append(time.monotonic())
        fcntl.flock(fd, fcntl.LOCK_UN)

    thread = threading.Thread(target=release_soon)
    thread.start()
    write_back(conversation, new, expected_hash=document_hash(doc), roots=roots(conversation))
    done = time.monotonic()
    thread.join()

    assert released and done >= released[0]
    assert snapshot(conversation)["base_state.json"] == new.files["base_state.json"]


def test_write_back_gives_up_when_the_lock_stays_held_and_writes_nothing(conversation, held_lock):
    doc, new = repaired(conversation)
    held_lock(conversation)
    before = snapshot(conversation)

    with pytest.raises(LockHeld, match="held the conversation's lock"):
        write_back(conversation, new, expected_hash=document_hash(doc), roots=roots(conversation), lock_timeout=0.2)
    assert snapshot(conversation) == before


def test_the_lock_is_held_while_the_files_are_written(conversation, monkeypatch):
    doc, new = repaired(conversation)
    seen = []
    real_replace = os.replace

    def replace_and_try_the_lock(src, dst, *a, **kw):
        fd = os.open(conversation / "events" / ".eventlog.lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append("free")
        except BlockingIOError:
            seen.append("held")
        finally:
            os.close(fd)
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace_and_try_the_lock)
    write_back(conversation, new, expected_hash=document_hash(doc), roots=roots(conversation))

    assert seen and set(seen) == {"held"}


def test_a_folder_the_sdk_never_locked_gets_its_lock_file_as_the_sdk_would_create_it(conversation):
    (conversation / "events" / ".eventlog.lock").unlink()
    doc, new = repaired(conversation)

    write_back(conversation, new, expected_hash=document_hash(doc), roots=roots(conversation))

    assert (conversation / "events" / ".eventlog.lock").read_bytes() == b""
    assert snapshot(conversation)["base_state.json"] == new.files["base_state.json"]


def test_an_unchanged_history_writes_nothing(conversation):
    doc = load_path(conversation)
    before = snapshot(conversation)

    result = write_back(conversation, doc, expected_hash=document_hash(doc), roots=roots(conversation))

    assert result.backup is None and snapshot(conversation) == before


def test_a_failure_part_way_takes_back_what_was_written(conversation, monkeypatch):
    doc, new = repaired(conversation)
    before = snapshot(conversation)
    real_replace = os.replace

    def fail_on_base_state(src, dst, *a, **kw):
        if str(dst).endswith("base_state.json"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", fail_on_base_state)
    with pytest.raises(WriteBackError, match="No space left on device"):
        write_back(conversation, new, expected_hash=document_hash(doc), roots=roots(conversation))

    after = {n: d for n, d in snapshot(conversation).items() if not n.startswith(".inspector-backup")}
    assert after == before


@pytest.mark.django_db
def test_a_repair_applied_in_the_app_is_written_back_in_place(conversation, repairer, settings):
    settings.WRITE_BACK_ROOTS = roots(conversation)
    outcome = ingest_path(conversation)
    assert outcome.status == "ingested", outcome.error
    stored = Conversation.objects.get(pk=outcome.added[0])
    revision, result = repairs.repair_apply(
        stored, user=repairer, expected=1, target="anthropic", include_warnings=True
    )
    assert [e.op for e in result.edits] == ["reattach-tool-call"]

    repairs.writeback_apply(stored, revision, user=repairer)

    (history,) = formats.read(load_path(conversation))
    assert history.meta["abandoned"] == []
    # What is on disk is that revision now: ingesting it again is no change.
    assert ingest_path(conversation).status == "unchanged"
