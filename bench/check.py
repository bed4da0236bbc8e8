"""How long a check takes: from a cold start, and on a 10,000-message history for every target.

    .venv/bin/python bench/check.py [--runs 5] [--messages 10000] [--litellm] [--steps]
                                    [--only cold|big]

Cold start (a new process each run; one warm-up, then the min of --runs; wall time):
  python -c pass                                      the bare baseline
  django.setup()                                      what the file commands skip (in a process)
  manage.py check_history F                           F: a 3-message OpenAI log
  manage.py repair_history F --target anthropic --out G
  manage.py ingest F                                  into SQLite (a new copy of F each run)
Aim: under 1.0 s for the first two, 1.5 s for the ingest.

The 10,000-message history (agent_request: its own generator, seed 7), per target: what a check
costs above the 2-message history's check, from the min and from the median of --runs, wall and
CPU time, beside a bare json.loads of the same bytes. Aim: under 200 ms a target. The check is
the default one (the replay of litellm's transformation where it covers the history); --litellm
adds litellm's own transformation for comparison, --steps each step's time.

The machine's load average is printed before and after: on a shared machine every figure grows
with it (CPU time much less than wall time).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
        },
    }
    for name in ("execute_bash", "str_replace_editor", "browser", "finish")
]
LINE = "src/inventory/service.py:{n}:    total = sum(item.quantity for item in order.items)\n"
THREE = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are a careful coding agent."},
        {"role": "user", "content": "List the files of the repository."},
        {"role": "assistant", "content": "Here they are: setup.py, src/, tests/."},
        {"role": "user", "content": "Thanks. Which one holds the tests?"},
    ],
}


def agent_request(messages: int, seed: int = 7) -> dict:
    """An OpenAI request of `messages` messages, shaped like an agent log (tool loops)."""
    rng = random.Random(seed)
    out = [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "You are a coding agent. " * 40, "cache_control": {"type": "ephemeral"}}
            ],
        }
    ]
    call = 0
    while len(out) < messages:
        out.append({"role": "user", "content": f"Step {call}: look at the inventory service again."})
        for _ in range(rng.randint(1, 4)):
            call += 1
            call_id = f"toolu_{call:020d}"
            out.append(
                {
                    "role": "assistant",
                    "content": "Let me check." if rng.random() < 0.5 else None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": "execute_bash",
                                "arguments": json.dumps({"command": f"grep -n total src/{call}"}),
                            },
                        }
                    ],
                }
            )
            lines = rng.randint(1, 3) if rng.random() < 0.5 else rng.randint(10, 40)
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": "".join(LINE.format(n=call * 7 + k) for k in range(lines)),
                }
            )
        out.append({"role": "assistant", "content": "The total is computed in one place; nothing else to change."})
    out = out[:messages]
    while out[-1]["role"] != "user" and out[-1]["role"] != "tool":
        out.pop()
    return {"messages": out, "tools": TOOLS}


def load() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


# --- cold start -----------------------------------------------------------------------------------


def wall(argv: list[str], env: dict[str, str], before=None) -> float:
    """Seconds one new process takes to run argv (stdout and stderr discarded)."""
    if before:
        before()
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr.decode()[-2000:]}")
    return seconds


def coldest(argv: list[str], env: dict[str, str], runs: int, before=None) -> float:
    wall(argv, env, before)  # warm-up: the OS file cache, bytecode
    return min(wall(argv, env, before) for _ in range(runs))


SETUP = (
    "import os, sys, time; sys.path.insert(0, {root!r}); "
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'inspector.settings'); "
    "start = time.perf_counter(); import django; django.setup(); print(time.perf_counter() - start)"
)


def django_setup_seconds(env: dict[str, str], runs: int) -> float:
    code = SETUP.format(root=str(ROOT))
    times = []
    for _ in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        times.append(float(out.stdout.strip()))
    return min(times[1:])


def cold_start(runs: int) -> None:
    print(f"cold start: a new process each run, the min of {runs} after one warm-up ({load()})")
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        folder = Path(tmp)
        log = folder / "three.json"
        log.write_text(json.dumps(THREE))
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
        env["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
        env.setdefault("SECRET_KEY", "bench")
        subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        copies = iter(range(10**6))

        def fresh_copy() -> None:  # ingest a new file each run (the same bytes again change nothing)
            shutil.copyfile(log, folder / "ingest.json")
            os.rename(folder / "ingest.json", folder / f"ingest-{next(copies)}.json")

        bare = coldest([python, "-c", "pass"], env, runs)
        setup = django_setup_seconds(env, runs)
        rows = [
            ("python -c pass", bare, None),
            ("django.setup() alone (skipped by the file commands)", setup, None),
            ("manage.py check_history F", coldest([python, "manage.py", "check_history", str(log)], env, runs), 1.0),
            (
                "manage.py repair_history F --target anthropic --out G",
                coldest(
                    [
                        python,
                        "manage.py",
                        "repair_history",
                        str(log),
                        "--target",
                        "anthropic",
                        "--out",
                        str(folder / "g"),
                    ],
                    env,
                    runs,
                ),
                1.0,
            ),
        ]
        ingest_argv = [python, "manage.py", "ingest"]

        def ingest_once() -> float:
            fresh_copy()
            newest = max(folder.glob("ingest-*.json"), key=lambda p: int(p.stem.split("-")[1]))
            return wall([*ingest_argv, str(newest)], env)

        ingest_once()
        rows.append(("manage.py ingest F (SQLite)", min(ingest_once() for _ in range(runs)), 1.5))
    for label, seconds, aim in rows:
        extra = "" if aim is None else f"  {seconds / bare:5.1f}x python -c pass   aim {aim:.1f} s"
        print(f"  {label:<56}{seconds:7.2f} s{extra}")
    print(f"  ({load()})\n")


# --- the 10,000-message check ---------------------------------------------------------------------


def timed(fn, runs: int) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) of `runs` calls, the collector paused: we time our work,
    not its pauses."""
    walls, cpus = [], []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            start, cpu = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        finally:
            gc.enable()
    return walls, cpus


