"""OpenHands V1 events -> History, as the SDK sends them (docs/formats-openhands-v1.md).

The steps of openhands-sdk 1.58.2, each named where it is mirrored:
  1. the branch: EventLog.path_to_root(leaf_event_id) (openhands_v1_log);
  2. the view: View.append_event over the branch: LLM-convertible events kept, a Condensation
     drops its forgotten events and inserts its summary at summary_offset; of two results for
     one call the first is kept (ObservationUniquenessProperty);
  3. the messages: LLMConvertibleEvent.events_to_messages: consecutive ActionEvents of one
     llm_response_id form one assistant message, consecutive plain user messages merge.
The other View properties (unanswered calls, half batches) are NOT applied: the SDK would drop
those events silently, and that is exactly what the checker has to see.

Every event not in the history is listed in meta["left_off"], and every tool call left on a
branch the conversation abandoned without a result in meta["abandoned"], for the
`abandoned-tool-call` rule and its repair.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ..leftoff import LeftOff, left_off_meta
from ..model import Block, History, Message, SystemPart, Tool, Usage
from .document import loads
from .openhands_v1_log import STATE_UPDATE, Event, Log

NAME = "openhands-v1"

ACTION = "ActionEvent"
MESSAGE = "MessageEvent"
SYSTEM = "SystemPromptEvent"
CONDENSATION = "Condensation"
RESULT_KINDS = ("ObservationEvent", "AgentErrorEvent", "UserRejectObservation")
CONVERTIBLE = (SYSTEM, MESSAGE, ACTION, *RESULT_KINDS)
# Observation.ERROR_MESSAGE_HEADER: the SDK puts it before the content of an error observation.
ERROR_HEADER = "[An error occurred during execution.]\n"
# What the SDK cuts: a terminal's output (MAX_CMD_OUTPUT_SIZE) when it makes the observation, and
# any tool message's text (DEFAULT_TEXT_CONTENT_LIMIT) when it sends it; the notices it puts in.
TERMINAL_LIMIT = 30_000
TOOL_TEXT_LIMIT = 50_000
TRUNCATE_NOTICE = (
    "<response clipped><NOTE>Due to the max output limit, only part of the full response has been shown to you.</NOTE>"
)
TRUNCATE_NOTICE_SAVED = (
    "<response clipped><NOTE>Due to the max output limit, only part of the full response has been shown to you. "
    "The complete output has been saved to {file_path} - you can use other tools to view the full content "
    "(truncated part starts around line {line_num}).</NOTE>"
)


@dataclass
class Reading:
    """A history and what the writer needs to map it back onto events: the branch, and which of
    its events carry no message of their own (state, pauses, condensations, forgotten events,
    duplicate results), which stay where they are on the branch whatever the history does."""

    history: History
    path: list[Event]
    carried: set[str] = field(default_factory=set)


@dataclass
class _Summary:
    """A Condensation's summary in the view (the SDK's CondensationSummaryEvent)."""

    event: Event

    @property
    def id(self) -> str:
        return f"{self.event.id}-summary"


ViewItem = Event | _Summary


def build(log: Log) -> Reading:
    path = log.path()
    left: list[LeftOff] = []
    view, forgotten = _view(path)
    view, duplicates = _unique_results(view)
    history = History(format=NAME)
    _Messages(history, log).emit(view)
    in_view = {item.event.id if isinstance(item, _Summary) else item.id for item in view}
    carried = {e.id for e in path if e.id not in in_view or e.kind == CONDENSATION}
    on_path = {e.id for e in path}
    for event in log.events:
        item = _left_off(event, on_path, in_view, forgotten, duplicates)
        if item is not None:
            left.append(item)
    left.extend(LeftOff(e.file, "duplicate record", e.kind, f"event {e.id} again") for e in log.repeated)
    _describe(history, log, path, left)
    history.meta["abandoned"] = _abandoned(log, path, history)
    return Reading(history, path, carried)


# --- the view ---------------------------------------------------------------------------------------


def _view(path: list[Event]) -> tuple[list[ViewItem], dict[str, str]]:
    """View.append_event over the branch; forgotten: event id -> the condensation that forgot it."""
    view: list[ViewItem] = []
    forgotten: dict[str, str] = {}
    for event in path:
        if event.kind == CONDENSATION:
            ids = event.data.get("forgotten_event_ids") or []
            if not isinstance(ids, list):
                raise event.error("forgotten_event_ids must be a list", "$.forgotten_event_ids")
            gone = {str(i) for i in ids}
            forgotten.update({i: event.id for i in gone})
            view = [v for v in view if (v.id if isinstance(v, Event) else v.id) not in gone]
            offset = event.data.get("summary_offset")
            if isinstance(event.data.get("summary"), str) and isinstance(offset, int) and offset >= 0:
                view.insert(offset, _Summary(event))
        elif event.kind in CONVERTIBLE:
            view.append(event)
    return view, forgotten


def _unique_results(view: list[ViewItem]) -> tuple[list[ViewItem], dict[str, str]]:
    """ObservationUniquenessProperty: the first result for a tool_call_id wins. duplicates:
    event id of each later one -> the call it answers again."""
    seen: set[str] = set()
    kept: list[ViewItem] = []
    duplicates: dict[str, str] = {}
    for item in view:
        if isinstance(item, Event) and item.kind in RESULT_KINDS:
            call = _call_id(item)
            if call in seen:
                duplicates[item.id] = call
                continue
            seen.add(call)
        kept.append(item)
    return kept, duplicates


def _left_off(
    event: Event, on_path: set[str], in_view: set[str], forgotten: dict[str, str], duplicates: dict[str, str]
) -> LeftOff | None:
    if event.kind == STATE_UPDATE:
        key, value = event.data.get("key"), event.data.get("value")
        return LeftOff(event.file, "bookkeeping", event.kind, f"{key} = {_short(value)}")
    if event.id not in on_path:
        return LeftOff(event.file, "abandoned branch", event.kind, _abandoned_detail(event))
    if event.id in duplicates:
        return LeftOff(event.file, "duplicate result", event.kind, f"a second result for {duplicates[event.id]}")
    if event.id in forgotten:
        return LeftOff(event.file, "not a message", event.kind, f"forgotten by condensation {forgotten[event.id]}")
    if event.id not in in_view and not (event.kind == CONDENSATION and isinstance(event.data.get("summary"), str)):
        return LeftOff(event.file, "not a message", event.kind)
    return None


def _abandoned_detail(event: Event) -> str:
    if event.kind == ACTION:
        return f"tool call {event.data.get('tool_call_id')} ({event.data.get('tool_name')})"
    return ""


# --- the messages -------------------------------------------------------------------------------------


class _Messages:
    """LLMConvertibleEvent.events_to_messages, into a History."""

    def __init__(self, history: History, log: Log):
        self.history = history
        self.usage = _usage_by_response(log.base)
        self.plain_user_last = False  # _can_merge_user_messages: the SDK's previous message

    def emit(self, view: list[ViewItem]) -> None:
        i = 0
        while i < len(view):
            item = view[i]
            if isinstance(item, Event) and item.kind == ACTION:
                batch = [item]
                rid = item.data.get("llm_response_id")
                while i + len(batch) < len(view):
                    nxt = view[i + len(batch)]
                    if not (isinstance(nxt, Event) and nxt.kind == ACTION and nxt.data.get("llm_response_id") == rid):
                        break
                    batch.append(nxt)
                self._add(action_message(batch, self.usage), plain_user=False)
                i += len(batch)
                continue
            if isinstance(item, _Summary):
                text = str(item.event.data["summary"])
                block = Block.text_block(text, source=item.event.ref("$.summary"))
                message = Message("user", [block], source=item.event.ref("$.summary"), extra={"kind": "summary"})
                self._add(message, plain_user=True)
            elif item.kind == SYSTEM:
                self._system(item)
            elif item.kind == MESSAGE:
                message = _message(item)
                self._add(message, plain_user=message.role == "user" and not message.tool_uses())
            else:
                self._add(result_message(item), plain_user=False)
            i += 1

    def _add(self, message: Message, *, plain_user: bool) -> None:
        if plain_user and self.plain_user_last:
            self.history.messages[-1].blocks.extend(message.blocks)  # the SDK merges the two
        else:
            self.history.messages.append(message)
        self.plain_user_last = plain_user

    def _system(self, event: Event) -> None:
        prompt = event.data.get("system_prompt")
        if not isinstance(prompt, dict):
            raise event.error("a SystemPromptEvent needs its system_prompt", "$.system_prompt")
        blocks = _content([prompt], event, "$.system_prompt", single=True)
        dynamic = event.data.get("dynamic_context")
        if isinstance(dynamic, dict):
            blocks += _content([dynamic], event, "$.dynamic_context", single=True)
        self.history.system.append(
            SystemPart(blocks=blocks, before=len(self.history.messages), source=event.ref("$.system_prompt"))
        )
        if not self.history.tools:
            self.history.tools = _tools(event)
        self.plain_user_last = False


def action_message(batch: list[Event], usage: dict[str, Usage] | None = None) -> Message:
    """_combine_action_events: the first action's thinking blocks and thought, then every
    action's tool call."""
    first = batch[0]
    blocks = _thinking(first.data.get("thinking_blocks"), first, "$.thinking_blocks")
    thought = first.data.get("thought") or []
    if not isinstance(thought, list):
        raise first.error("thought must be a list", "$.thought")
    # Message._remove_content_if_empty: empty text is not sent beside tool calls.
    blocks += [b for b in _content(thought, first, "$.thought") if b.type != "text" or b.text]
    for event in batch:
        blocks.append(_tool_use(event))
    rid = first.data.get("llm_response_id")
    extra: dict[str, Any] = {"kind": ACTION}
    if isinstance(first.data.get("reasoning_content"), str) and first.data["reasoning_content"]:
        extra["reasoning_content"] = first.data["reasoning_content"]
    return Message(
        "assistant",
        blocks,
        usage=(usage or {}).get(rid) if isinstance(rid, str) else None,
        timestamp=_text(first.data.get("timestamp")),
        id=rid if isinstance(rid, str) else None,
        source=first.ref(),
        extra=extra,
    )


