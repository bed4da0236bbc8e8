"""Write-back: a repaired log replaces the original atomically, the original stays as a backup,
and nothing is written outside the allowed roots or over a log that changed since it was read.

Failures of the operating system (a rename that never happens because the process is killed, a
full disk) are simulated at the os/libc boundary; everything above it is the real code."""

import errno
import hashlib
import json
import os
import shutil

import pytest

from conversations.history import formats
from conversations.history.formats import Document, load_path
from conversations.history.formats.document import document_hash
from conversations.history.repair import repair
from conversations.writeback import ChangedOnDisk, OutsideRoots, WriteBackError, append_reply, disk_hash, write_back
from tests.claude_sessions import empty_last_response
from tests.support import FIXTURES

SAMPLE = FIXTURES / "samples" / "unanswered-tool-call.json"


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def repaired(path):
    """The document of the repaired history, as the repair flow would write it."""
    doc = load_path(path)
    (history,) = formats.read(doc)
    result = repair(history, target="anthropic")
    assert result.edits
    return doc, formats.write(result.history, doc)


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- one file ----------------------------------------------------------------------------------


def test_a_file_is_replaced_and_the_original_kept_as_a_backup(root):
    path = root / "session.json"
    shutil.copyfile(SAMPLE, path)
    os.chmod(path, 0o640)
    old = path.read_bytes()
    _, new = repaired(path)

    result = write_back(path, new, expected_hash=sha256(old), roots=[root])

    assert result.path == path.resolve() and path.read_bytes() == new.single[1]
    assert result.backup.parent == root and result.backup.name.startswith("session.json.bak-")
    assert result.backup.read_bytes() == old
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert leftovers(root) == []  # no temporary file left behind


def test_the_hash_ingest_stores_is_accepted_too(root):
    path = root / "session.json"
    shutil.copyfile(SAMPLE, path)
    doc, new = repaired(path)
    from conversations.ingest import document_hash as ingest_hash

    assert disk_hash(path) == document_hash(doc) == ingest_hash(doc)
    write_back(path, new, expected_hash=disk_hash(doc.name), roots=[root])
    assert path.read_bytes() == new.single[1]


