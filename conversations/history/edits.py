"""An edit: one change a repair made to a history, in words a person can check.

`message_index` names a message of the history the repair started from (the one the person is
looking at): the message changed or removed, or, for something added, the message it was placed
after (None: the request as a whole, e.g. its tool definitions or parameters). The repaired
history itself is the source of truth; edits are its readable diff, stored with the revision and
shown on the preview page (issue 6) and printed by `repair_history --json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
