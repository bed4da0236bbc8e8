"""Repairs of tool pairing: every tool call answered right after it, in the place the provider
wants, by its real result where there is one, and no result that answers nothing."""

import json

import pytest

from conversations.history import formats
from conversations.history.check import check, check_body
from conversations.history.formats import Document, load_path
from conversations.history.formats import anthropic as anthropic_format
from conversations.history.model import History
from conversations.history.repair import repair
from conversations.history.repair.pairing import SYNTHETIC_RESULT
from tests.support import FIXTURES

SAMPLES = FIXTURES / "samples"


def read(obj, format="openai") -> History:
    doc = Document.from_bytes("request.json", json.dumps(obj).encode())
    (history,) = formats.read(doc, format)
    return history


def call(call_id, name="bash", arguments="{}"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def shape(history: History) -> list:
    """(role, [(block type, id)]) per message: what the provider sees, in order."""
    return [(m.role, [(b.type, b.id or b.tool_use_id or b.text) for b in m.blocks]) for m in history.messages]


def errors(verdicts) -> list[str]:
    return [f.rule for v in verdicts for f in v.findings if f.severity == "error"]


def pairing_edits(result):
    """The edits about tool calls and results (a model without max_tokens also gets one)."""
    return [e for e in result.edits if e.op != "set-max-tokens"]


# --- OpenAI-style histories ----------------------------------------------------------------------


def test_it_answers_an_unanswered_tool_call_with_a_synthetic_error_result_right_after_it():
    (history,) = formats.read(load_path(SAMPLES / "unanswered-tool-call.json"))
    result = repair(history, target="anthropic")

    call_id = "toolu_01A9xKqv3VbN7mZ2rT5sY8wD"
    assert "tool-result-missing" in errors(result.before)
    assert result.accepted
    added = result.history.messages[2]
    assert (added.role, added.blocks[0].tool_use_id) == ("tool", call_id)
    assert added.blocks[0].content == SYNTHETIC_RESULT and added.blocks[0].is_error is True
    assert added.blocks[0].source.line is None and added.blocks[0].source.path == "$"  # new: no record yet
    assert result.history.messages[3].text == "Hello? Are you still there?"
    assert [e.to_dict() for e in result.edits if e.op == "add-tool-result"] == [
        {
            "op": "add-tool-result",
            "message_index": 1,
            "description": f"added a tool_result for {call_id} after message 1 (is_error: {SYNTHETIC_RESULT!r})",
        }
    ]


def test_the_same_repair_satisfies_openai():
    (history,) = formats.read(load_path(SAMPLES / "unanswered-tool-call.json"))
    result = repair(history, target="openai")
    assert "openai-tool-response-missing" in errors(result.before)
    assert result.accepted and [m.role for m in result.history.messages] == ["user", "assistant", "tool", "user"]


def test_a_missing_result_goes_after_the_tool_messages_already_there():
    history = read(
        {
            "messages": [
                {"role": "user", "content": "list files"},
                {"role": "assistant", "content": None, "tool_calls": [call("toolu_1"), call("toolu_2")]},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "done"},
                {"role": "user", "content": "and now?"},
            ]
        }
    )
    result = repair(history, target="anthropic")
    assert result.accepted
    assert [(m.role, m.blocks[0].tool_use_id) for m in result.history.messages[2:4]] == [
        ("tool", "toolu_2"),
        ("tool", "toolu_1"),
    ]
    assert result.history.messages[4].text == "and now?"


def test_it_moves_the_tool_message_up_before_the_user_message_typed_while_the_tool_ran():
    (history,) = formats.read(load_path(SAMPLES / "user-text-before-tool-result.json"))
    tool_message = history.messages[3]
    result = repair(history, target="anthropic")

    assert "tool-result-not-first" in errors(result.before)
    assert result.accepted
    assert [m.role for m in result.history.messages] == ["user", "assistant", "tool", "user"]
    moved = result.history.messages[2]
    assert moved.blocks[0].content == "3 failed, 41 passed"  # the real result, not a synthetic one
    assert moved.source == tool_message.source  # kept: the writer copies its record
    assert [e.op for e in pairing_edits(result)] == ["move-tool-result"]
    assert pairing_edits(result)[0].message_index == 3


