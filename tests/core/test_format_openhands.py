"""The OpenHands format: a session directory or a trajectory in, one History out, and back."""

import copy
import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from conversations.history.check import check
from conversations.history.errors import FormatError
from conversations.history.formats import detect, load_path, openai, openhands
from conversations.history.formats.document import Document
from conversations.history.model import NOT_SENT, Block, Message
from conversations.history.targets import target_for_model
from tests.support import FIXTURES

SESSION = FIXTURES / "formats" / "openhands-events"
TRAJECTORY = FIXTURES / "formats" / "openhands-trajectory.json"
PARALLEL_RESPONSE = "chatcmpl-8e24c9d1-2f3a-4b6e-b1c7-0d9e5a7f4c22"
PYTEST_CALL = "toolu_01Ab3XcD5eFgH7iJkL9mNoPq"  # the call the runtime died on (action 9)
EVENT_KEYS = ["id", "timestamp", "source", "message", "cause", "observation", "tool_call_metadata", "content", "extras"]


def read_one(doc: Document):
    histories = openhands.read(doc)
    assert len(histories) == 1
    return histories[0]


def session_copy(tmp_path: Path) -> Path:
    target = tmp_path / "5f1c0e7b"
    shutil.copytree(SESSION, target)
    return target


def event(path: Path, eid: int) -> dict:
    return json.loads((path / "events" / f"{eid}.json").read_text())


def summary(history) -> list[tuple]:
    return [(m.role, m.text, [b.id or b.tool_use_id for b in m.blocks if b.type != "text"]) for m in history.messages]


def tool_uses_by_id(history) -> dict[str, Block]:
    return {b.id: b for _, _, b in history.blocks() if b.type == "tool_use"}


def write_dir(doc: Document, root: Path) -> Path:
    """What a caller does with a written Document: write its files, delete the removed ones."""
    for name in doc.removed:
        (root / name).unlink()
    for name, data in doc.files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def thirty_event_session(tmp_path: Path) -> Path:
    """System, user, then 14 answered single-call responses: ids 0-29, with the full 0-25 page
    OpenHands would have written to event_cache/."""
    root = tmp_path / "long-session"
    (root / "events").mkdir(parents=True)
    (root / "event_cache").mkdir()
    shutil.copy(SESSION / "metadata.json", root / "metadata.json")
    action_template, result_template = event(SESSION, 5), event(SESSION, 6)
    events = [event(SESSION, 0), event(SESSION, 1)]
    for n in range(14):
        action, result = copy.deepcopy(action_template), copy.deepcopy(result_template)
        call_id, response_id = f"toolu_{n:02d}", f"chatcmpl-{n:02d}"
        for e in (action, result):
            tcm = e["tool_call_metadata"]
            tcm["tool_call_id"] = call_id
            tcm["model_response"]["id"] = response_id
            tcm["model_response"]["choices"][0]["message"]["tool_calls"][0]["id"] = call_id
        action["id"], result["id"] = 2 + 2 * n, 3 + 2 * n
        result["cause"] = action["id"]
        events += [action, result]
    for e in events:
        (root / "events" / f"{e['id']}.json").write_text(json.dumps(e))
    (root / "event_cache" / "0-25.json").write_text(json.dumps(events[:25]))
    return root


# --- reading the session directory --------------------------------------------------------------


def test_it_detects_the_directory_and_the_trajectory_but_not_other_logs():
    assert detect(load_path(SESSION)) == "openhands"
    assert detect(load_path(TRAJECTORY)) == "openhands"
    for other in ("anthropic-request.json", "openai-request.json", "claude-code-session.jsonl"):
        assert not openhands.sniff(load_path(FIXTURES / "formats" / other))
    assert not openhands.sniff(Document.from_bytes("blob.json", b"\x89PNG\r\n\x1a\n\x00\x00garbage"))
    assert not openhands.sniff(Document.from_bytes("empty.json", b"[]"))