def big_check(messages: int, runs: int, with_litellm: bool, steps: bool) -> None:
    from conversations.history.check import check
    from conversations.history.formats.openai import parse_request
    from conversations.history.targets import TARGET_NAMES, resolve

    raw = json.dumps(agent_request(messages)).encode()
    big = parse_request(json.loads(raw), file="bench")
    small = parse_request(agent_request(2), file="bench-small")
    loads_wall, _ = timed(lambda: json.loads(raw), runs)
    print(
        f"the {len(big.messages):,}-message history ({len(raw) / 1e6:.1f} MB), a check per target above the "
        f"{len(small.messages)}-message one's; min and median of {runs} ({load()})"
    )
    print(f"  json.loads of the same bytes: {min(loads_wall) * 1000:.0f} ms\n")
    print(f"  {'target':<16}{'min':>9}{'median':>9}{'CPU min':>9}{'x loads':>9}   aim 200 ms")
    kinds = [("default", None)] + ([("litellm", True)] if with_litellm else [])
    for name in TARGET_NAMES:
        target = resolve(name)
        for kind, build in kinds:
            how = {} if build is None else {"build_request": build}  # None: the check's own default
            check(big, target=target, **how)  # warm caches (tokenizer, model map)
            check(small, target=target, **how)
            big_w, big_c = timed(lambda t=target, h=how: check(big, target=t, **h), runs)
            small_w, small_c = timed(lambda t=target, h=how: check(small, target=t, **h), runs)
            low = (min(big_w) - min(small_w)) * 1000
            mid = (statistics.median(big_w) - statistics.median(small_w)) * 1000
            cpu = (min(big_c) - min(small_c)) * 1000
            label = name if kind == "default" else "  with litellm"
            print(f"  {label:<16}{low:>6.0f} ms{mid:>6.0f} ms{cpu:>6.0f} ms{low / 1000 / min(loads_wall):>8.1f}x")
    print(f"  ({load()})")
    if steps:
        print_steps(big, runs)


def print_steps(history, runs: int) -> None:
    """Each step of a check on its own (CPU ms): the request, the replay, the rules."""
    from conversations.history import replay, rules, wire
    from conversations.history.formats.openai import messages_without_arguments
    from conversations.history.targets import TARGET_NAMES, resolve

    print(f"\n  steps of the check on the {len(history.messages):,}-message history (CPU ms, min of {runs}):")
    shared = {
        "covers": lambda: replay.covers(history),
        "request dicts": lambda: wire.openai_request(history),
        "request dicts, no arguments": lambda: messages_without_arguments(history),
    }
    for step, fn in shared.items():
        print(f"  {'(any)':<16}{step:<28}{min(timed(fn, runs)[1]) * 1000:7.1f}")
    for name in TARGET_NAMES:
        target = resolve(name)
        sim = wire.simulate(history, target)
        for step, fn in (
            ("replay (simulate)", lambda t=target: wire.simulate(history, t)),
            ("rules", lambda t=target, w=sim: rules.run_in(rules.context(history, t, w))),
        ):
            print(f"  {name:<16}{step:<28}{min(timed(fn, runs)[1]) * 1000:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--litellm", action="store_true", help="also time litellm's own transformation")
    parser.add_argument("--steps", action="store_true", help="also time each step of a check")
    parser.add_argument("--only", choices=["cold", "big"])
    args = parser.parse_args()
    if args.only in (None, "cold"):
        cold_start(args.runs)
    if args.only in (None, "big"):
        big_check(args.messages, args.runs, args.litellm, args.steps)


if __name__ == "__main__":
    main()
