"""claude-code-log 1.7.0's typed reader as the judge (tests/oracles/claude_code_log.py, run in
.oracles/claude-code-log): the real files, and the files our writer writes after repairs, load
without a validation error and with every tool_use answered."""

import json

import pytest

from conversations.history.formats import Document, read, write
from conversations.history.repair import repair
from tests.claude_sessions import Session, parallel_turn
from tests.support import FIXTURES

pytestmark = pytest.mark.oracle

SUBAGENT = FIXTURES / "real" / "claude-code-2.1.114-subagent" / "agent-a4ca7529859c158c2.jsonl"
SESSION_1_0 = FIXTURES / "formats" / "claude-code-session.jsonl"


def judged(oracle, path) -> dict:
    verdict = oracle("claude-code-log", str(path))
    assert verdict["errors"] == [], verdict["errors"]
    assert verdict["unanswered"] == [], verdict["unanswered"]
    return verdict


def repaired(doc: Document, tmp_path, *, warnings: bool) -> tuple[object, object]:
    [history] = read(doc)
    result = repair(history, target="anthropic", include_warnings=warnings)
    assert result.changed
    out = tmp_path / doc.name
    out.write_bytes(write(result.history, doc).single[1])
    return result, out


def test_the_judge_reports_a_record_its_models_refuse_with_its_line(oracle, tmp_path):
    lines = SESSION_1_0.read_bytes().split(b"\n")
    bad = json.loads(lines[4])
    bad["cwd"] = 5
    lines[4] = json.dumps(bad).encode()
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines))
    verdict = oracle("claude-code-log", str(path))
    assert [e["line"] for e in verdict["errors"]] == [5] and "cwd" in verdict["errors"][0]["error"]


def test_the_real_subagent_loads_whole_in_claude_code_log(oracle):
    verdict = judged(oracle, SUBAGENT)
    assert verdict["records"] == verdict["loader"]["entries"] == 56
    assert len(verdict["tool_use_ids"]) == 24


def test_the_fixture_session_loads_in_claude_code_log(oracle):
    verdict = judged(oracle, SESSION_1_0)
    assert verdict["by_type"] == {"summary": 1, "user": 10, "assistant": 11}


def test_the_subagent_with_its_results_reparented_onto_the_chain_loads(oracle, tmp_path):
    doc = Document.from_bytes(SUBAGENT.name, SUBAGENT.read_bytes())
    _, out = repaired(doc, tmp_path, warnings=True)
    verdict = judged(oracle, out)
    assert sorted(verdict["tool_result_ids"]) == sorted(verdict["tool_use_ids"])


def test_a_synthetic_result_written_for_a_lost_result_loads_with_every_call_answered(oracle, tmp_path):
    lines = SESSION_1_0.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if '"tool_use_id":"toolu_01EdT5fG7hI9jK1lM3nO5pQ7"' in line)
    lost = json.loads(lines.pop(at))
    child = next(i for i, line in enumerate(lines) if f'"parentUuid":"{lost["uuid"]}"' in line)
    lines[child] = lines[child].replace(lost["uuid"], lost["parentUuid"], 1)
    doc = Document.from_bytes("session.jsonl", "\n".join(lines).encode())
    result, out = repaired(doc, tmp_path, warnings=False)
    assert "add-tool-result" in [e.op for e in result.edits]
    assert "toolu_01EdT5fG7hI9jK1lM3nO5pQ7" in judged(oracle, out)["tool_result_ids"]


@pytest.mark.parametrize("warnings", [False, True])
def test_a_parallel_session_missing_a_result_loads_after_either_repair(oracle, tmp_path, warnings):
    """SYNTHETIC (tests/claude_sessions.py): two parallel turns, one result never written, one
    result on a side branch, a second result for one call."""
    s = Session()
    s.prompt("check the three services")
    parallel_turn(s, "msg_01", ["toolu_a", "toolu_b"])
    t1 = s.call("msg_02", "toolu_c")
    s.call("msg_02", "toolu_d")  # never answered
    s.result("toolu_c", t1)
    s.result("toolu_c", t1, "a second result")
    s.prompt("go on")
    result, out = repaired(s.doc(), tmp_path, warnings=warnings)
    verdict = judged(oracle, out)
    assert set(verdict["tool_use_ids"]) == {"toolu_a", "toolu_b", "toolu_c", "toolu_d"}
