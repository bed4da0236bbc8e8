"""Claude Code session transcripts (`~/.claude/projects/<project>/<session-id>.jsonl`).

One JSON record per line, linked into a tree by `parentUuid`. The conversation Claude Code would
send on resume is the chain from the newest leaf back to its root, with bookkeeping records
dropped, consecutive assistant records of one API response (same `message.id`) merged, and
consecutive user records merged. That chain is what we read; everything else in the file
(sidechains, summaries, snapshots, records on no chain, duplicates, broken links) is counted in
`History.meta` so the page can show it and nothing disappears silently.

Writing is append-only in spirit (docs/formats.md §2 "Invariants for writing back"): a line
whose record did not change is copied byte for byte; new blocks become new records spliced into
the chain; a record left without blocks is dropped and its children re-parented.
"""

from __future__ import annotations

import copy
import json
import uuid as uuidlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from ..errors import FormatError
from ..model import Block, CacheControl, History, Message, SourceRef, Usage
from .document import Document

NAME = "claude-code"
WRITABLE = True

TURN_TYPES = ("user", "assistant")
RECORD_TYPES = frozenset(
    {
        "user",
        "assistant",
        "summary",
        "system",
        "file-history-snapshot",
        "queue-operation",
        "attachment",
        "progress",
        "permission-mode",
        "custom-title",
        "ai-title",
        "last-prompt",
        "worktree-state",
        "pr-link",
    }
)
# Record flags worth surfacing on a message: hidden injections and synthetic API-error turns.
MESSAGE_FLAGS = ("isMeta", "isApiErrorMessage", "isCompactSummary")
# Keys a new record copies from its neighbour so Claude Code files it in the same session.
SESSION_KEYS = ("isSidechain", "userType", "cwd", "sessionId", "version", "gitBranch", "agentId", "slug")
# Keys that name another record's uuid: a removed record must not stay named by any of them.
POINTER_KEYS = ("parentUuid", "leafUuid", "logicalParentUuid", "sourceToolAssistantUUID", "messageId")
SNIFF_LINES = 10
LISTED_LINES = 100


# --- the parsed file ---------------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    line: int
    obj: dict[str, Any]
    type: str
    uuid: str | None
    parent: str | None

    @property
    def is_turn(self) -> bool:
        return self.type in TURN_TYPES

    @property
    def sidechain(self) -> bool:
        return self.obj.get("isSidechain") is True


@dataclass
class Transcript:
    """Every record of the file, the uuid index and the main chain (root first)."""

    file: str
    records: list[Record]  # one per non-blank line, duplicates included
    by_uuid: dict[str, Record]  # first occurrence of each uuid
    lines_of: dict[str, list[int]]  # every line holding that uuid (duplicates)
    chain: list[Record]
    chain_breaks: list[int]
    duplicate_lines: list[int]
    subagent: bool = False
    by_line: dict[int, Record] = field(default_factory=dict)


def parse(doc: Document) -> Transcript:
    file, _ = doc.single
    rows = doc.jsonl(file)
    records: list[Record] = []
    by_uuid: dict[str, Record] = {}
    lines_of: dict[str, list[int]] = {}
    duplicates: list[int] = []
    for line, obj in rows:
        record = _record(obj, line, file)
        records.append(record)
        if record.uuid is None:
            continue
        first = by_uuid.get(record.uuid)
        if first is None:
            by_uuid[record.uuid] = record
        elif first.obj == obj:
            # A crash-and-resume can write the same record twice: harmless, kept once.
            duplicates.append(line)
        else:
            raise FormatError(
                f"uuid {record.uuid} was already used on line {first.line} by a different record",
                file=file,
                line=line,
                path="$.uuid",
            )
        lines_of.setdefault(record.uuid, []).append(line)

    skipped = set(duplicates)
    unique = [r for r in records if r.line not in skipped]
    turns = [r for r in unique if r.is_turn]
    if not turns:
        raise FormatError("no user or assistant record: not a Claude Code conversation", file=file)
    main = [r for r in turns if not r.sidechain]
    # A 2.x subagent file (agent-<id>.jsonl) holds only sidechain records: then that is the chain.
    leaf = (main or turns)[-1]
    chain, looped = _walk(leaf, by_uuid)
    breaks = {r.line for r in unique if r.parent is not None and r.parent not in by_uuid}
    if looped:
        breaks.add(chain[0].line)
    return Transcript(
        file=file,
        records=records,
        by_uuid=by_uuid,
        lines_of=lines_of,
        chain=chain,
        chain_breaks=sorted(breaks),
        duplicate_lines=duplicates,
        subagent=not main,
        by_line={r.line: r for r in records},
    )


