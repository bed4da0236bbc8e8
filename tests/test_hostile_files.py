"""Symlinks and special files met while reading logs: a symlink inside a folder is never followed
(skipped, counted and named), a FIFO or a device is refused naming it and never waited on, the size
limit holds while reading, and one such file never costs the others of its batch."""

import json
import os
import shutil
from io import StringIO

import pytest
from django.core.management import call_command

from conversations.history.errors import FormatError
from conversations.history.formats import load_path
from conversations.history.formats.document import read_regular
from conversations.models import Conversation
from conversations.writeback import WriteBackError, disk_hash, write_back
from tests.support import FIXTURES, SECRET_LINE, V1_FIXTURE, no_hang, secret_file, stored_bytes

pytestmark = pytest.mark.django_db

OPENAI = FIXTURES / "formats" / "openai-request.json"
V0_SESSION = FIXTURES / "formats" / "openhands-events"


def ingest(*paths):
    out = StringIO()
    try:
        with no_hang():
            call_command("ingest", *map(str, paths), "--json", "--jobs", "1", stdout=out, stderr=StringIO())
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, json.loads(out.getvalue())


def symlink_reasons(summary) -> dict[str, str]:
    return {os.path.basename(s["path"]): s["reason"] for s in summary["skipped_files"] if s["reason"] == "symlink"}


def test_a_symlinked_file_in_a_walked_folder_is_skipped_and_its_secret_never_stored(tmp_path):
    logs = tmp_path / "logs"
    (logs / "project").mkdir(parents=True)
    shutil.copyfile(OPENAI, logs / "project" / "real.json")
    (logs / "project" / "leak.jsonl").symlink_to(secret_file(tmp_path))

    status, summary = ingest(logs)

    assert status == 0, summary["failed"]
    assert summary["ingested"] == 1
    assert symlink_reasons(summary) == {"leak.jsonl": "symlink"}
    assert SECRET_LINE.strip() not in stored_bytes()


def test_a_symlinked_folder_is_never_walked_into(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copyfile(OPENAI, elsewhere / "someone-elses.json")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "linked").symlink_to(elsewhere, target_is_directory=True)
    (logs / "session").symlink_to(V0_SESSION, target_is_directory=True)

    status, summary = ingest(logs)

    assert status == 0
    assert summary["ingested"] == 0
    assert symlink_reasons(summary) == {"linked": "symlink", "session": "symlink"}
    assert Conversation.objects.count() == 0


def test_a_path_the_operator_names_is_followed_once(tmp_path):
    (tmp_path / "chosen.json").symlink_to(OPENAI)

    status, summary = ingest(tmp_path / "chosen.json")

    assert (status, summary["ingested"]) == (0, 1)


def test_a_symlinked_event_of_an_openhands_v0_session_is_left_out_and_named(tmp_path):
    session = tmp_path / "sessions" / "abc"
    shutil.copytree(V0_SESSION, session)
    (session / "events" / "99.json").symlink_to(secret_file(tmp_path))

    status, summary = ingest(tmp_path / "sessions")

    assert status == 0, summary["failed"]
    assert summary["ingested"] == 1
    assert symlink_reasons(summary) == {"99.json": "symlink"}
    assert SECRET_LINE.strip() not in stored_bytes()
    assert "events/99.json" not in load_path(session).files


def test_a_symlinked_event_of_an_openhands_v1_folder_is_left_out_and_named(tmp_path):
    folder = tmp_path / "conversations" / V1_FIXTURE.name
    shutil.copytree(V1_FIXTURE, folder, symlinks=True)
    (folder / "events" / "event-99999-leak.json").symlink_to(secret_file(tmp_path))

    status, summary = ingest(tmp_path / "conversations")

    assert status == 0, summary["failed"]
    assert summary["ingested"] == 1
    assert symlink_reasons(summary) == {"event-99999-leak.json": "symlink"}
    assert SECRET_LINE.strip() not in stored_bytes()


def test_a_symlink_in_a_claude_code_project_folder_is_skipped(tmp_path):
    project = tmp_path / "projects" / "-home-me-repo"
    project.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "formats" / "claude-code-session.jsonl", project / "a.jsonl")
    (project / "b.jsonl").symlink_to(secret_file(tmp_path))

    status, summary = ingest(tmp_path / "projects")

    assert (status, summary["ingested"]) == (0, 1)
    assert symlink_reasons(summary) == {"b.jsonl": "symlink"}
    assert SECRET_LINE.strip() not in stored_bytes()


def test_a_fifo_in_a_folder_fails_alone_naming_itself_and_never_hangs(tmp_path):
    shutil.copyfile(OPENAI, tmp_path / "good.json")
    os.mkfifo(tmp_path / "pipe.jsonl")

    status, summary = ingest(tmp_path)

    assert status == 1
    assert summary["ingested"] == 1
    (failure,) = summary["failed"]
    assert failure["path"].endswith("pipe.jsonl")
    assert "pipe.jsonl" in failure["error"] and "FIFO" in failure["error"]


def test_a_fifo_or_dev_zero_named_on_the_command_line_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")

    status, summary = ingest(tmp_path / "pipe.json", "/dev/zero", OPENAI)

    assert status == 1
    assert summary["ingested"] == 1
    errors = sorted(f["error"] for f in summary["failed"])
    assert "character device" in errors[0] and "/dev/zero" in errors[0]
    assert "FIFO" in errors[1]


def test_a_fifo_among_openhands_events_fails_that_session_only(tmp_path):
    session = tmp_path / "sessions" / "abc"
    shutil.copytree(V0_SESSION, session)
    os.mkfifo(session / "events" / "99.json")

    with no_hang(), pytest.raises(FormatError, match="99.json.*FIFO|FIFO.*99.json"):
        load_path(session)


def test_the_size_limit_holds_while_reading_not_from_st_size():
    # /dev/zero says it has 0 bytes; a regular file that grows would say less than it gives.
    with no_hang(), pytest.raises(FormatError, match="not a regular file"):
        load_path("/dev/zero", max_bytes=1000)


def test_a_file_over_the_limit_is_read_no_further_than_one_byte_past_it(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 5000 + OPENAI.read_bytes())

    assert len(read_regular(path, 1000)) == 1001
    with pytest.raises(FormatError, match="limit"):
        load_path(path, max_bytes=1000)


def test_check_history_refuses_a_fifo_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")
    err = StringIO()

    with no_hang(), pytest.raises(SystemExit):
        call_command("check_history", str(tmp_path / "pipe.json"), str(OPENAI), stdout=StringIO(), stderr=err)

    assert "FIFO" in err.getvalue()


def test_repair_history_refuses_a_fifo_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")
    err = StringIO()

    with no_hang(), pytest.raises(SystemExit):
        call_command("repair_history", str(tmp_path / "pipe.json"), "--target", "openai", stdout=StringIO(), stderr=err)

    assert "FIFO" in err.getvalue()


def test_write_back_over_a_fifo_is_refused_without_hanging(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    os.mkfifo(root / "pipe.json")
    doc = load_path(OPENAI)

    with no_hang(), pytest.raises(WriteBackError, match="FIFO"):
        write_back(root / "pipe.json", doc, expected_hash="0" * 64, roots=[root])


def test_the_hash_write_back_compares_never_reads_a_symlinked_event(tmp_path):
    session = tmp_path / "logs" / "abc"
    shutil.copytree(V0_SESSION, session)
    (session / "events" / "99.json").symlink_to(secret_file(tmp_path))

    assert disk_hash(session) == disk_hash(V0_SESSION)
