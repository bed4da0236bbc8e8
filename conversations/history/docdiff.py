"""The change a repair makes as it will be written: the written document against the one it was
written over, file by file and line by line, in the source's own format (JSONL records, OpenHands
event files, a request's JSON). A JSON document of one long line is compared indented, so a
changed message shows as the lines that changed, not as one line replaced."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .diff import common_ends, too_big
from .formats.document import Document

# Past this many lines the rest is counted, not shown (as diff.LINES_MAX for the readable diff).
LINES_MAX = 4_000
CONTEXT = 2
LINE_MAX = 2_000  # characters of one line shown: a JSONL record may be megabytes


@dataclass
class FileChange:
    name: str
    status: str  # "changed", "added" or "removed"
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" ", "+", "-", "@"), text

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "lines": [{"kind": k, "text": t} for k, t in self.lines]}


@dataclass
class DocumentDiff:
    files: list[FileChange]
    hidden_lines: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"files": [f.to_dict() for f in self.files], "hidden_lines": self.hidden_lines}


def document_diff(before: Document, after: Document) -> DocumentDiff:
    """Each file that differs between the two documents, with its changed lines in context."""
    diff = DocumentDiff(files=[])
    budget = LINES_MAX
    for name in sorted(before.files.keys() | after.files.keys()):
        old, new = before.files.get(name), after.files.get(name)
        if old == new:
            continue
        status = "added" if old is None else "removed" if new is None else "changed"
        lines = _lines_diff(_lines(name, old), _lines(name, new))
        shown, budget = lines[: max(budget, 0)], budget - len(lines)
        diff.hidden_lines += len(lines) - len(shown)
        diff.files.append(FileChange(name, status, shown))
    return diff


def _lines(name: str, data: bytes | None) -> list[str]:
    if data is None:
        return []
    text = data.decode("utf-8", "replace")
    if name.endswith(".json") and text.count("\n") <= 1:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            pass  # shown as written
    return [line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…" for line in text.splitlines()]


def _lines_diff(old: list[str], new: list[str]) -> list[tuple[str, str]]:
    """The changed lines in context; past diff.LINES_MAX lines or diff.SIZE_MAX bytes of what
    differs on either side (difflib's cost grows faster than its input), the counts of lines
    removed and added, as multisets, instead."""
    lo, hi = common_ends(old, new)
    middle_old, middle_new = old[lo : len(old) - hi], new[lo : len(new) - hi]
    if too_big(middle_old) or too_big(middle_new):
        before, after = Counter(middle_old), Counter(middle_new)
        removed, added = sum((before - after).values()), sum((after - before).values())
        summary = f"{removed:,} lines removed, {added:,} added (too large to show line by line)"
        return [("@", f"@@ from line {lo + 1}: {summary} @@")]
    start = max(lo - CONTEXT, 0)
    old, new = old[start : len(old) - max(hi - CONTEXT, 0)], new[start : len(new) - max(hi - CONTEXT, 0)]
    found: list[tuple[str, str]] = []
    for line in list(difflib.unified_diff(old, new, lineterm="", n=CONTEXT))[2:]:
        kind = line[:1]
        if kind == "@":
            found.append(("@", _shifted(line, start)))
        else:
            found.append((kind if kind in "+-" else " ", line[1:]))
    return found


def _shifted(header: str, offset: int) -> str:
    """A hunk header's line numbers, counted from the file's first line (the diff ran on a slice)."""
    return re.sub(r"([-+])(\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) + offset}", header, count=2)
