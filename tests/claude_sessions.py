"""Synthetic Claude Code 2.x sessions, built record by record in the tests that need a shape the real
fixtures (tests/fixtures/real/, tests/fixtures/formats/) lack.

SYNTHETIC: every record here is written by these helpers. Their shape follows the real 2.1.114
subagent in tests/fixtures/real/claude-code-2.1.114-subagent/ (field names, `message` envelope,
`toolUseResult`, `sourceToolAssistantUUID`, each parallel result parented on its own tool_use
record) and docs/formats.md s.2; bookkeeping records follow claude-code-log 1.7.0's models
(`custom-title` with `customTitle`, `ai-title` with `aiTitle`, `summary` with `leafUuid`,
`system` `compact_boundary` with `compactMetadata`).

    s = Session()
    s.prompt("fix the build")
    t1 = s.call("msg_1", "toolu_1")            # tool_use records of one response, chained
    t2 = s.call("msg_1", "toolu_2")
    s.result("toolu_2", t2)                     # each result on its own tool_use record
    s.result("toolu_1", t1)                     # the conversation goes on from the last one
    s.text("msg_2", "done")
    doc = s.doc()
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from conversations.history.formats import Document

SESSION = "5b2c9d41-0f3e-4a7b-9c1d-2e8f6a0b4c37"
MODEL = "claude-sonnet-4-5-20250929"
_TIP = object()


def usage(input: int = 3, output: int = 20, cache_write: int = 100, cache_read: int = 1000) -> dict[str, Any]:
    return {
        "input_tokens": input,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output,
        "service_tier": "standard",
    }


class Session:
    def __init__(
        self,
        *,
        session_id: str = SESSION,
        version: str = "2.1.114",
        agent_id: str | None = None,
        model: str = MODEL,
        seed: int = 0,
    ):
        self.session_id = session_id
        self.version = version
        self.agent_id = agent_id
        self.model = model
        self.rows: list[dict[str, Any]] = []
        self.tip: str | None = None
        self._count = seed * 100_000
        self._clock = datetime(2026, 4, 20, 10, 0, tzinfo=UTC)

    # -- plumbing
    def _uuid(self) -> str:
        self._count += 1
        return f"{self._count:08x}-7c4e-4b1a-9e0d-{self._count:012x}"

    def _stamp(self) -> str:
        self._clock += timedelta(milliseconds=731)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self._clock.microsecond // 1000:03d}Z"

    def record(self, rtype: str, message: dict[str, Any], parent: Any = _TIP, **extra: Any) -> dict[str, Any]:
        """A user or assistant record parented on `parent` (default: the last record written)."""
        row: dict[str, Any] = {
            "parentUuid": self.tip if parent is _TIP else parent,
            "isSidechain": self.agent_id is not None,
            "userType": "external",
            "cwd": "/Users/ana/src/shop-api",
            "sessionId": self.session_id,
            "version": self.version,
            "gitBranch": "main",
        }
        if self.agent_id is not None:
            row["agentId"] = self.agent_id
        row["type"] = rtype
        row["message"] = message
        row.update(extra)
        row["uuid"] = self._uuid()
        row["timestamp"] = self._stamp()
        self.rows.append(row)
        self.tip = row["uuid"]
        return row

    def raw(self, row: dict[str, Any]) -> dict[str, Any]:
        """A record written as given (bookkeeping records have no chain fields of their own)."""
        self.rows.append(row)
        return row

    # -- turns
    def prompt(self, content: Any, parent: Any = _TIP, **extra: Any) -> dict[str, Any]:
        return self.record("user", {"role": "user", "content": content}, parent, **extra)

    def block(
        self,
        mid: str,
        block: dict[str, Any],
        parent: Any = _TIP,
        *,
        spent: dict[str, Any] | None = None,
        stop_reason: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        message = {
            "model": self.model,
            "id": mid,
            "type": "message",
            "role": "assistant",
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": spent if spent is not None else usage(),
        }
        return self.record("assistant", message, parent, requestId=f"req_{mid[4:]}", **extra)

    def text(self, mid: str, text: str, parent: Any = _TIP, **kw: Any) -> dict[str, Any]:
        return self.block(mid, {"type": "text", "text": text}, parent, **kw)

    def call(
        self, mid: str, tool_id: str, name: str = "Bash", input: Any = None, parent: Any = _TIP, **kw: Any
    ) -> dict[str, Any]:
        block = {"type": "tool_use", "id": tool_id, "name": name, "input": input or {"command": f"run {tool_id}"}}
        return self.block(mid, block, parent, **kw)

    def result(
        self,
        tool_id: str,
        holder: dict[str, Any],
        content: str | None = None,
        parent: Any = None,
        *,
        is_error: bool = False,
        tool_use_result: Any = None,
    ) -> dict[str, Any]:
        """The result of `tool_id`, parented on the record `holder` of its call (or on `parent`),
        naming that record in sourceToolAssistantUUID as Claude Code 2.x does."""
        text = content if content is not None else f"output of {tool_id}"
        block = {"tool_use_id": tool_id, "type": "tool_result", "content": text, "is_error": is_error}
        return self.record(
            "user",
            {"role": "user", "content": [block]},
            holder["uuid"] if parent is None else parent,
            toolUseResult=tool_use_result if tool_use_result is not None else {"stdout": text, "stderr": ""},
            sourceToolAssistantUUID=holder["uuid"],
        )

    # -- output
    def lines(self) -> list[bytes]:
        return [json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode() for r in self.rows]

    def data(self) -> bytes:
        return b"\n".join(self.lines()) + b"\n"

    def doc(self, name: str = f"{SESSION}.jsonl") -> Document:
        return Document.from_bytes(name, self.data())


def parallel_turn(s: Session, mid: str, ids: list[str], *, order: list[int] | None = None) -> list[dict[str, Any]]:
    """A response of parallel calls as Claude Code 2.x writes it: the tool_use records chained, each
    result on its own tool_use record, in `order` (default: reversed, so the chain goes on from the
    first call's result and the others hang on side branches)."""
    calls = [s.call(mid, tool_id) for tool_id in ids]
    results = []
    for k in order if order is not None else range(len(ids) - 1, -1, -1):
        results.append(s.result(ids[k], calls[k]))
    return calls + results


def one_walk(data: bytes) -> set[int]:
    """The lines a resume that walks parentUuid back from the newest user or assistant record sees
    (what Claude Code's own resume does, at least up to the versions of anthropics/claude-code#31330);
    a record written twice is seen on both its lines."""
    rows = [(n, json.loads(line)) for n, line in enumerate(data.split(b"\n"), start=1) if line.strip()]
    by_uuid = {row["uuid"]: row for _, row in rows if "uuid" in row}
    current = max(((n, row) for n, row in rows if row.get("type") in ("user", "assistant")), key=lambda x: x[0])[1]
    visited: set[str] = set()
    while current["uuid"] not in visited:
        visited.add(current["uuid"])
        if current.get("parentUuid") not in by_uuid:
            break
        current = by_uuid[current["parentUuid"]]
    return {n for n, row in rows if row.get("uuid") in visited}


def empty_last_response() -> bytes:
    """A prompt answered by an empty text block (a response with nothing in it, as Claude Code
    records one). Anthropic rejects the empty text; its repair removes the block, and the Claude
    Code writer cannot keep an assistant message with nothing in it: the written session reads
    back one message short, which nothing may write (conversations.history.readback)."""
    s = Session(model="claude-sonnet-4-5")
    s.prompt("Say something.")
    s.text("msg_01", "", stop_reason="end_turn")
    return s.data()


AGENT_CALL = "toolu_01Agent000000000000000001"


def agent_parent_session(session_id: str, agent_id: str) -> bytes:
    """A main session that starts the subagent `agent_id` with an Agent call whose result names
    its agentId, as Claude Code 2.1 writes it (the real parent of the 2.1.114 subagent in
    tests/fixtures/real/ is not public)."""
    s = Session(session_id=session_id, model="claude-opus-4-7")
    s.prompt("Research how plan mode works, in a worktree.")
    call = s.call(
        "msg_01",
        AGENT_CALL,
        "Agent",
        {"description": "Research Claude Code plan mode", "prompt": "You are **alice**...", "subagent_type": "general"},
    )
    s.result(
        AGENT_CALL,
        call,
        "Round 1 complete.",
        tool_use_result={"status": "completed", "agentId": agent_id, "content": [{"type": "text", "text": "Round 1"}]},
    )
    s.text("msg_02", "alice finished round 1.", stop_reason="end_turn")
    return s.data()
