"""Real logs broken in their own shape, for the read-back property (tests/core/test_readback_logs.py):
a fixture of each format with a writer other than a request (a Claude Code transcript, an OpenHands
V0 event folder or trajectory, an OpenHands V1 conversation folder) with one to three breaks an
agent run can leave in it, each made as that tool writes its records:

    result gone     a tool result never written (the process died): Claude Code's result record,
                    V0's observation event, V1's ObservationEvent; what pointed at it points at
                    its parent, as if it had never been
    parallel call   one more call in a response, never answered: a tool_use record with the same
                    message.id, a V0 action sharing the model_response, a V1 ActionEvent sharing
                    the llm_response_id
    last call       a response whose call is the last thing written
    user typed      (V0) the user's message after a call whose result is gone or comes later
    abandoned       (V1) the last result gone and leaf_event_id saved before its action: the call
                    is off the branch
    cache marker    (Claude Code) cache_control on blocks, more than a request may carry
    empty text      (Claude Code) an empty or blank text block in a response

    doc = broken(rng)                   # any of them; or broken_claude_code(rng, path)...
    save(doc, tmp_path / "case-1")      # on disk, for the reader and the judges

Plain functions of a random.Random, so a hypothesis test draws them (st.randoms) and a judge test
replays a few seeds. Imports nothing from Django.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conversations.history.formats.document import Document, load_path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CLAUDE_CODE = (
    FIXTURES / "formats" / "claude-code-session.jsonl",
    FIXTURES / "real" / "claude-code-2.1.114-subagent" / "agent-a4ca7529859c158c2.jsonl",
    FIXTURES / "synthetic" / "finished-run-no-prefill.jsonl",
    FIXTURES / "synthetic" / "thinking-in-last-answer.jsonl",
    FIXTURES / "synthetic" / "whitespace-text-answered-twice.jsonl",
)
V0_FOLDER = FIXTURES / "formats" / "openhands-events"
V0_TRAJECTORIES = (
    FIXTURES / "formats" / "openhands-trajectory.json",
    FIXTURES / "real" / "openhands-trajectory-gpt4o" / "basic_interactions.json",
)
V1_FOLDER = FIXTURES / "formats" / "openhands-v1" / "4f7c2a9e1b3d4e8a9c6f2d5b8e1a7c30"
KINDS = ("claude-code", "openhands-folder", "openhands-trajectory", "openhands-v1")

Row = dict[str, Any]


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def broken(rng: random.Random, kind: str | None = None) -> Document:
    """A fixture of `kind` (default: any) with one to three breaks."""
    kind = kind or rng.choice(KINDS)
    if kind == "claude-code":
        return broken_claude_code(rng, rng.choice(CLAUDE_CODE))
    if kind == "openhands-folder":
        return broken_v0(rng, V0_FOLDER)
    if kind == "openhands-trajectory":
        return broken_v0(rng, rng.choice(V0_TRAJECTORIES))
    return broken_v1(rng)


def _times(rng: random.Random) -> int:
    return rng.randint(1, 3)


# --- Claude Code -------------------------------------------------------------------------------


def claude_code_rows(path: Path) -> list[Row]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def claude_code_document(name: str, rows: list[Row]) -> Document:
    data = "".join(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n" for row in rows)
    return Document.from_bytes(name, data.encode("utf-8"))


def broken_claude_code(rng: random.Random, path: Path) -> Document:
    rows = claude_code_rows(path)
    breaks: dict[str, Callable[[random.Random, list[Row]], None]] = {
        "result gone": _cc_result_gone,
        "parallel call": _cc_parallel_call,
        "last call": _cc_last_call,
        "cache marker": _cc_cache_marker,
        "empty text": _cc_empty_text,
    }
    for _ in range(_times(rng)):
        breaks[rng.choice(sorted(breaks))](rng, rows)
    return claude_code_document(path.name, rows)


def _content(row: Row) -> list[Any]:
    message = row.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, list) else []


def _with_block(rows: list[Row], kind: str, role: str) -> list[int]:
    return [
        k
        for k, row in enumerate(rows)
        if row.get("type") == role and any(isinstance(b, dict) and b.get("type") == kind for b in _content(row))
    ]


def without_record(rows: list[Row], k: int) -> None:
    """Remove record k; whatever named it as parent names its parent (it was never written)."""
    gone = rows.pop(k)
    for row in rows:
        if row.get("parentUuid") == gone.get("uuid"):
            row["parentUuid"] = gone.get("parentUuid")


def record_after(rows: list[Row], k: int, new: Row) -> None:
    """Record `new` written as the child of record k, taking over k's children (one chain)."""
    old = rows[k].get("uuid")
    for row in rows:
        if row.get("parentUuid") == old:
            row["parentUuid"] = new["uuid"]
    new["parentUuid"] = old
    rows.insert(k + 1, new)


