"""OpenHands output.jsonl: one conversation a line, each named, a bad line failing alone; read from
a real resolver file and from evaluation records made of the V0 fixtures' own events."""

from __future__ import annotations

import json

import pytest

from conversations.history import formats
from conversations.history.errors import FormatError
from conversations.history.formats import Document, load_path, openhands_output
from conversations.history.model import History
from conversations.history.targets import target_for_model
from tests.support import FIXTURES

RESOLVER = FIXTURES / "real" / "openhands-resolver-output" / "output.jsonl"
GPT4O = FIXTURES / "real" / "openhands-trajectory-gpt4o" / "basic_interactions.json"
TRAJECTORY = FIXTURES / "formats" / "openhands-trajectory.json"


def evaluation_line(events: list, **fields) -> str:
    record = {"instruction": "Fix the bug.", **fields, "history": events, "metrics": {"accumulated_cost": 0.25}}
    record.setdefault("error", None)
    return json.dumps(record)


def evaluation_output(*lines: str) -> Document:
    return Document.from_bytes("output.jsonl", ("\n".join(lines) + "\n").encode())


def three_runs(middle: str | None = None) -> Document:
    """An evaluation run of three instances: the fixture trajectory (its model in the metadata),
    the gpt-4o trajectory (no metadata: the model is on its finish event), and one with neither an
    instance_id nor an issue."""
    first = evaluation_line(
        json.loads(TRAJECTORY.read_text()),
        instance_id="acme__inventory-7",
        metadata={"llm_config": {"model": "anthropic/claude-sonnet-4-20250514"}},
    )
    second = evaluation_line(json.loads(GPT4O.read_text()), instance_id="goldbach-1")
    third = evaluation_line(json.loads(GPT4O.read_text()))
    return evaluation_output(first, middle if middle is not None else second, third)


# --- detection ------------------------------------------------------------------------------------


def test_it_detects_resolver_and_evaluation_outputs_and_nothing_else():
    assert formats.detect(load_path(RESOLVER)) == "openhands-output"
    assert formats.detect(three_runs()) == "openhands-output"
    assert not openhands_output.WRITABLE
    for other in ("openai-request.json", "claude-code-session.jsonl", "openhands-trajectory.json"):
        assert not openhands_output.sniff(load_path(FIXTURES / "formats" / other))
    assert not openhands_output.sniff(Document.from_bytes("x.jsonl", b'{"history": []}\n'))


# --- the resolver's file: the older flat events -----------------------------------------------------


def test_each_resolver_line_is_a_conversation_named_by_its_issue():
    histories = formats.read(load_path(RESOLVER))
    assert [formats.conversation_name(h) for h in histories] == [
        "neubig/pr-viewer#5 Add MIT license",
        "neubig/pr-viewer#1 Add a toggle for dark mode",
    ]
    first = histories[0]
    assert (first.format, first.record, first.external_id, first.model) == (
        "openhands-output",
        1,
        "neubig/pr-viewer#5",
        None,
    )
    assert first.title == "neubig/pr-viewer#5 Add MIT license"
    assert first.meta["success"] is True and first.meta["error"] is None
    assert first.meta["accumulated_cost"] == 0.070713
    assert first.meta["issue_title"] == "Add MIT license"
    assert first.meta["result_explanation"].startswith("The AI agent has successfully added the MIT License")


def test_a_flat_action_is_an_assistant_turn_and_its_observation_the_next_user_turn():
    history = formats.read(load_path(RESOLVER))[0]
    assert [m.role for m in history.messages] == ["user", "assistant", "user", "assistant", "user", "assistant"] + [
        "user",
        "assistant",
    ]
    assert history.messages[0].text.startswith("Please fix the following issue")
    ran = history.messages[1]
    assert ran.text.startswith("Certainly! I'll add the MIT license")
    assert ran.text.endswith("<execute_bash>\ntouch LICENSE\n</execute_bash>")
    assert "<execute_ipython>\nmit_license = " in history.messages[3].text
    assert history.messages[2].text == "\r\nroot@bcd3959393a1:/workspace # "
    assert history.messages[-1].extra == {"action": "finish"}
    source = history.messages[2].source
    assert (source.file, source.line, source.path) == ("output.jsonl", 1, "$.history[2]")


