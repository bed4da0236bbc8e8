"""Claude Code 2.x parallel tool calls, read as the model saw them live (docs/formats.md s.2,
corrected): each result record hangs on its own tool_use record, so all but one sit on side
branches of the uuid tree. The real 2.1.114 subagent (tests/fixtures/real/) first; synthetic
sessions (tests/claude_sessions.py, SYNTHETIC) for the shapes it lacks."""

import json

import pytest

from conversations.history.check import check
from conversations.history.formats import Document, read, write
from conversations.history.repair import repair
from conversations.history.repair.pairing import SYNTHETIC_RESULT
from conversations.history.targets import target_for_model
from tests.claude_sessions import Session, one_walk, parallel_turn
from tests.support import FIXTURES

SUBAGENT = FIXTURES / "real" / "claude-code-2.1.114-subagent" / "agent-a4ca7529859c158c2.jsonl"
ONE_CHAIN = "Claude Code's resume, at least up to the versions of anthropics/claude-code#31330, walks one chain"


def read_doc(doc: Document):
    [history] = read(doc)
    return history


def subagent_doc() -> Document:
    return Document.from_bytes(SUBAGENT.name, SUBAGENT.read_bytes())


def records(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.split(b"\n") if line.strip()]


def result_lines(data: bytes) -> dict[str, list[int]]:
    """Every tool_result in the file: tool_use id -> the lines holding one."""
    found: dict[str, list[int]] = {}
    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        content = json.loads(line).get("message", {}).get("content")
        for item in content if isinstance(content, list) else []:
            if item.get("type") == "tool_result":
                found.setdefault(item["tool_use_id"], []).append(n)
    return found


def pairing(history) -> dict[str, int | None]:
    """Each call -> the line of the result the next message holds for it (None: unanswered)."""
    paired: dict[str, int | None] = {}
    for i, message in enumerate(history.messages):
        following = history.messages[i + 1] if i + 1 < len(history.messages) else None
        answers = {b.tool_use_id: b.source.line for b in following.blocks} if following else {}
        for use in message.tool_uses():
            paired[use.id] = answers.get(use.id)
    return paired


def own_verdict(history):
    return check(history, target=target_for_model(history.model))


def rules_of(verdict, severity=None) -> list[str]:
    return [f.rule for f in verdict.findings if severity is None or f.severity == severity]


# --- the real 2.1.114 subagent -----------------------------------------------------------------


def test_the_real_subagent_keeps_its_24_calls_each_answered_by_its_real_result():
    data = SUBAGENT.read_bytes()
    history = read_doc(subagent_doc())
    where = result_lines(data)
    paired = pairing(history)
    assert len(paired) == history.tool_call_count == 24
    assert paired == {tool_id: lines[0] for tool_id, lines in where.items()}


def test_the_real_subagent_has_no_unanswered_call_but_warns_that_a_one_chain_resume_loses_four_results():
    verdict = own_verdict(read_doc(subagent_doc()))
    assert "tool-result-missing" not in rules_of(verdict)
    warnings = [f for f in verdict.findings if f.rule == "parallel-results-off-chain"]
    assert [f.message_index for f in warnings] == [5, 7, 9, 11]
    assert all(f.severity == "warning" and f.explanation.startswith(ONE_CHAIN) for f in warnings)
    assert (
        "it will lose 1 result and the model will see them as missing: toolu_01GWDV9QAkbdrBttNZWNbt6B (WebSearch)"
        in (warnings[0].explanation)
    )


def test_the_lines_a_parent_walk_drops_are_read_and_nothing_is_left_off():
    history = read_doc(subagent_doc())
    read_lines = {b.source.line for _, _, b in history.blocks()}
    assert {9, 12, 13, 17, 20, 21} <= read_lines
    assert history.meta["left_off"] == {"count": 0, "by_reason": {}, "items": []}
    assert [t["lines"] for t in history.meta["off_chain_results"]] == [[9], [13], [17], [21]]