def test_it_reads_the_session_as_one_conversation_in_event_order():
    history = read_one(load_path(SESSION))
    assert history.format == "openhands"
    assert [m.role for m in history.messages] == ["user", "assistant", "tool", "assistant", "tool", "tool"]
    assert history.messages[0].text.startswith("Run the test suite of /workspace/inventory-svc")
    assert history.messages[0].source.file == "events/1.json"
    assert history.messages[0].source.event == 1


def test_the_system_event_gives_the_system_prompt_and_the_tools():
    history = read_one(load_path(SESSION))
    assert len(history.system) == 1
    assert history.system[0].text.startswith("You are OpenHands agent")
    assert history.system[0].source.event == 0
    assert history.system[0].source.path == "$.args.content"
    assert [t.name for t in history.tools] == ["execute_bash", "str_replace_editor", "finish"]
    assert history.tools[0].parameters["type"] == "object"
    assert history.tools[0].source.path == "$.args.tools[0]"


def test_the_metadata_names_the_conversation():
    history = read_one(load_path(SESSION))
    assert history.title == "Run inventory-svc test suite"
    assert history.model == "litellm_proxy/claude-sonnet-4-20250514"  # as written, prefix kept
    assert history.external_id == "5f1c0e7b9a2d4c8e8d61a3b0f2c94e17"
    assert history.meta["created_at"] == "2025-07-14T08:01:52.640318Z"
    assert history.started_at == "2025-07-14T08:02:04.118203"
    assert history.ended_at == "2025-07-14T08:04:51.211409"


def test_a_parallel_call_response_is_one_assistant_message_with_two_tool_uses():
    history = read_one(load_path(SESSION))
    response = history.messages[3]
    assert response.role == "assistant"
    assert response.id == PARALLEL_RESPONSE
    assert response.text == "There is a pytest.ini; let me check its settings and run the suite."
    uses = response.tool_uses()
    assert [(b.id, b.name) for b in uses] == [
        ("toolu_01Fz4cN8mLq2VtR6yHb9JkUe", "str_replace_editor"),
        (PYTEST_CALL, "execute_bash"),
    ]
    assert uses[1].input == {
        "command": "cd /workspace/inventory-svc && python -m pytest -q 2>&1 | tail -n 30",
        "timeout": 300,
    }
    assert json.loads(uses[1].arguments) == uses[1].input
    # Each call points at the action that carries it, not at the first action of the response.
    assert [b.source.event for b in uses] == [7, 9]
    assert uses[1].source.path == "$.tool_call_metadata.model_response.choices[0].message.tool_calls[1]"
    assert response.model == "claude-sonnet-4-20250514"
    # litellm's prompt_tokens (7921) holds the cache read (7398) and write (509): each counted once.
    usage = response.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (14, 7398, 509)
    assert usage.output_tokens == 187
    assert usage.total == 8108  # the response's own total_tokens


def test_observations_become_tool_messages_and_the_synthetic_error_is_an_error_result():
    history = read_one(load_path(SESSION))
    ran, read, died = (history.messages[i] for i in (2, 4, 5))
    assert ran.blocks[0].tool_use_id == "toolu_01QeV7n2WbXk8Hh5sYpR3dTa" and not ran.blocks[0].is_error
    assert read.name == "str_replace_editor"
    result = died.blocks[0]
    assert (result.type, result.tool_use_id, result.is_error) == ("tool_result", PYTEST_CALL, True)
    assert result.result_text.startswith("The action has not been executed due to a runtime error.")
    assert (result.source.file, result.source.event) == ("events/10.json", 10)
    assert died.extra["cause"] == 9


def test_events_that_are_not_messages_are_counted_and_the_last_agent_state_kept():
    history = read_one(load_path(SESSION))
    meta = history.meta
    assert meta["other_events"] == {"agent_state_changed": 2, "recall": 2}
    assert meta["message_events"] + sum(meta["other_events"].values()) == meta["event_count"] == 12
    assert meta["agent_state"] == "error"
    assert meta["agent_state_reason"].startswith("AgentRuntimeDisconnectedError")