def _cc_call_record(rng: random.Random, template: Row, message_id: str) -> Row:
    row = copy.deepcopy(template)
    row["uuid"] = new_id(rng)
    row["message"]["id"] = message_id
    row["message"]["content"] = [
        {
            "type": "tool_use",
            "id": f"toolu_broken_{rng.getrandbits(40):010x}",
            "name": "Bash",
            "input": {"command": f"ls /tmp/{rng.randint(0, 99)}", "description": "List a folder"},
        }
    ]
    row["message"]["stop_reason"] = "tool_use"
    return row


def _cc_result_gone(rng: random.Random, rows: list[Row]) -> None:
    found = _with_block(rows, "tool_result", "user")
    if found:
        without_record(rows, rng.choice(found))


def _cc_parallel_call(rng: random.Random, rows: list[Row]) -> None:
    found = _with_block(rows, "tool_use", "assistant")
    if found:
        k = rng.choice(found)
        record_after(rows, k, _cc_call_record(rng, rows[k], rows[k]["message"]["id"]))


def _cc_last_call(rng: random.Random, rows: list[Row]) -> None:
    assistants = [k for k, row in enumerate(rows) if row.get("type") == "assistant"]
    leaf = max((k for k, row in enumerate(rows) if row.get("uuid")), default=None)
    if not assistants or leaf is None:
        return
    new = _cc_call_record(rng, rows[assistants[-1]], f"msg_broken_{rng.getrandbits(40):010x}")
    new["parentUuid"] = rows[leaf]["uuid"]
    rows.append(new)


def _cc_cache_marker(rng: random.Random, rows: list[Row]) -> None:
    blocks = [
        b for row in rows if row.get("type") in ("user", "assistant") for b in _content(row) if isinstance(b, dict)
    ]
    for block in rng.sample(blocks, min(len(blocks), rng.randint(1, 6))):
        block["cache_control"] = {"type": "ephemeral"}


def _cc_empty_text(rng: random.Random, rows: list[Row]) -> None:
    found = [k for k, row in enumerate(rows) if row.get("type") == "assistant" and _content(row)]
    if found:
        _content(rows[rng.choice(found)]).append({"type": "text", "text": rng.choice(("", " ", "\n\n"))})


# --- OpenHands V0 ------------------------------------------------------------------------------


def broken_v0(rng: random.Random, path: Path) -> Document:
    """The V0 event folder or a trajectory with breaks. A folder's events are numbered 0..n-1
    again after (OpenHands reads events/<n>.json for each n in turn); a trajectory keeps its ids."""
    doc = load_path(path)
    if doc.is_dir:
        events = [json.loads(data) for name, data in doc.files.items() if name.startswith("events/")]
    else:
        loaded = json.loads(doc.single[1])
        events = loaded["trajectory"] if isinstance(loaded, dict) else loaded
    events.sort(key=lambda e: e["id"])
    breaks: dict[str, Callable[[random.Random, list[Row]], None]] = {
        "result gone": _v0_result_gone,
        "parallel call": _v0_parallel_call,
        "last call": _v0_last_call,
        "user typed": _v0_user_typed,
    }
    for _ in range(_times(rng)):
        breaks[rng.choice(sorted(breaks))](rng, events)
    if not doc.is_dir:
        return Document.from_bytes(path.name, json.dumps(events, indent=2).encode("utf-8"))
    numbers = {e["id"]: n for n, e in enumerate(events)}
    for event in events:
        event["id"] = numbers[event["id"]]
        if "cause" in event and event["cause"] is not None:
            event["cause"] = numbers.get(event["cause"])
    files = {name: data for name, data in doc.files.items() if not name.startswith("events/")}
    files.update({f"events/{e['id']}.json": json.dumps(e).encode("utf-8") for e in events})
    return Document(name=doc.name, files=files, is_dir=True)


