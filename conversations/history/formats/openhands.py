"""OpenHands V0 event streams: a session directory (`events/<id>.json`, `metadata.json`,
`event_cache/<a>-<b>.json`) or a trajectory export (a JSON array of events, or
`{"trajectory": [...]}`). Reference: docs/formats.md section 1.

Reading mirrors OpenHands' own `ConversationMemory.process_events` (which events become which
messages, where an assistant message goes) but keeps the history as stored: an action whose tool
call was never answered stays a tool_use without a result, because that is exactly what the checker
has to see. Events that are not messages (recall, agent state changes...) are counted in `meta`.

Writing edits the original events instead of generating new ones: an unchanged event keeps its
bytes, a changed one is re-serialized the way OpenHands writes it, a removed message removes its
event files, and anything new is appended with fresh ids, as OpenHands itself appends (a missing
tool result becomes the same synthetic ErrorObservation the controller writes when a runtime dies).
"""

from __future__ import annotations

import bisect
import copy
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from ..errors import FormatError
from ..model import NOT_SENT, Block, History, Message, SourceRef, SystemPart, Tool, Usage
from . import openhands_view
from .document import Document, json_indent, loads

NAME = "openhands"
WRITABLE = True

EVENT_FILE = re.compile(r"^events/(\d+)\.json$")
CACHE_PAGE = re.compile(r"^event_cache/(\d+)-(\d+)\.json$")
METADATA = "metadata.json"
SOURCES = ("user", "agent", "environment")
NOT_EXECUTED = "AGENT_ERROR$ERROR_ACTION_NOT_EXECUTED_ERROR"
RESPONSE = ".tool_call_metadata.model_response"
RESPONSE_MESSAGE = RESPONSE + ".choices[0].message"

# How many of the messages a call moved past its message names (a call left unanswered early in a
# long session moves past all the rest).
MOVED_PAST_MAX = 20
# What an event is to the conversation. The first five carry a message (or the system prompt).
SYSTEM, MESSAGE, FINISH, CALL, RESULT, OTHER = "system", "message", "finish", "call", "result", "other"
SUMMARY = "summary"  # a condensation's summary, sent as a user message (openhands_view.py)
MESSAGE_KINDS = (SYSTEM, MESSAGE, FINISH, CALL, RESULT)


# --- loading: events with their place in the document ------------------------------------------


@dataclass
class _Event:
    id: int
    data: dict[str, Any]
    file: str
    prefix: str  # the event's JSON path: "$" in its own file, "$[7]" in a trajectory
    line: int | None = None  # the JSONL line of an output.jsonl record that holds the event

    def ref(self, path: str = "") -> SourceRef:
        return SourceRef(file=self.file, line=self.line, event=self.id, path=self.prefix + path)

    def error(self, reason: str, path: str = "") -> FormatError:
        return FormatError(reason, file=self.file, line=self.line, event=self.id, path=self.prefix + path)

    @property
    def kind(self) -> str:
        return _kind(self.data)

    @property
    def call_id(self) -> str | None:
        tcm = self.data.get("tool_call_metadata")
        return tcm["tool_call_id"] if tcm else None

    @property
    def type(self) -> str:
        return cast(str, self.data["action"] if "action" in self.data else self.data["observation"])


@dataclass
class _Source:
    doc: Document
    events: list[_Event]
    is_session: bool
    metadata: dict[str, Any] | None = None
    container_key: str | None = None  # "trajectory" when the export wraps the list in an object
    cache_notes: list[str] = field(default_factory=list)


def _load(doc: Document) -> _Source:
    return _load_session(doc) if doc.is_dir else _load_trajectory(doc)


def _load_session(doc: Document) -> _Source:
    names = [n for n in doc.files if n.startswith("events/")]
    if not names:
        raise FormatError("not an OpenHands session: no events/<id>.json files", file=doc.name)
    events = []
    for name in names:
        match = EVENT_FILE.match(name)
        if not match:
            raise FormatError("not an event file: OpenHands names them events/<id>.json", file=name)
        try:
            data = doc.json(name)
        except FormatError as exc:
            raise exc.located(file=name, event=int(match[1])) from None
        event = _Event(_check_event(data, name, "$"), data, name, "$")
        if name != f"events/{event.id}.json":
            raise FormatError(
                f"the file name does not match the event id {event.id}", file=name, event=event.id, path="$.id"
            )
        events.append(event)
    events.sort(key=lambda e: e.id)
    _check_unique(events)
    metadata = None
    if METADATA in doc.files:
        metadata = doc.json(METADATA)
        if not isinstance(metadata, dict):
            raise FormatError("metadata.json must hold a JSON object", file=METADATA)
    source = _Source(doc, events, is_session=True, metadata=metadata)
    source.cache_notes = _compare_cache(doc, {e.id: e for e in events})
    return source


def _load_trajectory(doc: Document) -> _Source:
    name, _ = doc.single
    value = doc.json(name)
    key = None
    if isinstance(value, dict) and isinstance(value.get("trajectory"), list):
        key, items, base = "trajectory", value["trajectory"], "$.trajectory"
    elif isinstance(value, list):
        items, base = value, "$"
    else:
        raise FormatError(
            'not an OpenHands trajectory: expected a JSON array of events or {"trajectory": [...]}', file=name
        )
    if not items:
        raise FormatError("the trajectory holds no events", file=name, path=base)
    return _Source(doc, _events(items, name, base), is_session=False, container_key=key)


def _events(items: list[Any], file: str, base: str, line: int | None = None) -> list[_Event]:
    events = []
    for i, data in enumerate(items):
        prefix = f"{base}[{i}]"
        try:
            events.append(_Event(_check_event(data, file, prefix), data, file, prefix, line))
        except FormatError as exc:
            raise exc.located(line=line) from None
    # Trajectories leave out agent-state events, so gaps in the ids are normal; repeats are not.
    _check_unique(events)
    return events


def history_of_events(items: list[Any], *, file: str, base: str, line: int | None = None) -> History:
    """The history of a list of V0 event dicts held inside another document (an output.jsonl
    record's `history`, at JSON path `base` of JSONL line `line`), read as a trajectory is."""
    doc = Document.from_bytes(file, b"")
    history, _ = _build(_Source(doc, _events(items, file, base, line), is_session=False))
    return history