def _tool_use(event: Event) -> Block:
    call = event.data.get("tool_call")
    if not isinstance(call, dict) or not isinstance(call.get("id"), str) or not isinstance(call.get("name"), str):
        raise event.error("an ActionEvent needs its tool_call {id, name, arguments}", "$.tool_call")
    arguments = call.get("arguments")
    extra = (
        {"action": (event.data.get("action") or {}).get("kind")} if isinstance(event.data.get("action"), dict) else {}
    )
    if not isinstance(arguments, str):
        return Block.tool_use(call["id"], call["name"], arguments, source=event.ref("$.tool_call"), extra=extra)
    try:
        parsed = loads(arguments) if arguments.strip() else {}
    except (ValueError, RecursionError):
        parsed = None  # kept as written in `arguments`, for the checker to name
    return Block.tool_use(
        call["id"], call["name"], parsed, arguments=arguments, source=event.ref("$.tool_call"), extra=extra
    )


def _message(event: Event) -> Message:
    """MessageEvent.to_llm_message: its llm_message, with extended_content after the content."""
    llm = event.data.get("llm_message")
    if not isinstance(llm, dict) or llm.get("role") not in ("user", "assistant", "system", "tool"):
        raise event.error("a MessageEvent needs llm_message with a role", "$.llm_message")
    role = str(llm["role"])
    blocks = (
        _thinking(llm.get("thinking_blocks"), event, "$.llm_message.thinking_blocks") if role == "assistant" else []
    )
    content = llm.get("content") or []
    if isinstance(content, str):
        blocks.append(Block.text_block(content, source=event.ref("$.llm_message.content")))
    else:
        blocks += _content(content, event, "$.llm_message.content")
    blocks += _content(event.data.get("extended_content") or [], event, "$.extended_content")
    calls = llm.get("tool_calls") or []
    for k, call in enumerate(calls if isinstance(calls, list) else []):
        if isinstance(call, dict) and isinstance(call.get("id"), str):
            blocks.append(
                Block.tool_use(
                    call["id"],
                    str(call.get("name")),
                    call.get("arguments"),
                    source=event.ref(f"$.llm_message.tool_calls[{k}]"),
                )
            )
    rid = event.data.get("llm_response_id")
    return Message(
        role,
        blocks,
        timestamp=_text(event.data.get("timestamp")),
        id=rid if isinstance(rid, str) else None,
        source=event.ref(),
        extra={"kind": MESSAGE},
    )


