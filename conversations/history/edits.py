"""An edit: one change a repair made to a history, in words a person can check.

`message_index` names a message of the history the repair started from (the one the person is
looking at): the message changed or removed, or, for something added, the message it was placed
after (None: the request as a whole, e.g. its tool definitions or parameters). The repaired
history itself is the source of truth; edits are its readable diff, stored with the revision and
shown on the preview page (issue 6) and printed by `repair_history --json`.

A message an edit names is named with the records or events it was read from (`source_of`), so a
person can find what the written log loses or changes: "removed message 5 (event 15, the finish
action)".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import Message


@dataclass(frozen=True, slots=True)
class Edit:
    op: str
    message_index: int | None
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "message_index": self.message_index, "description": self.description}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Edit:
        return cls(op=d["op"], message_index=d.get("message_index"), description=d.get("description", ""))


def source_of(message: Message, *, lines: bool = True) -> str:
    """The records or events a message was read from, for an edit's description: "event 15, the
    finish action", "events 7 (the read action) and 9 (the run action)", "line 12", "lines 12-14";
    "" when its source names none (a request file, a message a repair made). lines=False leaves
    JSONL lines out (a litellm log's messages all come from the one record)."""
    events: dict[int | str, str] = {}
    numbers: dict[int, None] = {}  # in order met, each once (a list's `in` made this quadratic)
    for ref, extra in [
        (message.source, message.extra),
        *((b.source, b.extra or message.extra) for b in message.blocks),
    ]:
        if ref.event is not None:
            kind = _kind(extra) or _kind(message.extra)
            if not events.get(ref.event):
                events[ref.event] = kind
        if lines and ref.line is not None:
            numbers[ref.line] = None
    if events:
        if len(events) == 1:
            (event, kind), *_ = events.items()
            return f"event {event}" + (f", the {kind}" if kind else "")
        return f"events {_and([str(e) for e in events])}" + _kinds([k for k in events.values() if k])
    if numbers:
        return _lines(sorted(numbers))
    return ""


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _kinds(kinds: list[str]) -> str:
    """ ", the run actions", ", the read and run actions", ", the run action and the error
    observation"."""
    distinct = list(dict.fromkeys(kinds))
    if not distinct:
        return ""
    for noun in ("action", "observation"):
        if all(k.endswith(" " + noun) for k in distinct):
            return f", the {_and([k.removesuffix(' ' + noun) for k in distinct])} {noun}s"
    return ", " + _and([f"the {k}" for k in distinct])


def _kind(extra: dict[str, Any]) -> str:
    if isinstance(extra.get("action"), str):
        return f"{extra['action']} action"
    if isinstance(extra.get("observation"), str):
        return f"{extra['observation']} observation"
    return ""


def _lines(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"line {numbers[0]}"
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return "lines " + ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
