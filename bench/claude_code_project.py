"""A generated Claude Code project folder for the ingest benchmark (bench/ingest.py).

    write_project(folder, sessions=50, records=2000, subagents=2, subagent_records=500) -> bytes written

Laid out as Claude Code 2.1 writes it (docs/formats.md s.2): `<session>.jsonl` per session, and per
subagent `<session>/subagents/agent-<id>.jsonl` with its `agent-<id>.meta.json` sidecar. Records
follow the real 2.1.114 subagent in tests/fixtures/real/: one record per content block, parallel
tool calls chained with each result on its own tool_use record (so most results sit on side
branches), `toolUseResult`, `sourceToolAssistantUUID`, usage repeated on each record of a response,
a `file-history-snapshot` now and then. About 1.5 KB a record, as in real sessions: 2,000 records
make about 3 MB.
"""

from __future__ import annotations

import json
import random
import uuid as uuidlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_LINE = "src/inventory/service.py:{n}:    total = sum(item.quantity for item in order.items)  # TODO\n"


class _Writer:
    def __init__(self, rng: random.Random, session_id: str, agent_id: str | None):
        self.rng = rng
        self.session_id = session_id
        self.agent_id = agent_id
        self.rows: list[str] = []
        self.tip: str | None = None
        self.clock = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)
        self.count = 0

    def _uuid(self) -> str:
        return str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))

    def record(self, rtype: str, message: dict[str, Any], parent: str | None, **extra: Any) -> dict[str, Any]:
        self.clock += timedelta(milliseconds=self.rng.randint(5, 4000))
        row: dict[str, Any] = {
            "parentUuid": parent,
            "isSidechain": self.agent_id is not None,
            "userType": "external",
            "cwd": "/Users/ana/src/shop-api",
            "sessionId": self.session_id,
            "version": "2.1.114",
            "gitBranch": "main",
        }
        if self.agent_id:
            row["agentId"] = self.agent_id
        row.update(type=rtype, message=message, **extra)
        row["uuid"] = self._uuid()
        row["timestamp"] = self.clock.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.clock.microsecond // 1000:03d}Z"
        self.rows.append(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
        self.tip = row["uuid"]
        return row

    def assistant(self, mid: str, block: dict[str, Any], usage: dict[str, Any], stop: str | None) -> dict[str, Any]:
        message = {
            "model": "claude-opus-4-7",
            "id": mid,
            "type": "message",
            "role": "assistant",
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        return self.record("assistant", message, self.tip, requestId="req_" + mid[4:])

    def output(self, call: int) -> str:
        kind = self.rng.random()
        lines = (
            self.rng.randint(1, 3)
            if kind < 0.45
            else self.rng.randint(6, 18)
            if kind < 0.92
            else self.rng.randint(30, 60)
        )
        return "".join(_LINE.format(n=call * 7 + k) for k in range(lines))


def session(seed: int, records: int, session_id: str, agent_id: str | None, agents: list[str]) -> bytes:
    """One session (or, with agent_id, one subagent) of about `records` records; its first response
    starts the `agents` subagents, their results naming each one's agentId."""
    rng = random.Random(seed)
    w = _Writer(rng, session_id, agent_id)
    w.record("user", {"role": "user", "content": f"Task {seed}: find why the build fails and fix it."}, None)
    turn = 0
    read_so_far = 1000
    while len(w.rows) < records:
        turn += 1
        mid = f"msg_{seed:06d}{turn:08d}{rng.getrandbits(32):08x}"
        usage = {
            "input_tokens": rng.randint(1, 50),
            "cache_creation_input_tokens": rng.randint(100, 3000),
            "cache_read_input_tokens": read_so_far,
            "output_tokens": rng.randint(50, 900),
            "service_tier": "standard",
        }
        read_so_far += usage["cache_creation_input_tokens"]
        if rng.random() < 0.4:
            w.assistant(
                mid, {"type": "text", "text": "Let me look at the files involved. " * rng.randint(1, 6)}, usage, None
            )
        if turn == 1 and agents:
            names = [("Agent", a) for a in agents]
        else:
            names = [("Bash", None)] * rng.choice((1, 1, 2, 3))
        calls = []
        for k, (name, agent) in enumerate(names):
            tool_id = f"toolu_{seed:04d}{turn:06d}{k}{rng.getrandbits(40):010x}"
            given = (
                {"description": f"Research part {agent}", "prompt": "Look into it. " * 20, "subagent_type": "general"}
                if agent
                else {"command": f"grep -rn 'TODO {tool_id}' src/ | head -50", "description": "Search the sources"}
            )
            row = w.assistant(mid, {"type": "tool_use", "id": tool_id, "name": name, "input": given}, usage, "tool_use")
            calls.append((row, tool_id, agent))
        for row, tool_id, agent in reversed(calls):  # each on its own tool_use record
            text = w.output(turn) if agent is None else "Research done. " * 40
            result = {"stdout": text, "stderr": "", "interrupted": False, "isImage": False}
            if agent is not None:
                result = {"status": "completed", "prompt": "Look into it.", "agentId": agent, "content": []}
            block = {"tool_use_id": tool_id, "type": "tool_result", "content": text, "is_error": False}
            w.record(
                "user",
                {"role": "user", "content": [block]},
                row["uuid"],
                toolUseResult=result,
                sourceToolAssistantUUID=row["uuid"],
            )
        if turn % 25 == 0:
            snapshot = {"messageId": w.tip, "trackedFileBackups": {}, "timestamp": "2026-04-20T09:00:00.000Z"}
            w.rows.append(json.dumps({"type": "file-history-snapshot", "messageId": w.tip, "snapshot": snapshot}))
    w.assistant(f"msg_{seed:06d}final", {"type": "text", "text": "The build passes now."}, usage, "end_turn")
    return ("\n".join(w.rows) + "\n").encode()


def write_project(
    folder: Path, *, sessions: int = 50, records: int = 2000, subagents: int = 2, subagent_records: int = 500
) -> int:
    """The project folder; the bytes of its logs."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for k in range(sessions):
        rng = random.Random(10_000 + k)
        session_id = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        agents = [f"a{rng.getrandbits(64):016x}" for _ in range(subagents)]
        data = session(k, records, session_id, None, agents)
        (folder / f"{session_id}.jsonl").write_bytes(data)
        total += len(data)
        where = folder / session_id / "subagents"
        where.mkdir(parents=True)
        for j, agent in enumerate(agents):
            data = session(1_000_000 + k * 10 + j, subagent_records, session_id, agent, [])
            (where / f"agent-{agent}.jsonl").write_bytes(data)
            meta = {"agentType": "general-purpose", "description": f"Research part {agent}"}
            (where / f"agent-{agent}.meta.json").write_text(json.dumps(meta))
            total += len(data)
    return total
