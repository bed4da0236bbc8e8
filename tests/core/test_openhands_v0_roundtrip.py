"""A repaired OpenHands V0 session or trajectory, written and read back, is what the repair said it
would be: the same messages, and the verdict the repair reported (docs/formats.md section 1).

The judge tests (marked `oracle`) load what our writer writes with OpenHands 0.48.0 itself and
look at the messages CodeActAgent would send: every call answered, no tool-call action dropped.
"""

from __future__ import annotations

import json
import os
import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.history.check import check
from conversations.history.formats import Document, load_path, openhands
from conversations.history.repair import repair
from conversations.history.targets import resolve, target_for_model
from tests.support import FIXTURES
from tests.v0_streams import OUTCOMES, broken_streams, save, session, stream, trajectory

GPT4O = FIXTURES / "real" / "openhands-trajectory-gpt4o" / "basic_interactions.json"
SESSION = FIXTURES / "formats" / "openhands-events"
# The fixture session with its synthetic error observation gone (an older OpenHands wrote none) and
# a user message typed after the call that never returned.
LATE_USER = [("user",), ("response", ("answered",)), ("response", ("answered", "missing")), ("user",)]

settings.register_profile(
    "v0-roundtrip",
    max_examples=int(os.environ.get("V0_ROUNDTRIP_EXAMPLES", "40")),
    deadline=timedelta(seconds=20),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def fresh(doc: Document) -> Document:
    return Document(name=doc.name, files=dict(doc.files), is_dir=doc.is_dir)


def read_one(doc: Document):
    (history,) = openhands.read(fresh(doc))
    return history


def findings(verdict) -> list[tuple]:
    return [(f.rule, f.severity, f.message_index) for f in verdict.findings]


def shape(history) -> list[tuple]:
    return [
        (m.role, [(b.type, b.text, b.id, b.tool_use_id, bool(b.is_error)) for b in m.blocks]) for m in history.messages
    ]


def judged_as(history, name: str):
    """The target a repair for `name` judges with: the conversation's own model when it runs on
    that provider (its limits), else the provider's profile (as repair and check_history do)."""
    own = target_for_model(history.model)
    return own if own.name == name else resolve(name)


def repaired_and_read_back(doc: Document, target: str):
    result = repair(read_one(doc), target=target)
    written = openhands.write(result.history, fresh(doc))
    return result, written, read_one(written)


# --- the property ------------------------------------------------------------------------------


@settings(settings.get_profile("v0-roundtrip"))
@given(steps=broken_streams(), target=st.sampled_from(["anthropic", "gemini", "openai"]), as_file=st.booleans())
def test_a_repaired_stream_reads_back_as_repaired_with_the_verdict_the_repair_reported(steps, target, as_file):
    events = stream(steps)
    doc = trajectory(events) if as_file else session(events)
    result, _, back = repaired_and_read_back(doc, target)
    assert shape(back) == shape(result.history)
    (verdict,) = result.after
    again = check(back, target=judged_as(back, target))
    assert (again.accepted, findings(again)) == (verdict.accepted, findings(verdict))
    if result.changed:
        assert result.accepted, [f.rule for f in verdict.findings]


# --- the cases of the issue --------------------------------------------------------------------


@pytest.mark.parametrize("target", ["anthropic", "gemini"])
@pytest.mark.parametrize("as_file", [False, True], ids=["event folder", "trajectory"])
def test_a_repaired_call_answered_after_a_later_user_message_reads_back_answered_and_accepted(target, as_file):
    events = stream(LATE_USER)
    doc = trajectory(events) if as_file else session(events)
    assert not check(read_one(doc), target=target).accepted

    result, written, back = repaired_and_read_back(doc, target)

    assert result.accepted
    added = [e for e in result.edits if e.op == "add-tool-result"]
    assert len(added) == 1 and "toolu_0002_1" in added[0].description
    new = _new_events(doc, written)
    assert [(e["id"], e["observation"], e["cause"]) for e in new] == [(len(events), "error", 5)]
    # The model sees the call after the user's message, answered.
    roles = [(m.role, [b.id or b.tool_use_id for b in m.blocks if b.type != "text"]) for m in back.messages]
    assert roles[-4:] == [
        ("user", []),
        ("assistant", ["toolu_0002_0", "toolu_0002_1"]),
        ("tool", ["toolu_0002_0"]),
        ("tool", ["toolu_0002_1"]),
    ]
    assert back.messages[-3].extra["moved_past"] == [{"event": 7, "role": "user"}]
    assert check(back, target=target).accepted


def _new_events(original: Document, written: Document) -> list[dict]:
    if original.is_dir:
        return [json.loads(data) for name, data in sorted(written.files.items()) if name not in original.files]
    old = {e["id"] for e in json.loads(original.single[1])}
    return [e for e in json.loads(written.single[1]) if e["id"] not in old]


def test_the_gemini_repair_of_the_gpt4o_trajectory_names_the_finish_event_it_removes():
    doc = load_path(GPT4O)
    result, written, back = repaired_and_read_back(doc, "gemini")
    assert result.accepted
    assert [e.description for e in result.edits] == [
        "removed message 5 (event 15, the finish action): it held only empty text (and its finish call "
        "call_IpyczPgEAwtpRWFZ2RNokTdH, which is never sent to the model)"
    ]
    original = json.loads(GPT4O.read_text())
    assert json.loads(written.single[1]) == [e for e in original if e["id"] != 15]
    assert shape(back) == shape(result.history)


def test_the_anthropic_and_openai_repairs_of_the_gpt4o_trajectory_keep_its_finish_event():
    for target in ("anthropic", "openai"):
        result = repair(read_one(load_path(GPT4O)), target=target)
        assert not any("event 15" in e.description for e in result.edits)
        if result.changed:
            written = openhands.write(result.history, load_path(GPT4O))
            assert 15 in {e["id"] for e in json.loads(written.single[1])}


# --- OpenHands itself as the judge ---------------------------------------------------------------


@pytest.mark.oracle
def test_openhands_loads_the_fixtures_with_every_call_answered(oracle):
    reports = oracle("openhands-v0", str(SESSION), str(FIXTURES / "formats" / "openhands-trajectory.json"), str(GPT4O))
    for report in reports:
        assert report["errors"] == [] and report["unanswered"] == [] and report["dropped"] == [], report["path"]
    assert reports[0]["events"] == 12


@pytest.mark.oracle
def test_openhands_loads_everything_our_v0_writer_writes_after_a_repair_with_every_call_answered(oracle, tmp_path):
    cases = [
        (LATE_USER, "anthropic"),
        (LATE_USER, "gemini"),
        ([("user",), ("response", ("late", "missing", "answered")), ("user",), ("response", ("missing",))], "openai"),
        ([("user",), ("response", ("missing",)), ("user",), ("user",), ("response", ("late",))], "anthropic"),
    ]
    chance = random.Random(15)
    for _ in range(10):  # and broken streams of every kind, as the property test makes them
        steps = [("user",)]
        for _ in range(chance.randint(1, 6)):
            outcomes = tuple(chance.choice(OUTCOMES) for _ in range(chance.randint(1, 3)))
            steps.append(("user",) if chance.random() < 0.3 else ("response", outcomes))
        steps.append(("response", ("missing",)))
        cases.append((steps, chance.choice(["anthropic", "gemini", "openai"])))
    paths, expected = [], []
    for n, (steps, target) in enumerate(cases):
        events = stream(steps)
        for doc in (session(events), trajectory(events)):
            result, written, back = repaired_and_read_back(doc, target)
            if not result.changed:
                assert n >= 4, "each hand-made case needs a repair"
                continue  # what is accepted as it is is written as it is
            paths.append(str(save(written, tmp_path / f"case-{n}-{'dir' if doc.is_dir else 'file'}")))
            expected.append([b.id for _, _, b in back.blocks() if b.type == "tool_use"])
    gpt4o = repaired_and_read_back(load_path(GPT4O), "gemini")[1]
    paths.append(str(save(gpt4o, tmp_path / "gpt4o")))
    expected.append([])
    # A long session with its full event_cache page, as OpenHands serves it: the page stays valid.
    long = stream([("user",), *[("response", ("answered",))] * 12, ("response", ("answered", "missing")), ("user",)])
    doc = session(long)
    doc.files["event_cache/0-25.json"] = json.dumps(long[:25]).encode("ascii")
    result, written, back = repaired_and_read_back(doc, "anthropic")
    assert "event_cache/0-25.json" in written.files
    paths.append(str(save(written, tmp_path / "cached")))
    expected.append([b.id for _, _, b in back.blocks() if b.type == "tool_use"])

    reports = oracle("openhands-v0", *paths)

    for report, calls in zip(reports, expected, strict=True):
        assert report["errors"] == [], report["path"]
        assert report["unanswered"] == [] and report["dropped"] == [], report["path"]
        sent = [c for m in report["messages"] for c in m["tool_calls"]]
        assert sent == calls, report["path"]


def test_the_stream_helper_makes_what_it_says():
    events = stream(LATE_USER)
    kinds = [(e["id"], e.get("action") or e.get("observation"), e.get("cause")) for e in events]
    assert kinds == [
        (0, "system", None),
        (1, "message", None),
        (2, "run", None),
        (3, "run", 2),
        (4, "run", None),
        (5, "run", None),
        (6, "run", 4),
        (7, "message", None),
    ]
