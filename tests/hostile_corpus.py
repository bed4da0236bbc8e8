"""A hostile corpus, written at test time (never committed): inputs shaped to make a reader, the
checker, the repair engine or a page run for minutes. Each file is at most 20 MB.

    python tests/hostile_corpus.py FOLDER      # writes the files, prints their names and sizes

Used by tests/test_hostile_corpus.py (the hang guard of issue 16)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

SIZE_MAX = 20 * 1024 * 1024
# Pasted into "Explain a provider error": patterns that once backtracked over a 20 KB text.
EXPLAIN_PASTE = "litellm.BadRequestError: AnthropicException - " + ("messages.0.content.0: " + "1" * 40 + " . ") * 1_000


def _request(messages: list[dict], **extra: object) -> dict:
    return {"model": "anthropic/claude-sonnet-4-5", "messages": messages, **extra}


def _call(k: int) -> dict:
    return {"id": f"call_{k:06d}", "type": "function", "function": {"name": "ls", "arguments": "{}"}}


def deep_nesting() -> dict:
    """A tool call whose arguments nest 5,000 deep, and a content part list inside a list."""
    arguments = "[" * 5_000 + "]" * 5_000
    nested: object = "bottom"
    for _ in range(500):
        nested = {"n": nested}
    return _request(
        [
            {"role": "user", "content": [{"type": "text", "text": "nested"}]},
            {"role": "assistant", "tool_calls": [{**_call(0), "function": {"name": "ls", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "call_000000", "content": json.dumps(nested)},
        ]
    )


def deeper_than_any_parser() -> str:
    """JSON nested 200,000 deep: no reader can take it; it must be refused, not crash."""
    return '{"messages": ' + "[" * 200_000 + "]" * 200_000 + "}"


def ten_mb_string() -> dict:
    return _request([{"role": "user", "content": "x" * (10 * 1024 * 1024)}, {"role": "assistant", "content": "ok"}])


def tiny_messages() -> dict:
    roles = ("user", "assistant")
    return _request([{"role": roles[k % 2], "content": str(k)} for k in range(200_000)])


def unanswered_calls() -> dict:
    return _request(
        [{"role": "user", "content": "list"}, {"role": "assistant", "tool_calls": [_call(k) for k in range(20_000)]}]
    )


def brackets() -> dict:
    """50 messages of "[" x 99,999 (once 111 s a page view)."""
    roles = ("user", "assistant")
    return _request([{"role": roles[k % 2], "content": "[" * 99_999 + str(k)} for k in range(50)])


def cache_markers() -> dict:
    """5,000 messages, each with a cache marker (a provider takes 4)."""
    roles = ("user", "assistant")
    return _request(
        [
            {
                "role": roles[k % 2],
                "content": [{"type": "text", "text": f"turn {k}", "cache_control": {"type": "ephemeral"}}],
            }
            for k in range(5_000)
        ]
    )


def long_lines() -> dict:
    """A tool result of one 5 MB line, and a message of 100,000 short lines."""
    return _request(
        [
            {"role": "user", "content": "run it"},
            {"role": "assistant", "tool_calls": [_call(1)]},
            {"role": "tool", "tool_call_id": "call_000001", "content": "a " * (2_500_000)},
            {"role": "assistant", "content": "line\n" * 100_000},
        ]
    )


def explain_error() -> dict:
    """A log whose own error is the hostile paste (the page explains it on every view)."""
    return _request([{"role": "user", "content": "hi"}], error=EXPLAIN_PASTE)


CORPUS: dict[str, Callable[[], object]] = {
    "deep-nesting.json": deep_nesting,
    "deeper-than-any-parser.json": deeper_than_any_parser,
    "ten-mb-string.json": ten_mb_string,
    "tiny-messages.json": tiny_messages,
    "unanswered-calls.json": unanswered_calls,
    "brackets.json": brackets,
    "cache-markers.json": cache_markers,
    "long-lines.json": long_lines,
    "explain-error.json": explain_error,
}


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in CORPUS.items():
        value = build()
        path = folder / name
        path.write_text(value if isinstance(value, str) else json.dumps(value))
        assert path.stat().st_size <= SIZE_MAX, name
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write(Path(sys.argv[1])):
        print(f"{written.name:32} {written.stat().st_size:>12,}")
