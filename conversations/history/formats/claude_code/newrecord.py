"""Records the writer creates for blocks that were not read from the file (docs/formats.md s.2
"Invariants for writing back"): a fresh uuid, the session keys of the record beside it, a
timestamp one millisecond after its parent, and for a tool result the `toolUseResult` and (where
the file's CLI writes it) `sourceToolAssistantUUID` naming the record of its call."""

from __future__ import annotations

import copy
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ...model import Block, Message
from .blocks import block_wire
from .transcript import Record, Transcript

# Keys a new record copies from its neighbour so Claude Code files it in the same session.
SESSION_KEYS = ("isSidechain", "userType", "cwd", "sessionId", "version", "gitBranch", "agentId", "slug")


@dataclass
class New:
    """A record the writer creates for a block that was not read from the file."""

    block: Block
    message: Message
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    obj: dict[str, Any] = field(default_factory=dict)  # filled once its parent is known


class Maker:
    """What new records borrow from the file, looked up once: which record holds each call, the
    envelope of each response, and whether the CLI writes `sourceToolAssistantUUID`."""

    def __init__(self, t: Transcript):
        self.holder_of: dict[str, str | None] = {}
        self.envelope: dict[str, Record] = {}
        self.names_source = False
        for record in t.unique:
            if "sourceToolAssistantUUID" in record.obj:
                self.names_source = True
            if record.type != "assistant":
                continue
            for tool_id, _ in record.tool_uses():
                self.holder_of.setdefault(tool_id, record.uuid)
            mid = record.message_id
            if mid is not None:
                self.envelope.setdefault(mid, record)

    def record(self, new: New, parent: str | None, template: Record, previous_stamp: str | None) -> dict[str, Any]:
        obj: dict[str, Any] = {"parentUuid": parent}
        for key in SESSION_KEYS:
            if key in template.obj:
                obj[key] = template.obj[key]
        obj["type"] = new.message.role
        obj["message"] = self._message(new)
        obj["uuid"] = new.uuid
        obj["timestamp"] = after(previous_stamp)
        block = new.block
        if block.type == "tool_result":
            text = block.result_text
            obj["toolUseResult"] = (text if text.startswith("Error") else f"Error: {text}") if block.is_error else text
            holder = self.holder_of.get(block.tool_use_id or "")
            if self.names_source and holder is not None:
                obj["sourceToolAssistantUUID"] = holder
        elif block.type == "tool_use" and block.id:
            self.holder_of[block.id] = new.uuid
        return obj

    def _message(self, new: New) -> dict[str, Any]:
        wire = block_wire(new.block)
        if new.message.role == "user":
            single_string = new.message.content_form == "string" and new.block.type == "text"
            return {"role": "user", "content": new.block.text if single_string else [wire]}
        # Another record of the same API response gives the envelope (id, model, usage, stop_reason).
        sibling = self.envelope.get(new.message.id or "")
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


def stamp_of(obj: dict[str, Any]) -> str | None:
    value = obj.get("timestamp")
    return value if isinstance(value, str) else None


def after(stamp: str | None) -> str:
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
