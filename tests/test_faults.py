"""Faults, each injected inside the test and followed by the same three questions: was anything
lost or half written, did the person get a clear message, and does doing it again work?

- a process killed with SIGKILL in the middle of a write-back (file and OpenHands session);
- the database connection cut in the middle of an ingest (PostgreSQL: pg_terminate_backend on
  the test's own database, never a restart of the shared server);
- the provider timing out or answering 500/429 during a resume;
- the disk full while writing back (a real 1 MB tmpfs where mounting is allowed, else ENOSPC
  injected at os.write);
- hostile logs at ingest: a mutated fixture is stored whole or not at all.

A worker killed with SIGKILL in the middle of a bulk job is tests/test_jobs_worker.py
(test_a_worker_killed_mid_job_is_replaced_and_no_conversation_is_repaired_twice).
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from conversations import repairs
from conversations.history import formats
from conversations.history.formats import Document, load_path
from conversations.history.formats.document import document_hash
from conversations.history.repair import repair
from conversations.ingest import ingest_document, ingest_path
from conversations.models import AuditEvent, Chunk, Conversation, Original, OriginalFile, Revision, Source
from conversations.resume import ResumeError
from conversations.writeback import ChangedOnDisk, WriteBackError, write_back
from tests.fakeprovider import FakeProvider
from tests.mutations import FUZZ, mutants
from tests.support import FIXTURES, Site

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"
CLAUDE = "anthropic/claude-sonnet-4-5"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(path: Path) -> dict[str, bytes]:
    """Every file under a directory, by relative name."""
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def padded_sample(size: int) -> bytes:
    """The unanswered-tool-call sample with a first user message of about `size` bytes: a log
    big enough that writing it takes several writes (and fills a small disk)."""
    request = json.loads(UNANSWERED.read_bytes())
    request["messages"].insert(0, {"role": "user", "content": "context " * (size // 8)})
    request["messages"].insert(1, {"role": "assistant", "content": "Noted."})
    return json.dumps(request, indent=2).encode()


def repaired_document(path: Path) -> Document:
    """What the repair flow writes back for the log at `path`."""
    doc = load_path(path)
    (history,) = formats.read(doc)
    result = repair(history, target="anthropic")
    assert result.edits
    return formats.write(result.history, doc)


# --- SIGKILL in the middle of a write-back ---------------------------------------------------------

# The child performs a real write_back. Only the operating system calls are wrapped, to stop it at
# a known point (it writes "ready" to a file and sleeps until it is killed): os.write (the
# temporary file or the staged session half written), os.replace (the file renamed over the
# original: before or after), os.rename (a session swapped in, its old copy not yet renamed to
# the backup).
CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path

    point, ready, target, new, expected, root = sys.argv[1:7]

    def stop_here():
        Path(ready).write_text(point)
        time.sleep(600)

    real_write, real_replace, real_rename = os.write, os.replace, os.rename
    writes = []

    def write(fd, data):
        writes.append(fd)
        if point == "writing" and len(writes) == 3:
            stop_here()
        return real_write(fd, bytes(data[:65536]))  # a short write, as os.write may do

    def replace(a, b):
        if point == "before-rename":
            stop_here()
        real_replace(a, b)
        if point == "after-rename":
            stop_here()

    def rename(a, b):
        if point == "swapped":
            stop_here()
        real_rename(a, b)

    os.write, os.replace, os.rename = write, replace, rename

    from conversations.history.formats.document import load_path
    from conversations.writeback import write_back

    write_back(target, load_path(new), expected_hash=expected, roots=[root])
    Path(ready).write_text("finished")
""")