def test_openai_sees_the_misplaced_tool_message_as_missing_and_orphan_and_the_move_fixes_both():
    (history,) = formats.read(load_path(SAMPLES / "user-text-before-tool-result.json"))
    result = repair(history, target="openai")
    assert {"openai-tool-orphan", "openai-tool-response-missing"} <= set(errors(result.before))
    assert result.accepted
    assert [e.op for e in pairing_edits(result)] == ["move-tool-result"]  # nothing invented, nothing dropped


def test_an_orphan_tool_message_is_dropped():
    history = read(
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "tool", "tool_call_id": "call_gone", "content": "stale output"},
                {"role": "user", "content": "go on"},
            ]
        }
    )
    result = repair(history, target="openai")
    assert "openai-tool-orphan" in errors(result.before)
    assert result.accepted
    assert [m.role for m in result.history.messages] == ["user", "assistant", "user"]
    assert {e.op for e in pairing_edits(result)} == {"drop-tool-result", "remove-message"}
    assert any("call_gone" in e.description and e.message_index == 2 for e in result.edits)


def test_writing_the_repaired_openai_history_keeps_every_other_message_as_it_was():
    path = SAMPLES / "unanswered-tool-call.json"
    doc = load_path(path)
    (history,) = formats.read(doc)
    result = repair(history, target="anthropic")
    written = json.loads(formats.write(result.history, doc).single[1])
    original = json.loads(path.read_bytes())
    assert written["messages"][:3] == original["messages"][:3]
    assert written["messages"][3] == {
        "role": "tool",
        "content": SYNTHETIC_RESULT,
        "tool_call_id": "toolu_01A9xKqv3VbN7mZ2rT5sY8wD",
    }
    assert written["messages"][4] == original["messages"][3]
    (again,) = formats.read(formats.write(result.history, doc))
    assert check(again, target="anthropic").accepted


# --- Anthropic-style histories --------------------------------------------------------------------


def anthropic(messages):
    return read({"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": messages}, "anthropic")


def sent_directly(target="anthropic"):
    """A check of the Anthropic body as a client that does not go through litellm sends it
    (litellm would quietly reorder these shapes itself)."""
    return lambda h: [check_body(h, anthropic_format.to_request(h), target=target)]


def tool_use(call_id, name="bash"):
    return {"type": "tool_use", "id": call_id, "name": name, "input": {}}


def tool_result(call_id, text="ok"):
    return {"type": "tool_result", "tool_use_id": call_id, "content": text}


def test_anthropic_style_puts_the_synthetic_result_first_in_the_next_user_message():
    history = anthropic(
        [
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": [tool_use("toolu_1")]},
            {"role": "user", "content": [{"type": "text", "text": "hello?"}]},
        ]
    )
    result = repair(history, target="anthropic")
    assert "tool-result-missing" in errors(result.before)
    assert result.accepted
    assert shape(result.history)[2] == ("user", [("tool_result", "toolu_1"), ("text", "hello?")])
    assert pairing_edits(result)[0].description.startswith("added a tool_result for toolu_1 at the start of message 2")


def test_anthropic_style_creates_the_user_message_when_the_tool_call_ends_the_history():
    history = anthropic(
        [
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": [{"type": "text", "text": "Listing."}, tool_use("toolu_1")]},
        ]
    )
    result = repair(history, target="anthropic")
    assert result.accepted
    assert shape(result.history)[2] == ("user", [("tool_result", "toolu_1")])
    assert pairing_edits(result)[0].message_index == 1
    assert "in a new user message after message 1" in pairing_edits(result)[0].description


def test_anthropic_style_moves_a_result_split_into_a_later_user_message_into_the_first_one():
    history = anthropic(
        [
            {"role": "user", "content": "check both"},
            {"role": "assistant", "content": [tool_use("toolu_a"), tool_use("toolu_b")]},
            {"role": "user", "content": [tool_result("toolu_a")]},
            {"role": "assistant", "content": [{"type": "text", "text": "waiting"}]},
            {"role": "user", "content": [tool_result("toolu_b", "late"), {"type": "text", "text": "there"}]},
        ]
    )
    result = repair(history, target="anthropic")
    assert "tool-result-missing" in errors(result.before)
    assert result.accepted
    assert shape(result.history)[2] == ("user", [("tool_result", "toolu_a"), ("tool_result", "toolu_b")])
    assert shape(result.history)[4] == ("user", [("text", "there")])
    assert result.history.messages[2].blocks[1].content == "late"


