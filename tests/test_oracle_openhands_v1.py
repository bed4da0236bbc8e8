"""openhands-sdk 1.58.2 as the judge (tests/oracles/openhands_v1.py): the SDK-written
conversation reads in our reader as the SDK sends it, and every V1 folder our writer writes loads
in the SDK with no validation error, nothing its view properties would drop and every call
answered (docs/testing.md, "Real readers as judges of what we write back")."""

import random

import pytest

from conversations.history import formats
from conversations.history.formats import load_path
from conversations.history.formats.document import document_hash
from conversations.history.model import History
from conversations.history.repair import repair
from conversations.writeback import write_back
from tests.support import V1_FIXTURE
from tests.v1_folders import fixture_files, random_log, without_last_observation, write_folder

pytestmark = pytest.mark.oracle


def sent(history: History) -> list[dict]:
    """Our history as the judge summarises the SDK's messages: the system prompt first."""
    out = [{"role": "system", "tool_calls": [], "tool_call_id": None, "text": history.system[0].text}]
    for m in history.messages:
        out.append(
            {
                "role": m.role,
                "tool_calls": [u.id for u in m.tool_uses()],
                "tool_call_id": m.blocks[0].tool_use_id if m.role == "tool" else None,
                "text": "".join(
                    b.result_text if b.type == "tool_result" else b.text or ""
                    for b in m.blocks
                    if b.type in ("text", "tool_result")
                ),
            }
        )
    return out


def summary(report: dict) -> list[dict]:
    return [{k: m[k] for k in ("role", "tool_calls", "tool_call_id", "text")} for m in report["messages"]]


def sound(report: dict) -> None:
    assert report["restore_error"] is None
    assert report["validation_errors"] == []
    assert report["dropped"] == []
    assert report["unanswered"] == []


def test_the_shared_conversation_reads_here_exactly_as_the_sdk_sends_it(oracle):
    report = oracle("openhands-v1", str(V1_FIXTURE))

    sound(report)
    assert report["events_loaded"] == 27 and report["active_branch"] == 20
    assert len(report["messages"]) == 19
    assert [len(m["tool_calls"]) for m in report["messages"] if len(m["tool_calls"]) > 1] == [2]
    assert sum(m["thinking_blocks"] for m in report["messages"]) == 1
    (history,) = formats.read(load_path(V1_FIXTURE))
    assert sent(history) == summary(report)


def test_the_abandoned_call_repaired_and_written_back_in_place_is_answered_in_the_sdk(oracle, tmp_path):
    files = without_last_observation(fixture_files())
    unrepaired = write_folder(tmp_path / "as-left" / "4f7c2a9e", files)
    conversation = write_folder(tmp_path / "conversations" / "4f7c2a9e", files)
    doc = load_path(conversation)
    (history,) = formats.read(doc)
    result = repair(history, target="anthropic", include_warnings=True, build_request=False)

    write_back(conversation, formats.write(result.history, doc), expected_hash=document_hash(doc), roots=[tmp_path])

    before, report = oracle("openhands-v1", str(unrepaired), str(conversation))
    # As the process left it, the SDK resumes without the call: it is not in what it sends.
    assert "toolu_01Xe5Qa9Jc3Hm7Rt1Lv6Ub2N" not in [c for m in before["messages"] for c in m["tool_calls"]]
    sound(report)
    assert report["events_loaded"] == 27
    calls = [m["tool_calls"] for m in report["messages"]]
    assert calls[-2] == ["toolu_01Xe5Qa9Jc3Hm7Rt1Lv6Ub2N"]
    assert report["messages"][-1]["tool_call_id"] == "toolu_01Xe5Qa9Jc3Hm7Rt1Lv6Ub2N"
    (back,) = formats.read(load_path(conversation))
    assert sent(back) == summary(report)


def test_long_outputs_read_here_as_the_sdk_cuts_them(oracle, tmp_path):
    from tests.v1_folders import V1Log

    log = V1Log()
    log.user("show me the logs")
    saved, plain = log.actions(["cat big.log", "cat other.log"])
    log.observation(saved, "".join(f"line {n}\n" for n in range(6000)), save_dir=str(tmp_path / "observations"))
    log.observation(plain, "x" * 45_000)
    folder = log.write(tmp_path / "long")

    report = oracle("openhands-v1", str(folder))

    sound(report)
    (history,) = formats.read(load_path(folder))
    assert sent(history) == summary(report)


@pytest.mark.slow
def test_every_folder_the_writer_writes_loads_in_the_sdk_with_every_call_answered(oracle, tmp_path):
    folders, expected = [], []
    for seed in range(40):
        log = random_log(random.Random(seed))
        doc = log.document(leaf=log.leaf)
        (history,) = formats.read(doc)
        result = repair(history, target="anthropic", include_warnings=True, build_request=False)
        out = formats.write(result.history, doc)
        folders.append(write_folder(tmp_path / f"c{seed}", out.files))
        (back,) = formats.read(out)
        expected.append(sent(back))

    reports = oracle("openhands-v1", *map(str, folders))

    for folder, report, ours in zip(folders, reports, expected, strict=True):
        sound(report)
        assert summary(report) == ours, folder.name
