"""History -> an OpenHands V1 folder, as the SDK itself would have appended to it.

The conversation is the branch from leaf_event_id back to the root, so a history is written as
a new branch: the events its messages come from, in the history's order, each one's parent the
event before it. Nothing is ever deleted (the SDK's index must stay contiguous): an event the
history no longer holds simply stays off the branch. What changes on disk:
  - new events (a synthetic result, a new message): a new file each, named with the next index
    (5 digits minimum), a new uuid4 id, `parent_id` = the event it follows on the branch;
  - an existing event that now follows another one (an abandoned action put back on the branch,
    the event after an inserted result): its `parent_id`, and nothing else;
  - base_state.json: `leaf_event_id`, and nothing else (byte for byte elsewhere when possible);
  - the length marker, renamed to the new count as EventLog._advance_length_marker does.
Events that carry no message (state updates, pauses, condensations, forgotten events) keep
their place after the event they followed.

The result is read back before it is returned: a history this format cannot hold (a changed
text, a new tool call) is refused with what would read back differently, never written.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import FormatError
from ..model import Block, History, Message
from .document import Document
from .openhands_v1_log import ROOT_PARENT_ID, Event, Log, load, marker_of
from .openhands_v1_read import CONDENSATION, Reading, build
from .v1_layout import BASE_STATE, event_file_name, marker_name

# What openhands-sdk 1.58.2 writes for a call a paused or interrupted run left unanswered
# (LocalConversation._emit_orphaned_action_errors, with classification AGENT_OUTCOME).
INTERRUPTED = "Tool call interrupted before completion. The conversation was paused."
AGENT_OUTCOME = {"kind": "agent_action", "retryable": True, "user_action": "retry"}


@dataclass
class _New:
    """An event the history adds: a synthetic result or a new message."""

    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])


Item = Event | _New


def write(history: History, original: Document) -> Document:
    log = load(original)
    base = build(log)
    branch = _Planner(history, log, base).branch()
    edits = _content_edits(base.history, history, {e.id for e in branch if isinstance(e, Event)}, log)
    doc = _emit(log, branch, edits)
    difference = differs(history, build(load(doc)).history)
    if difference:
        raise FormatError(f"the output would read back differently: {difference}")
    return doc


# --- the new branch -----------------------------------------------------------------------------------


class _Planner:
    def __init__(self, history: History, log: Log, base: Reading):
        self.history, self.log, self.base = history, log, base
        self.timestamp = _new_timestamp(log)
        self.placed: list[Item] = []
        self.seen: set[str] = set()

    def branch(self) -> list[Item]:
        """The events of the new branch, root first."""
        for i, message in enumerate(self.history.messages):
            for part in self.history.system:
                if part.before == i:
                    self._refs(
                        [part.source.event, *(b.source.event for b in part.blocks)], f"system before message {i}"
                    )
            self._message(message, i)
        for part in self.history.system:
            if part.before >= len(self.history.messages):
                self._refs([part.source.event, *(b.source.event for b in part.blocks)], "the system prompt")
        kept = {item.id for item in self.placed if isinstance(item, Event)}
        groups = self._carried(kept)
        branch: list[Item] = list(groups.get(None, []))
        for item in self.placed:
            branch.append(item)
            branch.extend(groups.get(item.id, []))
        return branch

    def _message(self, message: Message, i: int) -> None:
        new = all(b.source.event is None for b in message.blocks) and message.source.event is None
        if new and not any(b.type == "tool_result" for b in message.blocks):
            self._new_message(message, i)
            return
        for j, block in enumerate(message.blocks):
            if block.source.event is not None:
                self._refs([block.source.event], f"messages[{i}].blocks[{j}]")
            elif block.type == "tool_result":
                self.placed.append(_New(self._result(block)))
            else:
                raise FormatError(
                    f"a new {block.type} block cannot be written into an existing OpenHands V1 event",
                    path=f"messages[{i}].blocks[{j}]",
                )
        if not message.blocks:
            self._refs([message.source.event], f"messages[{i}]")

    def _refs(self, refs: list[int | str | None], where: str) -> None:
        for ref in refs:
            if ref is None or str(ref) in self.seen:
                continue
            event = self.log.by_id.get(str(ref))
            if event is None:
                raise FormatError(f"refers to event {ref}, which the folder does not have", path=where)
            self.seen.add(event.id)
            if event.kind != CONDENSATION:  # its summary: the condensation keeps its own place
                self.placed.append(event)

    def _carried(self, kept: set[str]) -> dict[str | None, list[Event]]:
        """The branch's events that carry no message, each after the kept event it followed."""
        groups: dict[str | None, list[Event]] = {}
        anchor: str | None = None
        for event in self.base.path:
            if event.id in self.base.carried:
                if event.id not in kept:
                    groups.setdefault(anchor, []).append(event)
            elif event.id in kept:
                anchor = event.id
        return groups

    def _result(self, block: Block) -> dict[str, Any]:
        """A synthetic result: an AgentErrorEvent, as the SDK's own recovery writes one."""
        name = next(
            (u.name for m in self.history.messages for u in m.tool_uses() if u.id == block.tool_use_id and u.name),
            None,
        )
        if block.tool_use_id is None or name is None:
            raise FormatError(f"a result for tool call {block.tool_use_id} needs the call it answers in the history")
        return {
            "id": str(uuid.uuid4()),
            "timestamp": self.timestamp,
            "source": "agent",
            "parent_id": None,
            "tool_name": name,
            "tool_call_id": block.tool_use_id,
            "error": block.result_text,
            "classification": dict(AGENT_OUTCOME),
            "kind": "AgentErrorEvent",
        }

    def _new_message(self, message: Message, i: int) -> None:
        if message.role not in ("user", "assistant") or any(b.type != "text" for b in message.blocks):
            raise FormatError(
                f"only a new user or assistant text message can be added to an OpenHands V1 conversation "
                f"(this one is a {message.role} message with {', '.join(sorted({b.type for b in message.blocks}))})",
                path=f"messages[{i}]",
            )
        self.placed.append(
            _New(
                {
                    "id": str(uuid.uuid4()),
                    "timestamp": self.timestamp,
                    "source": "user" if message.role == "user" else "agent",
                    "parent_id": None,
                    "llm_message": {
                        "role": message.role,
                        "content": [
                            {"cache_prompt": False, "type": "text", "text": b.text or ""} for b in message.blocks
                        ],
                        "thinking_blocks": [],
                    },
                    "activated_skills": [],
                    "extended_content": [],
                    "kind": "MessageEvent",
                }
            )
        )