def test_a_result_behind_text_in_its_message_is_put_first():
    history = anthropic(
        [
            {"role": "user", "content": "run it"},
            {"role": "assistant", "content": [tool_use("toolu_1")]},
            {"role": "user", "content": [{"type": "text", "text": "also lint"}, tool_result("toolu_1")]},
        ]
    )
    result = repair(history, target="anthropic", judge=sent_directly())
    assert "tool-result-not-first" in errors(result.before)
    assert result.accepted
    assert shape(result.history)[2] == ("user", [("tool_result", "toolu_1"), ("text", "also lint")])


def test_an_orphan_tool_result_block_is_dropped_and_the_text_beside_it_kept():
    history = anthropic(
        [
            {"role": "user", "content": [tool_result("toolu_compacted_away"), {"type": "text", "text": "continue"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            {"role": "user", "content": "next"},
        ]
    )
    result = repair(history, target="anthropic")
    assert "tool-result-orphan" in errors(result.before)
    assert result.accepted
    assert shape(result.history)[0] == ("user", [("text", "continue")])


def test_a_duplicate_tool_use_and_its_result_are_removed():
    history = anthropic(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [tool_use("toolu_1")]},
            {"role": "user", "content": [tool_result("toolu_1")]},
            {"role": "assistant", "content": [tool_use("toolu_1")]},
            {"role": "user", "content": [tool_result("toolu_1", "again"), {"type": "text", "text": "and?"}]},
        ]
    )
    result = repair(history, target="anthropic")
    assert "tool-use-id-duplicate" in errors(result.before)
    assert result.accepted
    assert shape(result.history) == [
        ("user", [("text", "go")]),
        ("assistant", [("tool_use", "toolu_1")]),
        ("user", [("tool_result", "toolu_1")]),
        ("user", [("text", "and?")]),
    ]


def test_tool_use_ids_a_provider_refuses_are_rewritten_in_the_call_and_its_result():
    history = read(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": None, "tool_calls": [call("functions.bash:0")]},
                {"role": "tool", "tool_call_id": "functions.bash:0", "content": "ok"},
            ]
        }
    )
    result = repair(history, target="anthropic", judge=sent_directly())
    assert "tool-use-id-pattern" in errors(result.before)
    assert result.accepted
    new_id = result.history.messages[1].blocks[0].id
    assert new_id.startswith("functions_bash_0") and result.history.messages[2].blocks[0].tool_use_id == new_id
    assert "'functions.bash:0'" in pairing_edits(result)[0].description


def test_text_after_a_tool_call_is_moved_before_it():
    history = anthropic(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [tool_use("toolu_1"), {"type": "text", "text": "running it"}]},
            {"role": "user", "content": [tool_result("toolu_1")]},
        ]
    )
    result = repair(history, target="anthropic", judge=sent_directly())
    assert "tool-result-missing" in errors(result.before)
    assert result.accepted
    assert shape(result.history)[1] == ("assistant", [("text", "running it"), ("tool_use", "toolu_1")])
    assert [e.op for e in result.edits] == ["move-text-before-tool-use"]  # no result invented


# --- the formats that store tool calls their own way --------------------------------------------------