def _check_event(data: Any, file: str, prefix: str) -> int:
    """The event's id, once the event has the shape every reader and writer below relies on."""
    if not isinstance(data, dict):
        raise FormatError("an event must be a JSON object", file=file, path=prefix)
    eid = data.get("id")
    if isinstance(eid, bool) or not isinstance(eid, int):
        raise FormatError(f"the event id must be an integer, not {_short(eid)}", file=file, path=prefix + ".id")
    has_action, has_observation = "action" in data, "observation" in data
    if has_action == has_observation:
        what = "both" if has_action else "neither"
        raise FormatError(
            f"an event has exactly one of action/observation; this one has {what}", file=file, event=eid, path=prefix
        )
    key = "action" if has_action else "observation"
    if not isinstance(data[key], str):
        raise FormatError(f"{key} must be a string", file=file, event=eid, path=f"{prefix}.{key}")
    for name in ("args", "extras"):
        if data.get(name) is not None and not isinstance(data[name], dict):
            raise FormatError(f"{name} must be an object", file=file, event=eid, path=f"{prefix}.{name}")
    _check_tool_call_metadata(data, file, eid, prefix + ".tool_call_metadata")
    return eid


def _check_tool_call_metadata(data: dict[str, Any], file: str, eid: int, path: str) -> None:
    tcm = data.get("tool_call_metadata")
    if tcm is None:
        return

    def bad(what: str, where: str = "") -> FormatError:
        return FormatError(f"malformed tool_call_metadata: {what}", file=file, event=eid, path=path + where)

    if not isinstance(tcm, dict):
        raise bad("not an object")
    if not isinstance(tcm.get("tool_call_id"), str) or not tcm["tool_call_id"]:
        raise bad("no tool_call_id", ".tool_call_id")
    if "observation" in data:
        return  # an observation's model_response is a copy that nothing reads
    response = tcm.get("model_response")
    if not isinstance(response, dict):
        raise bad("no model_response object", ".model_response")
    if not isinstance(response.get("id"), str):
        raise bad("model_response has no id", ".model_response.id")
    choices = response.get("choices")
    if not (
        isinstance(choices, list)
        and choices
        and isinstance(choices[0], dict)
        and isinstance(choices[0].get("message"), dict)
    ):
        raise bad("model_response has no choices[0].message", ".model_response.choices")
    calls = choices[0]["message"].get("tool_calls") or []
    if not isinstance(calls, list):
        raise bad("tool_calls is not a list", ".model_response.choices[0].message.tool_calls")
    for k, call in enumerate(calls):
        if not (
            isinstance(call, dict)
            and isinstance(call.get("id"), str)
            and isinstance(call.get("function"), dict)
            and isinstance(call["function"].get("name"), str)
        ):
            raise bad(
                f"tool call {k} has no id or function name", f".model_response.choices[0].message.tool_calls[{k}]"
            )


def _check_unique(events: list[_Event]) -> None:
    seen: set[int] = set()
    for event in events:
        if event.id in seen:
            raise event.error(f"duplicate event id {event.id}", ".id")
        seen.add(event.id)


def _compare_cache(doc: Document, by_id: dict[int, _Event]) -> list[str]:
    """OpenHands serves a cache page before the event files; we trust the files, so say where a
    page would make OpenHands see something else."""
    notes = []
    for name in sorted(n for n in doc.files if n.startswith("event_cache/")):
        if not CACHE_PAGE.match(name):
            notes.append(f"{name}: not an event_cache page name; OpenHands never reads it")
            continue
        try:
            page = doc.json(name)
        except FormatError as exc:
            notes.append(f"{name}: unreadable ({exc.reason})")
            continue
        if not isinstance(page, list):
            notes.append(f"{name}: not a JSON array of events")
            continue
        for item in page:
            eid = item.get("id") if isinstance(item, dict) else None
            if isinstance(eid, (bool, dict, list)) or eid not in by_id:  # a list cannot be looked up
                notes.append(f"{name}: event {_short(eid)} is cached but has no events/ file")
            elif item != by_id[eid].data:
                notes.append(f"{name}: event {eid} differs from events/{eid}.json (OpenHands serves the cached copy)")
    return notes


def _kind(data: dict[str, Any]) -> str:
    if data.get("observation") == openhands_view.SUMMARY_OBSERVATION:
        return SUMMARY
    if "action" in data:
        action = data["action"]
        if action in (SYSTEM, MESSAGE):
            return cast(str, action)
        if action == "finish":
            return FINISH
        return CALL if data.get("tool_call_metadata") is not None else OTHER
    return RESULT if data.get("tool_call_metadata") is not None else OTHER


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- reading: events -> History -----------------------------------------------------------------


@dataclass
class _Index:
    """What the writer needs to map a history back onto events."""

    by_id: dict[int, _Event]
    groups: dict[str, list[_Event]]  # model_response.id -> its actions, in event order
    group_of: dict[int, str]
    call_action: dict[str | None, _Event]  # tool_call_id -> the action that carries it
    messages: dict[int, Message] = field(default_factory=dict)  # by the message's own event
    results: dict[int, Block] = field(default_factory=dict)
    system: dict[int, SystemPart] = field(default_factory=dict)
    tools_event: int | None = None
    forgotten: set[int] = field(default_factory=set)  # events a condensation took out of the view


def sniff(doc: Document) -> bool:
    if doc.is_dir:
        return any(EVENT_FILE.match(name) for name in doc.files)
    if len(doc.files) != 1:
        return False
    data = next(iter(doc.files.values()))
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] not in (b"[", b"{"):
        return False
    try:
        value = doc.json()
    except FormatError:
        return False
    items = value.get("trajectory") if isinstance(value, dict) else value
    return isinstance(items, list) and bool(items) and all(_looks_like_event(x) for x in items[:3])


def _looks_like_event(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), int)
        and item.get("source") in SOURCES
        and ("action" in item) != ("observation" in item)
    )


def read(doc: Document) -> list[History]:
    history, _ = _build(_load(doc))
    return [history]