def _record(obj: Any, line: int, file: str) -> Record:
    if not isinstance(obj, dict):
        raise FormatError(f"a Claude Code record must be a JSON object, got {_kind(obj)}", file=file, line=line)
    rtype = obj.get("type")
    rtype = rtype if isinstance(rtype, str) else "(no type)"
    uid = obj.get("uuid")
    parent = obj.get("parentUuid")
    if rtype in TURN_TYPES:
        if not isinstance(uid, str) or not uid:
            raise FormatError(f"{rtype} record without a uuid", file=file, line=line, path="$.uuid")
        if not isinstance(obj.get("message"), dict):
            raise FormatError(f"{rtype} record without a message object", file=file, line=line, path="$.message")
    if uid is not None and not isinstance(uid, str):
        raise FormatError(f"uuid must be a string, got {_kind(uid)}", file=file, line=line, path="$.uuid")
    if parent is not None and not isinstance(parent, str):
        raise FormatError(
            f"parentUuid must be a string or null, got {_kind(parent)}", file=file, line=line, path="$.parentUuid"
        )
    return Record(line=line, obj=obj, type=rtype, uuid=uid or None, parent=parent)


def _walk(leaf: Record, by_uuid: dict[str, Record]) -> tuple[list[Record], bool]:
    """The chain from the root to `leaf`, and whether it stopped on a parentUuid loop. It also
    stops at a parent never written (the caller lists those as chain breaks)."""
    chain = [leaf]
    seen = {leaf.uuid}
    current = leaf
    while current.parent is not None:
        parent = by_uuid.get(current.parent)
        if parent is None:
            break
        if parent.uuid in seen:
            chain.reverse()
            return chain, True
        chain.append(parent)
        seen.add(parent.uuid)
        current = parent
    chain.reverse()
    return chain, False


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


# --- reading -----------------------------------------------------------------------------------


def sniff(doc: Document) -> bool:
    """The first records are Claude Code records: a known `type` with uuid + sessionId (camelCase:
    headless stream-json writes session_id), or a summary with leafUuid."""
    if doc.is_dir or len(doc.files) != 1:
        return False
    try:
        text = doc.text()
    except FormatError:
        return False
    lines = [ln for ln in text.split("\n", SNIFF_LINES)[:SNIFF_LINES] if ln.strip()]
    claimed = False
    for line in lines:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            return claimed  # a cut-off last line of the sample, or not JSONL at all
        if not isinstance(obj, dict):
            return False
        if not isinstance(obj.get("type"), str) or obj["type"] not in RECORD_TYPES:
            continue
        if ("uuid" in obj and "sessionId" in obj) or (obj["type"] == "summary" and "leafUuid" in obj):
            claimed = True
    return claimed


def read(doc: Document) -> list[History]:
    transcript = parse(doc)
    return [_history(transcript)]


def _history(t: Transcript) -> History:
    turns = [r for r in t.chain if r.is_turn]
    messages = _messages(turns, t.file)
    assistants = [r for r in turns if r.type == "assistant"]
    models = [r.obj["message"].get("model") for r in assistants]
    models = [m for m in models if isinstance(m, str) and m != "<synthetic>"]
    stamps = [r.obj["timestamp"] for r in t.chain if isinstance(r.obj.get("timestamp"), str)]
    leaf = t.chain[-1]
    return History(
        format=NAME,
        messages=messages,
        model=models[-1] if models else None,
        provider="anthropic",
        external_id=leaf.obj.get("sessionId"),
        title=_title(t),
        started_at=stamps[0] if stamps else None,
        ended_at=stamps[-1] if stamps else None,
        meta=_meta(t),
    )