# --- evaluation runs: V0 events --------------------------------------------------------------------


def test_evaluation_lines_are_read_as_v0_trajectories_named_by_instance():
    first, second, third = formats.read(three_runs())
    assert [formats.conversation_name(h) for h in (first, second, third)] == [
        "acme__inventory-7",
        "goldbach-1",
        "line 3",
    ]
    assert first.model == "anthropic/claude-sonnet-4-20250514"  # metadata.llm_config.model
    assert second.model == "gpt-4o-2024-08-06"  # only its late finish event names it
    assert target_for_model(second.model).name == "openai"
    assert [m.role for m in first.messages] == ["user", "assistant", "tool", "assistant", "tool", "tool"]
    assert first.system[0].text.startswith("You are OpenHands agent")
    call = first.messages[3].tool_uses()[1]
    assert (call.source.line, call.source.event) == (1, 9)
    assert call.source.path == "$.history[8].tool_call_metadata.model_response.choices[0].message.tool_calls[1]"
    assert first.meta["run"] == "evaluation" and first.meta["accumulated_cost"] == 0.25
    assert not second.messages[-1].blocks[1].sent  # the finish call, as from the trajectory


def test_a_bad_line_fails_alone_and_is_named():
    each = formats.read_each(three_runs(middle='{"instance_id": "broken", "history": ['))
    assert [type(x) for x in each] == [History, FormatError, History]
    error = each[1]
    assert (error.file, error.line) == ("output.jsonl", 2)
    assert "truncated JSON" in str(error)
    with pytest.raises(FormatError, match="line 2"):
        formats.read(three_runs(middle='{"instance_id": "broken", "history": ['))


def test_a_line_of_the_wrong_shape_fails_alone_naming_its_place():
    bad_event = evaluation_line([{"id": "x", "source": "user", "action": "message"}], instance_id="odd")
    each = formats.read_each(three_runs(middle=bad_event))
    assert isinstance(each[1], FormatError)
    assert (each[1].line, each[1].path) == (2, "$.history[0].id")
    assert isinstance(each[2], History)


def test_a_file_of_valid_lines_never_fails_as_one_json_value():
    for doc in (three_runs(), load_path(RESOLVER)):
        assert all(isinstance(x, History) for x in formats.read_each(doc))
    single = evaluation_output(evaluation_line(json.loads(GPT4O.read_text()), instance_id="only"))
    (history,) = formats.read(single)
    assert formats.conversation_name(history) == "only"


def test_read_each_gives_one_error_for_a_document_no_format_reads():
    (error,) = formats.read_each(Document.from_bytes("notes.json", b"{not json"))
    assert isinstance(error, FormatError) and error.file == "notes.json"


# --- never written back ------------------------------------------------------------------------------


def test_its_repaired_form_is_a_request_never_the_output_file():
    history = formats.read(load_path(RESOLVER))[0]
    request = json.loads(formats.write(history).single[1])
    assert [m["role"] for m in request["messages"]][:3] == ["user", "assistant", "user"]
    anthropic = json.loads(formats.write(history, format="anthropic").single[1])
    assert anthropic["messages"][0]["role"] == "user"
    # Asked for its own format, with the file it came from: still the request, never the file.
    own = formats.write(history, load_path(RESOLVER))
    assert json.loads(own.single[1]) == request


def test_a_broken_first_line_does_not_hide_what_the_file_is():
    doc = three_runs()
    lines = doc.single[1].decode().split("\n")
    broken = Document.from_bytes("output.jsonl", "\n".join(['{"instance_id": "cut', *lines[1:]]).encode())
    assert formats.detect(broken) == "openhands-output"
    each = formats.read_each(broken)
    assert isinstance(each[0], FormatError) and each[0].line == 1
    assert [formats.conversation_name(h) for h in each[1:]] == ["goldbach-1", "line 3"]
