"""Bulk jobs on PostgreSQL: a dry-run and a repair of 10,000 stuck conversations of 200 messages,
run by one `manage.py db_worker` process and then by two. Prints conversations per second for
each run, and how the two workers divided the work: items each, items applied twice (repeats),
items skipped because another writer got there first (conflicts), revisions per conversation.

    .venv/bin/python bench/bulk.py [--conversations 10000] [--messages 200] [--keep]

Uses its own database, inspector_bulk_bench (created and dropped with psql -h 127.0.0.1 -U
postgres; --keep leaves it). The conversations are bench/ingest.py's realistic agent histories
(~2 KB a message) with one tool result removed at a random place, so every one needs a repair.
They are stored the way ingest stores them (chunks, revision 1) but in bulk: the seeding is not
what is measured. Each timed run starts with the workers already up and warmed (litellm loaded),
and ends when the job is done. Aim: 100 conversations/s with one worker. The workers' CPU time per
conversation is printed too: on a machine shared with other work it is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB = "inspector_bulk_bench"
URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
ENV = {
    **os.environ,
    "DATABASE_URL": URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench-bulk",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "DJANGO_SETTINGS_MODULE": "inspector.settings",
}


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )


# --- seeding ---------------------------------------------------------------------------------------------


def stuck_body(n: int, messages: int) -> dict:
    """bench/ingest.py's history with one tool result taken out: the call stays unanswered."""
    sys.path.insert(0, str(ROOT / "bench"))
    from ingest import history

    body = history(messages, n)
    results = [i for i, m in enumerate(body["messages"]) if m["role"] == "tool"]
    del body["messages"][random.Random(n).choice(results)]
    body["messages"].append({"role": "user", "content": "Are you still there?"})
    return body


def dumped(args: tuple[int, int]):
    """Pure and picklable, for the seeding pool: the stored form of conversation n."""
    n, messages = args
    from conversations.history import formats
    from conversations.history.formats.document import Document, document_hash
    from conversations.search import conversation_search_text
    from conversations.storage import history_dump
    from conversations.verdicts import own_verdict

    data = json.dumps(stuck_body(n, messages)).encode()
    doc = Document.from_bytes(f"bench-{n:05}.json", data)
    history = formats.read(doc, "openai")[0]
    return (
        n,
        document_hash(doc),
        len(data),
        history_dump(history),
        own_verdict(history),
        conversation_search_text(history),
    )


def _setup_child() -> None:
    import django

    os.environ.update(ENV)
    django.setup()


def seed(count: int, messages: int) -> int:
    total_bytes = 0
    with Pool(2, initializer=_setup_child) as pool:
        batch = []
        for row in pool.imap(dumped, ((n, messages) for n in range(count)), chunksize=20):
            batch.append(row)
            total_bytes += row[2]
            if len(batch) == 200:
                _insert(batch)
                batch = []
        if batch:
            _insert(batch)
    return total_bytes


def _insert(batch) -> None:
    from conversations.models import Conversation, Revision, SearchText, Source
    from conversations.storage import chunks_store
    from conversations.verdicts import RULES_VERSION, verdicts_insert

    sources = Source.objects.bulk_create(
        [
            Source(kind=Source.Kind.UPLOAD, location=f"bench-{n:05}.json", format="openai", content_hash=sha, size=size)
            for n, sha, size, *_ in batch
        ]
    )
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                source=source,
                format="openai",
                title=f"Task {n}",
                model="gpt-4o",
                provider="openai",
                message_count=d.message_count,
            )
            for source, (n, _, _, d, *_) in zip(sources, batch, strict=False)
        ]
    )
    SearchText.objects.bulk_create(
        [SearchText(conversation=c, text=text) for c, (*_, text) in zip(conversations, batch, strict=False)]
    )
    chunks_store([chunk for _, _, _, d, *_ in batch for chunk in d.chunks])
    revisions = Revision.objects.bulk_create(
        [
            Revision(
                conversation=c, number=1, **d.revision_fields(), reason="ingested (bench)", rules_version=RULES_VERSION
            )
            for c, (_, _, _, d, *_) in zip(conversations, batch, strict=False)
        ]
    )
    # The own target's verdict, as ingest stores it (a bulk repair starts from it).
    verdicts_insert([(r, v) for r, (_, _, _, _, v, _) in zip(revisions, batch, strict=False)], own=True)
    for conversation, revision in zip(conversations, revisions, strict=False):
        conversation.latest_revision = revision
    Conversation.objects.bulk_update(conversations, ["latest_revision"])


def repairs_undo() -> None:
    """Back to the stuck state between the two repair runs: revision 1 latest again."""
    from django.db.models import OuterRef, Subquery

    from conversations.models import AuditEvent, Conversation, Revision

    first = Revision.objects.filter(conversation=OuterRef("pk"), number=1).values("pk")[:1]
    Conversation.objects.update(latest_revision=Subquery(first))
    Revision.objects.filter(number__gt=1).delete()
    AuditEvent.objects.filter(action="repair").delete()