def result_message(event: Event) -> Message:
    """A tool message: ObservationEvent (the observation's LLM content, then extended_content),
    AgentErrorEvent (its error) or UserRejectObservation ("Action rejected: <reason>")."""
    call = _call_id(event)
    is_error: bool | None = None
    if event.kind == "ObservationEvent":
        observation = event.data.get("observation")
        if not isinstance(observation, dict):
            raise event.error("an ObservationEvent needs its observation", "$.observation")
        content = _observation_content(observation, event)
        content += _content(event.data.get("extended_content") or [], event, "$.extended_content")
        is_error = True if observation.get("is_error") else None
        path = "$.observation.content"
    elif event.kind == "AgentErrorEvent":
        content = [Block.text_block(_string(event, "error"), source=event.ref("$.error"))]
        is_error, path = True, "$.error"
    else:
        reason = _string(event, "rejection_reason", "User rejected the action")
        content = [Block.text_block(f"Action rejected: {reason}", source=event.ref("$.rejection_reason"))]
        path = "$.rejection_reason"
    for item in content:
        if item.type == "text" and item.text is not None:
            item.text = truncated(item.text, TOOL_TEXT_LIMIT)  # Message._maybe_truncate_tool_text
    block = Block.tool_result(call, content, is_error=is_error, source=event.ref(path))
    return Message(
        "tool",
        [block],
        name=_text(event.data.get("tool_name")),
        timestamp=_text(event.data.get("timestamp")),
        source=event.ref(),
        extra={"kind": event.kind},
    )


