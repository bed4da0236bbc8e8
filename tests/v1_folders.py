"""OpenHands V1 conversation folders built in the tests, event by event, in the shapes
openhands-sdk 1.58.2 writes (each taken from the SDK-written fixture, tests/conftest.V1_FIXTURE),
so the SDK's own reader (tests/oracles/openhands_v1.py) loads them.

    log = V1Log()
    log.user("fix the tests")
    a, b = log.actions(["ls", "pwd"])          # one response, two parallel calls
    log.observation(a); log.observation(b)
    log.save()                                 # the SDK saves leaf_event_id at the end of a step
    log.actions(["make"])                      # then dies mid call: beyond the saved leaf
    doc = log.document()                       # or log.write(folder)

Events are appended as the SDK appends them: each tree event's parent is the current leaf;
a ConversationStateUpdateEvent gets the leaf as parent but does not move it.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from conversations.history.formats import Document
from tests.support import V1_FIXTURE

_BASE = json.loads((V1_FIXTURE / "base_state.json").read_bytes())
_SYSTEM = json.loads(next((V1_FIXTURE / "events").glob("event-00000-*.json")).read_bytes())
TOOLS = [t["title"] for t in _SYSTEM["tools"]]


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class V1Log:
    def __init__(self, *, system: bool = True):
        self.events: list[dict[str, Any]] = []
        self.leaf: str | None = None
        self.saved: str | None = None
        self.clock = datetime(2026, 12, 2, 9, 0, 0)
        self.responses = 0
        if system:
            self.append({**copy.deepcopy(_SYSTEM), "source": "agent"})

    # -- appending
    def append(self, data: dict[str, Any], *, node: bool = True, parent: str | None | bool = True) -> str:
        self.clock += timedelta(seconds=1)
        event = {"id": str(uuid.uuid4()), "timestamp": self.clock.isoformat(), "source": data.pop("source")}
        chosen = self.leaf if parent is True else parent
        if chosen is not None and chosen is not False:
            event["parent_id"] = chosen
        event.update(data)
        self.events.append(event)
        if node:
            self.leaf = event["id"]
        return event["id"]

    def save(self) -> None:
        """What the SDK persists as leaf_event_id at the end of an agent step."""
        self.saved = self.leaf

    def resume(self) -> None:
        """A new process loads the saved leaf: what it appends continues from there."""
        self.leaf = self.saved

    def user(self, text: str) -> str:
        return self.append(
            {
                "source": "user",
                "llm_message": {"role": "user", "content": [_text(text)], "thinking_blocks": []},
                "activated_skills": [],
                "extended_content": [],
                "kind": "MessageEvent",
            }
        )

    def agent(self, text: str) -> str:
        self.responses += 1
        return self.append(
            {
                "source": "agent",
                "llm_message": {"role": "assistant", "content": [_text(text)], "thinking_blocks": []},
                "llm_response_id": f"msg_{self.responses:04d}",
                "activated_skills": [],
                "extended_content": [],
                "kind": "MessageEvent",
            }
        )

    def actions(self, commands: list[str], *, thought: str = "", thinking: bool = False) -> list[str]:
        """One model response with a terminal call per command (parallel when several)."""
        self.responses += 1
        rid = f"msg_{self.responses:04d}"
        ids = []
        for k, command in enumerate(commands):
            call = f"toolu_{self.responses:04d}_{k}"
            first = k == 0
            data: dict[str, Any] = {
                "source": "agent",
                "thought": [_text(thought)] if first and thought else [],
                "thinking_blocks": [
                    {"type": "thinking", "thinking": f"thinking about {command}", "signature": "c2lnbmF0dXJl"}
                ]
                if first and thinking
                else [],
                "action": {"command": command, "is_input": False, "reset": False, "kind": "TerminalAction"},
                "tool_name": "terminal",
                "tool_call_id": call,
                "tool_call": {
                    "id": call,
                    "name": "terminal",
                    "arguments": json.dumps({"command": command, "summary": "run it", "security_risk": "LOW"}),
                    "origin": "completion",
                },
                "llm_response_id": rid,
                "security_risk": "UNKNOWN",
                "summary": "run it",
                "kind": "ActionEvent",
            }
            if first and thinking:
                data["reasoning_content"] = f"thinking about {command}"
            ids.append(self.append(data))
        return ids

    def observation(self, action_id: str, text: str = "ok", *, save_dir: str | None = None) -> str:
        action = self.event(action_id)
        command = action["action"]["command"]
        extra = {"full_output_save_dir": save_dir} if save_dir else {}
        return self.append(
            {
                "source": "environment",
                "tool_name": "terminal",
                "tool_call_id": action["tool_call_id"],
                "observation": {
                    "content": [_text(text)],
                    "is_error": False,
                    "command": command,
                    "exit_code": 0,
                    "timeout": False,
                    "metadata": {
                        "exit_code": 0,
                        "pid": -1,
                        "username": "root",
                        "hostname": "vm",
                        "working_dir": "/workspace/project",
                        "py_interpreter_path": "/usr/bin/python",
                        "prefix": "",
                        "suffix": "\n[The command completed with exit code 0.]",
                    },
                    **extra,
                    "kind": "TerminalObservation",
                },
                "action_id": action_id,
                "extended_content": [],
                "kind": "ObservationEvent",
            }
        )

    def error(self, action_id: str, text: str = "Tool call cancelled by interrupt.") -> str:
        action = self.event(action_id)
        return self.append(
            {
                "source": "agent",
                "tool_name": action["tool_name"],
                "tool_call_id": action["tool_call_id"],
                "error": text,
                "classification": {"kind": "agent_action", "retryable": True, "user_action": "retry"},
                "kind": "AgentErrorEvent",
            }
        )

    def state(self, key: str, value: Any) -> str:
        return self.append(
            {"source": "environment", "key": key, "value": value, "kind": "ConversationStateUpdateEvent"}, node=False
        )

    def pause(self) -> str:
        return self.append({"source": "user", "kind": "PauseEvent"})

    def condensation(self, forgotten: list[str], summary: str, offset: int) -> str:
        self.responses += 1
        return self.append(
            {
                "source": "environment",
                "forgotten_event_ids": forgotten,
                "summary": summary,
                "summary_offset": offset,
                "llm_response_id": f"msg_{self.responses:04d}",
                "kind": "Condensation",
            }
        )

    def event(self, event_id: str) -> dict[str, Any]:
        return next(e for e in self.events if e["id"] == event_id)

    # -- the folder
    def files(self, *, status: str = "finished", leaf: str | None | bool = True) -> dict[str, bytes]:
        """The folder's files: base_state.json (leaf_event_id: the saved leaf, else the current
        one; `leaf` overrides), the event files, the lock and the length marker."""
        base = copy.deepcopy(_BASE)
        base["execution_status"] = status
        chosen = (self.saved or self.leaf) if leaf is True else leaf
        if chosen is None or chosen is False:
            base.pop("leaf_event_id", None)
        else:
            base["leaf_event_id"] = chosen
        files = {"base_state.json": dumps(base), "events/.eventlog.lock": b""}
        for index, event in enumerate(self.events):
            files[f"events/event-{index:05d}-{event['id']}.json"] = dumps(event)
        files[f"events/.eventlog-len-{len(self.events)}.marker"] = b""
        return files

    def document(self, name: str = "conversation", **kw: Any) -> Document:
        return Document(name=name, files=self.files(**kw), is_dir=True)

    def write(self, folder: Path, **kw: Any) -> Path:
        return write_folder(folder, self.files(**kw))


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def _text(text: str) -> dict[str, Any]:
    return {"cache_prompt": False, "type": "text", "text": text}


def fixture_files() -> dict[str, bytes]:
    """The SDK-written conversation's files, as load_path reads them."""
    from conversations.history.formats import load_path

    return dict(load_path(V1_FIXTURE).files)