def _title(t: Transcript) -> str | None:
    """The summary that names a record of the chain, else the last summary of the file."""
    on_chain = {r.uuid for r in t.chain}
    summaries = [r.obj for r in t.records if r.type == "summary" and isinstance(r.obj.get("summary"), str)]
    for summary in reversed(summaries):
        if summary.get("leafUuid") in on_chain:
            return cast(str, summary["summary"])
    return summaries[-1]["summary"] if summaries else None


def _meta(t: Transcript) -> dict[str, Any]:
    duplicates = set(t.duplicate_lines)
    unique = [r for r in t.records if r.line not in duplicates]
    on_chain = {r.uuid for r in t.chain}
    leaf = t.chain[-1].obj
    meta: dict[str, Any] = {
        "records": len(t.records),
        "records_by_type": dict(Counter(r.type for r in unique)),
        "leaf": t.chain[-1].uuid,
        "chain_records": len(t.chain),
        "sidechains": [] if t.subagent else _sidechains(unique, t.by_uuid, on_chain),
        "chain_breaks": t.chain_breaks,
    }
    for key, name in (("cwd", "cwd"), ("version", "version"), ("gitBranch", "git_branch")):
        if isinstance(leaf.get(key), str):
            meta[name] = leaf[key]
    if t.subagent:
        meta["subagent"] = True
    # Sidechain records are listed per subagent instead (except in a subagent's own file).
    orphans = [r.line for r in unique if r.uuid and r.uuid not in on_chain and (t.subagent or not r.sidechain)]
    if orphans:
        meta["orphans"] = {"records": len(orphans), "lines": orphans[:LISTED_LINES]}
    if t.duplicate_lines:
        meta["duplicates"] = {"records": len(t.duplicate_lines), "lines": t.duplicate_lines[:LISTED_LINES]}
    return meta


def _sidechains(records: list[Record], by_uuid: dict[str, Record], on_chain: set[str | None]) -> list[dict[str, Any]]:
    """Inline subagent conversations (1.0.x), one entry per sidechain root."""
    root_of: dict[str, str] = {}

    def root(record: Record) -> str:
        path: list[str] = []
        current = record
        while True:
            uid = cast(str, current.uuid)  # the caller's record has one, and so has every by_uuid record
            if uid in root_of:
                found = root_of[uid]
                break
            path.append(uid)
            parent = by_uuid.get(current.parent) if current.parent else None
            if parent is None or not parent.sidechain or parent.uuid in path:
                found = uid
                break
            current = parent
        for u in path:
            root_of[u] = found
        return found

    groups: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.sidechain and record.uuid and record.uuid not in on_chain:
            top = root(record)
            group = groups.setdefault(top, {"root": top, "records": 0, "first_line": record.line})
            group["records"] += 1
    return sorted(groups.values(), key=lambda g: g["first_line"])


def _messages(turns: list[Record], file: str) -> list[Message]:
    messages: list[Message] = []
    group: list[Record] = []
    for record in turns:
        if group and not _same_message(group[-1], record):
            messages.append(_message(group, file))
            group = []
        group.append(record)
    if group:
        messages.append(_message(group, file))
    return messages


def _same_message(previous: Record, record: Record) -> bool:
    if previous.type != record.type:
        return False
    if record.type == "user":
        return True
    mid = record.obj["message"].get("id")
    return mid is not None and mid == previous.obj["message"].get("id")


def _message(records: list[Record], file: str) -> Message:
    first, last = records[0], records[-1]
    blocks: list[Block] = []
    for record in records:
        blocks.extend(record_blocks(record, file))
    body = last.obj["message"]
    content = first.obj["message"].get("content")
    form = "blocks"
    if len(records) == 1:
        form = {str: "string", type(None): "null"}.get(type(content), "blocks")
        if "content" not in first.obj["message"]:
            form = "missing"
    message = Message(
        role=first.type,
        blocks=blocks,
        content_form=form,
        usage=_usage(body.get("usage")),
        model=body.get("model") if isinstance(body.get("model"), str) else None,
        timestamp=_text(first.obj.get("timestamp")),
        id=_text(body.get("id")) if first.type == "assistant" else None,
        source=SourceRef(file=file, line=first.line, path="$.message"),
        extra={"uuids": [r.uuid for r in records]},
    )
    if first.type == "assistant" and "stop_reason" in body:
        message.extra["stop_reason"] = body["stop_reason"]
    for flag in MESSAGE_FLAGS:
        flagged = [r.line for r in records if r.obj.get(flag)]
        if flagged:
            message.extra[flag] = True
            if len(records) > 1:
                message.extra[flag + "_lines"] = flagged
    return message