def test_an_action_never_answered_stays_a_tool_use_without_result(tmp_path):
    root = session_copy(tmp_path)
    (root / "events" / "10.json").unlink()  # an older stream: no synthetic error observation
    history = read_one(load_path(root))
    assert PYTEST_CALL in tool_uses_by_id(history)
    results = [b.tool_use_id for _, _, b in history.blocks() if b.type == "tool_result"]
    assert PYTEST_CALL not in results
    assert [m.role for m in history.messages] == ["user", "assistant", "tool", "assistant", "tool"]


def test_agent_messages_images_and_finish_become_assistant_and_user_blocks(tmp_path):
    root = session_copy(tmp_path)
    user = event(root, 1)
    user["args"]["image_urls"] = ["data:image/png;base64,iVBORw0KGgo=", "https://example.com/a.png"]
    (root / "events" / "1.json").write_text(json.dumps(user))
    reply = {
        "id": 12,
        "timestamp": "2025-07-14T08:05:00.000001",
        "source": "agent",
        "message": "Done.",
        "action": "message",
        "args": {"content": "Done.", "file_urls": [], "image_urls": [], "wait_for_response": True, "security_risk": -1},
    }
    finish = {
        "id": 13,
        "timestamp": "2025-07-14T08:05:01.000001",
        "source": "agent",
        "message": "All done",
        "action": "finish",
        "args": {"final_thought": "All done", "outputs": {}, "thought": "Summary follows."},
    }
    (root / "events" / "12.json").write_text(json.dumps(reply))
    (root / "events" / "13.json").write_text(json.dumps(finish))
    history = read_one(load_path(root))
    first = history.messages[0]
    assert [b.type for b in first.blocks] == ["text", "image", "image"]
    assert first.blocks[1].media == {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    assert first.blocks[2].media == {"type": "url", "url": "https://example.com/a.png"}
    assert [(m.role, m.text) for m in history.messages[-2:]] == [
        ("assistant", "Done."),
        ("assistant", "Summary follows."),
    ]


def test_an_event_cache_page_that_disagrees_is_noted_and_the_event_files_win(tmp_path):
    root = thirty_event_session(tmp_path)
    page = json.loads((root / "event_cache" / "0-25.json").read_text())
    page[1]["args"]["content"] = "an older text"
    (root / "event_cache" / "0-25.json").write_text(json.dumps(page))
    history = read_one(load_path(root))
    assert history.messages[0].text.startswith("Run the test suite")
    assert any("event 1 differs" in note for note in history.meta["event_cache_notes"])


# --- reading the trajectory ---------------------------------------------------------------------


def test_the_trajectory_gives_the_same_messages_as_the_directory():
    from_dir = read_one(load_path(SESSION))
    from_trajectory = read_one(load_path(TRAJECTORY))
    assert summary(from_trajectory) == summary(from_dir)
    assert from_trajectory.system[0].text == from_dir.system[0].text
    assert [t.name for t in from_trajectory.tools] == [t.name for t in from_dir.tools]
    # Agent-state events are not part of a trajectory: ids 3 and 11 are gaps.
    assert from_trajectory.meta["event_count"] == 10
    assert "agent_state" not in from_trajectory.meta


def test_trajectory_sources_name_the_array_index_and_the_event_id():
    history = read_one(load_path(TRAJECTORY))
    use = tool_uses_by_id(history)[PYTEST_CALL]
    assert (use.source.file, use.source.event) == ("openhands-trajectory.json", 9)
    assert use.source.path == "$[8].tool_call_metadata.model_response.choices[0].message.tool_calls[1]"


def test_the_api_export_wrapping_the_trajectory_in_an_object_reads_the_same():
    events = json.loads(TRAJECTORY.read_text())
    doc = Document.from_bytes("trajectory-5f1c.json", json.dumps({"trajectory": events}, indent=2).encode())
    assert openhands.sniff(doc)
    history = read_one(doc)
    assert summary(history) == summary(read_one(load_path(TRAJECTORY)))
    assert history.external_id == "5f1c"
    assert history.messages[0].source.path == "$.trajectory[1]"


# --- writing back -------------------------------------------------------------------------------


def test_a_session_written_back_unchanged_is_byte_identical():
    original = load_path(SESSION)
    written = openhands.write(read_one(original), original)
    assert written.is_dir
    assert written.files == original.files
    assert written.removed == set()


def test_a_trajectory_written_back_unchanged_is_the_same_json():
    original = load_path(TRAJECTORY)
    written = openhands.write(read_one(original), original)
    assert json.loads(written.files["openhands-trajectory.json"]) == json.loads(TRAJECTORY.read_bytes())


def test_a_result_added_for_an_unanswered_call_is_a_new_error_observation_like_openhands_writes():
    original = load_path(SESSION)
    history = read_one(original)
    removed = history.messages.pop()  # the synthetic error observation, event 10
    text = "The action was not executed: the runtime was lost."
    history.messages.append(Message(role="tool", blocks=[Block.tool_result(PYTEST_CALL, text, is_error=True)]))

    written = openhands.write(history, original)

    assert removed.source.event == 10
    assert written.removed == {"events/10.json"}
    new = json.loads(written.files["events/12.json"])  # max id 11, plus one; no renumbering
    assert list(new) == [k for k in EVENT_KEYS if k in new] == EVENT_KEYS
    action = event(SESSION, 9)
    assert new["id"] == 12
    assert (new["source"], new["cause"], new["observation"]) == ("agent", 9, "error")
    assert new["tool_call_metadata"] == action["tool_call_metadata"]
    assert new["extras"] == {"error_id": "AGENT_ERROR$ERROR_ACTION_NOT_EXECUTED_ERROR"}
    assert new["message"] == new["content"] == text
    stamp = datetime.fromisoformat(new["timestamp"])
    assert stamp.tzinfo is None
    assert stamp >= datetime.fromisoformat(event(SESSION, 11)["timestamp"])
    assert written.files["events/12.json"] == json.dumps(new).encode()  # OpenHands' own style
    for eid in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11):
        assert written.files[f"events/{eid}.json"] == original.files[f"events/{eid}.json"]
    assert written.files["metadata.json"] == original.files["metadata.json"]

    reread = read_one(Document(name=original.name, files=written.files, is_dir=True))
    assert reread.messages[-1].blocks[0].tool_use_id == PYTEST_CALL
    assert reread.messages[-1].blocks[0].source.event == 12