def _v0_calls(events: list[Row]) -> list[int]:
    return [
        k for k, e in enumerate(events) if "action" in e and (e.get("tool_call_metadata") or {}).get("tool_call_id")
    ]


def _v0_results(events: list[Row]) -> list[int]:
    return [
        k
        for k, e in enumerate(events)
        if "observation" in e and e.get("cause") is not None and e.get("tool_call_metadata")
    ]


def _v0_next_id(events: list[Row]) -> int:
    return max(e["id"] for e in events) + 1


def _v0_result_gone(rng: random.Random, events: list[Row]) -> None:
    found = _v0_results(events)
    if found:
        del events[rng.choice(found)]


def _v0_call(rng: random.Random, template: Row, eid: int, response: dict[str, Any]) -> Row:
    """An action like `template` (its fields, its metadata) for a new call of `response`, which
    gains the call in its tool_calls."""
    action = copy.deepcopy(template)
    call_id = f"toolu_broken_{rng.getrandbits(40):010x}"
    command = f"ls /tmp/{rng.randint(0, 99)}"
    call = {"function": {"arguments": json.dumps({"command": command}), "name": "execute_bash"}, "id": call_id}
    response["choices"][0]["message"]["tool_calls"].append({**call, "type": "function"})
    action["tool_call_metadata"].update(function_name="execute_bash", tool_call_id=call_id, model_response=response)
    action.update(id=eid, action="run", message=f"Running command: {command}")
    action["args"] = {"command": command, "is_input": False, "thought": "", "blocking": False, "is_static": False}
    action["args"].update(cwd=None, hidden=False, confirmation_state="confirmed", security_risk=-1)
    action.pop("cause", None)
    return action


def _v0_response(events: list[Row], response: dict[str, Any]) -> None:
    """Every action of `response` carries it as it now is, and its count of calls."""
    calls = len(response["choices"][0]["message"]["tool_calls"])
    for event in events:
        metadata = event.get("tool_call_metadata") or {}
        if (metadata.get("model_response") or {}).get("id") == response["id"]:
            metadata.update(model_response=copy.deepcopy(response), total_calls_in_response=calls)


def _v0_template(rng: random.Random, events: list[Row]) -> Row | None:
    found = [
        k for k in _v0_calls(events) if (events[k]["tool_call_metadata"].get("model_response") or {}).get("choices")
    ]
    return events[rng.choice(found)] if found else None


def _v0_parallel_call(rng: random.Random, events: list[Row]) -> None:
    template = _v0_template(rng, events)
    if template is None:
        return
    response = copy.deepcopy(template["tool_call_metadata"]["model_response"])
    response["choices"][0]["message"].setdefault("tool_calls", [])
    new = _v0_call(rng, template, _v0_next_id(events), response)
    events.insert(events.index(template) + 1, new)
    _v0_response(events, response)


def _v0_last_call(rng: random.Random, events: list[Row]) -> None:
    template = _v0_template(rng, events)
    if template is None:
        return
    response = copy.deepcopy(template["tool_call_metadata"]["model_response"])
    response["id"] = f"chatcmpl-broken-{rng.getrandbits(40):010x}"
    response["choices"][0]["message"]["tool_calls"] = []
    events.append(_v0_call(rng, template, _v0_next_id(events), response))
    _v0_response(events, response)


def _v0_user_typed(rng: random.Random, events: list[Row]) -> None:
    """The user's message right after a call; its result, when it had one, comes after it (late)."""
    found = _v0_calls(events)
    users = [e for e in events if e.get("source") == "user" and e.get("action") == "message"]
    if not found or not users:
        return
    k = rng.choice(found)
    user = copy.deepcopy(users[0])
    user["id"] = _v0_next_id(events)
    user["message"] = user["args"]["content"] = "Also check the README, please."
    events.insert(k + 1, user)