def without_last_observation(files: dict[str, bytes]) -> dict[str, bytes]:
    """The SDK-written conversation as a process that died while its last tool ran leaves it:
    its last ObservationEvent never written (the files after it move down one index, as the SDK
    would have numbered them) and leaf_event_id saved at the event before that action."""
    names = sorted(n for n in files if n.startswith("events/event-"))
    events = [json.loads(files[n]) for n in names]
    last = max(k for k, e in enumerate(events) if e["kind"] == "ObservationEvent")
    action = next(k for k, e in enumerate(events) if e["id"] == events[last]["action_id"])
    kept = [e for k, e in enumerate(events) if k != last]
    out = {n: d for n, d in files.items() if not n.startswith("events/")}
    out["events/.eventlog.lock"] = b""
    for index, (name, event) in enumerate(zip([n for k, n in enumerate(names) if k != last], kept, strict=True)):
        out[f"events/event-{index:05d}-{event['id']}.json"] = files[name]
    out[f"events/.eventlog-len-{len(kept)}.marker"] = b""
    base = files["base_state.json"].decode()
    leaf = json.loads(base)["leaf_event_id"]
    out["base_state.json"] = base.replace(
        f'"leaf_event_id":"{leaf}"', f'"leaf_event_id":"{events[action - 1]["id"]}"'
    ).encode()
    return out


def random_log(rng) -> V1Log:
    """A conversation as a run of the SDK can leave it: user and agent turns, parallel calls with
    results missing on the branch, pauses and state updates, and processes that died mid call
    (their actions, and maybe some results, beyond the saved leaf) before a new one went on."""
    log = V1Log()
    log.user("start")
    for step in range(rng.randint(1, 8)):
        kind = rng.choice(("user", "agent", "calls", "calls", "crash", "pause", "state"))
        if kind == "user":
            log.user(f"user says {step}")
        elif kind == "agent":
            log.agent(f"agent says {step}")
        elif kind == "pause":
            log.pause()
        elif kind == "state":
            log.state("execution_status", rng.choice(("idle", "finished")))
        else:
            crash = kind == "crash"
            if crash:
                log.save()
            commands = [f"cmd-{step}-{k}" for k in range(rng.randint(1, 3))]
            ids = log.actions(commands, thought=rng.choice(("", "Let me look.")), thinking=rng.random() < 0.3)
            for action in ids:
                if rng.random() < (0.4 if crash else 0.8):
                    log.observation(action, f"output of {log.event(action)['tool_call_id']}")
            if crash:
                log.resume()
    return log
