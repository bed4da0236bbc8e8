"""An OpenHands V0 conversation after its condenser ran: what CodeActAgent still sends (the view,
openhands_view.py), how a repair is written back around what the condenser forgot, and what a reply
received before the condensation proves (nothing).

The judge tests (marked `oracle`) hold our reading to openhands-ai 0.48.0's own View and
ConversationMemory on the same files.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from conversations.history import proof
from conversations.history.check import check
from conversations.history.formats import Document, openhands
from conversations.history.repair import repair
from conversations.history.targets import target_for_model
from tests.v0_streams import save, session, stream, trajectory

SUMMARY = "The user asked for three commands; the first two ran and printed what they echoed."


def condensed(before: list[tuple[Any, ...]], forget: tuple[int, int], after: list[tuple[Any, ...]], *, offset=1):
    """The events of `before`, a condensation forgetting events forget[0]..forget[1] with a summary
    at `offset`, then the events of `after` (as OpenHands appends them: later ids)."""
    events = stream(before)
    condensation = {
        "id": len(events),
        "timestamp": events[-1]["timestamp"],
        "source": "agent",
        "message": f"Summary: {SUMMARY}",
        "action": "condensation",
        "args": {
            "forgotten_event_ids": None,
            "forgotten_events_start_id": forget[0],
            "forgotten_events_end_id": forget[1],
            "summary": SUMMARY,
            "summary_offset": offset,
        },
    }
    events.append(condensation)
    return events + shifted(stream(after)[1:], by=len(events) - 1, prefix="later")


def shifted(events: list[dict[str, Any]], *, by: int, prefix: str) -> list[dict[str, Any]]:
    """Events of another stream, renumbered to follow this one (with their own response and call ids)."""
    out = []
    for event in copy.deepcopy(events):
        event["id"] += by
        if isinstance(event.get("cause"), int):
            event["cause"] += by
        tcm = event.get("tool_call_metadata")
        if tcm:
            tcm["tool_call_id"] = f"{prefix}-{tcm['tool_call_id']}"
            response = tcm["model_response"]
            response["id"] = f"{prefix}-{response['id']}"
            for call in response["choices"][0]["message"].get("tool_calls") or []:
                call["id"] = f"{prefix}-{call['id']}"
        out.append(event)
    return out


def read_one(doc: Document):
    (history,) = openhands.read(Document(name=doc.name, files=dict(doc.files), is_dir=doc.is_dir))
    return history


def sent(history) -> list[dict[str, Any]]:
    """The messages as the judge prints them (without the system prompt)."""
    out = []
    for message in history.messages:
        calls = [b.id for b in message.blocks if b.type == "tool_use" and b.sent]
        results = [b.tool_use_id for b in message.blocks if b.type == "tool_result"]
        text = "".join(b.text or "" for b in message.blocks if b.type == "text")
        out.append({"role": message.role, "tool_calls": calls, "tool_call_id": results[0] if results else None})
        out[-1]["text"] = text
    return out


# Two answered responses, the condensation forgetting the first user message and the first
# response (events 1..3), then the user again and one more answered response.
EVENTS = condensed(
    [("user",), ("response", ("answered",)), ("response", ("answered",))],
    (1, 3),
    [("user",), ("response", ("answered",))],
)


def test_what_the_condenser_forgot_is_not_sent_and_its_summary_is():
    history = read_one(trajectory(EVENTS))

    texts = [m.blocks[0].text for m in history.messages]
    roles = [m.role for m in history.messages]
    # The initial user message comes back first (ConversationMemory puts it back), then the
    # summary at its offset, then what the condenser kept and what came after.
    assert texts[0] == "Message 0 from the user." and texts[1] == SUMMARY
    assert roles == ["user", "user", "assistant", "tool", "user", "assistant", "tool"]
    assert history.messages[1].extra["kind"] == "summary"
    assert history.meta["condensations"]["forgotten"] == 3
    assert history.meta["condensations"]["initial_message_restored"] == 1
    assert history.meta["other_events"]["forgotten by a condensation"] == 2  # all but the restored one


def test_a_reply_received_before_the_condensation_proves_nothing_about_the_view():
    history = read_one(trajectory(EVENTS))
    target = target_for_model(history.model)

    replies = proof.replies(history, target)

    condensation = history.meta["view_since_event"]
    assert replies, "the reply after the condensation proves its request"
    assert all(history.messages[r.index].source.event > condensation for r in replies)
    assert all(r.start >= 1 for r in replies)  # not before the summary


def test_a_repair_after_a_condensation_keeps_every_forgotten_event_and_the_summary():
    events = condensed([("user",), ("response", ("answered",))], (2, 3), [("user",), ("response", ("missing",))])
    for doc in (session(events), trajectory(events)):
        history = read_one(doc)
        result = repair(history, target="anthropic")
        assert result.changed

        written = openhands.write(result.history, doc)

        back = read_one(written)
        assert check(back, target="anthropic").accepted
        kept = _events(written)
        for event in events:  # no event the condenser forgot is removed, none is changed
            assert event["id"] in kept and kept[event["id"]] == event
        assert [m.blocks[0].text for m in back.messages if m.extra.get("kind") == "summary"] == [SUMMARY]


def test_the_summary_cannot_be_edited_into_the_condensation():
    doc = trajectory(EVENTS)
    history = read_one(doc)
    history.messages[1].blocks[0].text = "another summary"

    with pytest.raises(openhands.FormatError, match="condensation's summary cannot be changed"):
        openhands.write(history, doc)


def _events(doc: Document) -> dict[int, dict[str, Any]]:
    if doc.is_dir:
        return {
            json.loads(data)["id"]: json.loads(data) for name, data in doc.files.items() if name.startswith("events/")
        }
    return {e["id"]: e for e in json.loads(doc.single[1])}


# --- OpenHands itself as the judge ---------------------------------------------------------------


@pytest.mark.oracle
def test_openhands_sends_what_we_read_after_a_condensation(oracle, tmp_path):
    cases = {
        "forgot-the-first-message": EVENTS,
        "summary-later": condensed(
            [("user",), ("response", ("answered",)), ("response", ("answered", "answered")), ("user",)],
            (2, 3),  # the first response with its result (a condenser that splits a pair is another matter)
            [("response", ("answered",))],
            offset=2,
        ),
        "no-summary": condensed([("user",), ("response", ("answered",))], (2, 3), [("user",)], offset=1),
    }
    no_summary = cases["no-summary"][len(stream([("user",), ("response", ("answered",))]))]["args"]
    del no_summary["summary"], no_summary["summary_offset"]  # OpenHands takes both or neither
    paths, ours = [], []
    for name, events in cases.items():
        for doc in (session(events, name=name), trajectory(events, name=f"{name}.json")):
            paths.append(str(save(doc, tmp_path / f"{name}-{'dir' if doc.is_dir else 'file'}")))
            ours.append(sent(read_one(doc)))

    reports = oracle("openhands-v0", *paths)

    for report, messages in zip(reports, ours, strict=True):
        assert report["errors"] == [], report["path"]
        theirs = [m for m in report["messages"] if m["role"] != "system"]
        assert [(m["role"], m["tool_calls"], m["tool_call_id"]) for m in theirs] == [
            (m["role"], m["tool_calls"], m["tool_call_id"]) for m in messages
        ], report["path"]
        # ConversationMemory puts "\n\n" before a user message that follows another one.
        assert [m["text"].removeprefix("\n\n") for m in theirs if m["role"] == "user"] == [
            m["text"] for m in messages if m["role"] == "user"
        ], report["path"]


@pytest.mark.oracle
def test_openhands_loads_a_repair_written_after_a_condensation_with_every_call_answered(oracle, tmp_path):
    events = condensed([("user",), ("response", ("answered",))], (2, 3), [("user",), ("response", ("missing",))])
    paths = []
    for doc in (session(events), trajectory(events)):
        written = openhands.write(repair(read_one(doc), target="anthropic").history, doc)
        paths.append(str(save(written, tmp_path / ("dir" if doc.is_dir else "file"))))

    reports = oracle("openhands-v0", *paths)

    for report in reports:
        assert report["errors"] == [] and report["unanswered"] == [] and report["dropped"] == [], report
