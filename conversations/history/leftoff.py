"""What a reader left out of a conversation, and why.

A log holds more than the messages a provider is sent: bookkeeping records, branches a user rewound
away from, a second result for one call, events that are not turns. Nothing read from a log may
disappear without a trace, so every reader lists what it left out in `History.meta["left_off"]`
(built by `left_off_meta`), and the conversation page shows that list with each reason.

    meta["left_off"] = {"count": 7, "by_reason": {"bookkeeping": 5, "abandoned branch": 2},
                        "items": [{"where": "line 9", "reason": "abandoned branch",
                                   "kind": "assistant", "detail": "..."}, ...]}

`items` is capped at MAX_ITEMS (a 50,000-record session must not store 50,000 entries); `count` and
`by_reason` always count everything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

# The reasons readers give, with what each means to a person reading the page.
REASONS: dict[str, str] = {
    "bookkeeping": "a record of the tool's own (snapshot, queue, title, state update...), not a turn",
    "abandoned branch": "on a branch the conversation left (a rewind, or work lost when a process died)",
    "duplicate result": "a second result for a call that already has one; the first is kept",
    "duplicate record": "the same record written twice (a crash and resume); kept once",
    "parent never written": "its parent record is not in the file, so no chain reaches it",
    "sidechain": "a subagent's turn inside the session file; the subagent is a conversation of its own",
    "compacted": "before a compaction: the model was sent the compaction's summary instead",
    "not a message": "an event the agent records that is never sent to the model",
}
MAX_ITEMS = 500


@dataclass(frozen=True, slots=True)
class LeftOff:
    """One record or event left out. where: "line 9", "event 15" or a file name; kind: the record
    type or event kind as the log names it; detail: anything more a person needs (which call a
    duplicate result answers, which uuid was never written)."""

    where: str
    reason: str
    kind: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown left-off reason {self.reason!r}; known: {', '.join(REASONS)}")

    def to_dict(self) -> dict[str, str]:
        d = {"where": self.where, "reason": self.reason}
        if self.kind:
            d["kind"] = self.kind
        if self.detail:
            d["detail"] = self.detail
        return d


def left_off_meta(items: list[LeftOff]) -> dict[str, Any]:
    """The `meta["left_off"]` value for these items (an empty list gives count 0)."""
    return {
        "count": len(items),
        "by_reason": dict(Counter(item.reason for item in items)),
        "items": [item.to_dict() for item in items[:MAX_ITEMS]],
    }
