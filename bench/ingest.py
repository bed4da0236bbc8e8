"""Ingest throughput and memory, into SQLite and PostgreSQL.

    .venv/bin/python bench/ingest.py [--conversations 200] [--messages 200] [--big 20000]
                                     [--claude-sessions 50] [--claude-records 2000]
                                     [--litellm-records 5000] [--litellm-messages 6]
                                     [--only sqlite|postgres] [--case openai|litellm|claude-code|route] [--jobs 1]
                                     [--database-url postgres://postgres@127.0.0.1:5432/inspector_bench]

Generates OpenAI-format histories with tool calls (what litellm logs hold; about 800 bytes a
message), ingests them through the same function `manage.py ingest` uses (redaction on, the
own-target check, no route configured: the default settings), and prints MB/s and
conversations/s beside a bare json.loads of the same bytes in the same run (and the share of its
speed reached), and the peak memory of ingesting the largest file against its size.
Aims: 20 MB/s into PostgreSQL, or at least 1/20 of json.loads (1/10 later); peak under 3x the
largest file. Each database runs in a child process of its own (Django binds its database at
setup); the PostgreSQL database is dropped and created again for the run.

The litellm case ingests one JSONL of 5,000 logged calls (a callback's StandardLoggingPayload a
line, each its own conversation of 6 messages and the answer) as `manage.py ingest` does one file,
and prints records/s beside json.loads of the same lines.

The Claude Code case walks a generated project folder (bench/claude_code_project.py: 50 sessions
of 2,000 records, about 3 MB each, each with two subagent files and their sidecars) as `manage.py
ingest` does, and prints files/s, conversations/s and MB/s beside json.loads of the same lines.

The route case ingests the OpenAI corpus twice in one process, by its own target only and then
with a route of three deployments (Bedrock, Anthropic, Vertex AI) a mapping rule gives every
conversation, and prints the ratio (aim: at most 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# BENCH_PG_DATABASE lets two runs share a server without dropping each other's database.
PG_URL = f"postgres://postgres@127.0.0.1:5432/{os.environ.get('BENCH_PG_DATABASE', 'inspector_bench')}"


# Per-message sizes of real agent logs vary (the fixtures: OpenHands events ~3.4 KB, the seed
# requests ~2 KB, Claude Code records ~1.5 KB). The ingest aim is stated for about 800 bytes a
# message (small=True); bench/bulk.py draws the larger mix (~2 KB a message).
_LINE = "src/inventory/service.py:{n}:    total = sum(item.quantity for item in order.items)  # TODO\n"


def _tool_output(rng: random.Random, call: int, small: bool) -> str:
    """A few short statuses, many listings and grep results, some whole files or test logs:
    about 2.5 KB, or about 1 KB for `small` (an ~800-byte message on average)."""
    kind = rng.random()
    if small:
        lines = rng.randint(1, 3) if kind < 0.4 else rng.randint(6, 16) if kind < 0.9 else rng.randint(20, 40)
    else:
        lines = rng.randint(1, 3) if kind < 0.4 else rng.randint(12, 40) if kind < 0.85 else rng.randint(60, 140)
    return "".join(_LINE.format(n=call * 7 + k) for k in range(lines))


def history(n_messages: int, seed: int, small: bool = False) -> dict:
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
                {"role": "tool", "tool_call_id": i, "name": "execute_bash", "content": _tool_output(rng, call, small)}
            )
    return {"model": "gpt-4o", "messages": messages[:n_messages]}


def write_corpus(folder: Path, conversations: int, messages: int) -> int:
    total = 0
    for k in range(conversations):
        data = json.dumps(history(messages, k, small=True)).encode()
        (folder / f"conv-{k:05d}.json").write_bytes(data)
        total += len(data)
    return total


def bare_json_seconds(files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        json.loads(f.read_bytes())
    return time.perf_counter() - start


# --- child: one database ------------------------------------------------------------------------


def child(database_url: str, corpus: Path, big: Path, jobs: int) -> None:
    _django(database_url)
    from conversations.ingest import Candidate, ingest_candidates, ingest_path

    # Warm up litellm's lazy import and the first-call costs outside the timings.
    ingest_path(sorted(corpus.glob("*.json"))[0])

    files = sorted(corpus.glob("*.json"))[1:]
    size = sum(f.stat().st_size for f in files)
    start = time.perf_counter()
    for _, outcome in ingest_candidates([Candidate(f) for f in files], jobs=jobs):
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
                "messages": sum(1 for f in files[:20] for _ in json.loads(f.read_bytes())["messages"])
                / min(20, len(files)),
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


ROUTE_CONFIG = {
    "model_list": [
        {"model_name": "main", "litellm_params": {"model": "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0"}},
        {"model_name": "main", "litellm_params": {"model": "anthropic/claude-3-5-sonnet-20241022"}},
        {"model_name": "main", "litellm_params": {"model": "vertex_ai/claude-3-5-sonnet-v2@20241022"}},
    ]
}


def route_child(database_url: str, corpus: Path, jobs: int) -> None:
    """The same corpus ingested twice in one process: judged by its own target only, then with a
    route of three deployments (Bedrock, Anthropic, Vertex AI) that a mapping rule gives every
    conversation, so each is judged four times."""
    _django(database_url)
    from conversations.ingest import Candidate, ingest_candidates, ingest_path
    from conversations.models import Route, RouteRule
    from conversations.routing import route_version_save

    ingest_path(sorted(corpus.glob("*.json"))[0])  # warm-up: lazy imports, first-call costs
    files = sorted(corpus.glob("*.json"))[1:]
    size = sum(f.stat().st_size for f in files)
    seconds = {}
    for name in ("own", "route"):
        if name == "route":
            route = Route.objects.create(name="bench")
            route_version_save(route, ROUTE_CONFIG)
            RouteRule.objects.create(route=route, model_group="main")
        copy = corpus.parent / f"corpus-{name}"
        copy.mkdir()
        for f in files:
            shutil.copyfile(f, copy / f.name)
        start = time.perf_counter()
        for _, outcome in ingest_candidates([Candidate(copy / f.name) for f in files], jobs=jobs):
            assert outcome.status == "ingested", outcome.error
        seconds[name] = time.perf_counter() - start
    print(json.dumps({"files": len(files), "mb": size / 1e6, **seconds}))


def litellm_record(k: int, messages: int) -> dict:
    """One logged call of a litellm callback (a StandardLoggingPayload): the request's messages so
    far, its parameters and the model's answer."""
    request = history(messages, 50_000 + k, small=True)
    return {
        "id": f"chatcmpl-{k:08d}",
        "trace_id": f"trace-{k:08d}",
        "call_type": "acompletion",
        "status": "success",
        "model": "gpt-4o",
        "custom_llm_provider": "openai",
        "startTime": 1795617667.0 + k,
        "endTime": 1795617668.5 + k,
        "messages": request["messages"],
        "model_parameters": {"temperature": 0, "max_tokens": 1024},
        "hidden_params": {"api_base": "https://api.openai.com/v1"},
        "response": {"choices": [{"message": {"role": "assistant", "content": f"Done with step {k}."}}]},
    }