# --- what a repair changes inside an event ------------------------------------------------------------

# The lists of content items a block is read from, by the JSON path of the block's source: a block
# a repair removed is taken out of its list (drop-thinking, remove-empty-blocks), a text it
# changed is set (strip-trailing-whitespace). Anything else read back differently is refused.
_LISTS = "thought|thinking_blocks|extended_content|llm_message\\.content|llm_message\\.thinking_blocks"
_ITEM = re.compile(rf"^\$\.({_LISTS})\[(\d+)\]$")


def _content_edits(base: History, history: History, branch: set[str], log: Log) -> dict[str, dict[str, Any]]:
    """Event id -> its new JSON object, for the events of the branch whose content the history
    changed."""
    before = _items(base)
    after = _items(history)
    edits: dict[str, dict[str, Any]] = {}
    for (event_id, path), block in sorted(before.items(), key=lambda kv: (kv[0][0], -_position(kv[0][1]))):
        if event_id not in branch:
            continue
        new = after.get((event_id, path))
        if new is not None and not (block.type == "text" and new.type == "text" and new.text != block.text):
            continue
        match = _ITEM.match(path)
        if match is None:
            continue  # not an item of a list: the read-back check names what differs
        data = edits.setdefault(event_id, copy.deepcopy(log.by_id[event_id].data))
        holder: Any = data
        for key in match[1].split("."):
            holder = holder.get(key) if isinstance(holder, dict) else None
        k = int(match[2])
        if not isinstance(holder, list) or k >= len(holder):
            continue
        if new is None:
            del holder[k]
        else:
            holder[k]["text"] = new.text
    return edits


def _items(history: History) -> dict[tuple[str, str], Block]:
    blocks = (b for m in history.messages for b in m.blocks)
    return {(str(b.source.event), b.source.path): b for b in blocks if b.source.event is not None}


def _position(path: str) -> int:
    """The item's index, so items are removed from the end of their list first."""
    match = _ITEM.match(path)
    return int(match[2]) if match else -1


# --- the files ----------------------------------------------------------------------------------------