def test_claude_code_gets_a_new_result_record_parented_on_the_tool_use():
    lines = (FIXTURES / "formats" / "claude-code-session.jsonl").read_text().split("\n")
    # The result of the Edit call was never written (the process died): its child record now
    # hangs on the tool_use record.
    at = next(i for i, line in enumerate(lines) if '"tool_use_id":"toolu_01EdT5fG7hI9jK1lM3nO5pQ7"' in line)
    lost = json.loads(lines.pop(at))
    child = next(i for i, line in enumerate(lines) if f'"parentUuid":"{lost["uuid"]}"' in line)
    lines[child] = lines[child].replace(lost["uuid"], lost["parentUuid"], 1)
    doc = Document.from_bytes("session.jsonl", "\n".join(lines).encode())
    (history,) = formats.read(doc)

    result = repair(history, target="anthropic")
    assert "tool-result-missing" in errors(result.before) and result.accepted
    written = formats.write(result.history, doc).single[1].decode().split("\n")
    changed = [json.loads(line) for line in written if line not in lines]
    added, reparented = changed  # the new result record, then the child re-parented on it
    assert added["parentUuid"] == lost["parentUuid"] and added["type"] == "user"
    assert added["message"]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01EdT5fG7hI9jK1lM3nO5pQ7",
            "content": SYNTHETIC_RESULT,
            "is_error": True,
        }
    ]
    assert reparented["parentUuid"] == added["uuid"]
    assert len(written) == len(lines) + 1
    (again,) = formats.read(Document.from_bytes("session.jsonl", "\n".join(written).encode()))
    assert not {"tool-result-missing", "tool-result-orphan"} & set(errors([check(again, target="anthropic")]))


def test_openhands_gets_the_synthetic_error_observation_openhands_itself_writes(fixture_copy):
    session = fixture_copy("formats/openhands-events")
    (session / "events" / "10.json").unlink()  # the runtime died before the controller wrote it
    doc = load_path(session)
    (history,) = formats.read(doc)

    result = repair(history, target="openai")
    assert "openai-tool-response-missing" in errors(result.before) and result.accepted
    written = formats.write(result.history, doc)
    assert set(written.files) - set(doc.files) == {"events/12.json"}
    event = json.loads(written.files["events/12.json"])
    assert (event["observation"], event["cause"], event["source"]) == ("error", 9, "agent")
    assert event["tool_call_metadata"]["tool_call_id"] == "toolu_01Ab3XcD5eFgH7iJkL9mNoPq"
    assert all(written.files[name] == data for name, data in doc.files.items())


def test_an_openhands_call_that_never_ran_is_removed_rather_than_answered(fixture_copy):
    session = fixture_copy("formats/openhands-events")
    for event in (9, 10):  # the pytest action and its result were never written
        (session / "events" / f"{event}.json").unlink()
    doc = load_path(session)
    (history,) = formats.read(doc)

    result = repair(history, target="openai")
    assert result.accepted
    assert [(e.op, e.message_index) for e in result.edits] == [("drop-tool-use", 3)]
    written = formats.write(result.history, doc)
    assert set(written.files) == set(doc.files)
    response = json.loads(written.files["events/7.json"])["tool_call_metadata"]
    assert [c["id"] for c in response["model_response"]["choices"][0]["message"]["tool_calls"]] == [
        "toolu_01Fz4cN8mLq2VtR6yHb9JkUe"
    ]
    assert response["total_calls_in_response"] == 1


@pytest.mark.parametrize("target", ["anthropic", "openai", "bedrock"])
def test_an_already_valid_history_is_left_alone(target):
    (history,) = formats.read(load_path(FIXTURES / "formats" / "openai-request.json"))
    result = repair(history, target=target)
    assert not errors(result.before)
    assert result.edits == [] and result.history.to_dict() == history.to_dict()


@pytest.mark.timeout(60)  # a hang guard, not a speed test: it took 136 s when the repair was cubic
def test_twenty_thousand_unanswered_calls_in_one_message_are_each_answered_in_order():
    calls = [
        {"id": f"call_{k:05d}", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
        for k in range(20_000)
    ]
    history = read(
        {"messages": [{"role": "user", "content": "list"}, {"role": "assistant", "content": None, "tool_calls": calls}]}
    )

    result = repair(history, target="anthropic")

    # Every call is answered; what is left is that 20,000 results do not fit a context window.
    assert {f.rule for f in result.remaining()} == {"context-overflow"}
    user, assistant, *results = result.history.messages
    assert [m.role for m in results] == ["tool"] * 20_000
    assert [m.blocks[0].tool_use_id for m in results] == [c["id"] for c in calls]
    assert {m.blocks[0].result_text for m in results} == {SYNTHETIC_RESULT}
    assert len(result.edits) == 20_000 and result.edits[-1].op == "add-tool-result"