def killed_during_write_back(point: str, target: Path, new: Path, expected: str, root: Path, tmp: Path) -> str:
    """Run the write-back in a child process, SIGKILL it where `point` says; what it reached."""
    ready = tmp / f"ready-{point}"
    child = subprocess.Popen(
        [PYTHON, "-c", CHILD, point, str(ready), str(target), str(new), expected, str(root)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    # The file exists a moment before its text is in it: wait for the text.
    while not (ready.exists() and ready.read_text()) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    reached = ready.read_text() if ready.exists() else None
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    _, stderr = child.communicate(timeout=30)
    assert reached == point, f"the child never reached {point!r}: {stderr[-2000:]}"
    assert child.returncode == -signal.SIGKILL
    return reached


@pytest.fixture
def logs(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("point", ["writing", "before-rename", "after-rename"])
def test_a_write_back_killed_leaves_the_old_file_or_the_new_one_never_a_mix(point, logs, tmp_path):
    target = logs / "session.json"
    old = padded_sample(2_000_000)
    target.write_bytes(old)
    new_doc = repaired_document(target)
    new = new_doc.single[1]
    staged = tmp_path / "staged" / "session.json"
    staged.parent.mkdir()
    staged.write_bytes(new)

    killed_during_write_back(point, target, staged, sha256(old), logs, tmp_path)

    now = target.read_bytes()
    assert now in (old, new), "the log is a mix of the old and the new content"
    backups = sorted(logs.glob("session.json.bak-*"))
    if now == new:
        assert point == "after-rename"
        assert [b.read_bytes() for b in backups] == [old], "the new log is in place without its backup"
    else:
        assert point in ("writing", "before-rename")
    # What a kill leaves behind is hidden (a dot file) and never taken for a log by ingest.
    strays = [p.name for p in logs.iterdir() if p != target and p not in backups]
    assert all(name.startswith(".session.json.") and name.endswith(".tmp") for name in strays), strays

    # Doing it again: the old log is still expected, so the write-back goes through; the new one
    # already in place is a change on disk, refused with a message that says what to do.
    if now == old:
        result = write_back(target, new_doc, expected_hash=sha256(old), roots=[logs])
        assert target.read_bytes() == new and result.backup.read_bytes() == old
    else:
        with pytest.raises(ChangedOnDisk, match="changed on disk since it was read; nothing was written"):
            write_back(target, new_doc, expected_hash=sha256(old), roots=[logs])
        assert target.read_bytes() == new


@pytest.fixture
def session(logs):
    """The OpenHands fixture session with a lost observation (event 10) and the derived files
    OpenHands keeps beside its events."""
    path = logs / "abc123"
    shutil.copytree(FIXTURES / "formats" / "openhands-events", path)
    (path / "events" / "10.json").unlink()
    (path / "agent_state.pkl").write_bytes(b"\x80\x04pickled state")
    return path


@pytest.mark.parametrize("point", ["writing", "swapped"])
def test_a_session_write_back_killed_leaves_the_old_session_or_the_new_one_whole(point, logs, session, tmp_path):
    old = tree(session)
    doc = load_path(session)
    (history,) = formats.read(doc)
    new_doc = formats.write(repair(history, target="openai").history, doc)
    staged = tmp_path / "staged" / "abc123"
    for name, data in new_doc.files.items():
        (staged / name).parent.mkdir(parents=True, exist_ok=True)
        (staged / name).write_bytes(data)
    expected = document_hash(doc)

    killed_during_write_back(point, session, staged, expected, logs, tmp_path)

    now = tree(session)
    new = {**new_doc.files, "agent_state.pkl": old["agent_state.pkl"]}
    assert now in (old, new), "the session is a mix of the old and the new events"
    # The old session is kept whole beside it whenever the new one is in place (as the backup,
    # or still under its staging name when the kill came between the swap and that rename).
    others = [p for p in logs.iterdir() if p.is_dir() and p != session]
    if now == new:
        assert any(tree(p) == old for p in others), "the new session is in place without the old one"
    assert all(p.name.startswith((".abc123.new-", "abc123.bak-")) for p in others)

    if now == old:
        result = write_back(session, new_doc, expected_hash=expected, roots=[logs])
        assert tree(session) == new and tree(result.backup) == old
    else:
        with pytest.raises(ChangedOnDisk):
            write_back(session, new_doc, expected_hash=expected, roots=[logs])
        assert tree(session) == new


# --- the disk full while writing back --------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs when this process may mount one (root in a container that allows it), else
    None: the test then injects ENOSPC at os.write instead."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
        if shutil.which("mount")
        else None
    )
    if done is None or done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def fill(folder: Path, leave: int) -> Path:
    """A file that takes all the free space of `folder`'s filesystem but `leave` bytes."""
    stats = os.statvfs(folder)
    filler = folder / "filler"
    filler.write_bytes(b"\0" * max(stats.f_bavail * stats.f_frsize - leave, 0))
    return filler


@pytest.mark.parametrize("kind", ["file", "session"])
def test_a_full_disk_fails_the_write_back_cleanly_and_a_retry_after_freeing_space_works(
    kind, small_disk, tmp_path, monkeypatch
):
    folder = small_disk or (tmp_path / "disk")
    logs = folder / "logs"
    logs.mkdir()
    if kind == "file":
        target = logs / "session.json"
        target.write_bytes(padded_sample(300_000))
    else:
        target = logs / "abc123"
        shutil.copytree(FIXTURES / "formats" / "openhands-events", target)
        (target / "events" / "10.json").unlink()
        # A long first message, so the new session does not fit in what is left.
        first = json.loads((target / "events" / "1.json").read_bytes())
        first["args"]["content"] = first["message"] = "context " * 20_000
        (target / "events" / "1.json").write_text(json.dumps(first))
    doc = load_path(target)
    (history,) = formats.read(doc)
    new_doc = formats.write(repair(history, target="openai").history, doc)
    expected = document_hash(doc)
    before = tree(logs)

    if small_disk is not None:
        filler = fill(folder, leave=100_000)
    else:
        real_write = os.write

        def no_space(fd, data):
            if len(data) > 100:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", no_space)
    with pytest.raises(WriteBackError, match="No space left on device") as failed:
        write_back(target, new_doc, expected_hash=expected, roots=[logs])
    assert "unchanged" in str(failed.value) and str(target) in str(failed.value)
    assert tree(logs) == before, "a full disk left something behind or changed the original"

    if small_disk is not None:
        filler.unlink()
    else:
        monkeypatch.undo()
    result = write_back(target, new_doc, expected_hash=expected, roots=[logs])
    assert load_path(target).files == {**doc.files, **new_doc.files}
    assert list(load_path(result.backup).files.values()) == list(doc.files.values())


# --- the provider failing during a resume -------------------------------------------------------


@pytest.fixture
def provider():
    with FakeProvider(reply="Back on track.") as fake:
        yield fake


@pytest.fixture
def stuck_on_disk(tmp_path, settings):
    """A repaired conversation read from a file under a write-back root, ready to resume."""
    folder = tmp_path / "writable"
    folder.mkdir()
    path = folder / "stuck.json"
    shutil.copyfile(UNANSWERED, path)
    settings.WRITE_BACK_ROOTS = [folder]
    outcome = ingest_path(path)
    conversation = Conversation.objects.get(pk=outcome.added[0])
    return conversation, path


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fault, words",
    [
        ("timeout", r"[Tt]imed? ?out"),
        (500, "Internal server error"),
        (429, "Number of request tokens has exceeded your per-minute rate limit"),
    ],
)
def test_a_provider_failing_during_resume_stores_nothing_and_a_retry_succeeds(
    fault, words, provider, stuck_on_disk, repairer, settings
):
    conversation, path = stuck_on_disk
    repaired, _ = repairs.repair_apply(conversation, user=repairer, expected=1, target="anthropic")
    repairs.writeback_apply(conversation, repaired, user=repairer)
    conversation = Conversation.objects.get(pk=conversation.pk)  # the resume is the next request
    on_disk = path.read_bytes()
    settings.RESUME_API_BASE = provider.api_base("anthropic")
    settings.RESUME_API_KEY = "sk-test-not-a-real-key"
    if fault == "timeout":
        provider.delay, settings.RESUME_TIMEOUT = 3.0, 1
    else:
        provider.status = fault

    with pytest.raises(ResumeError, match=words) as failed:
        repairs.conversation_resume(conversation, user=repairer, expected=2, continuation="Please go on.", model=CLAUDE)

    if fault != "timeout":
        assert failed.value.status_code == fault
    assert conversation.revisions.count() == 2, "a failed resume stored a revision"
    assert path.read_bytes() == on_disk, "a failed resume touched the log"
    audit = AuditEvent.objects.get(action="resume-failed", conversation=conversation)
    assert audit.actor == repairer and re.search(words, audit.detail["error"])

    provider.delay, provider.status = 0.0, None
    settings.RESUME_TIMEOUT = 30
    revision = repairs.conversation_resume(
        conversation, user=repairer, expected=2, continuation="Please go on.", model=CLAUDE
    )
    assert revision.number == 3 and revision.history.messages[-1].text == "Back on track."
    assert getattr(revision, "writeback_error", None) is None
    (written,) = formats.read(load_path(path))
    assert written.messages[-1].text == "Back on track."


# --- hostile logs at ingest ------------------------------------------------------------------------

STORED = (Source, Original, OriginalFile, Conversation, Revision, Chunk, AuditEvent)
# The readers keep a JSON "\u0000" and a lone surrogate escape as read; storing them is
# test_hostile_text_in_a_log_is_stored below.
_locations = itertools.count()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in STORED}