def test_a_new_result_in_a_trajectory_takes_the_next_id_after_the_trajectory():
    original = load_path(TRAJECTORY)
    history = read_one(original)
    history.messages.pop()
    history.messages.append(Message(role="tool", blocks=[Block.tool_result(PYTEST_CALL, "lost", is_error=True)]))
    written = openhands.write(history, original)
    events = json.loads(written.files["openhands-trajectory.json"])
    assert [e["id"] for e in events] == [0, 1, 2, 4, 5, 6, 7, 8, 9, 11]
    assert (events[-1]["cause"], events[-1]["observation"]) == (9, "error")
    assert written.files["openhands-trajectory.json"].decode().startswith('[\n    {\n        "id": 0,')


def test_removing_a_call_and_its_result_removes_their_files_and_the_cache_page_that_covers_them(tmp_path):
    root = thirty_event_session(tmp_path)
    original = load_path(root)
    history = read_one(original)
    history.messages = [m for m in history.messages if m.source.event not in (6, 7)]  # toolu_02's exchange

    written = openhands.write(history, original)

    assert written.removed == {"events/6.json", "events/7.json", "event_cache/0-25.json"}
    assert "events/7.json" not in written.files and "event_cache/0-25.json" not in written.files
    assert len([n for n in written.files if n.startswith("events/")]) == 28
    reread = read_one(load_path(write_dir(written, root)))
    assert "toolu_02" not in [b.tool_use_id for _, _, b in reread.blocks() if b.type == "tool_result"]
    assert reread.meta["event_count"] == 28


