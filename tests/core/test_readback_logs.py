"""For every format with a writer of its own (a Claude Code transcript, an OpenHands V0 event folder
and trajectory, an OpenHands V1 conversation folder): a real fixture broken in that format's own
shape (tests/broken_logs.py: a result never written, one more parallel call, a last call, a user
message typed meanwhile, an abandoned call, cache markers, empty text), repaired for a target,
written with the real writer to disk and read back with our reader, reads back as repaired, gets
the verdict the preview showed (RepairResult.after) and leaves no call unanswered; and the tool's
own reader (the judge, tests/oracles/) loads a sample of what was written with every call answered.

Two things the written file cannot say, as the repair itself tells the user: request parameters
(a log stores none: `set-max-tokens` says to pass them on resume, as conversations.resume does, so
the read-back is judged with the repaired request's parameters), and nothing needs answering for
Gemini where litellm drops an unanswered call from the request (the verdict says so; the repair
adds no result there).

How many examples: READBACK_EXAMPLES (default 60, some 10 s on one core).
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.history import formats
from conversations.history.check import check
from conversations.history.findings import Verdict
from conversations.history.formats import Document, load_path
from conversations.history.model import History
from conversations.history.readback import readback
from conversations.history.repair import RepairResult, judge_for, repair
from tests.broken_logs import (
    CLAUDE_CODE,
    KINDS,
    broken,
    claude_code_document,
    claude_code_rows,
    new_id,
    record_after,
    v1_document,
    v1_events,
    v1_without_event,
    without_record,
)
from tests.v0_streams import save

TARGETS = ("anthropic", "openai", "gemini")
# Targets that refuse any unanswered call (litellm keeps it in their request).
PAIRED = ("anthropic", "openai")
EXAMPLES = int(os.environ.get("READBACK_EXAMPLES", "60"))
# The judge, and the folders of a kind it loads.
JUDGES = {
    "claude-code": "claude-code-log",
    "openhands-folder": "openhands-v0",
    "openhands-trajectory": "openhands-v0",
    "openhands-v1": "openhands-v1",
}
SAMPLE = 3  # broken logs of each kind a judge loads per run


def unanswered(history: History) -> list[str]:
    """Calls sent to the model that no result answers before the next assistant message."""
    missing = []
    for i, message in enumerate(history.messages):
        answered: set[str | None] = set()
        for later in history.messages[i + 1 :]:
            if later.role == "assistant":
                break
            answered |= {b.tool_use_id for b in later.tool_results()}
        missing += [b.id or "" for b in message.tool_uses() if b.sent and b.id not in answered]
    return missing


def seen(verdicts: list[Verdict]) -> list[tuple]:
    return [(v.target, v.accepted, sorted((f.rule, f.severity, f.message_index) for f in v.findings)) for v in verdicts]


def written_and_read_back(
    doc: Document, target: str, warnings: bool, where: Path
) -> tuple[RepairResult, History, Path]:
    """Repair, write with the real writer under `where`, read the file back from disk."""
    (history,) = formats.read(doc)
    result = repair(history, target=target, include_warnings=warnings)
    path = save(formats.write(result.history, doc), where)
    back, difference = readback(result.history, load_path(path))
    assert difference is None, difference
    assert back is not None
    return result, back, path


def judged_again(result: RepairResult, back: History, target: str) -> list[Verdict]:
    back.request = dict(result.history.request)  # as resume sends it: no log stores request parameters
    return judge_for(back, target=target)


# --- the property ------------------------------------------------------------------------------


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.sampled_from(KINDS), st.sampled_from(TARGETS), st.booleans())
def test_a_broken_log_repaired_and_written_reads_back_with_the_verdict_the_preview_showed(rng, kind, target, warnings):
    doc = broken(rng, kind)
    with tempfile.TemporaryDirectory() as where:
        result, back, _ = written_and_read_back(doc, target, warnings, Path(where) / "out")

    assert seen(judged_again(result, back, target)) == seen(result.after)
    assert unanswered(back) == unanswered(result.history)
    if target in PAIRED:
        assert unanswered(back) == [], [e.description for e in result.edits]


# --- the tools' own readers as judges ----------------------------------------------------------


@pytest.mark.oracle
@pytest.mark.parametrize("judge", sorted(set(JUDGES.values())))
def test_the_tool_loads_what_our_writer_wrote_for_broken_logs_with_every_call_answered(oracle, tmp_path, judge):
    paths, calls = [], []
    for kind in [k for k, name in JUDGES.items() if name == judge]:
        for n in range(SAMPLE):
            rng = random.Random(f"{kind}-{n}")
            result, back, path = written_and_read_back(
                broken(rng, kind), rng.choice(PAIRED), rng.random() < 0.5, tmp_path / f"{kind}-{n}"
            )
            assert unanswered(back) == []
            paths.append(str(path))
            calls.append({b.id for m in back.messages for b in m.tool_uses()})

    reports = oracle(judge, *paths)
    reports = reports if isinstance(reports, list) else [reports]

    for path, report, held in zip(paths, reports, calls, strict=True):
        if judge == "claude-code-log":
            # It lists the calls of the whole file: a sidechain's too, which is no part of the
            # conversation (the session fixture holds one, whose result a break may take).
            assert report["errors"] == [], path
            assert held <= set(report["tool_use_ids"]) and not held & set(report["unanswered"]), path
        elif judge == "openhands-v0":
            assert report["errors"] == [] and report["unanswered"] == [] and report["dropped"] == [], path
        else:
            assert report["restore_error"] is None and report["validation_errors"] == [], path
            assert report["unanswered"] == [] and report["dropped"] == [], path


# --- what the property found -------------------------------------------------------------------


def test_text_moved_before_the_call_of_its_own_record_is_written_inside_that_record():
    """An empty text after the call in one Claude Code record: the repair puts it before the call.
    Written as a record of its own, it read back after the call (the whole record comes first)."""
    rows = claude_code_rows(CLAUDE_CODE[4])  # whitespace-text-answered-twice.jsonl
    rows[1]["message"]["content"].append({"type": "text", "text": ""})
    doc = claude_code_document("session.jsonl", rows)
    (history,) = formats.read(doc)

    result = repair(history, target="anthropic")
    out = formats.write(result.history, doc)

    assert "put the text of message 1 (line 2) before its tool calls" in [e.description for e in result.edits]
    assert readback(result.history, out)[1] is None
    (back,) = formats.read(out)
    assert [b.type for b in back.messages[1].blocks] == [b.type for b in result.history.messages[1].blocks]
    assert [b.type for b in back.messages[1].blocks][-1] == "tool_use"


def test_a_result_added_among_parallel_results_of_claude_code_goes_where_its_call_is():
    """The real 2.1.114 subagent with one more call in a response whose two calls are answered on
    the chain (lines 24-27): the added result sits between the two real ones, in call order, as
    the reader gives a turn's result records back."""
    rows = claude_code_rows(CLAUDE_CODE[1])
    call = next(k for k, row in enumerate(rows) if "toolu_01WZwcWC9jjUTiKJ8EQh2KXD" in str(row["message"]))
    extra = {**rows[call], "uuid": new_id(random.Random(1))}
    extra["message"] = {
        **rows[call]["message"],
        "content": [{"type": "tool_use", "id": "toolu_added", "name": "Bash", "input": {"command": "ls"}}],
    }
    record_after(rows, call, extra)
    doc = claude_code_document(CLAUDE_CODE[1].name, rows)
    (history,) = formats.read(doc)

    result = repair(history, target="anthropic")

    answer = next(m for m in result.history.messages if any(b.tool_use_id == "toolu_added" for b in m.blocks))
    assert [b.tool_use_id for b in answer.tool_results()] == [
        "toolu_01WZwcWC9jjUTiKJ8EQh2KXD",
        "toolu_added",
        "toolu_01PqrJCfbhfJaojeMEwzkiKN",
    ]
    assert readback(result.history, formats.write(result.history, doc))[1] is None


