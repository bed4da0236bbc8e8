"""A diff between two revisions of a conversation: messages matched by a stable JSON rendering
(so an inserted message shows as one insertion, not as every later message changed), then a
line diff inside each changed message."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .model import History, Message

# A diff of two unrelated 5,000-message histories would be a page nobody reads; past this many
# lines the rest is counted, not shown.
LINES_MAX = 4_000
# difflib's cost grows faster than its input: when the part that differs (the messages between
# the common first and last ones, and the head when it changed) is longer than LINES_MAX lines or
# SIZE_MAX bytes on either side, the diff is summarised (lines added and removed, counted as
# multisets in linear time) instead of computed.
SIZE_MAX = 2 * 1024 * 1024


@dataclass
class Hunk:
    title: str
    a_index: int | None
    b_index: int | None
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" ", "+", "-", "@"), text

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "a_index": self.a_index,
            "b_index": self.b_index,
            "lines": [{"kind": k, "text": t} for k, t in self.lines],
        }


def stable(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def message_text(message: Message) -> str:
    """A message as the diff compares it: its content, not where it was read from."""
    d = message.to_dict()
    d.pop("source", None)
    for block in d.get("blocks", []):
        block.pop("source", None)
        for inner in block.get("content", []) if isinstance(block.get("content"), list) else []:
            inner.pop("source", None)
    return stable(d)


def head_text(history: History) -> str:
    d = history.to_dict()
    d.pop("messages", None)
    for part in d.get("system", []) + d.get("tools", []):
        part.pop("source", None)
        for block in part.get("blocks", []):
            block.pop("source", None)
    return stable(d)


def histories_diff(a: History, b: History) -> dict[str, Any]:
    """The messages that differ, each with a line diff; or, past the bounds above, a summary
    (`summarised`: counts only, the page links each side's download)."""
    texts_a = [message_text(m) for m in a.messages]
    texts_b = [message_text(m) for m in b.messages]
    lo, hi = common_ends(texts_a, texts_b)
    middle_a, middle_b = texts_a[lo : len(texts_a) - hi], texts_b[lo : len(texts_b) - hi]
    head_a, head_b = head_text(a), head_text(b)
    heads = [head_a] if head_a != head_b else [], [head_b] if head_a != head_b else []
    if too_big(heads[0] + middle_a) or too_big(heads[1] + middle_b):
        return _summary(heads[0] + middle_a, heads[1] + middle_b, a, b)
    hunks: list[Hunk] = []
    shown = 0
    head = _lines(head_a, head_b)
    if head:
        hunks.append(Hunk("system prompt, tools and request settings", None, None, head))
        shown += len(head)
    matcher = difflib.SequenceMatcher(a=middle_a, b=middle_b, autojunk=False)
    hidden = 0
    changed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            ai = lo + i1 + k if i1 + k < i2 else None
            bj = lo + j1 + k if j1 + k < j2 else None
            changed += 1
            lines = _lines(texts_a[ai] if ai is not None else "", texts_b[bj] if bj is not None else "")
            if shown >= LINES_MAX:
                hidden += len(lines)
                continue
            hunks.append(Hunk(_title(ai, bj, a, b), ai, bj, lines))
            shown += len(lines)
    return {
        "summarised": False,
        "hunks": [h.to_dict() for h in hunks],
        "changed_messages": changed,
        "hidden_lines": hidden,
        "a_messages": len(a.messages),
        "b_messages": len(b.messages),
    }


def common_ends(a: list[str], b: list[str]) -> tuple[int, int]:
    """How many messages the two lists share at their start, and then at their end."""
    limit = min(len(a), len(b))
    lo = 0
    while lo < limit and a[lo] == b[lo]:
        lo += 1
    hi = 0
    while hi < limit - lo and a[-1 - hi] == b[-1 - hi]:
        hi += 1
    return lo, hi


def too_big(texts: list[str]) -> bool:
    lines = size = 0
    for text in texts:
        lines += text.count("\n") + 1
        size += len(text.encode("utf-8", "surrogatepass"))
        if lines > LINES_MAX or size > SIZE_MAX:
            return True
    return False


def _summary(old: list[str], new: list[str], a: History, b: History) -> dict[str, Any]:
    """Lines added and removed, as multisets: linear where a diff is not."""
    before = Counter(line for text in old for line in text.splitlines())
    after = Counter(line for text in new for line in text.splitlines())
    return {
        "summarised": True,
        "hunks": [],
        "changed_messages": max(len(old), len(new)),
        "added_lines": sum((after - before).values()),
        "removed_lines": sum((before - after).values()),
        "hidden_lines": 0,
        "a_messages": len(a.messages),
        "b_messages": len(b.messages),
        "lines_max": LINES_MAX,
        "size_max": SIZE_MAX,
    }


def _title(ai: int | None, bj: int | None, a: History, b: History) -> str:
    if ai is None:
        assert bj is not None  # histories_diff never pairs two missing messages
        return f"added message {bj} ({b.messages[bj].role})"
    if bj is None:
        return f"removed message {ai} ({a.messages[ai].role})"
    return f"message {ai} → {bj} ({b.messages[bj].role})" if ai != bj else f"message {ai} ({b.messages[bj].role})"


def _lines(old: str, new: str) -> list[tuple[str, str]]:
    if old == new:
        return []
    out = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        kind = "@" if line.startswith("@@") else line[:1] or " "
        out.append((kind, line[1:] if kind != "@" else line))
    return out
