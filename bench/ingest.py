"""Ingest throughput and memory, into SQLite and PostgreSQL.

    .venv/bin/python bench/ingest.py [--conversations 1000] [--messages 200] [--big 20000]
                                     [--claude-sessions 50] [--claude-records 2000]
                                     [--only sqlite|postgres] [--case openai|claude-code]

Generates OpenAI-format histories with tool calls (what litellm logs hold), ingests them through
the same function `manage.py ingest` uses (including the own-target check), and prints MB/s and
conversations/s, the ratio to a bare json.loads of the same bytes, and the peak memory of ingesting
the largest file against its size. Aims: 20 MB/s or more into PostgreSQL; peak under 5x the file.

The Claude Code case walks a generated project folder (bench/claude_code_project.py: 50 sessions
of 2,000 records, about 3 MB each, each with two subagent files and their sidecars) as `manage.py
ingest` does, and prints files/s, conversations/s and MB/s beside json.loads of the same lines.
Each database runs in a child process of its own, because Django binds its database at setup.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Another name (BENCH_PG_DATABASE) lets two runs share a server without dropping each other's database.
PG_DATABASE = os.environ.get("BENCH_PG_DATABASE", "inspector_bench")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DATABASE}"
JOBS = int(os.environ.get("BENCH_JOBS", "1"))


# Per-message sizes of real agent logs (the fixtures): OpenHands events ~3.4 KB, the seed requests
# ~2 KB, Claude Code records ~1.5 KB. Tool outputs dominate: a few short statuses, many listings and
# grep results, some whole files or test logs. The generator draws from that mix (~2 KB a message).
_LINE = "src/inventory/service.py:{n}:    total = sum(item.quantity for item in order.items)  # TODO\n"


def _tool_output(rng: random.Random, call: int) -> str:
    kind = rng.random()
    lines = rng.randint(1, 3) if kind < 0.4 else rng.randint(12, 40) if kind < 0.85 else rng.randint(60, 140)
    return "".join(_LINE.format(n=call * 7 + k) for k in range(lines))


def history(n_messages: int, seed: int) -> dict:
    """A realistic agent history: user asks, the assistant calls tools in pairs, results come back."""
    rng = random.Random(seed)
    messages: list[dict] = [{"role": "system", "content": "You are a careful coding agent. " * 40}]
    messages.append({"role": "user", "content": f"Task {seed}: find why the build fails and fix it."})
    call = 0
    while len(messages) < n_messages:
        ids = [f"call_{seed:05d}{call + k:06d}" for k in range(2)]
        call += 2
        messages.append(
            {
                "role": "assistant",
                "content": "Let me look at the files involved. " * rng.randint(1, 6),
                "tool_calls": [
                    {
                        "id": i,
                        "type": "function",
                        "function": {
                            "name": "execute_bash",
                            "arguments": json.dumps({"command": f"grep -rn 'TODO {i}' src/ | head -50"}),
                        },
                    }
                    for i in ids
                ],
            }
        )
        for i in ids:
            messages.append(
                {"role": "tool", "tool_call_id": i, "name": "execute_bash", "content": _tool_output(rng, call)}
            )
    return {"model": "gpt-4o", "messages": messages[:n_messages]}


def write_corpus(folder: Path, conversations: int, messages: int) -> int:
    total = 0
    for k in range(conversations):
        data = json.dumps(history(messages, k)).encode()
        (folder / f"conv-{k:05d}.json").write_bytes(data)
        total += len(data)
    return total


def bare_json_seconds(files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        json.loads(f.read_bytes())
    return time.perf_counter() - start


# --- child: one database ------------------------------------------------------------------------


def child(database_url: str, corpus: Path, big: Path) -> None:
    _django(database_url)
    from conversations.ingest import Candidate, ingest_candidates, ingest_path

    # Warm up litellm's lazy import and the first-call costs outside the timings.
    ingest_path(sorted(corpus.glob("*.json"))[0])

    files = sorted(corpus.glob("*.json"))[1:]
    size = sum(f.stat().st_size for f in files)
    start = time.perf_counter()
    for _, outcome in ingest_candidates([Candidate(f) for f in files], jobs=JOBS):
        assert outcome.status == "ingested", outcome.error
    seconds = time.perf_counter() - start
    bare = bare_json_seconds(files)

    big_size = big.stat().st_size
    start = time.perf_counter()
    assert ingest_path(big).status == "ingested"
    big_seconds = time.perf_counter() - start
    big_bare = bare_json_seconds([big])

    # Memory on a fresh copy of the big file (a new path, so it is really ingested again).
    copy = big.with_name("big-copy.json")
    copy.write_bytes(big.read_bytes())
    tracemalloc.start()
    ingest_path(copy)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(
        json.dumps(
            {
                "files": len(files),
                "mb": size / 1e6,
                "seconds": seconds,
                "bare_json_seconds": bare,
                "big_mb": big_size / 1e6,
                "big_seconds": big_seconds,
                "big_bare_json_seconds": big_bare,
                "big_peak_mb": peak / 1e6,
            }
        )
    )


def claude_child(database_url: str, project: Path, warmup: Path) -> None:
    """The Claude Code case in one database: the folder walked and ingested as `manage.py ingest`
    does it (sidecars skipped), timed against json.loads of every line of its logs."""
    _django(database_url)
    from conversations.ingest import candidates, ingest_candidates, ingest_path

    assert ingest_path(warmup).status == "ingested"  # litellm's import and first calls, untimed
    found = list(candidates([str(project)]))
    logs = [c.path for c in found if not c.skip_reason]
    size = sum(f.stat().st_size for f in logs)
    conversations = skipped = 0
    start = time.perf_counter()
    for _, outcome in ingest_candidates(found, jobs=JOBS):
        if outcome is None or outcome.status == "skipped":
            skipped += 1
            continue
        assert outcome.status == "ingested", outcome.error
        conversations += len(outcome.added)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    for f in logs:
        for line in f.read_bytes().split(b"\n"):
            if line:
                json.loads(line)
    bare = time.perf_counter() - start
    print(
        json.dumps(
            {
                "files": len(logs),
                "skipped": skipped,
                "conversations": conversations,
                "mb": size / 1e6,
                "seconds": seconds,
                "bare_json_seconds": bare,
            }
        )
    )


def _django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ["DJANGO_SETTINGS_MODULE"] = "inspector.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def print_claude(label: str, r: dict) -> None:
    print(f"\n{label}, Claude Code project folder")
    print(
        f"  {r['files']} log files ({r['conversations']} conversations, {r['skipped']} sidecars skipped), "
        f"{r['mb']:.1f} MB in {r['seconds']:.2f} s: {r['files'] / r['seconds']:.1f} files/s, "
        f"{r['conversations'] / r['seconds']:.1f} conversations/s, {r['mb'] / r['seconds']:.1f} MB/s "
        f"(json.loads of the same lines: {r['mb'] / r['bare_json_seconds']:.0f} MB/s, "
        f"{r['seconds'] / r['bare_json_seconds']:.1f}x faster)"
    )


def reset_postgres() -> None:
    for sql in (f"DROP DATABASE IF EXISTS {PG_DATABASE}", f"CREATE DATABASE {PG_DATABASE}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--big", type=int, default=20000, help="messages in the one large conversation")
    parser.add_argument("--claude-sessions", type=int, default=50, help="sessions of the Claude Code project folder")
    parser.add_argument("--claude-records", type=int, default=2000, help="records a Claude Code session")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--case", choices=["openai", "claude-code"], help="run one case only")
    parser.add_argument("--child", nargs=3, metavar=("URL", "CORPUS", "BIG"), help=argparse.SUPPRESS)
    parser.add_argument("--claude-child", nargs=3, metavar=("URL", "PROJECT", "WARMUP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]), Path(args.child[2]))
    if args.claude_child:
        return claude_child(args.claude_child[0], Path(args.claude_child[1]), Path(args.claude_child[2]))

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmp_path = Path(tmp)
        if args.case in (None, "openai"):
            openai_case(args, tmp_path)
        if args.case in (None, "claude-code"):
            claude_case(args, tmp_path)


def databases(args: argparse.Namespace, tmp_path: Path, name: str) -> list[tuple[str, str]]:
    """(label, URL) of each database to run in, emptied."""
    targets = []
    if args.only in (None, "sqlite"):
        targets.append(("SQLite", f"sqlite:///{tmp_path / f'{name}.sqlite3'}"))
    if args.only in (None, "postgres"):
        reset_postgres()
        targets.append(("PostgreSQL", PG_URL))
    return targets


def run_child(label: str, *argv: str) -> dict | None:
    result = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        print(f"{label}: failed\n{result.stderr[-2000:]}")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def openai_case(args: argparse.Namespace, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    print(
        f"generating {args.conversations} conversations of {args.messages} messages and one of {args.big} messages ...",
        flush=True,
    )
    write_corpus(corpus, args.conversations + 1, args.messages)
    big = tmp_path / "big.json"
    big.write_bytes(json.dumps(history(args.big, 99999)).encode())

    for label, url in databases(args, tmp_path, "bench"):
        r = run_child(label, "--child", url, str(corpus), str(big))
        if r is None:
            continue
        print(f"\n{label}")
        print(
            f"  {r['files']} conversations, {r['mb']:.1f} MB in {r['seconds']:.2f} s: "
            f"{r['mb'] / r['seconds']:.1f} MB/s, {r['files'] / r['seconds']:.0f} conversations/s "
            f"({r['seconds'] / r['bare_json_seconds']:.1f}x a bare json.loads)"
        )
        print(
            f"  one conversation of {args.big} messages, {r['big_mb']:.1f} MB in {r['big_seconds']:.2f} s: "
            f"{r['big_mb'] / r['big_seconds']:.1f} MB/s "
            f"({r['big_seconds'] / r['big_bare_json_seconds']:.1f}x a bare json.loads)"
        )
        print(
            f"  peak memory ingesting it: {r['big_peak_mb']:.0f} MB "
            f"= {r['big_peak_mb'] / r['big_mb']:.1f}x the file (Python allocations, tracemalloc)"
        )


def claude_case(args: argparse.Namespace, tmp_path: Path) -> None:
    from claude_code_project import session, write_project

    project = tmp_path / "projects" / "-Users-ana-src-shop-api"
    print(
        f"\ngenerating a Claude Code project folder: {args.claude_sessions} sessions of "
        f"{args.claude_records} records, each with two subagents ...",
        flush=True,
    )
    write_project(project, sessions=args.claude_sessions, records=args.claude_records)
    warmup = tmp_path / "warmup.jsonl"
    warmup.write_bytes(session(999_999, 50, "warmup-session", None, []))
    for label, url in databases(args, tmp_path, "bench-claude"):
        r = run_child(label, "--claude-child", url, str(project), str(warmup))
        if r is not None:
            print_claude(label, r)


if __name__ == "__main__":
    main()