def test_a_history_whose_events_would_read_back_elsewhere_is_refused(tmp_path):
    root = thirty_event_session(tmp_path)
    original = load_path(root)
    history = read_one(original)
    # Without its result, toolu_02's call would wait for one at the end of the stream.
    history.messages = [m for m in history.messages if m.source.event != 7]
    with pytest.raises(FormatError, match="message 5 would be an assistant message \\(toolu_03\\)"):
        openhands.write(history, original)


def test_an_unchanged_long_session_keeps_its_cache_page(tmp_path):
    original = load_path(thirty_event_session(tmp_path))
    written = openhands.write(read_one(original), original)
    assert written.removed == set()
    assert written.files == original.files


def test_a_changed_text_rewrites_only_its_event_in_json_dumps_style():
    original = load_path(SESSION)
    history = read_one(original)
    history.messages[0].blocks[0].text = "Run the tests, please — all of them."
    written = openhands.write(history, original)
    changed = [n for n in original.files if written.files[n] != original.files[n]]
    assert changed == ["events/1.json"]
    data = json.loads(written.files["events/1.json"])
    assert list(data) == list(event(SESSION, 1))  # key order kept
    assert data["args"]["content"] == data["message"] == "Run the tests, please — all of them."
    assert b"\\u2014" in written.files["events/1.json"]  # ensure_ascii, as OpenHands writes
    assert not written.files["events/1.json"].endswith(b"\n")


