"""An OpenHands V1 conversation folder as the SDK's EventLog sees it: the events by index and by
id, base_state.json, and the tree they form (docs/formats-openhands-v1.md, "The conversation is
a tree"). Mirrors `openhands/sdk/conversation/event_store.py` (EventLog._effective_parent_id,
path_to_root) and `state.py` (_resolve_active_leaf) of openhands-sdk 1.58.2.

Used by the reader (which branch is the conversation) and the writer (what follows what, which
index comes next); it never interprets what an event says beyond its kind and its links.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import FormatError
from ..model import SourceRef
from .document import Document
from .v1_layout import BASE_STATE, EVENT_FILE, MARKER, is_sidecar

# A parent_id that marks a root made after navigate_to(None) (the SDK's ROOT_PARENT_ID).
ROOT_PARENT_ID = "__root__"
STATE_UPDATE = "ConversationStateUpdateEvent"
# Not tree nodes when the SDK falls back to the last event for a missing leaf_event_id.
ARTIFACTS = (STATE_UPDATE, "ConversationErrorEvent")


@dataclass
class Event:
    """One event file: its index (from the name), its id, its JSON object and its file name."""

    index: int
    id: str
    data: dict[str, Any]
    file: str

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or "")

    def ref(self, path: str = "$") -> SourceRef:
        return SourceRef(file=self.file, event=self.id, path=path)

    def error(self, reason: str, path: str = "$") -> FormatError:
        return FormatError(reason, file=self.file, event=self.id, path=path)


@dataclass
class Log:
    doc: Document
    base: dict[str, Any]
    events: list[Event]  # by index: events[i].index == i
    by_id: dict[str, Event]
    repeated: list[Event] = field(default_factory=list)  # a second file with an id already seen
    ignored: list[str] = field(default_factory=list)  # files in events/ the SDK does not read

    # -- the tree
    def parent_of(self, event: Event) -> str | None:
        """EventLog._effective_parent_id: an explicit parent, the root marker, or for events
        written before the tree existed (no parent_id) the event before it in file order."""
        parent = event.data.get("parent_id")
        if parent == ROOT_PARENT_ID:
            return None
        if parent is not None:
            return str(parent)
        if event.index == 0:
            return None
        return self.events[event.index - 1].id

    def leaf(self) -> str | None:
        """ConversationState._resolve_active_leaf: leaf_event_id; none when the head was emptied
        on purpose; else the last event that is not a state-update or error artifact."""
        leaf = self.base.get("leaf_event_id")
        if leaf is not None:
            return str(leaf)
        if self.base.get("head_is_empty"):
            return None
        for event in reversed(self.events):
            if event.kind not in ARTIFACTS:
                return event.id
        return None

    def path(self) -> list[Event]:
        """EventLog.path_to_root(leaf), root first: the branch the SDK sends."""
        chain: list[Event] = []
        seen: set[str] = set()
        current = self.leaf()
        while current is not None:
            if current in seen:
                raise FormatError(f"the event tree has a cycle at event {current}", file=BASE_STATE)
            seen.add(current)
            event = self.by_id.get(current)
            if event is None:
                where = "leaf_event_id" if not chain else f"parent_id of {chain[-1].file}"
                raise FormatError(f"{where} names event {current}, which no event file holds", file=BASE_STATE)
            chain.append(event)
            current = self.parent_of(event)
        return chain[::-1]


def load(doc: Document) -> Log:
    """The log of a V1 folder document. FormatError names the file for anything the SDK could
    not load: no base_state.json, an event that is not a JSON object with a kind, a file name
    whose id is not the event's, or a gap in the indexes (the SDK stops reading there)."""
    if BASE_STATE not in doc.files:
        raise FormatError("not an OpenHands V1 conversation: no base_state.json", file=doc.name)
    base = doc.json(BASE_STATE)
    if not isinstance(base, dict):
        raise FormatError("base_state.json must hold a JSON object", file=BASE_STATE)
    found: dict[int, Event] = {}
    ignored = []
    for name in doc.files:
        if is_sidecar(name) or name == BASE_STATE:
            continue
        match = EVENT_FILE.match(name)
        if match is None:
            ignored.append(name)  # the SDK logs "Unrecognized event file name" and reads on
            continue
        index = int(match["idx"])
        if index in found:
            raise FormatError(f"two event files have index {index}", file=name)
        found[index] = _event(doc, name, index, match["event_id"])
    if not found:
        raise FormatError("not an OpenHands V1 conversation: no events/event-<n>-<id>.json files", file=doc.name)
    events = [found[i] for i in range(len(found)) if i in found]
    if len(events) != len(found):
        missing = next(i for i in range(len(found)) if i not in found)
        raise FormatError(
            f"event index {missing} is missing: the SDK reads events up to the first gap and "
            f"would not see the {len(found) - missing} after it",
            file=doc.name,
        )
    by_id: dict[str, Event] = {}
    repeated = []
    for event in events:
        if event.id in by_id:
            repeated.append(event)  # the SDK keeps the first file with an id
        else:
            by_id[event.id] = event
    return Log(doc, base, events, by_id, repeated, sorted(ignored))


def _event(doc: Document, name: str, index: int, file_id: str) -> Event:
    data = doc.json(name)
    if not isinstance(data, dict):
        raise FormatError("an event must be a JSON object", file=name)
    if not isinstance(data.get("kind"), str) or not data["kind"]:
        raise FormatError("an event must name its kind", file=name, path="$.kind")
    if data.get("id") != file_id:
        raise FormatError(f"the event id {data.get('id')!r} is not the one its file name gives", file=name, path="$.id")
    parent = data.get("parent_id")
    if parent is not None and not isinstance(parent, str):
        raise FormatError("parent_id must be a string", file=name, event=file_id, path="$.parent_id")
    return Event(index, file_id, data, name)


def marker_of(doc: Document) -> str | None:
    """The length marker's name in the document, if it has one (the SDK keeps one)."""
    return next((name for name in doc.files if MARKER.match(name)), None)