def _build(source: _Source) -> tuple[History, _Index]:
    events = source.events
    viewed = openhands_view.view(events, _summary_event)
    index = _index(events, viewed)
    history = History(format=NAME)
    counts: Counter[str] = Counter()
    placer = _Placer(history, index)
    for event in viewed.events:
        kind = event.kind
        if kind == SYSTEM:
            _read_system(event, history, index)
        elif kind in (MESSAGE, FINISH, SUMMARY):
            if kind == MESSAGE:
                message = _message_action(event)
            elif kind == FINISH:
                message = _finish(event, index)
            else:
                message = _summary_message(event)
            index.messages[event.id] = message
            placer.add(message)
        elif kind == CALL:
            placer.settle(placer.action(event))
        elif kind == RESULT:
            placer.settle(placer.result(event))
        else:
            counts[event.type] += 1
    placer.emit_rest()
    for event in events:
        if event.id in index.forgotten:
            counts[event.type if event.type.startswith("condensation") else "forgotten by a condensation"] += 1
        elif not openhands_view.in_agent_history(event):
            counts[event.type] += 1
            _note_state(event, history.meta)
    _describe(history, source, counts)
    if viewed.condensed:
        history.meta["condensations"] = {
            "events": viewed.condensations,
            "forgotten": sum(1 for e in events if e.id in viewed.forgotten and not e.type.startswith("condensation")),
            "summary_from": viewed.summary_from,
            "initial_message_restored": viewed.initial_restored,
        }
        # A reply received before the latest condensation answered a request that still held what it
        # forgot: it proves nothing about the view (proof.py).
        history.meta["view_since_event"] = viewed.condensations[-1]
    return history, index


def _summary_event(condensation: _Event, text: str) -> _Event:
    """The AgentCondensationObservation View.from_events inserts: it stands at the condensation's
    own place in the files (its id, its `args.summary`)."""
    data = {"observation": openhands_view.SUMMARY_OBSERVATION, "content": text, "source": "agent"}
    return _Event(condensation.id, data, condensation.file, condensation.prefix + ".args.summary", condensation.line)


def _summary_message(event: _Event) -> Message:
    """A condensation summary, sent as a user message (ConversationMemory); a boundary of what a
    later reply proves (proof.py)."""
    synthetic = event.prefix.endswith(".args.summary")
    text = _string(event, event.data.get("content"), "" if synthetic else ".content")
    return Message(
        role="user",
        blocks=[Block.text_block(text, source=event.ref("" if synthetic else ".content"))],
        content_form="string",
        timestamp=_text_or_none(event.data.get("timestamp")),
        source=event.ref(),
        extra={"kind": "summary", "observation": openhands_view.SUMMARY_OBSERVATION},
    )


@dataclass
class _Response:
    """An LLM response whose assistant message waits for its results (ConversationMemory's
    pending_tool_call_action_messages): it is emitted when the last call it waits for has one."""

    message: Message
    first: _Event
    start: int  # how many messages the history had when its first action came
    results: dict[str | None, Message] = field(default_factory=dict)

    def waits_for(self) -> list[str | None]:
        # A call the model asked for that OpenHands never ran has no action a result could answer:
        # it stays unanswered wherever the message goes, and its repair drops it.
        return [b.id for b in self.message.tool_uses() if not b.extra.get("no_action")]

    @property
    def complete(self) -> bool:
        return all(i in self.results for i in self.waits_for())


class _Placer:
    """Puts each assistant message of tool calls where ConversationMemory.process_events puts it:
    when the last of its results arrives, followed by its results in the order of its calls (so a
    result OpenHands appends after a later user message still answers the call). A response whose
    results never all arrive goes at the end, where an appended result would complete it. A result
    no waiting call takes (its call has none, or already has its result) stays where it is, a tool
    message of its own, for the checker to name."""

    def __init__(self, history: History, index: _Index):
        self.history, self.index = history, index
        self.waiting: dict[str, _Response] = {}  # by model_response.id, in order of first action
        self.seen: set[str] = set()
        self.by_call: dict[str | None, _Response] = {}  # the latest response that made each call
        self.early: dict[str | None, Message] = {}  # results that came before their action
        self.said: list[int] = []  # the indexes of the messages that are not tool messages

    def add(self, message: Message) -> None:
        if message.role != "tool":
            self.said.append(len(self.history.messages))
        self.history.messages.append(message)

    def action(self, event: _Event) -> _Response | None:
        """The response this action belongs to, when it is the first of it (its message is made)."""
        rid = self.index.group_of[event.id]
        if rid in self.seen:
            return None
        self.seen.add(rid)
        actions = self.index.groups[rid]
        message = _response_message(actions)
        self.index.messages[actions[0].id] = message
        response = _Response(message, actions[0], len(self.history.messages))
        self.waiting[rid] = response
        for block in message.tool_uses():
            self.by_call[block.id] = response
            early = self.early.pop(block.id, None)
            if early is not None:
                response.results[block.id] = early
        return response

    def result(self, event: _Event) -> _Response | None:
        """The response the result answers a call of, if one is waiting for it."""
        message = _tool_message(event)
        self.index.results[event.id] = message.blocks[0]
        call = event.call_id
        response = self.by_call.get(call)
        if response is not None and self.waiting.get(self.index.group_of[response.first.id]) is response:
            if call not in response.results:
                response.results[call] = message
                return response
        elif response is None and call in self.index.call_action and call not in self.early:
            self.early[call] = message  # its action comes later in the stream
            return None
        self.add(message)
        return None

    def settle(self, response: _Response | None) -> None:
        """Emit the response if the event just read completed it."""
        if response is not None and response.complete:
            del self.waiting[self.index.group_of[response.first.id]]
            self._emit(response)

    def emit_rest(self) -> None:
        for response in self.waiting.values():
            self._emit(response)
        self.waiting.clear()

    def _emit(self, response: _Response) -> None:
        messages = self.history.messages
        # What the model will now see before these calls that came after them in the stream.
        first = bisect.bisect_left(self.said, response.start)
        passed = len(self.said) - first
        if passed:
            extra = response.message.extra
            extra["moved_past"] = [
                {"event": messages[i].source.event, "role": messages[i].role}
                for i in self.said[first : first + MOVED_PAST_MAX]
            ]
            if passed > MOVED_PAST_MAX:
                extra["moved_past_total"] = passed
        self.add(response.message)
        for block in response.message.tool_uses():
            result = response.results.pop(block.id, None)
            if result is not None:
                self.add(result)


