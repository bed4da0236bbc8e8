"""Plain helpers the tests share (fixtures are in conftest.py). No test module imports another:
what two of them need lives here."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.utils import timezone

from conversations.history.formats import is_openhands_dir
from conversations.history.formats.document import Document
from conversations.history.model import Block, History, Message
from conversations.history.repair.work import clone
from conversations.ingest import ingest_document, ingest_path
from conversations.jobs import Clock
from conversations.models import Conversation, OriginalFile, Source

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SEED = sorted((FIXTURES / "seed").glob("openhands-6852-*.json"))
PYTHON = sys.executable
# The OpenHands V1 conversation the SDK wrote (its PROVENANCE.md beside it).
V1_FIXTURE = FIXTURES / "formats" / "openhands-v1" / "4f7c2a9e1b3d4e8a9c6f2d5b8e1a7c30"


def log_documents(*folders: str) -> list[Path]:
    """Every log directly in these fixture folders, as load_path takes them: .json/.jsonl files,
    OpenHands conversation folders, and each conversation of a folder of them."""
    found = []
    for folder in folders:
        for path in (FIXTURES / folder).iterdir():
            if path.suffix in (".json", ".jsonl") or (path.is_dir() and is_openhands_dir(path)):
                found.append(path)
            elif path.is_dir():
                found.extend(p for p in path.iterdir() if p.is_dir() and is_openhands_dir(p))
    return sorted(found)


def ingested(path: Path) -> Conversation:
    """The conversation a fixture file (or directory) holds, ingested from its path."""
    outcome = ingest_path(path)
    assert outcome.status == "ingested", outcome.error
    return Conversation.objects.get(pk=outcome.added[0])


# --- conversations for the bulk jobs ------------------------------------------------------------------


def broken_body(n: int) -> dict:
    """An OpenAI request whose tool call was never answered: every provider rejects it, and the
    repair answers it with a synthetic error result."""
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": f"task {n}: list the files"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{n}",
                        "type": "function",
                        "function": {"name": "bash", "arguments": json.dumps({"cmd": f"ls /tmp/{n}"})},
                    }
                ],
            },
            {"role": "user", "content": "hello?"},
        ],
    }


def healthy_body(n: int) -> dict:
    return {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": f"hello {n}"}, {"role": "assistant", "content": "hi"}],
    }


def ingest_uploads(bodies: list[dict], prefix: str = "log") -> list[Conversation]:
    ids = []
    for n, body in enumerate(bodies):
        name = f"{prefix}-{n}.json"
        outcome = ingest_document(
            Document.from_bytes(name, json.dumps(body).encode()), kind=Source.Kind.UPLOAD, location=name
        )
        assert outcome.status == "ingested", outcome.error
        ids += outcome.added
    return list(Conversation.objects.filter(pk__in=ids).order_by("pk"))


def broken(count: int) -> list[Conversation]:
    return ingest_uploads([broken_body(n) for n in range(count)])


# --- what a repair may do, at random ----------------------------------------------------------------


def changed_at_random(history: History, rng: random.Random, most: int = 4) -> tuple[History, list[int | None]]:
    copy = clone(history)
    messages, origins = copy.messages, list(range(len(copy.messages)))
    for _ in range(rng.randint(1, most)):
        at = rng.randrange(len(messages))
        op = rng.choice(["insert", "remove", "edit", "swap"])
        if op == "insert":
            messages.insert(at, Message(role="user", blocks=[Block.text_block(f"new {rng.random()}")]))
            origins.insert(at, None)
        elif op == "remove" and len(messages) > 1:
            del messages[at], origins[at]
        elif op == "edit":  # changed in place: the origin still names the message it was
            messages[at].blocks.append(Block.text_block("edited " * rng.randint(1, 50)))
        else:
            other = rng.randrange(len(messages))
            messages[at], messages[other] = messages[other], messages[at]
            origins[at], origins[other] = origins[other], origins[at]
    return copy, origins


# --- a site of its own, for subprocesses ----------------------------------------------------------------


class Site:
    """A database of the test's own that subprocesses can open (a fresh PostgreSQL database when
    DATABASE_URL points at PostgreSQL, else a SQLite file), the environment to reach it (plus
    `env`), manage.py against it, and the task workers (`db_worker`) started on it."""

    def __init__(self, tmp_path: Path, **env: str):
        self.tmp = tmp_path
        self.url = os.environ.get("DATABASE_URL", "")
        self.pg_name = None
        if self.url.startswith("postgres"):
            self.pg_name = f"inspector_site_{uuid.uuid4().hex[:10]}"
            self.pg_admin(f'CREATE DATABASE "{self.pg_name}"')
            self.url = urlunsplit(urlsplit(self.url)._replace(path="/" + self.pg_name))
        else:
            self.url = f"sqlite:///{tmp_path / 'site.sqlite3'}"
        self.env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "SECRET_KEY": "site-tests",
            "DEBUG": "0",
            "INSPECTOR_VAR_DIR": str(tmp_path / "var"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            **env,
        }
        self.workers: list[subprocess.Popen] = []

    @staticmethod
    def pg_admin(sql: str) -> None:
        import psycopg  # only where DATABASE_URL is PostgreSQL

        parts = urlsplit(os.environ["DATABASE_URL"])
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
            conn.execute(sql)

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        if self.pg_name:
            self.pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')

    def manage(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check:
            assert done.returncode == 0, done.stderr[-3000:]
        return done

    def python(self, code: str) -> str:
        """The last line `code` prints, run by `manage.py shell` against this site."""
        return self.manage("shell", "--no-imports", "-c", code).stdout.strip().splitlines()[-1]

    def worker(self) -> subprocess.Popen:
        # Its own process group, so SIGKILL reaches exactly it.
        process = subprocess.Popen(
            [PYTHON, "manage.py", "db_worker", "--interval", "0.2", "--no-startup-delay", "--no-reload"],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "worker.log", "ab"),
        )
        self.workers.append(process)
        return process

    def sql(self, query: str) -> list[tuple]:
        if self.pg_name:
            import psycopg  # only where DATABASE_URL is PostgreSQL

            with psycopg.connect(self.url, autocommit=True) as conn:
                return conn.execute(query).fetchall()
        with sqlite3.connect(self.tmp / "site.sqlite3", timeout=20) as conn:
            return conn.execute(query).fetchall()

    def statuses(self, job: int) -> dict[str, int]:
        return dict(
            self.sql(f"SELECT status, COUNT(*) FROM conversations_jobitem WHERE job_id = {job} GROUP BY status")
        )

    def job_status(self, job: int) -> str:
        return self.sql(f"SELECT status FROM conversations_job WHERE id = {job}")[0][0]

    def wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        log = (self.tmp / "worker.log").read_text()[-3000:] if (self.tmp / "worker.log").exists() else ""
        pytest.fail(f"timed out waiting for {what}; worker log:\n{log}")


# --- a worker's clock ---------------------------------------------------------------------------------


class StepClock(Clock):
    """A worker's clock the test moves: it starts at the real time, and time passes only when the
    worker sleeps (its rest after each item, settings.JOB_REST_PERCENT), by `step` seconds each
    time whatever was asked. `on_sleep` runs after each step: what other workers do meanwhile."""

    def __init__(self, step: float):
        self.start = timezone.now()
        self.elapsed = 0.0
        self.step = step
        self.on_sleep: list[Callable[[], object]] = []

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def sleep(self, seconds: float) -> None:
        self.elapsed += self.step
        for callback in self.on_sleep:
            callback()


# --- hostile files ---------------------------------------------------------------------------------


SECRET_LINE = b"SECRET_KEY=django-insecure-0123456789-do-not-store-me\n"


class Hung(Exception):
    """Raised in the test's own thread when what it runs takes longer than it may."""


@contextmanager
def no_hang(seconds: int = 10):
    """Fail the test (instead of hanging it) if the block runs longer than `seconds`: a blocking
    open of a FIFO is interrupted by SIGALRM, which raises Hung in the main thread."""

    def interrupt(signum, frame):
        raise Hung(f"still running after {seconds} s: it waits on a FIFO or reads without end")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def secret_file(folder: Path) -> Path:
    """A file outside the log folder holding a secret, as /proc/self/environ or a key file would."""
    path = folder / "outside-secret.env"
    path.write_bytes(SECRET_LINE)
    return path


def stored_bytes() -> bytes:
    """Every byte stored as an original, for a test to look for a secret in."""
    return b"".join(bytes(f.data) for f in OriginalFile.objects.all())