def _text(value: Any) -> str | None:
    """A string field of the model; a value of another type in the log is not one."""
    return value if isinstance(value, str) else None


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    values = {k: raw.get(k) for k in Usage.__slots__}
    values = {k: v if isinstance(v, int) and not isinstance(v, bool) else None for k, v in values.items()}
    return Usage(**values) if any(v is not None for v in values.values()) else None


def record_blocks(record: Record, file: str) -> list[Block]:
    """The content blocks of one user/assistant record, each pointing back at its line."""
    content = record.obj["message"].get("content")
    if content is None:
        return []
    if isinstance(content, str):
        return [Block.text_block(content, source=SourceRef(file=file, line=record.line, path="$.message.content"))]
    if not isinstance(content, list):
        raise FormatError(
            f"message.content must be a string or a list, got {_kind(content)}",
            file=file,
            line=record.line,
            path="$.message.content",
        )
    return [
        parse_block(item, SourceRef(file=file, line=record.line, path=f"$.message.content[{j}]"))
        for j, item in enumerate(content)
    ]


# Wire keys each block type names in the canonical model; the rest goes to Block.extra.
_NAMED = {
    "text": ("type", "text", "cache_control"),
    "tool_use": ("type", "id", "name", "input", "cache_control"),
    "tool_result": ("type", "tool_use_id", "content", "is_error", "cache_control"),
    "thinking": ("type", "thinking", "signature", "cache_control"),
    "redacted_thinking": ("type", "data", "cache_control"),
    "image": ("type", "source", "cache_control"),
    "document": ("type", "source", "cache_control"),
}


def parse_block(item: Any, source: SourceRef) -> Block:
    btype = item.get("type") if isinstance(item, dict) else None
    if btype not in _NAMED or not _well_typed(item):
        return Block(type="other", source=source, extra={"raw": item})
    extra = {k: v for k, v in item.items() if k not in _NAMED[btype]}
    block = Block(
        type=btype, source=source, extra=extra, cache_control=CacheControl.from_wire(item.get("cache_control"))
    )
    if btype == "text":
        block.text = item["text"]
    elif btype == "tool_use":
        block.id, block.name, block.input = item.get("id"), item.get("name"), item.get("input")
    elif btype == "tool_result":
        block.tool_use_id = item.get("tool_use_id")
        block.is_error = item.get("is_error")
        content = item.get("content")
        if isinstance(content, list):
            content = [
                parse_block(c, SourceRef(file=source.file, line=source.line, path=f"{source.path}.content[{i}]"))
                for i, c in enumerate(content)
            ]
        block.content = content
    elif btype == "thinking":
        block.text, block.signature = item.get("thinking"), item.get("signature")
    elif btype == "redacted_thinking":
        block.data = item.get("data")
    else:
        block.media = item.get("source")
    return block


def _well_typed(item: dict[str, Any]) -> bool:
    """Shapes the canonical fields can hold; anything else is kept raw as an `other` block."""
    checks = {
        "text": lambda: isinstance(item.get("text"), str),
        "tool_use": lambda: isinstance(item.get("id"), str) and isinstance(item.get("name"), str),
        "tool_result": lambda: (
            isinstance(item.get("tool_use_id"), str)
            and isinstance(item.get("content"), (str, list, type(None)))
            and isinstance(item.get("is_error"), (bool, type(None)))
        ),
        "thinking": lambda: (
            isinstance(item.get("thinking"), (str, type(None))) and isinstance(item.get("signature"), (str, type(None)))
        ),
        "redacted_thinking": lambda: isinstance(item.get("data"), (str, type(None))),
        "image": lambda: isinstance(item.get("source"), (dict, type(None))),
        "document": lambda: isinstance(item.get("source"), (dict, type(None))),
    }
    return checks[item["type"]]()


