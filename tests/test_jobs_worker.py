"""Jobs run by real worker processes (`manage.py db_worker`), one of them killed with SIGKILL in the
middle of a job and another started after it.

Each test gets a database of its own that the worker processes can open: a SQLite file, or a
fresh PostgreSQL database when DATABASE_URL points at PostgreSQL. Everything happens through
manage.py in subprocesses; the test reads the tables with plain SQL to follow and to judge.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import Site

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

pytestmark = pytest.mark.slow


def tool_turns(n: int, turns: int) -> list[dict]:
    """A conversation of `turns` answered tool calls, then one the agent never got an answer to."""
    messages = [{"role": "user", "content": f"task {n}: tidy the repository"}]
    for t in range(turns):
        call = f"call_{n}_{t}"
        messages.append(
            {
                "role": "assistant",
                "content": f"step {t}",
                "tool_calls": [
                    {
                        "id": call,
                        "type": "function",
                        "function": {"name": "bash", "arguments": json.dumps({"cmd": f"ls {t}"})},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call, "content": f"file_{n}_{t}.py"})
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": f"call_{n}_last", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
            ],
        }
    )
    messages.append({"role": "user", "content": "are you there?"})
    return messages


@pytest.fixture
def site(tmp_path):
    # Several batches in a job of 80 small conversations, so a kill or a cancel lands in the middle of it.
    site = Site(tmp_path, JOB_CLAIM_BATCH="10")
    try:
        site.manage("migrate", "--noinput", "-v", "0")
        yield site
    finally:
        site.close()


def load(site: Site, count: int, turns: int) -> None:
    logs = site.tmp / "logs"
    logs.mkdir()
    for n in range(count):
        (logs / f"stuck-{n:04}.json").write_text(json.dumps({"model": "gpt-4o", "messages": tool_turns(n, turns)}))
    site.manage("ingest", str(logs), "--json")


def queue(site: Site, kind: str, *, lease: int = 2, runners: int = 1) -> int:
    return int(
        site.python(
            "from django.contrib.auth.models import User; from conversations import jobs, tasks; "
            "from conversations.models import Conversation; "
            "admin = User.objects.get_or_create(username='admin', "
            "defaults={'is_staff': True, 'is_superuser': True})[0]; "
            f"job = jobs.job_create({kind!r}, Conversation.objects.all(), user=admin, lease_seconds={lease}); "
            f"tasks.job_enqueue(job, runners={runners}); print(job.pk)"
        )
    )


def test_a_real_worker_runs_a_repair_job_to_the_end(site):
    load(site, 12, turns=3)
    job = queue(site, "repair")
    site.worker()
    site.wait(lambda: site.job_status(job) == "done", 120, "the job to finish")

    assert site.statuses(job) == {"done": 12}
    revisions = dict(site.sql("SELECT conversation_id, COUNT(*) FROM conversations_revision GROUP BY conversation_id"))
    assert sorted(revisions.values()) == [2] * 12
    produced = site.sql(f"SELECT COUNT(DISTINCT produced_revision_id) FROM conversations_jobitem WHERE job_id = {job}")
    assert produced == [(12,)]


def test_a_worker_killed_mid_job_is_replaced_and_no_conversation_is_repaired_twice(site):
    count = 80
    load(site, count, turns=40)
    job = queue(site, "repair", lease=2, runners=1)
    first = site.worker()
    site.wait(lambda: site.statuses(job).get("done", 0) >= 10, 120, "the first worker to make progress")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    left = site.statuses(job)
    assert left.get("done", 0) < count, "the job finished before the kill: give it more work"
    assert site.job_status(job) == "running"

    # The dead worker's runner task stays "running" in the task backend forever: what takes the
    # job over is the watchdog, once the dead worker's leases expire.
    site.worker()
    site.wait(lambda: site.job_status(job) == "done", 180, "the restarted worker to finish the job")

    assert site.statuses(job) == {"done": count}
    per_conversation = [
        n for _, n in site.sql("SELECT conversation_id, COUNT(*) FROM conversations_revision GROUP BY conversation_id")
    ]
    assert per_conversation == [2] * count  # the original and exactly one repair, each
    repairs = site.sql(
        "SELECT COUNT(*), COUNT(DISTINCT conversation_id) FROM conversations_auditevent WHERE action = 'repair'"
    )
    assert repairs == [(count, count)]
    produced = site.sql(f"SELECT COUNT(DISTINCT produced_revision_id) FROM conversations_jobitem WHERE job_id = {job}")
    assert produced == [(count,)]
    # Both processes did part of it (lease_owner is host:pid:run).
    pids = {
        owner.split(":")[1]
        for (owner,) in site.sql(f"SELECT DISTINCT lease_owner FROM conversations_jobitem WHERE job_id = {job}")
    }
    assert len(pids) == 2


def test_cancel_stops_a_running_worker_between_items(site):
    count = 80
    load(site, count, turns=40)
    job = queue(site, "dry_run", lease=30)
    # An admin's cancel, from a process already up (a worker applies dozens of items a second:
    # Django's start-up would let it finish first), as soon as the worker has made progress.
    canceller = subprocess.Popen(
        [
            PYTHON,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "import time\nfrom conversations import jobs\nfrom conversations.models import Job, JobItem\n"
            "print('ready', flush=True)\n"
            f"while JobItem.objects.filter(job_id={job}, status='done').count() < 5:\n    time.sleep(0.005)\n"
            f"print(jobs.job_cancel(Job.objects.get(pk={job}), user=None))",
        ],
        cwd=ROOT,
        env=site.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The worker starts once the canceller is up: on a busy machine Django's start-up alone took
    # longer than the whole job, and the cancel came after the last item.
    assert canceller.stdout.readline().strip() == "ready", canceller.stderr.read()[-2000:]
    site.worker()
    out, err = canceller.communicate(timeout=120)
    assert out.strip().splitlines()[-1] == "True", err[-2000:]
    assert site.job_status(job) == "cancelled"
    done = site.statuses(job).get("done", 0)
    time.sleep(1.5)  # the worker notices at its next item and stops
    after = site.statuses(job)
    assert after.get("done", 0) <= done + 1  # at most the item it was applying when cancelled
    assert after.get("cancelled", 0) == count - after.get("done", 0)
    assert after.get("running", 0) == after.get("pending", 0) == 0


def redis_up() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379 for the RQ backend")
def test_rq_workers_run_a_job_when_tasks_backend_is_rq(site):
    """TASKS_BACKEND=rq: the same job through Redis, run by `manage.py rqworker` (with its
    scheduler, for the watchdog's delayed runs, and django-tasks-rq's job class)."""
    import redis

    db = 13
    settings_dir = site.tmp / "settings"
    settings_dir.mkdir()
    # django_rq must be installed beside django_tasks_rq; added here if settings do not yet.
    (settings_dir / "rq_settings.py").write_text(
        "from inspector.settings import *  # noqa: F401,F403\n"
        "if 'django_rq' not in INSTALLED_APPS:\n    INSTALLED_APPS.append('django_rq')\n"
    )
    site.env.update(
        TASKS_BACKEND="rq",
        REDIS_URL=f"redis://127.0.0.1:6379/{db}",
        PYTHONPATH=str(settings_dir),
        DJANGO_SETTINGS_MODULE="rq_settings",
    )
    connection = redis.Redis(host="127.0.0.1", port=6379, db=db)
    connection.flushdb()
    try:
        load(site, 30, turns=3)
        job = queue(site, "repair", runners=2)
        for _ in range(2):
            site.workers.append(
                subprocess.Popen(
                    [
                        PYTHON,
                        "manage.py",
                        "rqworker",
                        "default",
                        "--with-scheduler",
                        "--job-class",
                        "django_tasks_rq.Job",
                    ],
                    cwd=ROOT,
                    env=site.env,
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                    stderr=open(site.tmp / "worker.log", "ab"),
                )
            )
        site.wait(lambda: site.job_status(job) == "done", 120, "the RQ workers to finish the job")
        assert site.statuses(job) == {"done": 30}
        per_conversation = [
            n
            for _, n in site.sql(
                "SELECT conversation_id, COUNT(*) FROM conversations_revision GROUP BY conversation_id"
            )
        ]
        assert per_conversation == [2] * 30
    finally:
        connection.flushdb()
