"""Property: on generated broken Claude Code sessions (SYNTHETIC, tests/claude_sessions.py): parallel
calls with their results on side branches or chained, results never written, second results,
records written twice, rewound branches; repair for anthropic (errors only, and with warnings),
write, read back and check gives the verdict the repair reported, and every call whose result is
anywhere in the file is still answered by one of its real results. And for Claude Code's own resume,
which walks one chain: a new result lies on that chain with its call, and after the warnings repair
every record the history is read from does."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.history.check import check
from conversations.history.formats import Document, read, write
from conversations.history.repair import repair
from conversations.history.targets import target_for_model
from tests.claude_sessions import Session, one_walk

FATES = ("result", "missing", "second result", "written twice")


@st.composite
def broken_sessions(draw) -> tuple[Session, dict[str, set[str]]]:
    """A session and, for each call, the contents of the real results written for it."""
    s = Session(seed=draw(st.integers(0, 50)))
    # 2.x parents each result on its own call (parallel results on side branches); 1.0 chains
    # them one after another.
    own_parent = draw(st.booleans())
    real: dict[str, set[str]] = {}
    s.prompt("Fix the failing build.")
    for t in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            # A rewind: a branch written first, then the conversation goes on from before it.
            tip = s.tip
            s.prompt(f"an idea abandoned at turn {t}")
            s.text(f"msg_abandoned_{t}", "following the abandoned idea")
            s.tip = tip
        if t and draw(st.booleans()):
            s.prompt(f"step {t}")
        mid = f"msg_{t:02d}"
        if draw(st.booleans()):
            s.text(mid, "Let me look.")
        ids = [f"toolu_{t}_{j}" for j in range(draw(st.integers(1, 3)))]
        calls = [s.call(mid, tool_id) for tool_id in ids]
        fates = draw(st.lists(st.sampled_from(FATES), min_size=len(ids), max_size=len(ids)))
        order = draw(st.permutations(range(len(ids))))
        for j in order:
            if fates[j] == "missing":
                continue
            content = f"real output of {ids[j]}"
            row = s.result(ids[j], calls[j], content, parent=None if own_parent else s.tip)
            real.setdefault(ids[j], set()).add(content)
            if fates[j] == "second result":
                second = f"second output of {ids[j]}"
                s.result(ids[j], calls[j], second, parent=None if own_parent else s.tip)
                real[ids[j]].add(second)
            elif fates[j] == "written twice":
                s.raw(dict(row))
        if "missing" in fates and draw(st.booleans()):
            s.prompt([{"type": "text", "text": "[Request interrupted by user for tool use]"}])
    if draw(st.booleans()):
        s.text("msg_final", "The build passes now.", stop_reason="end_turn")
    return s, real


def read_one(data: bytes, name: str):
    [history] = read(Document.from_bytes(name, data))
    return history


def answers(history) -> dict[str, list[str]]:
    """Each call -> the texts of the results the next message holds for it."""
    found: dict[str, list[str]] = {}
    for i, message in enumerate(history.messages):
        following = history.messages[i + 1].blocks if i + 1 < len(history.messages) else []
        for use in message.tool_uses():
            found[use.id] = [b.result_text for b in following if b.type == "tool_result" and b.tool_use_id == use.id]
    return found


def seen(verdict) -> list[tuple[str, str, int | None]]:
    return sorted((f.rule, f.severity, f.message_index) for f in verdict.findings)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_sessions(), st.booleans())
def test_a_repaired_session_reads_back_with_the_verdict_reported_and_every_real_result_kept(session, warnings):
    s, real = session
    doc = s.doc()
    history = read_one(doc.single[1], doc.name)

    result = repair(history, target="anthropic", include_warnings=warnings)
    written = write(result.history, s.doc()).single[1] if result.changed else doc.single[1]
    again = read_one(written, doc.name)

    [reported] = result.after
    verdict = check(again, target=target_for_model(again.model))
    assert verdict.accepted == reported.accepted
    assert seen(verdict) == seen(reported)
    if warnings:
        assert "parallel-results-off-chain" not in {f.rule for f in verdict.findings}
    paired = answers(again)
    for tool_id, contents in real.items():
        assert len(paired[tool_id]) == 1 and paired[tool_id][0] in contents, tool_id
    assert all(len(texts) == 1 for texts in paired.values())  # every call answered, once

    chain = one_walk(written)
    rows = {json.loads(line)["uuid"]: n for n, line in enumerate(written.split(b"\n"), start=1) if b'"uuid"' in line}
    old = {row["uuid"] for row in s.rows if "uuid" in row}
    for line in written.split(b"\n"):
        row = json.loads(line) if line.strip() else {}
        if row.get("uuid") and row["uuid"] not in old and "sourceToolAssistantUUID" in row:
            assert {rows[row["uuid"]], rows[row["sourceToolAssistantUUID"]]} <= chain
    if warnings:
        assert {b.source.line for _, _, b in again.blocks()} <= chain