def _observation_content(observation: dict[str, Any], event: Event) -> list[Block]:
    """Observation.to_llm_content: the error header, then the content; a TerminalObservation
    sends its text framed by its metadata (TerminalObservation.to_llm_content, without the
    SDK's truncation past 30,000 characters)."""
    raw = observation.get("content") or []
    if not isinstance(raw, list):
        raise event.error("observation.content must be a list", "$.observation.content")
    header = (
        [Block.text_block(ERROR_HEADER, source=event.ref("$.observation.is_error"))]
        if observation.get("is_error")
        else []
    )
    if observation.get("kind") != "TerminalObservation":
        return header + _content(raw, event, "$.observation.content")
    text = "".join(i.get("text") or "" for i in raw if isinstance(i, dict) and i.get("type") == "text")
    meta = _obj(observation, "metadata")
    framed = f"{meta.get('prefix') or ''}{text}{meta.get('suffix') or ''}"
    if meta.get("working_dir"):
        framed += f"\n[Current working directory: {meta['working_dir']}]"
    if meta.get("py_interpreter_path"):
        framed += f"\n[Python interpreter: {meta['py_interpreter_path']}]"
    if meta.get("exit_code", -1) != -1:
        framed += f"\n[Command finished with exit code {meta.get('exit_code')}]"
    save_dir = observation.get("full_output_save_dir")
    framed = truncated(framed, TERMINAL_LIMIT, save_dir if isinstance(save_dir, str) else None, "terminal")
    return header + [Block.text_block(framed, source=event.ref("$.observation.content"))]


def truncated(content: str, limit: int, save_dir: str | None = None, prefix: str = "output") -> str:
    """openhands.sdk.utils.truncate.maybe_truncate: the head and the tail of a text over the
    limit, with the SDK's notice between them (naming the file it saved the whole text to)."""
    if len(content) <= limit:
        return content
    notice = TRUNCATE_NOTICE
    head = (limit - len(notice)) // 2 + (limit - len(notice)) % 2
    if save_dir:
        digest = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        path = str(PurePosixPath(save_dir) / f"{prefix}_output_{digest}.txt")
        notice = TRUNCATE_NOTICE_SAVED.format(file_path=path, line_num=len(content[:head].splitlines()) + 1)
    if len(notice) >= limit:
        return notice[:limit]
    head = min(head, limit - len(notice))
    tail = limit - len(notice) - head
    return content[:head] + notice + (content[-tail:] if tail > 0 else "")