def assert_whole(source: Source) -> None:
    """Every conversation of the source has a latest revision whose chunks all exist."""
    for conversation in Conversation.objects.filter(source=source):
        revision = conversation.latest_revision
        assert revision is not None, f"conversation {conversation.pk} has no revision"
        assert Chunk.objects.filter(sha256__in=revision.chunks).count() == len(set(revision.chunks))
        assert len(revision.history.messages) == revision.message_count


@pytest.mark.django_db
@settings(
    FUZZ,
    max_examples=max(10, FUZZ.max_examples // 10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(doc=mutants())
def test_a_mutated_log_is_stored_whole_or_not_at_all(doc):
    before = counts()
    location = f"fuzz/{next(_locations)}/{Path(doc.name).name}"

    outcome = ingest_document(doc, kind=Source.Kind.UPLOAD, location=location)

    if outcome.status in ("failed", "skipped"):
        assert outcome.error or outcome.reason  # skipped: a file that holds no conversation (empty)
        assert counts() == before, "a log that failed or was skipped stored something"
    else:
        assert outcome.status == "ingested" and outcome.added
        assert_whole(Source.objects.get(kind=Source.Kind.UPLOAD, location=location))


def _is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgres")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "a NUL \\u0000 in tool output"}]}',
            id="nul-in-text",
        ),
        pytest.param(b'{"model": "gpt-4o\\u0000", "messages": [{"role": "user", "content": "hi"}]}', id="nul-in-model"),
        pytest.param(
            b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "cut in half \\ud83d"}]}',
            id="lone-surrogate",
        ),
    ],
)
def test_hostile_text_in_a_log_is_stored(body):
    """JSON escapes the readers accept (a NUL from a binary tool output, half a surrogate pair
    from a JavaScript slice) must not crash the ingest: stored, or refused as a failed file."""
    before = counts()
    outcome = ingest_document(
        Document.from_bytes("hostile.json", body), kind=Source.Kind.UPLOAD, location=f"hostile/{next(_locations)}"
    )
    if outcome.status == "failed":
        assert counts() == before
    else:
        assert_whole(Source.objects.get(pk=Conversation.objects.get(pk=outcome.added[0]).source_id))


