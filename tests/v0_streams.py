"""Broken OpenHands V0 event streams for the tests, made from the events of the fixture session
(tests/fixtures/formats/openhands-events: its system prompt, first user message, a `run` action and
its observation), so every event has the fields OpenHands 0.48.0 knows.

A stream is described by steps: ("user",) a message the user typed, or ("response", outcomes) one
LLM response with one tool call per outcome: "answered" (its observation right after the actions),
"late" (its observation after the next user message, as OpenHands appends it when the user typed
while it ran) or "missing" (no observation: the runtime died and an older OpenHands wrote none).

    events = stream([("user",), ("response", ("answered", "late")), ("user",)])
    doc = session(events)            # or trajectory(events): an in-memory Document
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from conversations.history.formats.document import Document

SESSION = Path(__file__).parent / "fixtures" / "formats" / "openhands-events"
OUTCOMES = ("answered", "late", "missing")
START = datetime(2025, 7, 14, 8, 2, 4)


def _fixture(eid: int) -> dict[str, Any]:
    return json.loads((SESSION / "events" / f"{eid}.json").read_text())


def stream(steps: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The events of these steps, after the fixture's system prompt, with ids 0, 1, 2..."""
    events: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []

    def add(event: dict[str, Any]) -> dict[str, Any]:
        event["id"] = len(events)
        event["timestamp"] = (START + timedelta(seconds=len(events))).isoformat()
        events.append(event)
        return event

    add(_fixture(0))
    for r, step in enumerate(steps):
        if step[0] == "user":
            add(_user(f"Message {r} from the user."))
            for observation in late:
                add(observation)
            late = []
            continue
        actions = [add(action) for action in _response(r, len(step[1]))]
        for action, outcome in zip(actions, step[1], strict=True):
            if outcome == "answered":
                add(_observation(action))
            elif outcome == "late":
                late.append(_observation(action))
    for observation in late:
        add(observation)
    return events


def _user(text: str) -> dict[str, Any]:
    event = _fixture(1)
    event["message"] = event["args"]["content"] = text
    return event


def _response(r: int, calls: int) -> list[dict[str, Any]]:
    template = _fixture(5)
    response = copy.deepcopy(template["tool_call_metadata"]["model_response"])
    response["id"] = f"chatcmpl-{r:04d}"
    message = response["choices"][0]["message"]
    message["content"] = f"Step {r}."
    message["tool_calls"] = [
        {
            "function": {"arguments": json.dumps({"command": f"echo {r}.{k}"}), "name": "execute_bash"},
            "id": f"toolu_{r:04d}_{k}",
            "type": "function",
        }
        for k in range(calls)
    ]
    actions = []
    for k in range(calls):
        action = copy.deepcopy(template)
        action["message"] = f"Running command: echo {r}.{k}"
        action["args"]["command"] = f"echo {r}.{k}"
        action["tool_call_metadata"] = {
            "function_name": "execute_bash",
            "tool_call_id": f"toolu_{r:04d}_{k}",
            "model_response": response,
            "total_calls_in_response": calls,
        }
        actions.append(action)
    return actions


def _observation(action: dict[str, Any]) -> dict[str, Any]:
    event = _fixture(6)
    command = action["args"]["command"]
    event["message"] = f"Command `{command}` executed with exit code 0."
    event["content"] = command.removeprefix("echo ")
    event["extras"]["command"] = command
    event["tool_call_metadata"] = copy.deepcopy(action["tool_call_metadata"])
    event["cause"] = action["id"]
    return event


def session(events: list[dict[str, Any]], name: str = "session") -> Document:
    files = {f"events/{e['id']}.json": json.dumps(e).encode("ascii") for e in events}
    return Document(name=name, files=files, is_dir=True)


def trajectory(events: list[dict[str, Any]], name: str = "trajectory.json") -> Document:
    return Document.from_bytes(name, json.dumps(events, indent=4).encode("ascii"))


def save(doc: Document, where: Path) -> Path:
    """The document on disk (a folder, or a file), for the judge to read."""
    if doc.is_dir:
        for name, data in doc.files.items():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            (where / name).write_bytes(data)
        return where
    name, data = doc.single
    where.mkdir(parents=True, exist_ok=True)
    (where / Path(name).name).write_bytes(data)
    return where / Path(name).name


# --- the hypothesis strategy -------------------------------------------------------------------

_responses = st.tuples(st.just("response"), st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=3).map(tuple))
_steps = st.one_of(st.just(("user",)), _responses)


@st.composite
def broken_streams(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Steps that start with a user message and break pairing somewhere (a late or a missing
    result), with parallel calls among them."""
    steps = [("user",), *draw(st.lists(_steps, min_size=1, max_size=6))]
    outcomes = [o for step in steps if step[0] == "response" for o in step[1]]
    if all(o == "answered" for o in outcomes):
        steps.append(("response", ("missing",)))
    return steps