def _content(items: Any, event: Event, path: str, *, single: bool = False) -> list[Block]:
    """TextContent / ImageContent items: a text block each, an image block per URL."""
    if not isinstance(items, list):
        raise event.error("content must be a list of items", path)
    blocks = []
    for k, item in enumerate(items):
        where = path if single else f"{path}[{k}]"
        if not isinstance(item, dict):
            raise event.error("a content item must be an object", where)
        if item.get("type") == "image":
            urls = item.get("image_urls") or []
            for n, url in enumerate(urls if isinstance(urls, list) else []):
                blocks.append(Block(type="image", media=_media(url), source=event.ref(f"{where}.image_urls[{n}]")))
        elif item.get("type") == "text" or "text" in item:
            text = item.get("text")
            if not isinstance(text, str):
                raise event.error("a text item needs its text", f"{where}.text")
            blocks.append(Block.text_block(text, source=event.ref(where)))
        else:
            blocks.append(Block(type="other", source=event.ref(where), extra={"item": item}))
    return blocks


def _thinking(raw: Any, event: Event, path: str) -> list[Block]:
    blocks = []
    for k, item in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(item, dict):
            continue
        ref = event.ref(f"{path}[{k}]")
        if item.get("type") == "redacted_thinking":
            blocks.append(Block(type="redacted_thinking", data=_text(item.get("data")), source=ref))
        else:
            blocks.append(
                Block(
                    type="thinking",
                    text=_text(item.get("thinking")) or "",
                    signature=_text(item.get("signature")),
                    source=ref,
                )
            )
    return blocks


def _media(url: Any) -> dict[str, Any]:
    url = url if isinstance(url, str) else ""
    match = re.match(r"data:([^;,]+);base64,(.*)", url, re.S)
    if match:
        return {"type": "base64", "media_type": match[1], "data": match[2]}
    return {"type": "url", "url": url}


def _tools(event: Event) -> list[Tool]:
    """SystemPromptEvent.tools: name (its title), kind and description; the SDK stores no JSON
    schemas, so none is known here."""
    raw = event.data.get("tools") or []
    if not isinstance(raw, list):
        raise event.error("tools must be a list", "$.tools")
    tools = []
    for k, item in enumerate(raw):
        if not isinstance(item, dict):
            raise event.error("a tool must be an object", f"$.tools[{k}]")
        annotations = _obj(item, "annotations")
        name = item.get("title") or annotations.get("title") or item.get("kind")
        extra = {key: item[key] for key in ("kind", "action_type", "observation_type") if key in item}
        tools.append(
            Tool(
                name=str(name),
                description=_text(item.get("description")),
                source=event.ref(f"$.tools[{k}]"),
                extra=extra,
            )
        )
    return tools


def _call_id(event: Event) -> str:
    call = event.data.get("tool_call_id")
    if not isinstance(call, str):
        raise event.error(f"a {event.kind} needs its tool_call_id", "$.tool_call_id")
    return call


def _string(event: Event, key: str, default: str | None = None) -> str:
    value = event.data.get(key, default)
    if not isinstance(value, str):
        raise event.error(f"{key} must be a string", f"$.{key}")
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _usage_by_response(base: dict[str, Any]) -> dict[str, Usage]:
    """Token usage by response id, from base_state.json's stats (the SDK keeps it there, not
    on the events)."""
    found: dict[str, Usage] = {}
    stats = _obj(base, "stats")
    by_usage = _obj(stats, "usage_to_metrics")
    for metrics in by_usage.values():
        usages = metrics.get("token_usages") if isinstance(metrics, dict) else None
        for usage in usages if isinstance(usages, list) else []:
            if not isinstance(usage, dict) or not isinstance(usage.get("response_id"), str):
                continue
            found[usage["response_id"]] = Usage(
                input_tokens=_int(usage.get("prompt_tokens")),
                output_tokens=_int(usage.get("completion_tokens")),
                cache_creation_input_tokens=_int(usage.get("cache_write_tokens")),
                cache_read_input_tokens=_int(usage.get("cache_read_tokens")),
            )
    return found


def _obj(holder: dict[str, Any], key: str) -> dict[str, Any]:
    """holder[key] when it is an object, else {} (base_state.json is read, not validated)."""
    value = holder.get(key)
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- what the page says about the conversation ----------------------------------------------------------