def litellm_child(database_url: str, log: Path, warmup: Path) -> None:
    """A litellm JSONL (one call a line, each line a conversation of its own) ingested as one file."""
    _django(database_url)
    from conversations.ingest import ingest_path

    assert ingest_path(warmup).status == "ingested"  # litellm's import and first calls, untimed
    start = time.perf_counter()
    outcome = ingest_path(log)
    seconds = time.perf_counter() - start
    assert outcome.status == "ingested" and not outcome.failures, (outcome.error, outcome.failures[:3])
    start = time.perf_counter()
    for line in log.read_bytes().split(b"\n"):
        if line:
            json.loads(line)
    bare = time.perf_counter() - start
    print(
        json.dumps(
            {
                "records": len(outcome.added),
                "mb": log.stat().st_size / 1e6,
                "seconds": seconds,
                "bare_json_seconds": bare,
            }
        )
    )


def claude_child(database_url: str, project: Path, warmup: Path, jobs: int) -> None:
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
    for _, outcome in ingest_candidates(found, jobs=jobs):
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


def run_child(label: str, *argv: str) -> dict | None:
    """Run this script as a child in one database (Django binds its database at setup) and read
    the JSON line it prints last; None (said) when it failed."""
    result = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        print(f"{label}: failed\n{result.stderr[-2000:]}")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def reset_postgres(url: str) -> None:
    name = urllib.parse.urlparse(url).path.lstrip("/")
    for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--big", type=int, default=20000, help="messages in the one large conversation")
    parser.add_argument("--claude-sessions", type=int, default=50, help="sessions of the Claude Code project folder")
    parser.add_argument("--claude-records", type=int, default=2000, help="records a Claude Code session")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--litellm-records", type=int, default=5000, help="calls in the litellm JSONL")
    parser.add_argument("--litellm-messages", type=int, default=6, help="messages a litellm call sends")
    parser.add_argument("--case", choices=["openai", "litellm", "claude-code", "route"], help="run one case only")
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="worker processes preparing files (default: manage.py ingest's own, the cores up to 4)",
    )
    parser.add_argument("--database-url", default=PG_URL, help="the PostgreSQL database to drop, create and fill")
    parser.add_argument("--child", nargs=4, metavar=("URL", "CORPUS", "BIG", "JOBS"), help=argparse.SUPPRESS)
    parser.add_argument("--claude-child", nargs=4, metavar=("URL", "PROJECT", "WARMUP", "JOBS"), help=argparse.SUPPRESS)
    parser.add_argument("--route-child", nargs=3, metavar=("URL", "CORPUS", "JOBS"), help=argparse.SUPPRESS)
    parser.add_argument("--litellm-child", nargs=3, metavar=("URL", "LOG", "WARMUP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]), Path(args.child[2]), int(args.child[3]))
    if args.route_child:
        return route_child(args.route_child[0], Path(args.route_child[1]), int(args.route_child[2]))
    if args.litellm_child:
        return litellm_child(args.litellm_child[0], Path(args.litellm_child[1]), Path(args.litellm_child[2]))
    if args.claude_child:
        c = args.claude_child
        return claude_child(c[0], Path(c[1]), Path(c[2]), int(c[3]))

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmp_path = Path(tmp)
        print(f"jobs {args.jobs}; load average {os.getloadavg()[0]:.1f}", flush=True)
        if args.case in (None, "openai"):
            openai_case(args, tmp_path)
        if args.case in (None, "litellm"):
            litellm_case(args, tmp_path)
        if args.case in (None, "claude-code"):
            claude_case(args, tmp_path)
        if args.case in (None, "route"):
            route_case(args, tmp_path)
        print(f"load average {os.getloadavg()[0]:.1f}")


def databases(args: argparse.Namespace, tmp_path: Path, name: str) -> list[tuple[str, str]]:
    """(label, URL) of each database to run in, emptied."""
    targets = []
    if args.only in (None, "sqlite"):
        targets.append(("SQLite", f"sqlite:///{tmp_path / f'{name}.sqlite3'}"))
    if args.only in (None, "postgres"):
        reset_postgres(args.database_url)
        targets.append(("PostgreSQL", args.database_url))
    return targets


def openai_case(args: argparse.Namespace, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    print(
        f"generating {args.conversations} conversations of {args.messages} messages and one of {args.big} messages ...",
        flush=True,
    )
    write_corpus(corpus, args.conversations + 1, args.messages)
    big = tmp_path / "big.json"
    big.write_bytes(json.dumps(history(args.big, 99999, small=True)).encode())

    for label, url in databases(args, tmp_path, "bench"):
        r = run_child(label, "--child", url, str(corpus), str(big), str(args.jobs))
        if r is None:
            continue
        bytes_a_message = r["mb"] * 1e6 / r["files"] / r["messages"]
        print(f"\n{label}")
        print(
            f"  {r['files']} conversations of {r['messages']:.0f} messages ({bytes_a_message:.0f} bytes a "
            f"message), {r['mb']:.1f} MB in {r['seconds']:.2f} s: {r['mb'] / r['seconds']:.1f} MB/s "
            f"(aim 20), {r['files'] / r['seconds']:.0f} conversations/s"
        )
        print(
            f"  json.loads of the same bytes: {r['mb'] / r['bare_json_seconds']:.0f} MB/s; the ingest reaches "
            f"1/{r['seconds'] / r['bare_json_seconds']:.1f} of it (aim 1/20, later 1/10)"
        )
        print(
            f"  one conversation of {args.big} messages, {r['big_mb']:.1f} MB in {r['big_seconds']:.2f} s: "
            f"{r['big_mb'] / r['big_seconds']:.1f} MB/s "
            f"({r['big_seconds'] / r['big_bare_json_seconds']:.1f}x a bare json.loads)"
        )
        print(
            f"  peak memory ingesting it: {r['big_peak_mb']:.0f} MB "
            f"= {r['big_peak_mb'] / r['big_mb']:.1f}x the file (aim under 3x; Python allocations, tracemalloc)"
        )


def litellm_case(args: argparse.Namespace, tmp_path: Path) -> None:
    log = tmp_path / "litellm-calls.jsonl"
    print(
        f"\ngenerating a litellm JSONL of {args.litellm_records} calls of {args.litellm_messages} messages ...",
        flush=True,
    )
    with log.open("w") as out:
        for k in range(args.litellm_records):
            out.write(json.dumps(litellm_record(k, args.litellm_messages)) + "\n")
    warmup = tmp_path / "litellm-warmup.jsonl"
    warmup.write_text(json.dumps(litellm_record(10**7, 4)) + "\n")
    for label, url in databases(args, tmp_path, "bench-litellm"):
        r = run_child(label, "--litellm-child", url, str(log), str(warmup))
        if r is None:
            continue
        print(f"\n{label}, a litellm JSONL (one call a line, each its own conversation)")
        print(
            f"  {r['records']} records, {r['mb']:.1f} MB in {r['seconds']:.2f} s: "
            f"{r['records'] / r['seconds']:.0f} records/s ({r['seconds'] / r['records'] * 1000:.1f} ms a record), "
            f"{r['mb'] / r['seconds']:.1f} MB/s (json.loads of the same lines: {r['mb'] / r['bare_json_seconds']:.0f} "
            f"MB/s, {r['seconds'] / r['bare_json_seconds']:.1f}x faster)"
        )


def route_case(args: argparse.Namespace, tmp_path: Path) -> None:
    corpus = tmp_path / "route-corpus"
    corpus.mkdir()
    write_corpus(corpus, args.conversations + 1, args.messages)
    for label, url in databases(args, tmp_path, "route"):
        r = run_child(label, "--route-child", url, str(corpus), str(args.jobs))
        if r is None:
            continue
        print(f"\n{label}, a route of three deployments (Bedrock, Anthropic, Vertex AI) for one group")
        print(
            f"  {r['files']} conversations, {r['mb']:.1f} MB: own target only {r['own']:.2f} s "
            f"({r['mb'] / r['own']:.1f} MB/s), with the route {r['route']:.2f} s ({r['mb'] / r['route']:.1f} MB/s): "
            f"{r['route'] / r['own']:.2f}x (aim at most 2x)"
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
        r = run_child(label, "--claude-child", url, str(project), str(warmup), str(args.jobs))
        if r is None:
            continue
        print_claude(label, r)


if __name__ == "__main__":
    main()