# --- runs --------------------------------------------------------------------------------------------------


def workers_start(count: int, log: Path) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "db_worker",
                "--interval",
                "0.1",
                "--no-startup-delay",
                "--no-reload",
                "--worker-id",
                f"bench-{i}",
            ],
            cwd=ROOT,
            env=ENV,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "ab"),
        )
        for i in range(count)
    ]


def workers_stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=60)


def job_wait(job_id: int, timeout: float = 3600) -> None:
    from conversations.models import Job

    deadline = time.monotonic() + timeout
    while Job.objects.filter(pk=job_id).values_list("status", flat=True).get() not in ("done", "cancelled"):
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} did not finish in {timeout:.0f} s")
        time.sleep(0.05)


def warm_up(workers: int) -> None:
    """Each worker imports litellm and fills its caches on a small job first."""
    from conversations import jobs, tasks
    from conversations.models import Conversation, Job

    few = Conversation.objects.filter(
        pk__in=Conversation.objects.order_by("pk").values("pk")[: jobs.claim_batch() * workers]
    )
    job = jobs.job_create(Job.Kind.DRY_RUN, few)
    tasks.job_enqueue(job, runners=workers)
    job_wait(job.pk)


def _admin():
    from django.contrib.auth.models import User

    return User.objects.get_or_create(username="bench", defaults={"is_staff": True, "is_superuser": True})[0]


def timed(kind: str, workers: int, log: Path) -> dict:
    from django.db.models import Count, Max

    from conversations import jobs, tasks
    from conversations.models import Conversation, JobItem

    processes = workers_start(workers, log)
    try:
        warm_up(workers)
        job = jobs.job_create(kind, Conversation.objects.all(), user=_admin())
        cpu_before = sum(cpu_seconds(p.pid) for p in processes)
        start = time.monotonic()
        tasks.job_enqueue(job, runners=workers)
        job_wait(job.pk)
        elapsed = time.monotonic() - start
        cpu = sum(cpu_seconds(p.pid) for p in processes) - cpu_before
    finally:
        workers_stop(processes)
    items = JobItem.objects.filter(job=job)
    # lease_owner is host:pid:run; a worker process runs several one-minute tasks on a job.
    by_process: dict[str, int] = {}
    for owner, n in items.values_list("lease_owner").annotate(n=Count("id")):
        process = ":".join(owner.split(":")[:2])
        by_process[process] = by_process.get(process, 0) + n
    per_worker = sorted(by_process.values(), reverse=True)
    return {
        "kind": kind,
        "workers": workers,
        "total": job.total,
        "seconds": elapsed,
        "rate": job.total / elapsed,
        "per_worker": per_worker,
        "statuses": dict(items.values_list("status").annotate(n=Count("id"))),
        "repeats": items.filter(attempts__gt=1).count(),
        "max_attempts": items.aggregate(m=Max("attempts"))["m"],
        "changed": items.filter(changed=True).count(),
        "cpu_ms": 1000 * cpu / job.total,
        "load": os.getloadavg()[0],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): what a conversation costs a
    worker whatever else the machine is doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def revisions_check(total: int) -> str:
    from django.db.models import Count

    from conversations.models import AuditEvent, Revision

    per_conversation = Revision.objects.values("conversation").annotate(n=Count("id")).values_list("n", flat=True)
    shape = {}
    for n in per_conversation:
        shape[n] = shape.get(n, 0) + 1
    repairs = AuditEvent.objects.filter(action="repair").count()
    ok = shape == {2: total} and repairs == total
    return f"revisions per conversation {shape}, {repairs} repair audit events" + (
        "" if ok else "  <-- EXPECTED exactly one repair each"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    psql(f"CREATE DATABASE {DB}")
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import django
    from django.core.management import call_command

    django.setup()
    try:
        call_command("migrate", verbosity=0)
        start = time.monotonic()
        size = seed(args.conversations, args.messages)
        print(
            f"bulk jobs on PostgreSQL: {args.conversations:,} conversations x {args.messages} messages "
            f"({size / args.conversations / 1024:.0f} KB each, {size / 2**20:,.0f} MB in all), "
            f"seeded in {time.monotonic() - start:.0f} s",
            flush=True,
        )
        log = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-bulk-workers.log"
        for kind in ("dry_run", "repair"):
            for workers in (1, 2):
                if kind == "repair" and workers == 2:
                    repairs_undo()
                r = timed(kind, workers, log)
                print(
                    f"{kind:8} {workers} worker{'s' if workers > 1 else ' '}  {r['total']:,} in {r['seconds']:6.1f} s  "
                    f"{r['rate']:6.1f} conversations/s   "
                    f"items per worker {' / '.join(f'{n:,}' for n in r['per_worker'])}"
                    f"  statuses {r['statuses']}  changed {r['changed']:,}  applied twice {r['repeats']}"
                    f"  | worker CPU {r['cpu_ms']:.1f} ms/conversation, load average {r['load']:.1f}",
                    flush=True,
                )
                if kind == "repair":
                    print(f"         {revisions_check(r['total'])}", flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