def block_wire(block: Block) -> Any:
    """A canonical block as Anthropic content JSON (what Claude Code stores)."""
    if block.type == "other":
        return block.extra.get("raw")
    wire: dict[str, Any] = {"type": block.type}
    if block.type == "text":
        wire["text"] = block.text or ""
    elif block.type == "tool_use":
        wire.update(id=block.id, name=block.name, input=block.input if block.input is not None else {})
    elif block.type == "tool_result":
        wire["tool_use_id"] = block.tool_use_id
        if block.content is not None:
            wire["content"] = (
                block.content if isinstance(block.content, str) else [block_wire(b) for b in block.content]
            )
        if block.is_error is not None:
            wire["is_error"] = block.is_error
    elif block.type == "thinking":
        wire.update(thinking=block.text or "", signature=block.signature or "")
    elif block.type == "redacted_thinking":
        wire["data"] = block.data or ""
    elif block.type in ("image", "document"):
        wire["source"] = block.media
    else:
        raise FormatError(f"a {block.type!r} block cannot be written to a Claude Code transcript")
    if block.cache_control is not None:
        wire["cache_control"] = block.cache_control.to_wire()
    wire.update(block.extra)
    return wire


# --- writing -----------------------------------------------------------------------------------


@dataclass
class _New:
    """A record the writer creates for a block that was not read from the file."""

    block: Block
    message: Message
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    obj: dict[str, Any] = field(default_factory=dict)  # filled once its parent is known


@dataclass
class _Plan:
    """What changes in the file: per line, a new content list, key patches, or removal."""

    content: dict[int, Any] = field(default_factory=dict)
    patches: dict[int, dict[str, Any]] = field(default_factory=dict)
    dropped: set[int] = field(default_factory=set)
    inserted_after: dict[int | None, list[dict[str, Any]]] = field(default_factory=dict)

    def patch(self, line: int, key: str, value: Any) -> None:
        self.patches.setdefault(line, {})[key] = value


def write(history: History, original: Document | None) -> Document:
    if history.format != NAME or original is None:
        raise FormatError(
            "a Claude Code transcript can only be written back over the transcript "
            "it was read from (a new session file from another format is not "
            "supported)"
        )
    transcript = parse(original)
    chain_turns = {r.line: r for r in transcript.chain if r.is_turn}
    plan = _Plan()

    placed, news = _place_blocks(history, chain_turns)
    _plan_content(plan, transcript, chain_turns, placed)
    sequence = _sequence(transcript, plan, news)
    _plan_links(plan, transcript, sequence)
    _plan_pointers(plan, transcript)
    return Document(name=original.name, files={transcript.file: _render(plan, transcript, original)}, is_dir=False)


def _place_blocks(
    history: History, chain_turns: dict[int, Record]
) -> tuple[dict[int, list[Block]], list[tuple[int | None, _New]]]:
    """Blocks per original line, and new blocks with the line of the block before them. A block
    pointing at a line that is not a turn of the chain is treated as new. (The file name is not
    compared: an upload and its stored original may carry different names.)"""
    placed: dict[int, list[Block]] = {}
    news: list[tuple[int | None, _New]] = []
    anchor: int | None = None
    for message in history.messages:
        if message.role not in TURN_TYPES:
            raise FormatError(f"a Claude Code transcript has no {message.role!r} messages", path=str(message.source))
        for block in message.blocks:
            line = block.source.line
            if line in chain_turns:
                placed.setdefault(line, []).append(block)
                anchor = line
            else:
                news.append((anchor, _New(block=block, message=message)))
    return placed, news


def _plan_content(plan: _Plan, t: Transcript, chain_turns: dict[int, Record], placed: dict[int, list[Block]]) -> None:
    for line, record in chain_turns.items():
        before = record_blocks(record, t.file)
        after = placed.get(line, [])
        if [b.to_dict() for b in after] == [b.to_dict() for b in before]:
            continue
        if not after and before:
            plan.dropped.add(line)
            continue
        plan.content[line] = _content(record, before, after)


