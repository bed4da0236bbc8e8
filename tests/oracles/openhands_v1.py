"""The OpenHands V1 judge: what openhands-sdk 1.58.2 itself makes of a conversation folder.

    .oracles/openhands-v1/bin/python tests/oracles/openhands_v1.py FOLDER [FOLDER...]

Runs in the SDK's own venv (Python 3.12, openhands-sdk + openhands-tools: see openhands-v1.txt).
It works on a copy of each FOLDER, because restoring a conversation makes the SDK save its state,
and prints one JSON object for one folder, a list of them for several (the SDK takes seconds to
import: judge many folders in one run):

    events_loaded       event files the SDK's EventLog holds (its contiguous index)
    validation_errors   [{"file", "error"}] for each event file the SDK's models refuse
    restore_error       why ConversationState.create could not restore it, or null
    active_branch       events on the branch from leaf_event_id back to the root
    dropped             [{"id", "kind", "file"}]: events of the branch's view that the View
                        properties (View.enforce_properties) drop: a defect of whoever wrote them
    messages            the messages the SDK would send, built as the agent builds them
                        (LLMConvertibleEvent.events_to_messages over the enforced view):
                        [{"role", "tool_calls": [ids], "tool_call_id", "thinking_blocks", "text"}]
    unanswered          tool call ids of an assistant message not answered by the tool
                        messages right after it
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

os.environ.setdefault("OPENHANDS_SUPPRESS_BANNER", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import openhands.tools  # noqa: E402,F401  (registers the tool action/observation kinds)
from openhands.sdk.context.view import View  # noqa: E402
from openhands.sdk.conversation.event_store import EventLog  # noqa: E402
from openhands.sdk.conversation.persistence_const import EVENT_NAME_RE, EVENTS_DIR  # noqa: E402
from openhands.sdk.conversation.state import ConversationState  # noqa: E402
from openhands.sdk.event import Event  # noqa: E402
from openhands.sdk.event.base import LLMConvertibleEvent  # noqa: E402
from openhands.sdk.io import LocalFileStore  # noqa: E402
from openhands.sdk.llm import TextContent  # noqa: E402
from openhands.sdk.workspace import LocalWorkspace  # noqa: E402


def validation_errors(folder: Path) -> list[dict[str, str]]:
    errors = []
    for path in sorted((folder / EVENTS_DIR).iterdir()):
        if not EVENT_NAME_RE.match(path.name):
            continue
        try:
            Event.model_validate_json(path.read_text(encoding="utf-8"))
        except Exception as exc:  # the SDK's own refusal, whatever its type
            errors.append({"file": f"events/{path.name}", "error": str(exc)[:2000]})
    return errors


def file_names(folder: Path) -> dict[str, str]:
    names = {}
    for path in (folder / EVENTS_DIR).iterdir():
        match = EVENT_NAME_RE.match(path.name)
        if match:
            names[match["event_id"]] = f"events/{path.name}"
    return names


def message_summary(message) -> dict:
    return {
        "role": message.role,
        "tool_calls": [call.id for call in message.tool_calls or []],
        "tool_call_id": message.tool_call_id,
        "thinking_blocks": len(message.thinking_blocks or []),
        "text": "".join(item.text for item in message.content if isinstance(item, TextContent)),
    }


def unanswered(messages) -> list[str]:
    missing = []
    for k, message in enumerate(messages):
        if message.role != "assistant" or not message.tool_calls:
            continue
        answered = set()
        for following in messages[k + 1 :]:
            if following.role != "tool":
                break
            answered.add(following.tool_call_id)
        missing.extend(call.id for call in message.tool_calls if call.id not in answered)
    return missing


def judge(folder: Path) -> dict:
    base = json.loads((folder / "base_state.json").read_text(encoding="utf-8"))
    report: dict = {
        "validation_errors": validation_errors(folder),
        "restore_error": None,
        "events_loaded": len(EventLog(LocalFileStore(str(folder)), dir_path=EVENTS_DIR)),
    }
    with tempfile.TemporaryDirectory() as workspace:
        try:
            state = ConversationState.create(
                id=uuid.UUID(base["id"]),
                agent=None,
                workspace=LocalWorkspace(working_dir=workspace),
                persistence_dir=str(folder),
                file_store=LocalFileStore(str(folder)),
            )
        except Exception as exc:
            report["restore_error"] = f"{type(exc).__name__}: {exc}"[:2000]
            return report
        branch = state.active_branch()
    report["active_branch"] = len(branch)
    # The view before and after the properties: what they drop is what the SDK silently loses.
    raw = View()
    for event in branch:
        raw.append_event(event)
    enforced = View.from_events(branch)
    kept = {event.id for event in enforced.events}
    names = file_names(folder)
    report["dropped"] = [
        {"id": e.id, "kind": type(e).__name__, "file": names.get(e.id)} for e in raw.events if e.id not in kept
    ]
    messages = LLMConvertibleEvent.events_to_messages(list(enforced.events))
    report["messages"] = [message_summary(m) for m in messages]
    report["unanswered"] = unanswered(messages)
    return report


def judge_copy(source: Path) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        # The SDK saves base_state.json while restoring: judge a copy, never the folder itself.
        copy = Path(scratch) / source.name
        shutil.copytree(source, copy, symlinks=True)
        return judge(copy)


def main() -> None:
    reports = [judge_copy(Path(arg)) for arg in sys.argv[1:]]
    json.dump(reports[0] if len(reports) == 1 else reports, sys.stdout)


if __name__ == "__main__":
    main()