def _describe(history: History, log: Log, path: list[Event], left: list[LeftOff]) -> None:
    base = log.base
    agent = _obj(base, "agent")
    llm = _obj(agent, "llm")
    condenser = _obj(agent, "condenser")
    tags = _obj(base, "tags")
    history.external_id = _text(base.get("id"))
    history.title = _text(base.get("title")) or _text(tags.get("title"))
    history.model = _text(llm.get("model"))
    stamps = [e.data["timestamp"] for e in log.events if isinstance(e.data.get("timestamp"), str)]
    if stamps:
        history.started_at, history.ended_at = stamps[0], stamps[-1]
    meta = history.meta
    meta["execution_status"] = _text(base.get("execution_status"))
    meta["agent"] = _text(agent.get("kind"))
    meta["condenser"] = _text(condenser.get("kind"))
    meta["leaf_event_id"] = path[-1].id if path else None
    meta["event_count"] = len(log.events)
    meta["branch_events"] = len(path)
    if log.ignored:
        meta["ignored_files"] = log.ignored
    meta["left_off"] = left_off_meta(left)


# --- tool calls on a branch the conversation left --------------------------------------------------------


def _abandoned(log: Log, path: list[Event], history: History) -> list[dict[str, Any]]:
    """Each response whose tool calls hang off the branch with at least one never answered:
    the assistant message they make, the results that exist, the calls that have none, and the
    message after which they belong (where their branch left the conversation's)."""
    order = {e.id: n for n, e in enumerate(path)}
    on_path = set(order)
    results: dict[str, Event] = {}
    for event in log.by_id.values():
        if event.kind in RESULT_KINDS and isinstance(event.data.get("tool_call_id"), str):
            results.setdefault(event.data["tool_call_id"], event)
    children: dict[str, list[Event]] = {}
    for event in log.by_id.values():
        parent = log.parent_of(event)
        if parent is not None and event.id not in on_path:
            children.setdefault(parent, []).append(event)
    found: list[dict[str, Any]] = []
    done: set[str] = set()
    for event in log.by_id.values():
        if event.kind != ACTION or event.id in on_path or event.id in done:
            continue
        batch = _batch(log, event, on_path, children)
        done.update(e.id for e in batch)
        calls = [_tool_use(e) for e in batch]
        unanswered = [
            {"id": c.id, "name": c.name, "event": e.id, "file": e.file}
            for c, e in zip(calls, batch, strict=True)
            if c.id not in results
        ]
        if not unanswered:
            continue
        fork = _fork(log, batch[0], on_path)
        after = _message_at(history, order, fork)
        found.append(
            {
                "response_id": batch[0].data.get("llm_response_id"),
                "fork_event": fork.id if fork else None,
                "after_message": after,
                "after_event": history.messages[after].source.event if after is not None else None,
                "message": action_message(batch).to_dict(),
                "results": [result_message(results[c.id]).to_dict() for c in calls if c.id in results],
                "unanswered": unanswered,
            }
        )
    return found


def _batch(log: Log, event: Event, on_path: set[str], children: dict[str, list[Event]]) -> list[Event]:
    """The run of off-branch ActionEvents of the event's response, as the SDK chains a parallel
    batch (action -> action -> ...)."""
    rid = event.data.get("llm_response_id")

    def same(e: Event | None) -> bool:
        return e is not None and e.kind == ACTION and e.id not in on_path and e.data.get("llm_response_id") == rid

    first = event
    while True:
        parent_id = log.parent_of(first)
        parent = log.by_id.get(parent_id) if parent_id else None
        if not same(parent):
            break
        first = parent  # type: ignore[assignment]  # same() checked it
    batch = [first]
    while True:
        nxt = next((c for c in sorted(children.get(batch[-1].id, []), key=lambda e: e.index) if same(c)), None)
        if nxt is None:
            return batch
        batch.append(nxt)


def _fork(log: Log, event: Event, on_path: set[str]) -> Event | None:
    """The nearest ancestor of the event that is on the conversation's branch."""
    seen: set[str] = set()
    current = log.parent_of(event)
    while current is not None and current not in on_path and current not in seen:
        seen.add(current)
        ancestor = log.by_id.get(current)
        current = log.parent_of(ancestor) if ancestor is not None else None
    return log.by_id.get(current) if current in on_path and current is not None else None


def _message_at(history: History, order: dict[str, int], fork: Event | None) -> int | None:
    """The last message made of events up to the fork point on the branch (None: before the
    first message)."""
    if fork is None:
        return None
    limit = order[fork.id]
    at = None
    for i, message in enumerate(history.messages):
        events = {b.source.event for b in message.blocks} | {message.source.event}
        if any(order.get(str(e), limit + 1) <= limit for e in events if e is not None):
            at = i
    return at