def _index(events: list[_Event], viewed: openhands_view.Viewed[_Event]) -> _Index:
    """Every event by id (the writer's next id and its look-ups); the responses and calls of the
    events the agent still sends."""
    index = _Index(by_id={e.id: e for e in events}, groups={}, group_of={}, call_action={})
    restored = {viewed.initial_restored} if viewed.initial_restored is not None else set()
    index.forgotten = viewed.forgotten - restored
    for event in viewed.events:
        if event.kind != CALL:
            continue
        rid = event.data["tool_call_metadata"]["model_response"]["id"]
        index.groups.setdefault(rid, []).append(event)
        index.group_of[event.id] = rid
        index.call_action.setdefault(event.call_id, event)
    return index


def _args(event: _Event) -> dict[str, Any]:
    return event.data.get("args") or {}


def _string(event: _Event, value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise event.error(f"expected a string, got {type(value).__name__}", path)
    return value


def _read_system(event: _Event, history: History, index: _Index) -> None:
    args = _args(event)
    text = _string(event, args.get("content"), ".args.content")
    extra = {k: v for k, v in args.items() if k not in ("content", "tools")}
    part = SystemPart(
        blocks=[Block.text_block(text, source=event.ref(".args.content"))],
        before=len(history.messages),
        content_form="string",
        source=event.ref(".args.content"),
        extra=extra,
    )
    history.system.append(part)
    index.system[event.id] = part
    # A resumed stream may repeat the system event; the first one's tools are the agent's tools.
    if index.tools_event is None and args.get("tools") is not None:
        history.tools = _read_tools(event, args["tools"])
        index.tools_event = event.id


def _read_tools(event: _Event, tools: Any) -> list[Tool]:
    if not isinstance(tools, list):
        raise event.error("tools must be a list", ".args.tools")
    result = []
    for k, item in enumerate(tools):
        path = f".args.tools[{k}]"
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise event.error("a tool must be {type, function: {name, ...}}", path)
        extra = {key: v for key, v in item.items() if key not in ("type", "function")}
        fextra = {key: v for key, v in function.items() if key not in ("name", "description", "parameters")}
        if fextra:
            extra["function"] = fextra
        result.append(
            Tool(
                name=function["name"],
                description=function.get("description"),
                parameters=function.get("parameters"),
                kind=item.get("type", "function"),
                source=event.ref(path),
                extra=extra,
            )
        )
    return result


def _tool_to_wire(tool: Tool) -> dict[str, Any]:
    extra = dict(tool.extra)
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    function.update(extra.pop("function", {}))
    return {"type": tool.kind, "function": function, **extra}


def _message_action(event: _Event) -> Message:
    args = _args(event)
    text = _string(event, args.get("content"), ".args.content")
    blocks = [Block.text_block(text, source=event.ref(".args.content"))]
    urls = args.get("image_urls") or []
    if not isinstance(urls, list):
        raise event.error("image_urls must be a list", ".args.image_urls")
    for k, url in enumerate(urls):
        blocks.append(
            Block(
                type="image",
                media=_media(event, url, f".args.image_urls[{k}]"),
                source=event.ref(f".args.image_urls[{k}]"),
            )
        )
    return Message(
        role="user" if event.data.get("source") == "user" else "assistant",
        blocks=blocks,
        content_form="string" if not urls else "blocks",
        timestamp=_text_or_none(event.data.get("timestamp")),
        source=event.ref(),
        extra={"action": MESSAGE},
    )


def _media(event: _Event, url: Any, path: str) -> dict[str, Any]:
    if not isinstance(url, str):
        raise event.error("an image URL must be a string", path)
    match = re.match(r"data:([^;,]+);base64,(.*)", url, re.S)
    if match:
        return {"type": "base64", "media_type": match[1], "data": match[2]}
    return {"type": "url", "url": url}


def _url(media: dict[str, Any] | None) -> str:
    media = media or {}
    if media.get("type") == "base64":
        return f"data:{media.get('media_type')};base64,{media.get('data')}"
    return media.get("url") or ""


def _thought(args: dict[str, Any]) -> str:
    thought = args.get("thought")
    if isinstance(thought, dict):  # newer OpenHands: {"text": ..., "reasoning_content": ...}
        thought = thought.get("text")
    return thought if isinstance(thought, str) else ""


def _response_content(data: dict[str, Any]) -> str:
    message = data["tool_call_metadata"]["model_response"]["choices"][0]["message"]
    content = message.get("content")
    if isinstance(content, list):  # content parts: only their text reaches the next request
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def _finish_text(data: dict[str, Any]) -> str:
    # ConversationMemory sends a finish action as plain assistant text: its thought, plus the
    # response text when that differs (the finish tool call itself is never sent).
    thought = _thought(data.get("args") or {})
    content = _response_content(data) if data.get("tool_call_metadata") else ""
    return "\n".join(dict.fromkeys(t for t in (thought, content) if t)) or thought


def _finish(event: _Event, index: _Index) -> Message:
    blocks = [Block.text_block(_finish_text(event.data), source=event.ref(".args.thought"))]
    call = _finish_call(event, index)
    if call is not None:
        blocks.append(call)
    return Message(
        role="user" if event.data.get("source") == "user" else "assistant",
        blocks=blocks,
        content_form="string",
        timestamp=_text_or_none(event.data.get("timestamp")),
        source=event.ref(),
        extra={"action": "finish"},
    )


def _finish_call(event: _Event, index: _Index) -> Block | None:
    """The finish tool call, shown with its message but marked NOT_SENT: ConversationMemory sends
    a finish action as its text alone. When the same response made other calls, the call is listed
    in that response's message instead (where OpenHands never answers it: see _response_message)."""
    tcm = event.data.get("tool_call_metadata")
    if tcm is None or tcm["model_response"]["id"] in index.groups:
        return None
    calls = tcm["model_response"]["choices"][0]["message"].get("tool_calls") or []
    k = next((k for k, c in enumerate(calls) if c["id"] == tcm["tool_call_id"]), None)
    if k is None:
        block = Block.tool_use(
            tcm["tool_call_id"],
            _text_or_none(tcm.get("function_name")) or "finish",
            None,
            source=event.ref(".tool_call_metadata"),
        )
    else:
        block = _tool_use(calls[k], event.ref(f"{RESPONSE_MESSAGE}.tool_calls[{k}]"))
    block.extra.update({"action": "finish", NOT_SENT: True})
    return block


def _response_message(actions: list[_Event]) -> Message:
    first = actions[0]
    response = first.data["tool_call_metadata"]["model_response"]
    holders = {a.call_id: a for a in reversed(actions)}
    blocks = []
    text_ref = _response_text_ref(actions)
    if text_ref is not None:
        text, ref = text_ref
        blocks.append(Block.text_block(text, source=ref))
    calls = response["choices"][0]["message"].get("tool_calls") or []
    for k, call in enumerate(calls):
        holder = holders.get(call["id"])
        block = _tool_use(call, (holder or first).ref(f"{RESPONSE_MESSAGE}.tool_calls[{k}]"))
        if holder is None:
            block.extra["no_action"] = True  # the model asked for it; OpenHands never ran it
        else:
            block.extra["action"] = holder.type
        blocks.append(block)
    listed = {call["id"] for call in calls}
    for action in actions:
        if action.call_id not in listed:
            # An action whose call its own response does not list: keep it visible, not fixed.
            tcm = action.data["tool_call_metadata"]
            blocks.append(
                Block.tool_use(
                    cast(str, action.call_id),  # a CALL event: _check_tool_call_metadata required it
                    _text_or_none(tcm.get("function_name")) or action.type,
                    None,
                    source=action.ref(".tool_call_metadata"),
                    extra={"action": action.type, "not_in_model_response": True},
                )
            )
    return Message(
        role="assistant",
        blocks=blocks,
        content_form="string",
        usage=_usage(response.get("usage")),
        model=_text_or_none(response.get("model")),
        timestamp=_text_or_none(first.data.get("timestamp")),
        id=response["id"],
        source=first.ref(RESPONSE_MESSAGE),
        extra={"action": first.type},
    )


def _response_text_ref(actions: list[_Event]) -> tuple[str, SourceRef] | None:
    # ConversationMemory sends the response's own text when it is not blank; the first action's
    # thought is the same text as OpenHands parsed it, and the only one left when content is empty.
    content = _response_content(actions[0].data)
    if content.strip():
        return content, actions[0].ref(RESPONSE_MESSAGE + ".content")
    for action in actions:
        thought = _thought(_args(action))
        if thought.strip():
            return thought, action.ref(".args.thought")
    return None


def _tool_use(call: dict[str, Any], ref: SourceRef) -> Block:
    function = call["function"]
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            parsed = loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            parsed = None  # kept as written in `arguments`, for the checker to name
        return Block.tool_use(call["id"], function["name"], parsed, arguments=arguments, source=ref)
    return Block.tool_use(call["id"], function["name"], arguments, source=ref)


def _usage(value: Any) -> Usage | None:
    # litellm's usage: prompt_tokens holds the cached tokens too; Usage.from_wire counts them once.
    return Usage.from_wire(value)


def _tool_message(event: _Event) -> Message:
    data = event.data
    tcm = data["tool_call_metadata"]
    content = _string(event, data.get("content"), ".content")
    block = Block.tool_result(
        tcm["tool_call_id"],
        content,
        is_error=True if data["observation"] == "error" else None,
        source=event.ref(".content"),
    )
    extra = {"observation": data["observation"]}
    if "cause" in data:
        extra["cause"] = data["cause"]
    return Message(
        role="tool",
        blocks=[block],
        name=_text_or_none(tcm.get("function_name")),
        content_form="string",
        timestamp=_text_or_none(data.get("timestamp")),
        source=event.ref(),
        extra=extra,
    )


def _note_state(event: _Event, meta: dict[str, Any]) -> None:
    if event.data.get("observation") == "agent_state_changed":
        extras = event.data.get("extras") or {}
        meta["agent_state"] = extras.get("agent_state")
        meta["agent_state_reason"] = extras.get("reason") or ""


def _describe(history: History, source: _Source, counts: Counter[str]) -> None:
    events = source.events
    meta = history.meta
    meta["source"] = "session" if source.is_session else "trajectory"
    meta["event_count"] = len(events)
    meta["message_events"] = len(events) - sum(counts.values())
    meta["other_events"] = dict(sorted(counts.items()))
    if source.cache_notes:
        meta["event_cache_notes"] = source.cache_notes
    stamps = [e.data["timestamp"] for e in events if isinstance(e.data.get("timestamp"), str)]
    if stamps:
        history.started_at, history.ended_at = stamps[0], stamps[-1]
    metadata = source.metadata or {}
    # metadata.json is not checked like events are: a value of the wrong type is not used.
    history.title = _text_or_none(metadata.get("title"))
    history.model = _text_or_none(metadata.get("llm_model")) or _model_from_events(events)
    for key in ("created_at", "selected_repository", "selected_branch", "trigger"):
        if metadata.get(key) is not None:
            meta[key] = metadata[key]
    history.usage = _usage(
        {"prompt_tokens": metadata.get("prompt_tokens"), "completion_tokens": metadata.get("completion_tokens")}
    )
    history.external_id = _text_or_none(metadata.get("conversation_id")) or _external_id(source)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _model_from_events(events: list[_Event]) -> str | None:
    return model_from_events([e.data for e in events])


def model_from_events(events: list[Any]) -> str | None:
    """The model a V0 stream names: the one its metrics count tokens for, else the one any
    event's `tool_call_metadata.model_response` names (a trajectory may name it only on its late
    `finish` event). Shared with the output.jsonl reader."""
    for data in reversed(events):
        metrics = data.get("llm_metrics") if isinstance(data, dict) else None
        usage = metrics.get("accumulated_token_usage") if isinstance(metrics, dict) else None
        if isinstance(usage, dict) and _text_or_none(usage.get("model")):
            return cast(str, usage["model"])
    for data in events:
        tcm = data.get("tool_call_metadata") if isinstance(data, dict) else None
        response = tcm.get("model_response") if isinstance(tcm, dict) else None
        if isinstance(response, dict) and _text_or_none(response.get("model")):
            return cast(str, response["model"])
    return None


def _external_id(source: _Source) -> str | None:
    name = os.path.basename(source.doc.name.rstrip("/\\"))
    if source.is_session:
        return name or None
    match = re.match(r"trajectory-(.+)\.json$", name)  # the UI's download name
    return match[1] if match else None


# --- writing: History -> edited events ----------------------------------------------------------


def write(history: History, original: Document | None) -> Document:
    if original is None:
        raise FormatError(
            "writing an OpenHands session needs the original session or trajectory: "
            "its events are edited, never generated from scratch"
        )
    if history.format != NAME:
        raise FormatError(
            f"an OpenHands session can only be written from a history read from one "
            f"(this one is {history.format}); write it in its own format instead"
        )
    source = _load(original)
    base, index = _build(source)
    plan = _Planner(source, index, base).plan(history)
    written = _emit_session(source, plan) if source.is_session else _emit_trajectory(source, plan)
    if plan.touched:
        _check_reads_back(history, written)
    return written


def _check_reads_back(history: History, written: Document) -> None:
    """Refuse to write events that OpenHands would turn into other messages than `history` (a new
    message can only be appended, so one placed earlier would read back elsewhere)."""
    back, _ = _build(_load(Document(name=written.name, files=dict(written.files), is_dir=written.is_dir)))
    want, got = [_signature(m) for m in history.messages], [_signature(m) for m in back.messages]
    if want == got:
        return
    i = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), min(len(want), len(got)))
    what = (
        f"message {i} would be {_said(got, i)} instead of {_said(want, i)}"
        if i < len(want) and i < len(got)
        else f"it would hold {len(got)} messages instead of {len(want)}"
    )
    raise FormatError(
        f"this history cannot be written as OpenHands events: {what} "
        "(OpenHands appends new events, and places each tool call where its last result is)"
    )