def test_a_response_interleaved_with_its_results_is_one_message_and_its_results_the_next():
    """Lines 23-27: text, tool_use, result, tool_use, result, all of one message.id."""
    history = read_doc(subagent_doc())
    lines = [[b.source.line for b in m.blocks] for m in history.messages]
    assert lines[13:15] == [[23, 24, 26], [25, 27]]
    assert [m.role for m in history.messages] == ["user", "assistant"] * 20


def test_results_of_parallel_calls_come_in_the_order_of_the_calls():
    history = read_doc(subagent_doc())
    calls = [b.id for b in history.messages[7].tool_uses()]
    assert [b.tool_use_id for b in history.messages[8].blocks] == calls
    assert [b.source.line for b in history.messages[8].blocks] == [14, 13]


def test_an_unchanged_history_with_side_branches_writes_back_byte_identical():
    history = read_doc(subagent_doc())
    assert write(history, subagent_doc()).single[1] == SUBAGENT.read_bytes()


def test_an_errors_only_anthropic_repair_adds_no_result_and_reparents_no_record():
    history = read_doc(subagent_doc())
    result = repair(history, target="anthropic")
    assert not [e for e in result.edits if e.op in ("add-tool-result", "reparent-results")]
    original = SUBAGENT.read_bytes()
    written = write(result.history, subagent_doc()).single[1] if result.changed else original
    kept = written.split(b"\n")[: len(original.split(b"\n")) - 1]
    assert kept == original.split(b"\n")[:-1]  # every line as it was; only the prefill's answer added
    assert all(
        item.get("type") != "tool_result"
        for row in records(written)[56:]
        for item in (row["message"]["content"] if isinstance(row["message"]["content"], list) else [])
    )


def test_the_warnings_repair_reparents_only_result_records_and_reads_back_the_same_history():
    original = SUBAGENT.read_bytes()
    history = read_doc(subagent_doc())
    result = repair(history, target="anthropic", include_warnings=True)
    assert [e.message_index for e in result.edits if e.op == "reparent-results"] == [5, 7, 9, 11]
    assert "parallel-results-off-chain" not in rules_of(result.after[0])

    written = write(result.history, subagent_doc()).single[1]

    before, after = records(original), records(written)[: len(records(original))]
    changed = [n for n, (a, b) in enumerate(zip(before, after, strict=True), start=1) if a != b]
    assert changed == [9, 10, 14, 17, 18, 22]
    for n in changed:
        assert "tool_result" in json.dumps(before[n - 1]["message"]["content"])
        assert {k: v for k, v in after[n - 1].items() if k != "parentUuid"} == {
            k: v for k, v in before[n - 1].items() if k != "parentUuid"
        }
    # T1, T2 (on T1), R2 (on T2), R1 (on T1), next (on R1): R1 now hangs on R2.
    assert after[13]["parentUuid"] == before[12]["uuid"]
    assert set(range(1, 57)) <= one_walk(written)
    again = read_doc(Document.from_bytes(SUBAGENT.name, written))
    assert [m.blocks for m in again.messages[:40]] == [m.blocks for m in history.messages]
    assert "off_chain_results" not in again.meta
    assert "parallel-results-off-chain" not in rules_of(own_verdict(again))


def test_without_a_repair_a_one_chain_walk_misses_the_side_branches():
    assert {9, 12, 13, 17, 20, 21}.isdisjoint(one_walk(SUBAGENT.read_bytes()))


# --- synthetic shapes --------------------------------------------------------------------------


def test_the_issue_example_is_fixed_by_hanging_the_first_result_on_the_second():
    """T1, T2 (on T1), R2 (on T2), R1 (on T1), next (on R1) becomes R1 on R2, nothing else."""
    s = Session()
    s.prompt("check both")
    t1, t2, r2, r1 = parallel_turn(s, "msg_01", ["toolu_1", "toolu_2"])
    s.text("msg_02", "both fine")
    history = read_doc(s.doc())
    result = repair(history, target="anthropic", include_warnings=True)
    written = records(write(result.history, s.doc()).single[1])
    changed = {row["uuid"]: row["parentUuid"] for row, old in zip(written, s.rows, strict=True) if row != old}
    assert changed == {r1["uuid"]: r2["uuid"]}