def test_dropping_one_call_of_a_parallel_response_drops_its_action_and_rewrites_the_other(tmp_path):
    root = session_copy(tmp_path)
    original = load_path(root)
    history = read_one(original)
    response = history.messages[3]
    response.blocks = [b for b in response.blocks if b.id != PYTEST_CALL]
    history.messages.pop()  # and its result

    written = openhands.write(history, original)

    assert written.removed == {"events/9.json", "events/10.json"}
    kept = json.loads(written.files["events/7.json"])
    calls = kept["tool_call_metadata"]["model_response"]["choices"][0]["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["toolu_01Fz4cN8mLq2VtR6yHb9JkUe"]
    assert kept["tool_call_metadata"]["total_calls_in_response"] == 1
    reread = read_one(load_path(write_dir(written, root)))
    assert [b.id for b in reread.messages[3].tool_uses()] == ["toolu_01Fz4cN8mLq2VtR6yHb9JkUe"]


def test_a_new_user_message_is_appended_as_a_message_action():
    original = load_path(SESSION)
    history = read_one(original)
    history.messages.append(Message(role="user", blocks=[Block.text_block("Try again.")]))
    written = openhands.write(history, original)
    new = json.loads(written.files["events/12.json"])
    assert (new["source"], new["action"], new["args"]["content"]) == ("user", "message", "Try again.")


def test_a_new_tool_call_cannot_be_written():
    original = load_path(SESSION)
    history = read_one(original)
    history.messages.append(Message(role="assistant", blocks=[Block.tool_use("toolu_new", "execute_bash", {})]))
    with pytest.raises(FormatError, match="new tool call"):
        openhands.write(history, original)


def test_writing_needs_the_original_and_an_openhands_history():
    history = read_one(load_path(SESSION))
    with pytest.raises(FormatError, match="needs the original"):
        openhands.write(history, None)
    history.format = "openai"
    with pytest.raises(FormatError, match="read from one"):
        openhands.write(history, load_path(SESSION))


# --- bad input ----------------------------------------------------------------------------------


def test_an_event_file_named_differently_from_its_id_is_an_error(tmp_path):
    root = session_copy(tmp_path)
    (root / "events" / "5.json").rename(root / "events" / "50.json")
    with pytest.raises(FormatError) as caught:
        openhands.read(load_path(root))
    assert caught.value.file == "events/50.json"
    assert caught.value.event == 5


def test_duplicate_ids_are_an_error():
    events = json.loads(TRAJECTORY.read_text())
    events[5]["id"] = events[4]["id"]
    with pytest.raises(FormatError, match="duplicate event id 5") as caught:
        openhands.read(Document.from_bytes("t.json", json.dumps(events).encode()))
    assert (caught.value.event, caught.value.path) == (5, "$[5].id")


def test_a_non_json_event_file_is_an_error_naming_it(tmp_path):
    root = session_copy(tmp_path)
    (root / "events" / "6.json").write_text('{"id": 6, "timestamp": "2025-07-14T08:02:10"')
    with pytest.raises(FormatError, match="truncated JSON") as caught:
        openhands.read(load_path(root))
    assert (caught.value.file, caught.value.event) == ("events/6.json", 6)


def test_binary_garbage_is_an_error_naming_the_file(tmp_path):
    root = session_copy(tmp_path)
    (root / "events" / "4.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    with pytest.raises(FormatError) as caught:
        openhands.read(load_path(root))
    assert (caught.value.file, caught.value.event) == ("events/4.json", 4)
    with pytest.raises(FormatError) as caught:
        openhands.read(Document.from_bytes("upload.json", b"\xff\xd8\xff\xe0garbage\x00\x01"))
    assert caught.value.file == "upload.json"


def test_an_empty_events_directory_is_an_error(tmp_path):
    root = tmp_path / "empty-session"
    (root / "events").mkdir(parents=True)
    shutil.copy(SESSION / "metadata.json", root / "metadata.json")
    with pytest.raises(FormatError, match="no events") as caught:
        openhands.read(load_path(root))
    assert caught.value.file == str(root)


@pytest.mark.parametrize(
    "change, message, path",
    [
        (lambda e: e.update(id="9"), "must be an integer", "$.id"),
        (lambda e: e.pop("action"), "neither", "$"),
        (
            lambda e: e["tool_call_metadata"].pop("tool_call_id"),
            "malformed tool_call_metadata",
            "$.tool_call_metadata.tool_call_id",
        ),
        (
            lambda e: e["tool_call_metadata"]["model_response"].update(choices=[]),
            "malformed tool_call_metadata",
            "$.tool_call_metadata.model_response.choices",
        ),
    ],
)
def test_a_malformed_event_is_an_error_naming_its_file_and_path(tmp_path, change, message, path):
    root = session_copy(tmp_path)
    data = event(root, 9)
    change(data)
    (root / "events" / "9.json").write_text(json.dumps(data))
    with pytest.raises(FormatError, match=message) as caught:
        openhands.read(load_path(root))
    assert (caught.value.file, caught.value.path) == ("events/9.json", path)


# --- where ConversationMemory puts things (docs/formats.md section 1, "Message conversion") ------

GPT4O = FIXTURES / "real" / "openhands-trajectory-gpt4o" / "basic_interactions.json"
USER_WHILE_RUNNING = {
    "id": 12,
    "timestamp": "2025-07-14T08:05:00.000001",
    "source": "user",
    "message": "Are you still there?",
    "action": "message",
    "args": {"content": "Are you still there?", "file_urls": [], "image_urls": [], "wait_for_response": False},
}


def session_with_user_message_before_the_error(tmp_path: Path) -> Path:
    """The fixture session as if the user typed while pytest ran: the synthetic error observation
    (event 10) comes after the user's message (event 12), renumbered 13."""
    root = session_copy(tmp_path)
    error = event(root, 10)
    (root / "events" / "10.json").unlink()
    error["id"] = 13
    (root / "events" / "12.json").write_text(json.dumps(USER_WHILE_RUNNING))
    (root / "events" / "13.json").write_text(json.dumps(error))
    return root


def test_a_result_after_a_later_user_message_answers_its_call_there(tmp_path):
    history = read_one(load_path(session_with_user_message_before_the_error(tmp_path)))
    assert summary(history)[3:] == [
        ("user", "Are you still there?", []),
        (
            "assistant",
            "There is a pytest.ini; let me check its settings and run the suite.",
            [
                "toolu_01Fz4cN8mLq2VtR6yHb9JkUe",
                PYTEST_CALL,
            ],
        ),
        ("tool", "", ["toolu_01Fz4cN8mLq2VtR6yHb9JkUe"]),
        ("tool", "", [PYTEST_CALL]),
    ]
    # The page says the model sees these calls after the user's message.
    assert history.messages[4].extra["moved_past"] == [{"event": 12, "role": "user"}]
    assert "moved_past" not in history.messages[1].extra


def test_a_response_still_waiting_for_a_result_comes_after_the_messages_typed_since(tmp_path):
    root = session_with_user_message_before_the_error(tmp_path)
    (root / "events" / "13.json").unlink()
    history = read_one(load_path(root))
    assert [m.role for m in history.messages] == ["user", "assistant", "tool", "user", "assistant", "tool"]
    assert [b.id for b in history.messages[4].tool_uses()] == ["toolu_01Fz4cN8mLq2VtR6yHb9JkUe", PYTEST_CALL]


def test_the_results_of_a_response_come_in_the_order_of_its_calls(tmp_path):
    root = session_copy(tmp_path)
    read_result, error = event(root, 8), event(root, 10)
    read_result["id"], error["id"] = 10, 8  # pytest's result first in the stream
    error["timestamp"], read_result["timestamp"] = read_result["timestamp"], error["timestamp"]
    (root / "events" / "8.json").write_text(json.dumps(error))
    (root / "events" / "10.json").write_text(json.dumps(read_result))
    history = read_one(load_path(root))
    assert [m.blocks[0].tool_use_id for m in history.messages[4:6]] == ["toolu_01Fz4cN8mLq2VtR6yHb9JkUe", PYTEST_CALL]


def test_a_finish_call_is_shown_with_its_text_but_never_sent():
    history = read_one(load_path(GPT4O))
    finish = history.messages[-1]
    assert finish.source.event == 15
    text, call = finish.blocks
    assert (text.type, text.text) == ("text", "")
    assert (call.type, call.name, call.id) == ("tool_use", "finish", "call_IpyczPgEAwtpRWFZ2RNokTdH")
    assert call.extra == {"action": "finish", NOT_SENT: True} and not call.sent
    assert finish.tool_uses() == []
    last = openai.to_request(history)["messages"][-1]
    assert last == {"role": "assistant", "content": ""}  # what ConversationMemory sends
    verdict = check(history, target="openai")
    assert verdict.accepted and not any("tool-result" in f.rule for f in verdict.findings)


def test_the_model_named_only_by_the_late_finish_event_is_the_model_and_gives_openai():
    history = read_one(load_path(GPT4O))
    assert history.model == "gpt-4o-2024-08-06"
    assert target_for_model(history.model).name == "openai"


def test_a_finish_action_cannot_lose_its_text_alone():
    original = load_path(GPT4O)
    history = read_one(original)
    history.messages[-1].blocks = history.messages[-1].blocks[1:]
    with pytest.raises(FormatError, match="remove the whole message"):
        openhands.write(history, original)
    history.messages.pop()
    written = openhands.write(history, original)
    assert [e["id"] for e in json.loads(written.single[1])] == [0, 3, 6, 9, 12]


def test_a_call_that_moved_past_many_messages_names_the_first_twenty_and_counts_them_all():
    from tests.v0_streams import session, stream

    history = read_one(session(stream([("user",), ("response", ("missing",)), *[("user",)] * 25])))
    moved = history.messages[-1]
    assert moved.role == "assistant" and len(moved.extra["moved_past"]) == 20
    assert moved.extra["moved_past_total"] == 25
    assert moved.extra["moved_past"][0] == {"event": 3, "role": "user"}