def _content(record: Record, before: list[Block], after: list[Block]) -> Any:
    """The new message.content of a changed record, reusing original items that did not change
    so their key order and unknown keys survive."""
    raw = record.obj["message"].get("content")
    if (
        isinstance(raw, str)
        and len(after) == 1
        and after[0].type == "text"
        and after[0].source.path == "$.message.content"
    ):
        return after[0].text
    originals = {b.source.path: (b, raw[j]) for j, b in enumerate(before)} if isinstance(raw, list) else {}
    content = []
    for block in after:
        found = originals.get(block.source.path)
        if found and found[0].to_dict() == block.to_dict():
            content.append(found[1])
        elif found and isinstance(found[1], dict):
            wire = block_wire(block)
            merged = {k: wire[k] for k in found[1] if k in wire}
            merged.update({k: v for k, v in wire.items() if k not in merged})
            content.append(merged)
        else:
            content.append(block_wire(block))
    return content


def _sequence(t: Transcript, plan: _Plan, news: list[tuple[int | None, _New]]) -> list[Any]:
    """The new chain: kept records in order with each new record right after its anchor."""
    after: dict[int | None, list[_New]] = {}
    for anchor, new in news:
        after.setdefault(anchor, []).append(new)
    sequence: list[Any] = list(after.get(None, []))
    for record in t.chain:
        if record.line not in plan.dropped:
            sequence.append(record)
        sequence.extend(after.get(record.line, []))
    return sequence


def _plan_links(plan: _Plan, t: Transcript, sequence: list[Any]) -> None:
    """Parent every element of the new chain on the one before it; build the new records."""
    root_parent = t.chain[0].parent
    template = next((e for e in sequence if isinstance(e, Record)), t.chain[0])
    previous: Any = None
    anchor_line: int | None = None
    holder_of: dict[str, str | None] = {}
    for element in sequence:
        parent = root_parent if previous is None else previous.uuid
        if isinstance(element, Record):
            template = element
            anchor_line = element.line
            if element.parent != parent:
                plan.patch(element.line, "parentUuid", parent)
            if element.type == "assistant":
                for item in _list(element.obj["message"].get("content")):
                    if isinstance(item, dict) and item.get("type") == "tool_use":
                        holder_of[str(item.get("id"))] = element.uuid
        else:
            element.obj = _new_record(element, parent, template, previous, t, holder_of)
            if element.block.type == "tool_use":
                holder_of[str(element.block.id)] = element.uuid
            plan.inserted_after.setdefault(anchor_line, []).append(element.obj)
        previous = element


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _new_record(
    new: _New, parent: str | None, template: Record, previous: Any, t: Transcript, holder_of: dict[str, str | None]
) -> dict[str, Any]:
    role = new.message.role
    obj: dict[str, Any] = {"parentUuid": parent}
    for key in SESSION_KEYS:
        if key in template.obj:
            obj[key] = template.obj[key]
    obj["type"] = role
    obj["message"] = _new_message(new, t)
    obj["uuid"] = new.uuid
    obj["timestamp"] = _after(_timestamp_of(previous))
    block = new.block
    if block.type == "tool_result":
        text = block.result_text
        obj["toolUseResult"] = (text if text.startswith("Error") else f"Error: {text}") if block.is_error else text
        if any("sourceToolAssistantUUID" in r.obj for r in t.records) and block.tool_use_id in holder_of:
            obj["sourceToolAssistantUUID"] = holder_of[block.tool_use_id]
    return obj


def _new_message(new: _New, t: Transcript) -> dict[str, Any]:
    wire = block_wire(new.block)
    if new.message.role == "user":
        single_string = new.message.content_form == "string" and new.block.type == "text"
        return {"role": "user", "content": new.block.text if single_string else [wire]}
    # Another record of the same API response gives the envelope (id, model, usage, stop_reason).
    sibling = next(
        (
            r
            for r in t.chain
            if r.type == "assistant" and new.message.id and r.obj["message"].get("id") == new.message.id
        ),
        None,
    )
    if sibling is not None:
        body: dict[str, Any] = copy.deepcopy(sibling.obj["message"])
        body["content"] = [wire]
        return body
    return {
        "id": new.message.id or f"msg_{uuidlib.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": new.message.model or "<synthetic>",
        "content": [wire],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": new.message.usage.to_dict() if new.message.usage else {"input_tokens": 0, "output_tokens": 0},
    }


def _timestamp_of(element: Any) -> str | None:
    if element is None:
        return None
    obj = element.obj
    return obj.get("timestamp") if isinstance(obj.get("timestamp"), str) else None