def test_a_call_with_no_result_anywhere_gets_tool_result_missing():
    s = Session()
    s.prompt("check both")
    t1 = s.call("msg_01", "toolu_1")
    s.call("msg_01", "toolu_2")  # its result was never written (the process died)
    s.result("toolu_1", t1)
    s.prompt("go on")
    history = read_doc(s.doc())
    assert pairing(history) == {"toolu_1": 4, "toolu_2": None}
    missing = [f for f in own_verdict(history).findings if f.rule == "tool-result-missing"]
    assert len(missing) == 1 and "toolu_2" in missing[0].provider_error and "toolu_1" not in missing[0].provider_error


def test_a_synthetic_result_for_a_call_off_the_path_is_written_on_the_chain_with_its_call():
    s = Session()
    s.prompt("check both")
    t1 = s.call("msg_01", "toolu_1")
    t2 = s.call("msg_01", "toolu_2")
    r1 = s.result("toolu_1", t1)  # the chain goes on from R1, which hangs on T1: T2 is off the path
    s.prompt("go on")
    history = read_doc(s.doc())
    result = repair(history, target="anthropic")
    assert [e.op for e in result.edits] == ["add-tool-result"] and result.accepted

    written = write(result.history, s.doc()).single[1]

    rows = records(written)
    [new] = [r for r in rows if r["uuid"] not in {old["uuid"] for old in s.rows}]
    assert new["parentUuid"] == t2["uuid"] and new["sourceToolAssistantUUID"] == t2["uuid"]
    assert new["message"]["content"][0]["tool_use_id"] == "toolu_2"
    assert next(r for r in rows if r["uuid"] == r1["uuid"])["parentUuid"] == new["uuid"]
    assert one_walk(written) == set(range(1, len(rows) + 1))
    again = read_doc(Document.from_bytes("s.jsonl", written))
    assert [b.result_text for b in again.messages[2].tool_results()] == ["output of toolu_1", SYNTHETIC_RESULT]
    assert own_verdict(again).accepted


def test_a_synthetic_result_for_a_call_on_the_path_is_spliced_right_after_it():
    s = Session()
    s.prompt("run it")
    t1 = s.call("msg_01", "toolu_1")
    interrupt = s.prompt([{"type": "text", "text": "[Request interrupted by user for tool use]"}])
    history = read_doc(s.doc())
    result = repair(history, target="anthropic")
    rows = records(write(result.history, s.doc()).single[1])
    new = rows[2]
    assert new["parentUuid"] == t1["uuid"] and new["message"]["content"][0]["is_error"] is True
    assert rows[3]["uuid"] == interrupt["uuid"] and rows[3]["parentUuid"] == new["uuid"]


def test_of_two_results_for_one_call_the_one_on_the_path_is_kept_and_the_other_listed():
    s = Session()
    s.prompt("run it")
    t1 = s.call("msg_01", "toolu_1")
    s.result("toolu_1", t1, "a first, lost result")
    s.result("toolu_1", t1, "the result the chain goes on from")
    s.text("msg_02", "done")
    history = read_doc(s.doc())
    assert [b.result_text for b in history.messages[2].blocks] == ["the result the chain goes on from"]
    [item] = history.meta["left_off"]["items"]
    assert item["where"] == "line 3" and item["reason"] == "duplicate result"
    assert "toolu_1" in item["detail"] and "line 4" in item["detail"]


def test_of_two_results_off_the_path_the_earliest_is_kept():
    s = Session()
    s.prompt("both")
    t1, t2 = s.call("msg_01", "toolu_1"), s.call("msg_01", "toolu_2")
    s.result("toolu_1", t1, "first")
    s.result("toolu_1", t1, "second")
    s.result("toolu_2", t2)
    s.text("msg_02", "done")
    history = read_doc(s.doc())
    assert [b.result_text for b in history.messages[2].blocks] == ["first", "output of toolu_2"]
    assert [(i["where"], i["reason"]) for i in history.meta["left_off"]["items"]] == [("line 5", "duplicate result")]


