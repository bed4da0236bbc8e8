"""How long a check takes, per target, with and without building litellm's request.

    .venv/bin/python bench/check.py [--messages 10000] [--small 1000] [--repeat 3]

Generates an agent history (system prompt, tools, user turns, tool calls with results of mixed
sizes, answers), then for each of the five targets prints the time of a full check with litellm's
request built and with the simulated one, and the ratio to a bare json.loads of the same bytes.
It also times each step on a --small and a --messages history: a step whose time grows faster
than the history (ratio well above messages/small) would show here. Aim: under 200 ms a target.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from conversations.history import rules, wire  # noqa: E402
from conversations.history.check import check  # noqa: E402
from conversations.history.formats.openai import parse_request  # noqa: E402
from conversations.history.targets import TARGET_NAMES, resolve  # noqa: E402

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


def best(fn, repeat: int) -> float:
    """Best of `repeat` runs, in seconds (collector paused: we time our work, not its pauses)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def steps(history, target, repeat: int) -> dict[str, float]:
    """Each step of a check on its own: request dict, litellm body, parse + index map, rules."""
    built = {}

    def to_request():
        built["request"], built["origins"] = wire.openai_request(history)

    def litellm_body():
        built["body"] = wire.litellm_body(
            built["request"]["messages"], {k: v for k, v in built["request"].items() if k != "messages"}, target
        )

    def simulate():
        built["sim"] = wire.from_request(built["request"], built["origins"], target, use_litellm=False)

    def map_body():
        parsed = wire.parse_body(built["body"], target)
        parsed.exact = wire._assign_sources(parsed, built["sim"])
        parsed.params, parsed.request = built["sim"].params, built["sim"].request
        parsed.history_markers, parsed.built = built["sim"].history_markers, True
        built["wire"] = parsed

    def run_rules():
        rules.run(history, target, built["wire"])

    out = {}
    # rules: on litellm's request, including the token count near the context window
    for name, fn in (
        ("to_request", to_request),
        ("litellm_body", litellm_body),
        ("simulate", simulate),
        ("parse+map", map_body),
        ("rules", run_rules),
    ):
        out[name] = best(fn, repeat)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    big = agent_request(args.messages)
    raw = json.dumps(big).encode()
    history = parse_request(json.loads(raw), file="bench")
    check(parse_request(agent_request(20), file="warm"), target="anthropic")  # import litellm once
    loads = best(lambda: json.loads(raw), args.repeat)
    print(
        f"history: {len(history.messages):,} messages, {len(raw) / 1e6:.1f} MB; "
        f"json.loads of the same bytes: {loads * 1000:.0f} ms\n"
    )
    print(f"{'target':<16}{'with litellm':>14}{'x loads':>9}{'simulated':>12}{'x loads':>9}")
    for name in TARGET_NAMES:
        target = resolve(name)
        for build_request in (True, False):
            check(history, target=target, build_request=build_request)  # warm caches
        full = best(lambda target=target: check(history, target=target), args.repeat)
        cheap = best(lambda target=target: check(history, target=target, build_request=False), args.repeat)
        print(f"{name:<16}{full * 1000:>11.0f} ms{full / loads:>8.1f}x{cheap * 1000:>9.0f} ms{cheap / loads:>8.1f}x")

    small_history = parse_request(agent_request(args.small), file="bench-small")
    factor = len(history.messages) / len(small_history.messages)
    print(
        f"\nsteps, {len(small_history.messages):,} vs {len(history.messages):,} messages "
        f"(linear growth would be {factor:.1f}x):"
    )
    print(f"{'target':<16}{'step':<14}{'small':>10}{'big':>10}{'growth':>9}")
    for name in TARGET_NAMES:
        target = resolve(name)
        small = steps(small_history, target, args.repeat)
        large = steps(history, target, args.repeat)
        for step in small:
            growth = large[step] / small[step] if small[step] else float("nan")
            print(f"{name:<16}{step:<14}{small[step] * 1000:>7.1f} ms{large[step] * 1000:>7.1f} ms{growth:>8.1f}x")


if __name__ == "__main__":
    main()