def _signature(message: Message) -> tuple[Any, ...]:
    return (
        message.role,
        tuple(
            (b.type, b.text, b.id, b.tool_use_id, b.result_text if b.type == "tool_result" else None, bool(b.is_error))
            for b in message.blocks
            if b.sent
        ),
    )


def _said(signatures: list[tuple[Any, ...]], i: int) -> str:
    role, blocks = signatures[i]
    ids = [b[2] or b[3] for b in blocks if b[2] or b[3]]
    return f"{'an' if role == 'assistant' else 'a'} {role} message" + (f" ({', '.join(ids)})" if ids else "")


@dataclass
class _Plan:
    edits: dict[int, dict[str, Any]]
    removed: set[int]
    new: list[dict[str, Any]]

    @property
    def touched(self) -> set[int]:
        return set(self.edits) | self.removed | {e["id"] for e in self.new}


class _Planner:
    """Decides, element by element, which original events stay, change, go, and what is new."""

    def __init__(self, source: _Source, index: _Index, base: History):
        self.source, self.index, self.base = source, index, base
        self.kept: set[int] = set()
        self.claimed: set[tuple[object, ...]] = set()
        self.edits: dict[int, dict[str, Any]] = {}
        self.new: list[dict[str, Any]] = []
        self.next_id = max(index.by_id) + 1
        self.timestamp = _new_timestamp(source.events)

    # -- the walk
    def plan(self, history: History) -> _Plan:
        for k, part in enumerate(history.system):
            self._system(part, f"system[{k}]")
        self._tools(history.tools)
        for i, message in enumerate(history.messages):
            self._message(message, i)
        removed = {
            e.id
            for e in self.source.events
            if e.kind in MESSAGE_KINDS and e.id not in self.kept and e.id not in self.index.forgotten
        }
        self._check_causes(removed)
        edits = {eid: data for eid, data in self.edits.items() if eid not in removed}
        return _Plan(edits, removed, self.new)

    def _message(self, message: Message, i: int) -> None:
        body = []
        where = f"messages[{i}]"
        for j, block in enumerate(message.blocks):
            if block.type == "tool_result":
                self._result(block, f"messages[{i}].blocks[{j}]")
            elif not block.sent:
                self._unsent(block, message, f"{where}.blocks[{j}]")
            else:
                body.append(block)
        if message.role == "tool":
            if body:
                raise FormatError("a tool message can only hold tool results", path=where)
            return
        if not body and not (message.blocks and message.source.event is not None and self._is_finish(message)):
            return  # e.g. a user message that only carried results; nothing else to store
        eid = message.source.event
        if eid is None:
            self._new_message(message, body, where)
            return
        if message.extra.get("kind") == "summary":
            self._summary(cast(int, eid), body, where)
            return
        kind = self._event(eid, where).kind
        eid = cast(int, eid)  # _event took only an int
        if kind == MESSAGE:
            self._message_action(eid, message, body, where)
        elif kind == FINISH:
            self._finish(eid, message, body, where)
        elif kind == CALL:
            self._response(eid, body, where)
        else:
            raise FormatError(f"refers to event {eid}, which is not a message in the original", path=where)

    def _summary(self, eid: int, body: list[Block], where: str) -> None:
        """A condensation's summary stays as the condensation wrote it."""
        self._claim(("summary", eid), where)
        self.kept.add(eid)
        old = self.index.messages.get(eid)
        if old is None or _text_and_images(body, where) != _text_and_images(old.blocks, where):
            raise FormatError(
                "a condensation's summary cannot be changed: OpenHands keeps it in the condensation event",
                path=where,
            )

    # -- helpers
    def _is_finish(self, message: Message) -> bool:
        event = self.index.by_id.get(message.source.event) if isinstance(message.source.event, int) else None
        return event is not None and event.kind == FINISH

    def _event(self, eid: Any, where: str) -> _Event:
        event = self.index.by_id.get(eid) if isinstance(eid, int) else None
        if event is None:
            raise FormatError(f"refers to event {_short(eid)}, which the original does not have", path=where)
        return event

    def _claim(self, key: tuple[object, ...], where: str) -> None:
        if key in self.claimed:
            raise FormatError(f"event {key[1]} is used twice in the history", path=where)
        self.claimed.add(key)

    def _edit(self, eid: int) -> dict[str, Any]:
        if eid not in self.edits:
            self.edits[eid] = copy.deepcopy(self.index.by_id[eid].data)
        return self.edits[eid]

    def _append(self, event: dict[str, Any]) -> None:
        self.new.append(event)
        self.next_id += 1

    # -- system prompt and tools
    def _system(self, part: SystemPart, where: str) -> None:
        eid = part.source.event
        if eid is None or self._event(eid, where).kind != SYSTEM:
            raise FormatError("a new system prompt cannot be added to an OpenHands session", path=where)
        eid = cast(int, eid)  # _event took only an int
        self._claim(("system", eid), where)
        self.kept.add(eid)
        text = _text_only(part.blocks, where)
        if text != _text_only(self.index.system[eid].blocks, where):
            _set_text(self._edit(eid), "args", "content", text)

    def _tools(self, tools: list[Tool]) -> None:
        if [_tool_to_wire(t) for t in tools] == [_tool_to_wire(t) for t in self.base.tools]:
            return
        eid = self.index.tools_event
        if eid is None:
            eid = next((e for e in self.index.system if e in self.kept), None)
        if eid is None or eid not in self.kept:
            raise FormatError("changed tools need the system event that lists them", path="tools")
        self._edit(eid).setdefault("args", {})["tools"] = [_tool_to_wire(t) for t in tools]

    # -- user and assistant text
    def _message_action(self, eid: int, message: Message, body: list[Block], where: str) -> None:
        self._claim(("message", eid), where)
        self.kept.add(eid)
        old = self.index.messages[eid]
        if message.role != old.role:
            raise FormatError(f"cannot turn a {old.role} message into a {message.role} message", path=where)
        text, urls = _text_and_images(body, where)
        old_text, old_urls = _text_and_images(old.blocks, where)
        if text != old_text:
            _set_text(self._edit(eid), "args", "content", text)
        if urls != old_urls:
            self._edit(eid).setdefault("args", {})["image_urls"] = urls

    def _unsent(self, block: Block, message: Message, where: str) -> None:
        """A finish call is the finish action itself: it stays with the action's own message, and
        goes (with the action) only when that message goes."""
        if block.source.event is None or block.source.event != message.source.event:
            raise FormatError(
                f"the finish call {block.id} cannot move to another message: it is its finish action", path=where
            )

    def _finish(self, eid: int, message: Message, body: list[Block], where: str) -> None:
        self._claim(("message", eid), where)
        self.kept.add(eid)
        if not any(b.type == "text" for b in body):
            raise FormatError("a finish action is sent as its text: remove the whole message, not its text", path=where)
        text = _text_only(body, where)
        if text == _finish_text(self.index.by_id[eid].data):
            return
        data = self._edit(eid)
        args = data.setdefault("args", {})
        if isinstance(args.get("thought"), dict):
            args["thought"]["text"] = text
        else:
            args["thought"] = text
        if data.get("tool_call_metadata") and _response_content(data):
            _response_of(data)["content"] = text  # so the response text adds nothing on re-read

    def _new_message(self, message: Message, body: list[Block], where: str) -> None:
        if message.role not in ("user", "assistant"):
            raise FormatError(f"cannot write a new {message.role} message", path=where)
        if any(b.type == "tool_use" for b in body):
            raise FormatError(
                "a new tool call cannot be written: OpenHands stores a tool call as the action it ran", path=where
            )
        text, urls = _text_and_images(body, where)
        self._append(
            {
                "id": self.next_id,
                "timestamp": self.timestamp,
                "source": "user" if message.role == "user" else "agent",
                "message": text,
                "action": MESSAGE,
                "args": {
                    "content": text,
                    "file_urls": [],
                    "image_urls": urls,
                    "wait_for_response": False,
                    "security_risk": -1,
                },
            }
        )

    # -- tool calls
    def _response(self, eid: int, body: list[Block], where: str) -> None:
        rid = self.index.group_of[eid]
        actions = self.index.groups[rid]
        if eid != actions[0].id:
            raise FormatError(f"event {eid} is not the first action of response {rid}", path=where)
        self._claim(("message", eid), where)
        old = self.index.messages[eid]
        old_uses = {b.id: b for b in old.tool_uses()}
        texts, kept_ids = [], []
        for block in body:
            if block.type == "text":
                texts.append(block.text or "")
            elif block.type == "tool_use":
                kept_ids.append(self._kept_call(block, old_uses, rid, where))
            else:
                raise FormatError(f"a {block.type} block cannot be stored in an OpenHands action", path=where)
        kept = [a for a in actions if a.call_id in kept_ids]
        if not kept:
            raise FormatError(
                "an assistant message of a tool-call response must keep at least one of its "
                "tool calls: OpenHands stores the response only inside its actions",
                path=where,
            )
        self.kept.update(a.id for a in kept)
        self._rewrite_response(old, kept, "\n".join(texts), kept_ids)

    def _kept_call(self, block: Block, old_uses: dict[str | None, Block], rid: str, where: str) -> str | None:
        previous = old_uses.get(block.id)
        if block.source.event is None or previous is None:
            raise FormatError(
                "a new tool call cannot be written: OpenHands stores a tool call as the action it ran", path=where
            )
        if (block.name, block.input, block.arguments) != (previous.name, previous.input, previous.arguments):
            raise FormatError(
                f"changing tool call {block.id} is not supported: its action would no longer match", path=where
            )
        self._claim(("call", rid, block.id), where)
        return block.id

    def _rewrite_response(self, old: Message, kept: list[_Event], text: str, kept_ids: list[str | None]) -> None:
        old_text = "\n".join(b.text or "" for b in old.blocks if b.type == "text")
        old_ids = [b.id for b in old.tool_uses()]
        text_ref = next((b.source for b in old.blocks if b.type == "text"), None)
        # Text read from the thought of an action that goes would vanish on re-read: move it.
        text_orphaned = (
            text_ref is not None
            and text_ref.path.endswith(".args.thought")
            and text_ref.event not in {a.id for a in kept}
        )
        text_changed = text != old_text or text_orphaned
        if not text_changed and kept_ids == old_ids:
            return
        for action in kept:
            data = self._edit(action.id)
            response = _response_of(data)
            if kept_ids != old_ids:
                calls = {c["id"]: c for c in response.get("tool_calls") or []}
                response["tool_calls"] = [calls[i] for i in kept_ids if i in calls]
                data["tool_call_metadata"]["total_calls_in_response"] = len(response["tool_calls"])
            if text_changed:
                _set_response_text(data, text)

    # -- tool results
    def _result(self, block: Block, where: str) -> None:
        if isinstance(block.content, list) and any(b.type != "text" for b in block.content):
            raise FormatError("an OpenHands observation holds text only", path=where)
        eid = block.source.event
        if eid is None:
            self._new_result(block, where)
            return
        if self._event(eid, where).kind != RESULT:
            raise FormatError(f"refers to event {eid}, which is not a tool observation", path=where)
        eid = cast(int, eid)  # _event took only an int
        self._claim(("result", eid), where)
        self.kept.add(eid)
        old = self.index.results[eid]
        if block.tool_use_id != old.tool_use_id or bool(block.is_error) != bool(old.is_error):
            raise FormatError(
                "changing which call a result answers, or whether it is an error, is not "
                "supported: the observation type says it",
                path=where,
            )
        if block.result_text != old.result_text:
            data = self._edit(eid)
            if data.get("message") == data.get("content"):
                data["message"] = block.result_text
            data["content"] = block.result_text

    def _new_result(self, block: Block, where: str) -> None:
        action = self.index.call_action.get(block.tool_use_id)
        if action is None:
            raise FormatError(
                f"a result for tool call {block.tool_use_id} needs the action that made "
                "the call; the original has none",
                path=where,
            )
        text = block.result_text
        # Exactly what AgentController._reset appends for an action the runtime never ran.
        self._append(
            {
                "id": self.next_id,
                "timestamp": self.timestamp,
                "source": "agent",
                "message": text,
                "cause": action.id,
                "observation": "error",
                "tool_call_metadata": copy.deepcopy(action.data["tool_call_metadata"]),
                "content": text,
                "extras": {"error_id": NOT_EXECUTED},
            }
        )

    def _check_causes(self, removed: set[int]) -> None:
        for event in self.new:
            if event.get("cause") in removed:
                raise FormatError(
                    f"the new result for tool call {event['tool_call_metadata']['tool_call_id']} "
                    f"answers action {event['cause']}, which the history removes"
                )