# --- OpenHands V1 ------------------------------------------------------------------------------


def v1_events() -> tuple[list[Row], Row]:
    """The V1 fixture's events in index order, and its base state."""
    doc = load_path(V1_FOLDER)
    events = [json.loads(data) for name, data in sorted(doc.files.items()) if name.startswith("events/event-")]
    return events, json.loads(doc.files["base_state.json"])


def v1_document(events: list[Row], state: Row) -> Document:
    """The V1 fixture's folder holding these events (numbered again from 0) and this state."""
    doc = load_path(V1_FOLDER)
    files = {name: data for name, data in doc.files.items() if not name.startswith("events/event-")}
    files["base_state.json"] = json.dumps(state, indent=2).encode("utf-8")
    files.update(
        {f"events/event-{n:05d}-{e['id']}.json": json.dumps(e, indent=2).encode() for n, e in enumerate(events)}
    )
    return Document(name=doc.name, files=files, is_dir=True)


def broken_v1(rng: random.Random) -> Document:
    events, state = v1_events()
    breaks: dict[str, Callable[[random.Random, list[Row], Row], None]] = {
        "result gone": _v1_result_gone,
        "parallel call": _v1_parallel_call,
        "last call": _v1_last_call,
        "abandoned": _v1_abandoned,
    }
    for _ in range(_times(rng)):
        breaks[rng.choice(sorted(breaks))](rng, events, state)
    return v1_document(events, state)


def _v1_of_kind(events: list[Row], kind: str) -> list[int]:
    return [k for k, e in enumerate(events) if e.get("kind") == kind]


def v1_without_event(events: list[Row], state: Row, k: int) -> None:
    gone = events.pop(k)
    for event in events:
        if event.get("parent_id") == gone["id"]:
            event["parent_id"] = gone.get("parent_id")
    if state.get("leaf_event_id") == gone["id"]:
        state["leaf_event_id"] = gone.get("parent_id")


def _v1_call(rng: random.Random, template: Row, response_id: str) -> Row:
    action = copy.deepcopy(template)
    call_id = f"toolu_broken_{rng.getrandbits(40):010x}"
    action.update(id=new_id(rng), tool_call_id=call_id, llm_response_id=response_id)
    action["tool_call"] = {**action["tool_call"], "id": call_id}
    return action


def _v1_result_gone(rng: random.Random, events: list[Row], state: Row) -> None:
    found = _v1_of_kind(events, "ObservationEvent")
    if found:
        v1_without_event(events, state, rng.choice(found))


def _v1_parallel_call(rng: random.Random, events: list[Row], state: Row) -> None:
    found = _v1_of_kind(events, "ActionEvent")
    if not found:
        return
    k = rng.choice(found)
    new = _v1_call(rng, events[k], events[k]["llm_response_id"])
    new["thought"], new["thinking_blocks"] = [], []  # the response's thought is on its first call
    new.pop("reasoning_content", None)
    for event in events:
        if event.get("parent_id") == events[k]["id"]:
            event["parent_id"] = new["id"]
    if state.get("leaf_event_id") == events[k]["id"]:
        state["leaf_event_id"] = new["id"]
    new["parent_id"] = events[k]["id"]
    events.insert(k + 1, new)


def _v1_last_call(rng: random.Random, events: list[Row], state: Row) -> None:
    found = _v1_of_kind(events, "ActionEvent")
    if not found or not state.get("leaf_event_id"):
        return
    new = _v1_call(rng, events[rng.choice(found)], f"msg_broken_{rng.getrandbits(40):010x}")
    new["parent_id"] = state["leaf_event_id"]
    state["leaf_event_id"] = new["id"]
    events.append(new)


def _v1_abandoned(rng: random.Random, events: list[Row], state: Row) -> None:
    """The SDK wrote an action and died before its result; the saved leaf is the event before it."""
    observations = _v1_of_kind(events, "ObservationEvent")
    if not observations:
        return
    k = observations[-1]
    action_id = events[k].get("action_id")
    v1_without_event(events, state, k)
    action = next((e for e in events if e["id"] == action_id), None)
    if action is not None:
        state["leaf_event_id"] = action.get("parent_id")
