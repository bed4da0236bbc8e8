"""The written file: every line as it was, but for the lines the plan changes, drops or inserts
after. A changed pointer is patched in the original bytes where it can be, so the rest of the line
stays exactly as Claude Code wrote it."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from ..document import Document
from .transcript import Record, Transcript


@dataclass
class Plan:
    """What changes in the file: per line, a new content list, key patches, or removal; and the new
    records to insert after a line (None: before the first record of the path)."""

    content: dict[int, Any] = field(default_factory=dict)
    patches: dict[int, dict[str, Any]] = field(default_factory=dict)
    dropped: set[int] = field(default_factory=set)
    inserted_after: dict[int | None, list[dict[str, Any]]] = field(default_factory=dict)

    def patch(self, line: int, key: str, value: Any) -> None:
        self.patches.setdefault(line, {})[key] = value


def render(plan: Plan, t: Transcript, original: Document, first_line: int | None) -> bytes:
    """The file's bytes after the plan; `first_line` is where records inserted at the start go."""
    _, data = original.single
    raw_lines = data.split(b"\n")
    # Duplicates of a changed or dropped record change with it, or they would stop being copies.
    _spread_to_duplicates(plan, t)
    out: list[bytes] = []
    head = [dump(obj) for obj in plan.inserted_after.get(None, [])]
    for number, raw in enumerate(raw_lines, start=1):
        if number == first_line and head:
            out.extend(head)
            head = []
        if number in plan.dropped:
            pass
        elif number in plan.content or number in plan.patches:
            out.append(
                _changed_line(raw, t.by_line[number], plan.content.get(number, KEEP), plan.patches.get(number, {}))
            )
        else:
            out.append(raw)
        out.extend(dump(obj) for obj in plan.inserted_after.get(number, []))
    if head:
        at = len(out) - 1 if out and out[-1] == b"" else len(out)
        out[at:at] = head
    return b"\n".join(out)


KEEP = object()


def _spread_to_duplicates(plan: Plan, t: Transcript) -> None:
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
    if content is not KEEP:
        obj["message"]["content"] = content
    obj.update(patches)
    if content is KEEP:
        patched = _patch_in_place(raw, record.obj, patches, obj)
        if patched is not None:
            return patched
    return dump(obj)


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


def dump(obj: dict[str, Any]) -> bytes:
    """JSON.stringify style: compact, non-ASCII written raw."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it as JavaScript would
        return json.dumps(obj, separators=(",", ":")).encode("ascii")