def test_it_refuses_a_path_outside_the_allowed_roots(root, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    shutil.copyfile(SAMPLE, elsewhere)
    _, new = repaired(elsewhere)
    with pytest.raises(OutsideRoots, match="not under an allowed write-back root"):
        write_back(elsewhere, new, expected_hash=sha256(SAMPLE.read_bytes()), roots=[root])
    assert elsewhere.read_bytes() == SAMPLE.read_bytes()


def test_a_symlink_inside_a_root_pointing_outside_is_outside(root, tmp_path):
    target = tmp_path / "real.json"
    shutil.copyfile(SAMPLE, target)
    link = root / "link.json"
    link.symlink_to(target)
    _, new = repaired(link)
    with pytest.raises(OutsideRoots, match=str(target)):
        write_back(link, new, expected_hash=sha256(SAMPLE.read_bytes()), roots=[root])
    assert target.read_bytes() == SAMPLE.read_bytes() and os.listdir(root) == ["link.json"]


def test_no_roots_configured_means_no_write_back(root):
    path = root / "session.json"
    shutil.copyfile(SAMPLE, path)
    _, new = repaired(path)
    with pytest.raises(OutsideRoots, match="disabled"):
        write_back(path, new, expected_hash=sha256(SAMPLE.read_bytes()), roots=[])


def test_it_refuses_a_log_that_changed_since_it_was_read(root):
    path = root / "session.json"
    shutil.copyfile(SAMPLE, path)
    read_hash = sha256(path.read_bytes())
    _, new = repaired(path)
    appended = path.read_bytes().replace(b'"Hello?', b'"Hello again?')  # the agent wrote meanwhile
    path.write_bytes(appended)

    with pytest.raises(ChangedOnDisk, match="changed on disk since it was read"):
        write_back(path, new, expected_hash=read_hash, roots=[root])
    assert path.read_bytes() == appended and os.listdir(root) == ["session.json"]


def test_a_rename_that_never_happens_leaves_the_old_file_whole_and_the_backup(root, monkeypatch):
    path = root / "session.json"
    shutil.copyfile(SAMPLE, path)
    old = path.read_bytes()
    _, new = repaired(path)

    def killed(src, dst):  # the process dies where the rename would have happened
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(WriteBackError, match="the original is unchanged"):
        write_back(path, new, expected_hash=sha256(old), roots=[root])
    monkeypatch.undo()
    assert path.read_bytes() == old
    backups = [p for p in root.iterdir() if ".bak-" in p.name]
    assert len(backups) == 1 and backups[0].read_bytes() == old
    assert leftovers(root) == []


def test_a_full_disk_leaves_the_original_untouched(root, monkeypatch):
    path = root / "session.json"
    shutil.copyfile(SAMPLE, path)
    old = path.read_bytes()
    _, new = repaired(path)
    real_write = os.write

    def full(fd, data):
        if len(data) > 100:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(WriteBackError, match="No space left on device"):
        write_back(path, new, expected_hash=sha256(old), roots=[root])
    monkeypatch.undo()
    assert path.read_bytes() == old and os.listdir(root) == ["session.json"]


def test_a_directory_document_cannot_replace_a_file(root):
    path = root / "session.json"
    shutil.copyfile(SAMPLE, path)
    with pytest.raises(WriteBackError, match="is a file"):
        write_back(
            path,
            Document(name="x", files={"events/0.json": b"{}"}, is_dir=True),
            expected_hash=sha256(SAMPLE.read_bytes()),
            roots=[root],
        )


# --- an OpenHands session directory ------------------------------------------------------------


@pytest.fixture
def session(root):
    """The fixture session with the derived files OpenHands keeps beside its events, a cache page
    and a lost synthetic error observation (event 10)."""
    path = root / "sessions" / "abc123"
    shutil.copytree(FIXTURES / "formats" / "openhands-events", path)
    (path / "agent_state.pkl").write_bytes(b"\x80\x04pickled state")
    (path / "init.json").write_text('{"repo": "inventory-svc"}')
    events = [json.loads((path / "events" / f"{k}.json").read_text()) for k in range(12) if k != 10]
    (path / "events" / "10.json").unlink()
    (path / "event_cache").mkdir()
    (path / "event_cache" / "0-25.json").write_text(json.dumps(events))
    return path


def repair_session(path):
    doc = load_path(path)
    (history,) = formats.read(doc)
    result = repair(history, target="openai")
    assert [e.op for e in result.edits] == ["add-tool-result"]
    return doc, formats.write(result.history, doc)


def test_a_session_directory_is_swapped_in_whole(session):
    doc, new = repair_session(session)
    before = {p.relative_to(session).as_posix(): p.read_bytes() for p in session.rglob("*") if p.is_file()}

    result = write_back(session, new, expected_hash=disk_hash(session), roots=[session.parent.parent])

    files = {p.relative_to(session).as_posix() for p in session.rglob("*") if p.is_file()}
    assert "events/12.json" in files  # the new ErrorObservation
    assert json.loads((session / "events" / "12.json").read_text())["observation"] == "error"
    assert "event_cache/0-25.json" not in files  # stale: OpenHands would serve the old events
    assert (session / "agent_state.pkl").read_bytes() == b"\x80\x04pickled state"  # carried over
    assert (session / "init.json").read_text() == '{"repo": "inventory-svc"}'
    assert all(
        (session / name).read_bytes() == data
        for name, data in doc.files.items()
        if name in new.files and name.startswith("events/")
    )
    backup = result.backup
    assert backup.parent == session.parent and backup.name.startswith("abc123.bak-")
    assert {p.relative_to(backup).as_posix(): p.read_bytes() for p in backup.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in session.parent.iterdir()) == sorted([session.name, backup.name])
    (again,) = formats.read(load_path(session))
    assert len(again.messages) == 6


def test_without_an_atomic_exchange_the_old_session_is_renamed_to_the_backup_first(session, monkeypatch):
    import ctypes

    def no_libc(*args, **kwargs):  # an OS without renameat2
        raise OSError("no such library")

    doc, new = repair_session(session)
    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    result = write_back(session, new, expected_hash=disk_hash(session), roots=[session.parent])
    monkeypatch.undo()
    assert (session / "events" / "12.json").exists() and not (session / "event_cache").exists()
    assert (result.backup / "event_cache" / "0-25.json").exists()


def test_a_session_swap_that_fails_leaves_the_old_session_in_place(session, monkeypatch):
    import ctypes

    doc, new = repair_session(session)
    before = sorted(p.relative_to(session).as_posix() for p in session.rglob("*"))
    real_rename = os.rename
    failed = []

    def fails_once_moving_in(src, dst):
        if str(dst) == str(session) and not failed:  # moving the new session in
            failed.append(src)
            raise OSError(errno.EIO, "Input/output error")
        return real_rename(src, dst)

    def no_libc(*args, **kwargs):
        raise OSError("no such library")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    monkeypatch.setattr(os, "rename", fails_once_moving_in)
    with pytest.raises(WriteBackError, match="the original is unchanged"):
        write_back(session, new, expected_hash=disk_hash(session), roots=[session.parent])
    monkeypatch.undo()
    assert failed  # the swap really was attempted
    assert sorted(p.relative_to(session).as_posix() for p in session.rglob("*")) == before
    assert [p.name for p in session.parent.iterdir()] == ["abc123"]  # no staging copy left


def test_a_session_that_changed_since_it_was_read_is_refused(session):
    expected = disk_hash(session)
    _, new = repair_session(session)
    (session / "events" / "12.json").write_text('{"id": 12}')  # OpenHands appended an event
    with pytest.raises(ChangedOnDisk):
        write_back(session, new, expected_hash=expected, roots=[session.parent])
    assert (session / "events" / "12.json").read_text() == '{"id": 12}'
    assert [p.name for p in session.parent.iterdir()] == ["abc123"]


# --- appending a resumed reply -------------------------------------------------------------------


def test_a_litellm_log_is_never_rewritten(root):
    path = root / "failure.json"
    shutil.copyfile(FIXTURES / "formats" / "litellm-standard-logging-failure.json", path)
    doc = load_path(path)
    (history,) = formats.read(doc)
    with pytest.raises(WriteBackError, match="never rewritten"):
        append_reply(path, doc, history, expected_hash=disk_hash(path), roots=[root])
    assert path.read_bytes() == (FIXTURES / "formats" / "litellm-standard-logging-failure.json").read_bytes()


def test_a_document_that_would_read_back_differently_is_refused_and_nothing_written(root):
    path = root / "session.jsonl"
    path.write_bytes(empty_last_response())
    old = path.read_bytes()
    doc = load_path(path)
    (history,) = formats.read(doc)
    result = repair(history, target="anthropic")

    with pytest.raises(WriteBackError) as refused:
        write_back(
            path, formats.write(result.history, doc), expected_hash=sha256(old), roots=[root], history=result.history
        )

    assert "the output would read back differently: message 1: missing (the output holds 1 messages, not 2)" in str(
        refused.value
    )
    assert path.read_bytes() == old and sorted(p.name for p in root.iterdir()) == ["session.jsonl"]
