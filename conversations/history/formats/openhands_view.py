"""OpenHands V0 condensation: the events CodeActAgent still sends after its condenser forgot some.

openhands-ai 0.48's StateTracker drops null and agent-state events from the agent's history, and
`View.from_events` then drops every event a `condensation` action forgot (`forgotten_event_ids`, or
the range `forgotten_events_start_id`..`forgotten_events_end_id`), the condensation actions and the
condensation requests themselves, and inserts the latest condensation's `summary` at its
`summary_offset` as a user message. `ConversationMemory` puts the initial user message back at
position 1 when the condenser forgot it. A request after a condensation holds only this view,
which is what the V0 reader reads (tests/core/test_openhands_v0_condensed.py holds it to
openhands-ai's own View and ConversationMemory).

Pure: no Django. `Viewed` only needs what each event is (its id, kind and data), so it takes the
reader's events through a small protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

CONDENSATION = "condensation"
CONDENSATION_REQUEST = "condensation_request"
# An AgentCondensationObservation: older versions wrote it into the stream; the view makes one.
SUMMARY_OBSERVATION = "condense"
# What StateTracker's filter keeps out of the agent's history (openhands/controller/state/state_tracker.py).
NOT_AGENT_HISTORY = {
    ("action", "null"),
    ("action", "change_agent_state"),
    ("observation", "null"),
    ("observation", "agent_state_changed"),
}


class Event(Protocol):
    id: int
    data: dict[str, Any]


E = TypeVar("E", bound=Event)


@dataclass
class Viewed(Generic[E]):
    """The events as the agent sends them: `events` in order (a synthetic summary event among them,
    made by `summary`), and what the condensations left out."""

    events: list[E]
    forgotten: set[int] = field(default_factory=set)
    condensations: list[int] = field(default_factory=list)  # their event ids, in order
    summary_from: int | None = None  # the condensation whose summary the view holds
    initial_restored: int | None = None  # the forgotten initial user message put back

    @property
    def condensed(self) -> bool:
        return bool(self.condensations)


def _type(event: Event) -> tuple[str, Any]:
    data = event.data
    return ("action", data["action"]) if "action" in data else ("observation", data.get("observation"))


def in_agent_history(event: Event) -> bool:
    return _type(event) not in NOT_AGENT_HISTORY and event.data.get("hidden") is not True


def forgotten_by(event: Event) -> list[int]:
    """The event ids a condensation action forgets (CondensationAction.forgotten)."""
    args = event.data.get("args") or {}
    ids = args.get("forgotten_event_ids")
    if isinstance(ids, list):
        return [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
    start, end = args.get("forgotten_events_start_id"), args.get("forgotten_events_end_id")
    if isinstance(start, int) and isinstance(end, int):
        return list(range(start, end + 1))
    return []


def view(events: Sequence[E], summary: Any) -> Viewed[E]:
    """The agent's view of `events` (those in its history, in order). `summary(condensation, text)`
    makes the event that stands for a condensation's summary."""
    agent = [e for e in events if in_agent_history(e)]
    result: Viewed[E] = Viewed(events=[])
    for event in agent:
        kind = _type(event)
        if kind == ("action", CONDENSATION):
            result.condensations.append(event.id)
            result.forgotten.update(forgotten_by(event))
            result.forgotten.add(event.id)
        elif kind == ("action", CONDENSATION_REQUEST):
            result.forgotten.add(event.id)
    if not result.condensations:
        result.events = [e for e in agent if e.id not in result.forgotten]
        return result
    kept = [e for e in agent if e.id not in result.forgotten]
    latest = next((e for e in reversed(agent) if _type(e) == ("action", CONDENSATION) and _summary(e)), None)
    if latest is not None:
        text, offset = _summary(latest) or ("", 0)
        kept.insert(offset, summary(latest, text))
        result.summary_from = latest.id
    result.events = _initial_user_message(kept, agent, result)
    return result


def _summary(event: Event) -> tuple[str, int] | None:
    args = event.data.get("args") or {}
    text, offset = args.get("summary"), args.get("summary_offset")
    if isinstance(text, str) and isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0:
        return text, offset
    return None


def _initial_user_message(kept: list[E], agent: list[E], result: Viewed[E]) -> list[E]:
    """ConversationMemory._ensure_initial_user_message: the second message (after the system one,
    which it adds when there is none) must be the initial user message; when the condenser forgot
    it, it is put back there."""
    initial = next((e for e in agent if _is_user_message(e)), None)
    if initial is None or initial.id not in result.forgotten:
        return kept
    second = 1 if any(_type(e) == ("action", "system") for e in kept) else 0
    if second < len(kept) and _is_user_message(kept[second]):
        return kept
    result.initial_restored = initial.id
    return [*kept[:second], initial, *kept[second:]]


def _is_user_message(event: Event) -> bool:
    return _type(event) == ("action", "message") and event.data.get("source") == "user"