# --- the database connection cut during an ingest (PostgreSQL) -----------------------------------


@pytest.fixture
def site(tmp_path):
    site = Site(tmp_path)
    try:
        site.manage("migrate", "--noinput", "-v", "0")
        yield site
    finally:
        site.close()


def many_logs(folder: Path, count: int) -> None:
    folder.mkdir()
    for n in range(count):
        messages = [{"role": "user", "content": f"task {n}"}]
        for t in range(20):
            call = f"call_{n}_{t}"
            messages += [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call,
                            "type": "function",
                            "function": {"name": "bash", "arguments": json.dumps({"cmd": f"ls {t}"})},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call, "content": f"file_{n}_{t}.py"},
            ]
        (folder / f"log-{n:04}.json").write_text(json.dumps({"model": "gpt-4o", "messages": messages}))


def assert_every_conversation_whole(site: Site) -> None:
    """No conversation half stored: each has a latest revision, and every chunk it lists exists."""
    rows = site.sql(
        "SELECT c.id, r.chunks FROM conversations_conversation c "
        "LEFT JOIN conversations_revision r ON r.id = c.latest_revision_id"
    )
    chunks = {sha for (sha,) in site.sql("SELECT sha256 FROM conversations_chunk")}
    for conversation, listed in rows:
        assert listed is not None, f"conversation {conversation} has no revision"
        listed = json.loads(listed) if isinstance(listed, str) else listed
        assert set(listed) <= chunks, f"conversation {conversation} lists chunks that were never stored"


@pytest.mark.slow
@pytest.mark.skipif(not _is_postgres(), reason="pg_terminate_backend needs PostgreSQL; SQLite has no connection to cut")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_database_connection_cut_during_an_ingest_loses_nothing_and_a_rerun_completes_it(site, jobs):
    count = 250
    folder = site.tmp / "logs"
    many_logs(folder, count)
    ingest = subprocess.Popen(
        [PYTHON, "manage.py", "ingest", str(folder), "--json", "--jobs", jobs],
        cwd=ROOT,
        env=site.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while site.sql("SELECT COUNT(*) FROM conversations_conversation")[0][0] == 0:
            assert ingest.poll() is None, ingest.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the ingest stored nothing in two minutes"
            time.sleep(0.05)
        # Only this test database's own connections; never the shared server.
        cut = site.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        stdout, stderr = ingest.communicate(timeout=120)
    finally:
        if ingest.poll() is None:
            ingest.kill()
    assert cut and all(ok for (ok,) in cut)
    stored = site.sql("SELECT COUNT(*) FROM conversations_conversation")[0][0]
    assert 0 < stored < count, "the cut came too late: give the ingest more files"
    assert ingest.returncode == 1, "an ingest that lost its database must exit 1"
    # What the person sees: one line naming the cause (in psycopg's words, which depend on when
    # the server's goodbye arrived) and what to do; stdout still only the JSON summary, the lost
    # database listed among the failures.
    assert "Traceback" not in stderr, stderr[-3000:]
    assert re.search(r"the database failed: .*(terminat|closed|connection)", stderr), stderr[-2000:]
    assert "run the same command again" in stderr
    report = json.loads(stdout)
    assert report["failed"][-1]["path"] is None and "the database failed" in report["failed"][-1]["error"]
    assert_every_conversation_whole(site)

    again = site.manage("ingest", str(folder), "--json", "--jobs", jobs)
    summary = json.loads(again.stdout)
    assert summary["failed"] == [] and summary["ingested"] + summary["unchanged"] == count
    assert summary["unchanged"] == stored
    assert site.sql("SELECT COUNT(*) FROM conversations_conversation")[0][0] == count
    assert_every_conversation_whole(site)