def _after(stamp: str | None) -> str:
    """One millisecond after the parent, in Claude Code's ISO UTC form."""
    moment = None
    if stamp:
        try:
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC) + timedelta(milliseconds=1)
    except OverflowError:  # the parent says year 1 or 9999: no later instant to give
        moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _plan_pointers(plan: _Plan, t: Transcript) -> None:
    """Nothing may keep naming a dropped record: point at its nearest surviving ancestor."""
    dropped = {t.by_line[line].uuid for line in plan.dropped}
    if not dropped:
        return

    def survivor(uid: str) -> str | None:
        seen = set()
        while uid in dropped and uid not in seen:
            seen.add(uid)
            parent = t.by_uuid[uid].parent
            if parent is None:
                return None
            uid = parent
        return uid

    for record in t.records:
        if record.line in plan.dropped or (record.uuid in dropped):
            continue
        for key in POINTER_KEYS:
            value = record.obj.get(key)
            if value in dropped and key not in plan.patches.get(record.line, {}):
                plan.patch(record.line, key, survivor(cast(str, value)))  # in dropped: a turn's uuid


def _render(plan: _Plan, t: Transcript, original: Document) -> bytes:
    _, data = original.single
    raw_lines = data.split(b"\n")
    # Duplicates of a changed or dropped record change with it, or they would stop being copies.
    _spread_to_duplicates(plan, t)
    out: list[bytes] = []
    first_chain_line = next((r.line for r in t.chain if r.line not in plan.dropped), None)
    head = [_dump(obj) for obj in plan.inserted_after.get(None, [])]
    for number, raw in enumerate(raw_lines, start=1):
        if number == first_chain_line and head:
            out.extend(head)
            head = []
        if number in plan.dropped:
            pass
        elif number in plan.content or number in plan.patches:
            out.append(
                _changed_line(raw, t.by_line[number], plan.content.get(number, _KEEP), plan.patches.get(number, {}))
            )
        else:
            out.append(raw)
        out.extend(_dump(obj) for obj in plan.inserted_after.get(number, []))
    if head:
        at = len(out) - 1 if out and out[-1] == b"" else len(out)
        out[at:at] = head
    return b"\n".join(out)


_KEEP = object()


def _spread_to_duplicates(plan: _Plan, t: Transcript) -> None:
    for line in list(plan.dropped) + list(plan.content) + list(plan.patches):
        uid = t.by_line[line].uuid
        for other in t.lines_of.get(uid, []) if uid else []:
            if other == line:
                continue
            if line in plan.dropped:
                plan.dropped.add(other)
            if line in plan.content:
                plan.content.setdefault(other, plan.content[line])
            if line in plan.patches:
                plan.patches.setdefault(other, dict(plan.patches[line]))


def _changed_line(raw: bytes, record: Record, content: Any, patches: dict[str, Any]) -> bytes:
    obj = copy.deepcopy(record.obj)
    if content is not _KEEP:
        obj["message"]["content"] = content
    obj.update(patches)
    if content is _KEEP:
        patched = _patch_in_place(raw, record.obj, patches, obj)
        if patched is not None:
            return patched
    return _dump(obj)


def _patch_in_place(raw: bytes, old: dict[str, Any], patches: dict[str, Any], expected: dict[str, Any]) -> bytes | None:
    """Replace just the values of top-level pointer keys in the original bytes, so the rest of the
    line stays exactly as Claude Code wrote it; None when the text does not allow it."""
    text = raw.decode("utf-8")
    for key, value in patches.items():
        if key not in old:
            return None
        before = f'"{key}":{json.dumps(old[key], ensure_ascii=False)}'
        after = f'"{key}":{json.dumps(value, ensure_ascii=False)}'
        if text.count(before) != 1:
            return None
        text = text.replace(before, after)
    try:
        if json.loads(text) != expected:
            return None
    except ValueError:
        return None
    return text.encode("utf-8")


def _dump(obj: dict[str, Any]) -> bytes:
    """JSON.stringify style: compact, non-ASCII written raw."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it as JavaScript would
        return json.dumps(obj, separators=(",", ":")).encode("ascii")