def test_a_rewound_branch_stays_out_and_is_listed_as_abandoned():
    s = Session()
    s.prompt("look at the migrations")
    answer = s.text("msg_01", "There are 41.")
    s.prompt("drop the column")
    s.text("msg_02", "Here is a migration that drops it.")
    s.prompt("keep the column, add a view", parent=answer["uuid"])  # the user rewound and edited the prompt
    s.text("msg_03", "Added the view.")
    history = read_doc(s.doc())
    assert [m.text for m in history.messages] == [
        "look at the migrations",
        "There are 41.",
        "keep the column, add a view",
        "Added the view.",
    ]
    assert [(i["where"], i["reason"], i["detail"]) for i in history.meta["left_off"]["items"]] == [
        ("line 3", "abandoned branch", "on a branch off line 2"),
        ("line 4", "abandoned branch", "on a branch off line 2"),
    ]


def test_an_off_path_record_repeating_a_block_of_its_response_is_kept_once():
    s = Session()
    s.prompt("go")
    t1 = s.call("msg_01", "toolu_1")
    twin = dict(t1, uuid="99999999-0000-4000-8000-000000000001")
    s.raw(twin)
    s.result("toolu_1", t1)
    s.text("msg_02", "done")
    history = read_doc(s.doc())
    assert [b.type for b in history.messages[1].blocks] == ["tool_use"]
    assert [(i["where"], i["reason"]) for i in history.meta["left_off"]["items"]] == [("line 3", "duplicate record")]


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 2, 0]])
def test_three_parallel_calls_are_answered_whatever_order_their_results_were_written_in(order):
    s = Session()
    s.prompt("three at once")
    parallel_turn(s, "msg_01", ["toolu_a", "toolu_b", "toolu_c"], order=order)
    s.text("msg_02", "all three done")
    history = read_doc(s.doc())
    assert [b.tool_use_id for b in history.messages[2].blocks] == ["toolu_a", "toolu_b", "toolu_c"]
    assert own_verdict(history).accepted
    assert history.meta["left_off"]["count"] == 0
    fixed = repair(history, target="anthropic", include_warnings=True)
    written = write(fixed.history, s.doc()).single[1]
    assert one_walk(written) == set(range(1, len(s.rows) + 1))
    assert [m.blocks for m in read_doc(Document.from_bytes(s.doc().name, written)).messages] == [
        m.blocks for m in history.messages
    ]


def test_a_second_result_on_the_path_itself_is_listed_not_sent_twice():
    """Results chained one after another (older CLIs): a call answered twice on the chain."""
    s = Session(version="1.0.72")
    s.prompt("run it")
    t1 = s.call("msg_01", "toolu_1")
    s.result("toolu_1", t1, "first")
    s.result("toolu_1", t1, "again", parent=s.tip)
    s.text("msg_02", "done")
    history = read_doc(s.doc())
    assert [b.result_text for b in history.messages[2].blocks] == ["first"]
    assert [(i["where"], i["reason"]) for i in history.meta["left_off"]["items"]] == [("line 4", "duplicate result")]
    assert write(history, s.doc()).single[1] == s.data()


def test_a_call_off_the_path_whose_result_is_on_it_is_warned_of_too():
    """A result chained onto a sibling branch (no CLI version known to write it; a hand-edited or
    merged file): a one-chain resume would keep the result and lose its call."""
    s = Session()
    s.prompt("both")
    t1 = s.call("msg_01", "toolu_1")
    s.call("msg_01", "toolu_2")
    s.result("toolu_1", t1, "one")
    s.result("toolu_2", t1, "two", parent=s.tip)  # on R1, not on its own call T2
    s.text("msg_02", "done")
    history = read_doc(s.doc())
    [warning] = [f for f in own_verdict(history).findings if f.rule == "parallel-results-off-chain"]
    assert (
        "it will lose 1 call whose results it keeps" in warning.explanation and "toolu_2 (Bash)" in warning.explanation
    )
    fixed = repair(history, target="anthropic", include_warnings=True)
    written = write(fixed.history, s.doc()).single[1]
    assert one_walk(written) == set(range(1, len(s.rows) + 1))
