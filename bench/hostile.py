"""Hostile inputs that once ran for minutes (issue 16, item 2): how long each takes now.

    .venv/bin/python bench/hostile.py [--only explain|markdown|diff|repair|ingest] [--calls 8000 20000]

Prints one line a case: its name, its size and the seconds it took (the best of --runs).
Cases: Explain on a 64 KB paste of each adversarial shape; Markdown of "[" x 19,999 and other
shapes at 20,000 characters, uncached; the revision diff of two 1.5 MB histories that share
nothing; the repair of one assistant message with N unanswered tool calls (OpenAI format, for
the anthropic target); ingest of a litellm standard-logging JSONL of 20,000 records.
No figure here is an assertion: the hang guard in tests/ only bounds each page at 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(fn: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def report(name: str, size: str, seconds: float) -> None:
    print(f"{name:48} {size:>14} {seconds:9.3f} s", flush=True)


def unanswered_calls(n: int) -> dict:
    calls = [
        {"id": f"call_{k:06d}", "type": "function", "function": {"name": "ls", "arguments": "{}"}} for k in range(n)
    ]
    return {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "list"}, {"role": "assistant", "content": None, "tool_calls": calls}],
    }


def bench_explain(runs: int) -> None:
    from conversations.history.explain import explain
    from conversations.history.formats.openai import parse_request

    history = parse_request({"messages": [{"role": "user", "content": "hi"}]}, file="bench")
    tail = " messages.0: all messages must have non-empty content"
    shapes = {
        "index fragments": "messages.0.content.0: " * 3_000,
        "digits": "1" * 65_000,
        "dots": "." * 65_000,
        "one long word": "a" * 65_000,
        "max_tokens fragments": "max_tokens: 1 > 2 " * 3_600,
        "fallback fragments": "Fallback to x " * 4_600,
    }
    for name, filler in shapes.items():
        text = "AnthropicException - " + filler[: 64 * 1024 - len(tail) - 30] + tail
        report(f"explain: {name}", f"{len(text):,} chars", timed(lambda t=text: explain(history, t), runs))


def bench_markdown(runs: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inspector.settings")
    import django

    django.setup()
    from conversations.templatetags import inspector

    shapes = {"[": "[" * 99_999, "[ (20k)": "[" * 19_999, "![a": "![a" * 6_666, "*a ": "*a " * 6_666}
    for name, text in shapes.items():
        # A text of its own each run: the cache would answer the second.
        texts = iter([f"{text}{k}" for k in range(runs)])
        report(f"markdown: {name!r}", f"{len(text):,} chars", timed(lambda t=texts: inspector.markdown(next(t)), runs))


def bench_diff(runs: int) -> None:
    from conversations.history.diff import histories_diff
    from conversations.history.formats.openai import parse_request

    def big(tag: str) -> object:
        messages = [{"role": "user", "content": f"{tag} line {k}\n" * 20} for k in range(3_000)]
        return parse_request({"messages": messages}, file=tag)

    a, b = big("a"), big("b")
    report("diff: two unrelated histories", "2 x 3,000 msgs", timed(lambda: histories_diff(a, b), runs))


def bench_repair(runs: int, sizes: list[int]) -> None:
    from conversations.history.formats.openai import parse_request
    from conversations.history.repair import repair
    from conversations.history.targets import resolve
    from conversations.history.wire import request_for

    # litellm's import (on the first request built through it) is not the repair's cost.
    repair(parse_request(unanswered_calls(10), file="bench"), target="anthropic")
    request_for(parse_request(unanswered_calls(10), file="bench"), resolve("anthropic"), use_litellm=True)
    for n in sizes:
        history = parse_request(unanswered_calls(n), file="bench")
        report(
            "repair: unanswered calls in one message",
            f"{n:,} calls",
            timed(lambda h=history: repair(h, target="anthropic"), runs),
        )


def litellm_records(n: int) -> str:
    """n records shaped like the failure fixture (its model map copy left out: ~11 KB a record),
    each its own call (id) in one session, as a proxy's JSONL callback writes them."""
    fixture = ROOT / "tests" / "fixtures" / "formats" / "litellm-standard-logging-failure.json"
    record = json.loads(fixture.read_text())
    record.pop("model_map_information", None)
    lines = []
    for k in range(n):
        record["id"] = record["litellm_call_id"] = f"call-{k:06d}"
        lines.append(json.dumps(record))
    return "\n".join(lines) + "\n"


def bench_ingest(runs: int, records: int) -> None:
    """The litellm JSONL through `manage.py ingest`'s function, into a fresh SQLite database."""
    folder = Path(tempfile.mkdtemp())
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ["DJANGO_SETTINGS_MODULE"] = "inspector.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from conversations.ingest import ingest_path

    call_command("migrate", verbosity=0)
    warm = folder / "warm.jsonl"
    warm.write_text(litellm_records(2))
    ingest_path(warm)  # litellm's import and first calls, untimed
    for run in range(runs):
        path = folder / f"litellm-{run}.jsonl"
        path.write_text(litellm_records(records))
        size = path.stat().st_size
        start = time.perf_counter()
        outcome = ingest_path(path)
        seconds = time.perf_counter() - start
        assert outcome.status == "ingested", outcome.error
        report("ingest: litellm JSONL", f"{records:,} records", seconds)
        print(f"{'':48} {size / 1e6:11.1f} MB {seconds / records * 1e3:9.3f} ms a record", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["explain", "markdown", "diff", "repair", "ingest"])
    parser.add_argument("--calls", type=int, nargs="+", default=[2_000, 8_000, 20_000])
    parser.add_argument("--records", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    cases = {
        "explain": lambda: bench_explain(args.runs),
        "markdown": lambda: bench_markdown(args.runs),
        "diff": lambda: bench_diff(args.runs),
        "repair": lambda: bench_repair(args.runs, args.calls),
        "ingest": lambda: bench_ingest(args.runs, args.records),
    }
    for name, case in cases.items():
        if args.only in (None, name):
            case()


if __name__ == "__main__":
    main()
