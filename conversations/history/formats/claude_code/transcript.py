"""The parsed file: one Record per line, the uuid index, and the lines that repeat a record.

Nothing here decides what the conversation is (turns.py does): it checks each record's shape, so
every later step can trust `uuid`, `parentUuid` and `message`, and refuses a uuid reused by a
different record (two records one pointer could mean).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...errors import FormatError, NotAConversation
from ..document import Document

TURN_TYPES = ("user", "assistant")
# The record types Claude Code writes (docs/formats.md s.2 "Record types"): every one but user and
# assistant is bookkeeping, never sent to the model.
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
        "agent-name",
        "agent-color",
        "agent-setting",
        "mode",
        "frame-link",
    }
)


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

    @property
    def message_id(self) -> str | None:
        """The API response an assistant record is a block of (None for other records)."""
        if self.type != "assistant":
            return None
        mid = self.obj["message"].get("id")
        return mid if isinstance(mid, str) and mid else None

    @property
    def content(self) -> Any:
        return self.obj["message"].get("content") if self.is_turn else None

    def result_ids(self) -> list[str]:
        """The tool_use ids this record's tool_result blocks answer (user records only)."""
        content = self.content
        if self.type != "user" or not isinstance(content, list):
            return []
        return [
            item["tool_use_id"]
            for item in content
            if isinstance(item, dict) and item.get("type") == "tool_result" and isinstance(item.get("tool_use_id"), str)
        ]

    def tool_uses(self) -> list[tuple[str, str]]:
        """(id, name) of this assistant record's tool_use blocks."""
        content = self.content
        if self.type != "assistant" or not isinstance(content, list):
            return []
        return [
            (item["id"], item["name"] if isinstance(item.get("name"), str) else "")
            for item in content
            if isinstance(item, dict) and item.get("type") == "tool_use" and isinstance(item.get("id"), str)
        ]


@dataclass
class Transcript:
    """Every record of the file. `unique` leaves out the lines that repeat an earlier record
    (`duplicate_of` maps each to the line it repeats); `by_uuid` holds the first occurrence."""

    file: str
    records: list[Record]
    unique: list[Record]
    by_uuid: dict[str, Record]
    lines_of: dict[str, list[int]]
    duplicate_of: dict[int, int]
    by_line: dict[int, Record] = field(default_factory=dict)


def parse(doc: Document) -> Transcript:
    """The records of a Claude Code file. Raises FormatError naming the line of a bad record, and
    NotAConversation for a file with no user or assistant record (a summary-only session file)."""
    file, _ = doc.single
    rows = doc.jsonl(file)
    records: list[Record] = []
    unique: list[Record] = []
    by_uuid: dict[str, Record] = {}
    lines_of: dict[str, list[int]] = {}
    duplicate_of: dict[int, int] = {}
    for line, obj in rows:
        record = _record(obj, line, file)
        records.append(record)
        if record.uuid is None:
            unique.append(record)
            continue
        first = by_uuid.get(record.uuid)
        if first is None:
            by_uuid[record.uuid] = record
            unique.append(record)
        elif first.obj == obj:
            # A crash-and-resume can write the same record twice: harmless, kept once.
            duplicate_of[line] = first.line
        else:
            raise FormatError(
                f"uuid {record.uuid} was already used on line {first.line} by a different record",
                file=file,
                line=line,
                path="$.uuid",
            )
        lines_of.setdefault(record.uuid, []).append(line)
    if not any(r.is_turn for r in unique):
        kinds = Counter(r.type for r in unique)
        what = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()) or "no record at all"
        raise NotAConversation(
            f"no user or assistant record ({what}): a Claude Code file that holds no conversation", file=file
        )
    return Transcript(
        file=file,
        records=records,
        unique=unique,
        by_uuid=by_uuid,
        lines_of=lines_of,
        duplicate_of=duplicate_of,
        by_line={r.line: r for r in records},
    )


def _record(obj: Any, line: int, file: str) -> Record:
    if not isinstance(obj, dict):
        raise FormatError(f"a Claude Code record must be a JSON object, got {kind(obj)}", file=file, line=line)
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
        raise FormatError(f"uuid must be a string, got {kind(uid)}", file=file, line=line, path="$.uuid")
    if parent is not None and not isinstance(parent, str):
        raise FormatError(
            f"parentUuid must be a string or null, got {kind(parent)}", file=file, line=line, path="$.parentUuid"
        )
    return Record(line=line, obj=obj, type=rtype, uuid=uid or None, parent=parent)


def kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