def test_an_abandoned_call_is_found_after_the_message_its_branch_left_even_once_a_result_is_added_before_it():
    """V1: a result gone early on (the repair adds one, a message more before the fork) and the
    last call abandoned. The warning names the message the branch leaves from, not its index when
    read: the preview and the written folder read back agree."""
    events, state = v1_events()
    v1_without_event(events, state, next(k for k, e in enumerate(events) if e["kind"] == "ObservationEvent"))
    last = max(k for k, e in enumerate(events) if e["kind"] == "ObservationEvent")
    action = next(e for e in events if e["id"] == events[last]["action_id"])
    v1_without_event(events, state, last)
    state["leaf_event_id"] = action["parent_id"]
    doc = v1_document(events, state)
    (history,) = formats.read(doc)

    result = repair(history, target="anthropic")

    (after,) = result.after
    [warning] = [f for f in after.findings if f.rule == "abandoned-tool-call"]
    fork = result.history.messages[warning.message_index]
    assert any(b.source.event == action["parent_id"] for b in fork.blocks) or fork.source.event == action["parent_id"]
    (back,) = formats.read(formats.write(result.history, doc))
    assert [f.message_index for f in check(back, target="anthropic").findings if f.rule == "abandoned-tool-call"] == [
        warning.message_index
    ]


def test_the_warnings_repair_chains_a_parallel_turn_whose_next_record_hangs_from_a_call_record():
    """The real 2.1.114 subagent with the result of a parallel call never written (line 10) and
    the next turn written on that call's record: the result the repair adds and the other call's
    result, off the chain, go on one chain, so the written file keeps what the preview showed."""
    rows = claude_code_rows(CLAUDE_CODE[1])
    without_record(
        rows,
        next(k for k, row in enumerate(rows) if "toolu_0197Y6aMrXF3qvmQePpXnWLA" in str(row) and row["type"] == "user"),
    )
    doc = claude_code_document(CLAUDE_CODE[1].name, rows)
    (history,) = formats.read(doc)

    result = repair(history, target="anthropic", include_warnings=True)
    (back,) = formats.read(formats.write(result.history, doc))

    assert "parallel-results-off-chain" in [f.rule for v in result.before for f in v.findings]
    assert [f.rule for v in result.after for f in v.findings] == []
    assert [f.rule for f in check(back, target="anthropic").findings] == []