def _text_only(blocks: list[Block], where: str) -> str:
    text, urls = _text_and_images(blocks, where)
    if urls:
        raise FormatError("images cannot be stored here", path=where)
    return text


def _text_and_images(blocks: list[Block], where: str) -> tuple[str, list[str]]:
    texts, urls = [], []
    for block in blocks:
        if block.type == "text":
            texts.append(block.text or "")
        elif block.type == "image":
            urls.append(_url(block.media))
        else:
            raise FormatError(f"a {block.type} block cannot be stored in an OpenHands message event", path=where)
    return "\n".join(texts), urls


def _set_text(data: dict[str, Any], holder: str, key: str, text: str) -> None:
    """Set the text an event carries; its `message` summary follows when it was that same text."""
    container = data.setdefault(holder, {})
    if data.get("message") == container.get(key):
        data["message"] = text
    container[key] = text


def _response_of(data: dict[str, Any]) -> dict[str, Any]:
    return cast("dict[str, Any]", data["tool_call_metadata"]["model_response"]["choices"][0]["message"])


def _set_response_text(data: dict[str, Any], text: str) -> None:
    response = _response_of(data)
    if text.strip():
        response["content"] = text  # the reader prefers it to any thought
        return
    response["content"] = None if response.get("content") is None else ""
    args = data.get("args") or {}
    if _thought(args).strip():
        if isinstance(args.get("thought"), dict):
            args["thought"]["text"] = ""
        else:
            args["thought"] = ""


