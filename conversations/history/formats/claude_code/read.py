"""A Reading (turns.py) as a canonical History: its messages, and what the page and later work
need to know about the session (meta)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ...leftoff import left_off_meta
from ...model import Block, History, Message, SourceRef
from . import facts
from .blocks import record_blocks
from .transcript import Record
from .turns import Reading, Turn

NAME = "claude-code"
# Record flags worth surfacing on a message: hidden injections and synthetic API-error turns.
MESSAGE_FLAGS = ("isMeta", "isApiErrorMessage", "isCompactSummary")


def history(reading: Reading) -> History:
    messages, index_of = _messages(reading)
    path = reading.path
    models = [m.model for m in messages if m.role == "assistant" and m.model and m.model != "<synthetic>"]
    stamps = [r.obj["timestamp"] for r in path if isinstance(r.obj.get("timestamp"), str)]
    subagent = facts.subagent(reading)
    session = path[-1].obj.get("sessionId")
    session = session if isinstance(session, str) else None
    external_id = session
    if subagent is not None:
        external_id = f"{subagent['session_id'] or ''}/agent-{subagent['agent_id'] or 'unknown'}"
    return History(
        format=NAME,
        messages=messages,
        model=models[-1] if models else None,
        provider="anthropic",
        usage=facts.usage(reading),
        external_id=external_id,
        title=facts.title(reading),
        started_at=stamps[0] if stamps else None,
        ended_at=stamps[-1] if stamps else None,
        meta=_meta(reading, messages, index_of, subagent),
    )


def _messages(reading: Reading) -> tuple[list[Message], dict[int, int]]:
    """The messages, and for each line read into one the index of its message."""
    file = reading.transcript.file
    messages: list[Message] = []
    index_of: dict[int, int] = {}

    def add(records: list[Record]) -> None:
        for record in records:
            index_of[record.line] = len(messages)
        messages.append(message(records, file))

    for turn in reading.turns:
        if turn.assistant:
            add(turn.assistant)
        user = _user_records(turn)
        if user:
            add(user)
    return messages, index_of


def _user_records(turn: Turn) -> list[Record]:
    """The next user message: the results in call order, then the path's other user records."""
    return turn.results + turn.others


def message(records: list[Record], file: str) -> Message:
    first = records[0]
    blocks: list[Block] = []
    for record in records:
        blocks.extend(record_blocks(record, file))
    content = first.obj["message"].get("content")
    form = "blocks"
    if len(records) == 1:
        form = {str: "string", type(None): "null"}.get(type(content), "blocks")
        if "content" not in first.obj["message"]:
            form = "missing"
    assistant = first.type == "assistant"
    # The record that closed the response carries its final usage and stop reason.
    body = facts.final_record(records).obj["message"] if assistant else records[-1].obj["message"]
    result = Message(
        role=first.type,
        blocks=blocks,
        content_form=form,
        usage=facts.usage_of(body.get("usage")) if assistant else None,
        model=body.get("model") if isinstance(body.get("model"), str) else None,
        timestamp=_text(first.obj.get("timestamp")),
        id=first.message_id if assistant else None,
        source=SourceRef(file=file, line=first.line, path="$.message"),
        extra={"uuids": [r.uuid for r in records]},
    )
    if assistant and "stop_reason" in body:
        result.extra["stop_reason"] = body["stop_reason"]
    for flag in MESSAGE_FLAGS:
        flagged = [r.line for r in records if r.obj.get(flag)]
        if flagged:
            result.extra[flag] = True
            if len(records) > 1:
                result.extra[flag + "_lines"] = flagged
    return result


def _text(value: Any) -> str | None:
    """A string field of the model; a value of another type in the log is not one."""
    return value if isinstance(value, str) else None


def _meta(
    reading: Reading, messages: list[Message], index_of: dict[int, int], subagent: dict[str, str | None] | None
) -> dict[str, Any]:
    t = reading.transcript
    meta: dict[str, Any] = {
        "records": len(t.records),
        "records_by_type": dict(Counter(r.type for r in t.unique)),
        "leaf": reading.path[-1].uuid,
        "chain_records": len(reading.path),
        "sidechains": [] if reading.subagent else facts.sidechains(t),
        "chain_breaks": reading.chain_breaks,
        "left_off": left_off_meta(reading.left_off),
    }
    leaf = reading.path[-1].obj
    for key, name in (("cwd", "cwd"), ("gitBranch", "git_branch")):
        if isinstance(leaf.get(key), str):
            meta[name] = leaf[key]
    version = facts.version(t)
    if version is not None:
        meta["version"] = version
    if subagent is not None:
        meta["subagent"] = subagent
    positions = _positions(reading, index_of, len(messages))
    for key, found in (
        ("compactions", facts.compactions(t, positions)),
        ("api_errors", facts.api_errors(t, positions)),
        ("subagent_calls", facts.subagent_calls(reading, index_of)),
        ("off_chain_results", facts.off_chain_results(reading)),
    ):
        if found:
            meta[key] = found
    return meta


def _positions(reading: Reading, index_of: dict[int, int], count: int) -> dict[int, int]:
    """For each line of the history and of the path: the index of its message, or for a record
    that is no message (a compact boundary, an API error notice) the index of the first message
    after it on the path (`count`, where the next message would go, when none follows)."""
    positions = dict(index_of)
    pending: list[int] = []
    for record in reading.path:
        if record.line in index_of:
            for line in pending:
                positions[line] = index_of[record.line]
            pending = []
        else:
            pending.append(record.line)
    for line in pending:
        positions[line] = count
    return positions
