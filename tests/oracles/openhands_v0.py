"""The judge for OpenHands V0: what openhands-ai 0.48.0 itself loads from a session folder or a
trajectory, and the messages CodeActAgent would send from it.

Runs in .oracles/openhands-v0 (Python 3.12, openhands-ai 0.48.0), never in the project's venv:

    .oracles/openhands-v0/bin/python tests/oracles/openhands_v0.py PATH [PATH...]

(OpenHands takes some 15 s to import: judge several paths in one run.) PATH is a V0 session
folder (`events/<n>.json`, maybe `event_cache/` pages) or a trajectory file (a JSON array of
events, or `{"trajectory": [...]}`). A folder is loaded as OpenHands loads it: an EventStream over
a LocalFileStore laid out as `sessions/<id>/events/<n>.json` (so stale `event_cache/` pages are
served first, as OpenHands serves them); a trajectory event by event with
`event_from_dict`. The agent's history is then filtered as the controller's StateTracker filters
it, viewed as the NoOp condenser views it, and turned into messages by
`ConversationMemory.process_events`, as CodeActAgent does before each LLM call.

Prints one JSON object per path (a list of them for several paths):
    events      how many events were loaded
    errors      [{"event", "error"}]: events OpenHands refused (it rejects fields it does not know)
    messages    [{"role", "tool_calls": [ids], "tool_call_id", "text"}] as sent
    unanswered  tool call ids of an assistant message not answered by the tool messages after it
    dropped     [{"event", "tool_call_id", "action"}]: tool-call actions no sent message carries (of
                those a condensation did not forget)
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LOG_LEVEL", "ERROR")
logging.disable(logging.WARNING)

SESSION_ID = "judged"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: openhands_v0.py PATH [PATH...]", file=sys.stderr)
        return 2
    reports = [report(Path(p)) for p in argv[1:]]
    print(json.dumps(reports[0] if len(reports) == 1 else reports))
    return 0


def report(path: Path) -> dict[str, Any]:
    events, errors = load_folder(path) if path.is_dir() else load_trajectory(path)
    out = judge(events)
    out["path"] = str(path)
    out["errors"] = errors
    return out


# --- loading, as OpenHands loads ----------------------------------------------------------------


def load_folder(folder: Path) -> tuple[list[Any], list[dict[str, Any]]]:
    """The events of a session folder through EventStream, as a resumed conversation reads them
    (a cache page before the event files). OpenHands stops on an event it cannot parse; here each
    id is asked for alone, so every such event is reported and the others still judged."""
    from openhands.events.stream import EventStream
    from openhands.storage.local import LocalFileStore

    events, errors = [], []
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "sessions").mkdir()
        os.symlink(folder.resolve(), Path(root) / "sessions" / SESSION_ID)
        stream = EventStream(SESSION_ID, LocalFileStore(root))
        for eid in range(stream.cur_id):
            try:
                events.extend(stream.search_events(start_id=eid, end_id=eid))
            except Exception as exc:  # noqa: BLE001  (any refusal is the finding)
                errors.append({"event": eid, "error": f"{type(exc).__name__}: {exc}"})
    return events, errors


def load_trajectory(path: Path) -> tuple[list[Any], list[dict[str, Any]]]:
    from openhands.events.serialization.event import event_from_dict

    value = json.loads(path.read_text())
    items = value["trajectory"] if isinstance(value, dict) else value
    events, errors = [], []
    for item in items:
        try:
            events.append(event_from_dict(dict(item)))
        except Exception as exc:  # noqa: BLE001
            errors.append(
                {"event": item.get("id") if isinstance(item, dict) else None, "error": f"{type(exc).__name__}: {exc}"}
            )
    return events, errors


# --- what CodeActAgent sends ------------------------------------------------------------------


def agent_history(events: list[Any]) -> list[Any]:
    """StateTracker's filter (no null/agent-state events, nothing hidden), then the NoOp
    condenser's View (condensations applied)."""
    from openhands.events.action import ChangeAgentStateAction, NullAction
    from openhands.events.event_filter import EventFilter
    from openhands.events.observation import AgentStateChangedObservation, NullObservation
    from openhands.memory.view import View

    keep = EventFilter(
        exclude_types=(NullAction, NullObservation, ChangeAgentStateAction, AgentStateChangedObservation),
        exclude_hidden=True,
    )
    return list(View.from_events([e for e in events if keep.include(e)]).events)


def sent_messages(history: list[Any], events: list[Any]) -> list[Any]:
    from openhands.agenthub.codeact_agent import codeact_agent
    from openhands.core.config.agent_config import AgentConfig
    from openhands.events.action import MessageAction
    from openhands.memory.conversation_memory import ConversationMemory
    from openhands.utils.prompt import PromptManager

    prompts = os.path.join(os.path.dirname(codeact_agent.__file__), "prompts")
    memory = ConversationMemory(AgentConfig(), PromptManager(prompt_dir=prompts))
    # CodeActAgent takes the initial user message from the whole history, condensed away or not.
    initial = next(
        (e for e in events if isinstance(e, MessageAction) and str(e.source) in ("user", "EventSource.USER")),
        MessageAction(content="(no user message)"),
    )
    return memory.process_events(condensed_history=list(history), initial_user_action=initial)


def judge(events: list[Any]) -> dict[str, Any]:
    from openhands.events.action import Action, AgentFinishAction

    history = agent_history(events)
    messages = sent_messages(history, events)
    out, unanswered, sent_calls = [], [], set()
    for k, message in enumerate(messages):
        calls = [c.id for c in message.tool_calls or []]
        sent_calls.update(calls)
        out.append(
            {
                "role": message.role,
                "tool_calls": calls,
                "tool_call_id": message.tool_call_id,
                "text": "".join(getattr(c, "text", "") or "" for c in message.content),
            }
        )
        if calls:
            answered = set()
            for later in messages[k + 1 :]:
                if later.role != "tool":
                    break
                answered.add(later.tool_call_id)
            unanswered.extend(c for c in calls if c not in answered)
    # Of the actions the agent still sends (a condensation forgets the others on purpose).
    dropped = [
        {"event": e.id, "tool_call_id": e.tool_call_metadata.tool_call_id, "action": e.action}
        for e in history
        if isinstance(e, Action)
        and not isinstance(e, AgentFinishAction)
        and e.tool_call_metadata is not None
        and e.tool_call_metadata.tool_call_id not in sent_calls
    ]
    return {"events": len(events), "messages": out, "unanswered": unanswered, "dropped": dropped}


if __name__ == "__main__":
    sys.exit(main(sys.argv))