def _new_timestamp(events: list[_Event]) -> str:
    """Now, naive local time as OpenHands writes it, but never before the last event."""
    now = datetime.now()
    latest = max((t for t in map(_parse_time, (e.data.get("timestamp") for e in events)) if t), default=None)
    return max(now, latest).isoformat() if latest else now.isoformat()


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment
    except (ValueError, OverflowError):  # not a time, or year 1 or 9999 in another time zone
        return None


# --- emitting documents -------------------------------------------------------------------------


def _dumps(event: dict[str, Any]) -> bytes:
    # OpenHands' EventStream: json.dumps with the stdlib defaults, no trailing newline.
    return json.dumps(event).encode("ascii")


def _emit_session(source: _Source, plan: _Plan) -> Document:
    original = source.doc
    touched = plan.touched
    stale = {name for name in original.files if _page_covers(name, touched)}
    files: dict[str, bytes] = {}
    for name, data in original.files.items():
        match = EVENT_FILE.match(name)
        eid = int(match[1]) if match else None
        if eid in plan.removed or name in stale:
            continue
        files[name] = _dumps(plan.edits[eid]) if eid in plan.edits else data
    for event in plan.new:
        files[f"events/{event['id']}.json"] = _dumps(event)
    removed = {f"events/{eid}.json" for eid in plan.removed} | stale
    return Document(name=original.name, files=files, is_dir=True, removed=removed)


def _page_covers(name: str, ids: set[int]) -> bool:
    match = CACHE_PAGE.match(name)
    return match is not None and any(int(match[1]) <= i < int(match[2]) for i in ids)


def _emit_trajectory(source: _Source, plan: _Plan) -> Document:
    original = source.doc
    name, raw = original.single
    if not plan.touched:
        return Document(name=original.name, files={name: raw})
    items = [plan.edits.get(e.id, e.data) for e in source.events if e.id not in plan.removed]
    items += plan.new
    value: Any = items
    if source.container_key:
        value = dict(original.json(name))
        value[source.container_key] = items
    text = original.text(name)
    out = json.dumps(value, indent=json_indent(text), ensure_ascii=text.isascii())
    if text.endswith("\n"):
        out += "\n"
    try:
        data = out.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate read from a \ud800 escape: escape it again
        data = (json.dumps(value, indent=json_indent(text)) + ("\n" if text.endswith("\n") else "")).encode("ascii")
    return Document(name=original.name, files={name: data})