def _emit(log: Log, branch: list[Item], edits: dict[str, dict[str, Any]]) -> Document:
    files = dict(log.doc.files)
    removed: set[str] = set()
    count = len(log.events)
    previous: str | None = None
    for item in branch:
        if isinstance(item, _New):
            item.data["parent_id"] = previous or ROOT_PARENT_ID
            files[event_file_name(count, item.id)] = _dumps(item.data)
            count += 1
        elif item.id in edits:
            data = edits[item.id]
            if log.parent_of(item) != previous:
                data = _set_key(data, "parent_id", previous or ROOT_PARENT_ID)
            files[item.file] = _dumps(data)
        elif log.parent_of(item) != previous:
            files[item.file] = _with_key(log.doc.files[item.file], item.data, "parent_id", previous or ROOT_PARENT_ID)
        previous = item.id
    leaf = branch[-1].id if branch else None
    # Without leaf_event_id the SDK takes the last event in file order, which a new event becomes.
    if leaf != log.leaf() or (log.base.get("leaf_event_id") is None and count != len(log.events)):
        files[BASE_STATE] = _with_leaf(log.doc.files[BASE_STATE], log.base, leaf)
    if count != len(log.events):
        old = marker_name(len(log.events))
        if old in files:
            del files[old]
            removed.add(old)
        elif marker_of(log.doc) is None:
            pass  # a folder without a marker: the SDK counts the files and writes one next time
        files[marker_name(count)] = b""
    if files == log.doc.files:
        return log.doc
    return Document(name=log.doc.name, files=files, is_dir=True, removed=removed)


def _with_key(raw: bytes, data: dict[str, Any], key: str, value: Any) -> bytes:
    """The event's bytes with one top-level key set: the value replaced where the SDK wrote it
    (every other byte kept), else the event re-serialized as the SDK serializes it."""
    wanted = _set_key(data, key, value)
    if key in data:
        text = raw.decode("utf-8")
        old = f'"{key}":{json.dumps(data[key], ensure_ascii=False)}'
        if text.count(old) == 1:
            candidate = text.replace(old, f'"{key}":{json.dumps(value, ensure_ascii=False)}')
            try:
                if json.loads(candidate) == wanted:
                    return candidate.encode("utf-8")
            except ValueError:
                pass
    return _dumps(wanted)


def _set_key(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy with `key` set; a key it did not have goes where the SDK's models put it
    (parent_id after source; leaf_event_id before head_is_empty), else last."""
    if key in data:
        return {**data, key: value}
    after = {"parent_id": "source", "leaf_event_id": "last_user_message_id"}.get(key)
    out: dict[str, Any] = {}
    for k, v in data.items():
        out[k] = v
        if k == after:
            out[key] = value
    out.setdefault(key, value)
    return out


def _with_leaf(raw: bytes, base: dict[str, Any], leaf: str | None) -> bytes:
    if leaf is None:
        # An empty branch: the SDK marks it so (navigate_to(None)), or it would fall back to the
        # last event.
        return _dumps(_set_key(_set_key(base, "leaf_event_id", None), "head_is_empty", True))
    updated = _with_key(raw, base, "leaf_event_id", leaf)
    if base.get("head_is_empty"):
        updated = _with_key(updated, json.loads(updated), "head_is_empty", False)
    return updated


def _dumps(value: dict[str, Any]) -> bytes:
    # pydantic's model_dump_json: compact, non-ASCII as UTF-8.
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate read from a \\ud800 escape: escape it again
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def _new_timestamp(log: Log) -> str:
    """Now, naive local time as the SDK writes it, but never before the last event."""
    now = datetime.now()
    stamps = []
    for event in log.events:
        try:
            stamps.append(datetime.fromisoformat(str(event.data.get("timestamp"))))
        except ValueError:
            continue
    latest = max((s.replace(tzinfo=None) for s in stamps), default=None)
    return max(now, latest).isoformat() if latest else now.isoformat()


# --- reading back ------------------------------------------------------------------------------------


def differs(expected: History, actual: History) -> str | None:
    """What a person would see differ between two histories (None: nothing): messages, their
    roles, block types, texts, tool ids, inputs, results and is_error; the system prompt and
    the tools' names. Sources, generated ids and timestamps are not compared."""
    if [p.text for p in expected.system] != [p.text for p in actual.system]:
        return "the system prompt"
    if [t.name for t in expected.tools] != [t.name for t in actual.tools]:
        return "the tools"
    for i, (a, b) in enumerate(zip(expected.messages, actual.messages, strict=False)):
        if a.role != b.role:
            return f"message {i}: a {a.role} message would read back as a {b.role} message"
        if [_key(x) for x in a.blocks] != [_key(x) for x in b.blocks]:
            return f"message {i}: its content ({_kinds(a)}) would read back as ({_kinds(b)})"
    if len(expected.messages) != len(actual.messages):
        return f"{len(expected.messages)} messages would read back as {len(actual.messages)}"
    return None


def _key(block: Block) -> tuple[Any, ...]:
    if block.type == "tool_result":
        return (block.type, block.tool_use_id, block.result_text, bool(block.is_error))
    if block.type == "tool_use":
        return (block.type, block.id, block.name, block.input)
    return (block.type, block.text, block.signature, block.data, json.dumps(block.media, sort_keys=True))


def _kinds(message: Message) -> str:
    return ", ".join(b.type for b in message.blocks) or "empty"
