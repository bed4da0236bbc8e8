"""Output that reads back the same (conversations.history.readback): what a writer writes is read
back with our reader, redacted as an ingest redacts, and compared with the history it was written
from, so nothing is written that a later read would see otherwise.

The real fixtures (formats/, real/, samples/, seed/) read, repaired for each target and written
read back the same; histories a writer cannot hold (an OpenAI request has no place for a call in a
user message, nor for thinking there) read back otherwise, and say where."""

import json
import random
from pathlib import Path

import pytest

from conversations.history import formats
from conversations.history.formats import Document, load_path
from conversations.history.model import Block, History, Message
from conversations.history.readback import history_difference, readback, readback_difference, refusal
from conversations.history.repair import judge_for, repair
from tests.claude_sessions import empty_last_response
from tests.support import FIXTURES

TARGETS = ("anthropic", "openai", "gemini")


def fixture_paths() -> list[Path]:
    found = [
        p
        for folder in ("formats", "real", "samples", "seed")
        for p in sorted((FIXTURES / folder).rglob("*"))
        if p.is_file()
        and p.suffix in (".json", ".jsonl")
        and not p.name.endswith(".meta.json")
        and "openhands-events" not in p.parts
        and "openhands-v1" not in p.parts
    ]
    return [*found, FIXTURES / "formats" / "openhands-events", FIXTURES / "formats" / "openhands-v1"]


def conversations(path: Path) -> tuple[Document, list[History]]:
    doc = load_path(path)
    return doc, [h for h in formats.read_each(doc) if isinstance(h, History)]


def written(history: History, doc: Document, several: bool) -> Document:
    return formats.write(history, None if several else doc)


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_and_each_repair_of_it_reads_back_as_written(path):
    doc, histories = conversations(path)
    if not histories:
        pytest.skip("holds no conversation (a summary-only session)")
    several = len(histories) > 1
    for history in histories[:3]:
        assert readback_difference(history, written(history, doc, several)) is None
        for target in TARGETS:
            repaired = repair(history, target=target, include_warnings=True).history
            assert readback_difference(repaired, written(repaired, doc, several)) is None, target


@pytest.mark.parametrize("seed", range(12))
def test_generated_broken_histories_repaired_read_back_with_the_verdict_the_repair_gave(seed):
    """A fixture broken at random places (messages inserted, removed, swapped, edited), repaired:
    its written form reads back the same, and judged again gives the repair's own verdict."""
    rng = random.Random(seed)
    path = rng.choice(
        [FIXTURES / "samples" / "unanswered-tool-call.json", FIXTURES / "formats" / "anthropic-request.json"]
    )
    doc, (history,) = conversations(path)
    broken = _broken(history, rng)
    target = rng.choice(TARGETS)
    result = repair(broken, target=target)
    back, difference = readback(result.history, formats.write(result.history, doc))
    assert difference is None
    again = judge_for(back, target=target)
    assert [(v.target, v.accepted) for v in again] == [(v.target, v.accepted) for v in result.after]


def _broken(history: History, rng: random.Random) -> History:
    copy = History.from_dict(history.to_dict())
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(copy.messages))
        op = rng.choice(["insert", "remove", "swap"])
        if op == "insert":
            copy.messages.insert(at, Message(role="user", blocks=[Block.text_block(f"again {rng.random()}")]))
        elif op == "remove" and len(copy.messages) > 1:
            del copy.messages[at]
        else:
            other = rng.randrange(len(copy.messages))
            copy.messages[at], copy.messages[other] = copy.messages[other], copy.messages[at]
    return copy


# --- what a writer cannot hold ---------------------------------------------------------------------


def openai_history(*messages: Message) -> History:
    return History(format="openai", model="gpt-4o", messages=list(messages))


def test_a_call_in_a_user_message_is_lost_by_the_openai_writer_and_named():
    history = openai_history(
        Message("user", [Block.text_block("list the files"), Block.tool_use("call_1", "ls", {"path": "."})]),
        Message("assistant", [Block.text_block("done")]),
    )

    difference = readback_difference(history, formats.write(history))

    assert difference == "message 0: lost 1 block(s) (tool_use): 1 blocks, not 2"
    assert refusal(difference).startswith("the output would read back differently: message 0: ")


def test_thinking_in_a_user_message_is_lost_by_the_openai_writer_and_named():
    history = openai_history(
        Message("user", [Block(type="thinking", text="hmm", signature="sig")]),
        Message("assistant", [Block.text_block("hello")]),
    )

    assert readback_difference(history, formats.write(history)) == (
        "message 0: lost 1 block(s) (thinking): 0 blocks, not 1"
    )


def test_a_result_in_an_assistant_message_reads_back_in_another_role():
    history = openai_history(
        Message("user", [Block.text_block("q")]),
        Message("assistant", [Block.tool_result("call_1", "out")]),
    )

    assert readback_difference(history, formats.write(history)) == "message 1: the role is tool, not assistant"


def test_a_changed_result_is_named_with_what_it_became():
    path = FIXTURES / "formats" / "anthropic-request.json"
    doc, (history,) = conversations(path)
    body = json.loads(doc.single[1])
    index, position = next(
        (i, j)
        for i, m in enumerate(body["messages"])
        if isinstance(m["content"], list)
        for j, b in enumerate(m["content"])
        if b.get("type") == "tool_result"
    )
    body["messages"][index]["content"][position]["is_error"] = True
    changed = Document.from_bytes(path.name, json.dumps(body).encode())

    difference = readback_difference(history, changed)

    assert difference == f"message {index}: block {position} (tool_result): its is_error is true, not false"


def test_a_secret_in_the_history_is_compared_as_the_stored_copy_holds_it():
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
    history = openai_history(Message("user", [Block.text_block(f"my key is {key}")]))

    back, difference = readback(history, formats.write(history))

    assert difference is None
    assert key not in back.messages[0].text and "[REDACTED]" in back.messages[0].text


def test_writer_generated_ids_and_sources_are_not_differences():
    history = openai_history(Message("user", [Block.text_block("hi")], id="m1", timestamp="2025-01-01T00:00:00Z"))
    other = openai_history(Message("user", [Block.text_block("hi")], id="other", timestamp=None))

    assert history_difference(history, other) is None


def test_an_unreadable_output_is_a_difference_too():
    history = openai_history(Message("user", [Block.text_block("hi")]))

    difference = readback_difference(history, Document.from_bytes("x.json", b'{"messages": ['))

    assert difference is not None and difference.startswith("the output cannot be read: ")


def test_a_repair_that_empties_a_claude_code_response_would_read_back_one_message_short():
    doc = Document.from_bytes("session.jsonl", empty_last_response())
    (history,) = formats.read(doc)

    result = repair(history, target="anthropic")

    assert [e.description for e in result.edits] == ["removed 1 empty text block(s) from message 1 (line 2)"]
    assert readback_difference(result.history, formats.write(result.history, doc)) == (
        "message 1: missing (the output holds 1 messages, not 2)"
    )
