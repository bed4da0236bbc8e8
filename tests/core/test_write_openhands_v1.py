"""The abandoned-tool-call warning, its repair, and the V1 writer: what a repaired history
changes in an OpenHands V1 folder, file by file, and that it reads back the same."""

import json
import re
import uuid

import pytest

from conversations.history import formats
from conversations.history.check import check
from conversations.history.errors import FormatError
from conversations.history.formats import Document, load_path
from conversations.history.model import Block, Message
from conversations.history.repair import repair
from conversations.history.targets import TARGET_NAMES
from tests.support import V1_FIXTURE
from tests.v1_folders import V1Log, fixture_files, without_last_observation

INTERRUPTED = "Tool call interrupted before completion. The conversation was paused."


def folder(files: dict[str, bytes]) -> Document:
    return Document(name="conversation", files=files, is_dir=True)


def read(doc: Document):
    (history,) = formats.read(doc)
    return history


def abandoned() -> Document:
    return folder(without_last_observation(fixture_files()))


def repaired(doc: Document, target: str = "anthropic", **kw):
    return repair(read(doc), target=target, include_warnings=True, build_request=False, **kw)


def changed_files(before: Document, after: Document) -> dict[str, str]:
    names = set(before.files) | set(after.files)
    return {
        n: "new" if n not in before.files else "gone" if n not in after.files else "changed"
        for n in sorted(names)
        if before.files.get(n) != after.files.get(n)
    }


def event(doc: Document, name: str) -> dict:
    return json.loads(doc.files[name])


# --- the warning ------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_an_abandoned_call_is_a_warning_for_every_target_naming_the_call_and_its_file(target):
    verdict = check(read(abandoned()), target=target, build_request=False)

    (finding,) = [f for f in verdict.findings if f.rule == "abandoned-tool-call"]
    assert finding.severity == "warning" and verdict.accepted
    assert "toolu_01Xe5Qa9Jc3Hm7Rt1Lv6Ub2N" in finding.explanation
    assert "events/event-00024-7ecc9064-9894-4764-ae10-527168e0e2f7.json" in finding.explanation
    assert "on resume the agent silently forgets this call; its work is lost" in finding.explanation


def test_a_conversation_without_abandoned_calls_gets_no_such_warning():
    verdict = check(read(load_path(V1_FIXTURE)), target="anthropic", build_request=False)

    assert verdict.findings == []


def test_the_repair_only_reattaches_when_warnings_are_repaired():
    history = read(abandoned())

    assert not repair(history, target="anthropic", build_request=False).changed
    result = repair(history, target="anthropic", include_warnings=True, build_request=False)
    (edit,) = result.edits
    assert edit.op == "reattach-tool-call" and "toolu_01Xe5Qa9Jc3Hm7Rt1Lv6Ub2N" in edit.description
    assert [f.rule for v in result.after for f in v.findings] == []


# --- writing the repair --------------------------------------------------------------------------------


def test_the_repair_is_written_as_one_agent_error_event_after_the_action_and_a_moved_leaf():
    doc = abandoned()
    out = formats.write(repaired(doc).history, doc)

    changes = changed_files(doc, out)
    (new,) = [n for n, what in changes.items() if what == "new" and "event-" in n]
    assert changes == {
        "base_state.json": "changed",
        "events/.eventlog-len-26.marker": "gone",
        "events/.eventlog-len-27.marker": "new",
        new: "new",
    }
    assert out.removed == {"events/.eventlog-len-26.marker"}
    match = re.fullmatch(r"events/event-00026-(.+)\.json", new)
    error = event(out, new)
    assert match and uuid.UUID(match[1]).version == 4 and error["id"] == match[1]
    action = event(doc, next(n for n in doc.files if n.startswith("events/event-00024-")))
    assert error["kind"] == "AgentErrorEvent" and error["parent_id"] == action["id"]
    assert (error["tool_call_id"], error["tool_name"], error["error"]) == (
        action["tool_call_id"],
        "finish",
        INTERRUPTED,
    )
    assert json.loads(out.files["base_state.json"])["leaf_event_id"] == error["id"]


def test_base_state_keeps_every_byte_but_the_leaf():
    doc = abandoned()
    out = formats.write(repaired(doc).history, doc)

    old, new = doc.files["base_state.json"].decode(), out.files["base_state.json"].decode()
    leaf = json.loads(new)["leaf_event_id"]
    assert new == re.sub(r'"leaf_event_id":"[^"]+"', f'"leaf_event_id":"{leaf}"', old)


def test_written_the_call_is_answered_on_the_branch_and_the_warning_is_gone():
    doc = abandoned()
    result = repaired(doc)

    history = read(formats.write(result.history, doc))

    assert history.messages[-2].tool_uses()[0].id == "toolu_01Xe5Qa9Jc3Hm7Rt1Lv6Ub2N"
    assert history.messages[-1].blocks[0].result_text == INTERRUPTED
    assert history.meta["abandoned"] == []
    assert check(history, target="anthropic", build_request=False).findings == []


def test_a_call_abandoned_before_the_conversation_went_on_goes_back_where_it_was():
    log = V1Log()
    log.user("run the build")
    log.agent("Building.")
    log.save()
    (action,) = log.actions(["make"])  # the process dies while make runs
    log.resume()
    after = log.user("why did it stop?")  # a new process, from the saved leaf
    log.agent("It was interrupted.")
    doc = log.document(leaf=log.leaf)

    out = formats.write(repaired(doc).history, doc)

    history = read(out)
    assert [m.role for m in history.messages] == ["user", "assistant", "assistant", "tool", "user", "assistant"]
    changes = changed_files(doc, out)
    after_file = next(n for n in doc.files if after in n)
    assert changes[after_file] == "changed"
    assert "base_state.json" not in changes  # the leaf stays the agent's answer
    # Only the next message's parent moved, to the new result; every other byte is its own.
    error = next(event(out, n) for n, what in changes.items() if what == "new" and "event-" in n)
    assert error["parent_id"] == action
    moved = event(out, after_file)
    assert moved["parent_id"] == error["id"]
    assert out.files[after_file] == doc.files[after_file].replace(
        json.loads(doc.files[after_file])["parent_id"].encode(), error["id"].encode()
    )


def test_a_missing_result_on_the_branch_is_written_right_after_its_call():
    log = V1Log()
    log.user("look around")
    first, second = log.actions(["ls", "pwd"], thought="Two looks.")
    log.observation(first)
    log.user("and?")
    doc = log.document()
    result = repaired(doc)
    assert [e.op for e in result.edits] == ["add-tool-result"]

    history = read(formats.write(result.history, doc))

    assert [m.role for m in history.messages] == ["user", "assistant", "tool", "tool", "user"]
    assert history.messages[3].blocks[0].tool_use_id == log.event(second)["tool_call_id"]
    assert check(history, target="anthropic", build_request=False).accepted


def test_events_that_carry_no_message_keep_their_place_after_the_event_they_followed():
    log = V1Log()
    log.user("go")
    (action,) = log.actions(["sleep 9"])
    pause = log.pause()
    log.user("stop")
    doc = log.document()

    out = formats.write(repaired(doc).history, doc)

    changes = changed_files(doc, out)
    error = next(event(out, n) for n, what in changes.items() if what == "new" and "event-" in n)
    assert event(out, next(n for n in out.files if pause in n))["parent_id"] == action
    assert error["parent_id"] == pause


def test_an_unchanged_history_writes_the_folder_as_it_was():
    doc = load_path(V1_FIXTURE)

    out = formats.write(read(doc), doc)

    assert out.files == doc.files and not out.removed


def test_a_new_text_message_becomes_a_message_event_as_the_sdk_writes_one():
    doc = load_path(V1_FIXTURE)
    history = read(doc)
    history.messages.append(Message("user", [Block.text_block("Thanks, and one more thing.")]))

    out = formats.write(history, doc)

    (new,) = [n for n in out.files if n not in doc.files and "event-" in n]
    data = event(out, new)
    assert data["kind"] == "MessageEvent" and data["source"] == "user"
    assert data["llm_message"]["content"] == [
        {"cache_prompt": False, "type": "text", "text": "Thanks, and one more thing."}
    ]
    assert read(out).messages[-1].text == "Thanks, and one more thing."


def test_a_history_the_folder_cannot_hold_is_refused_with_what_would_differ():
    doc = load_path(V1_FIXTURE)
    history = read(doc)
    history.messages[2].blocks[0].content = "a different result"

    with pytest.raises(FormatError, match="the output would read back differently: message 2"):
        formats.write(history, doc)


def test_a_changed_text_is_set_in_its_event_and_nothing_else():
    doc = load_path(V1_FIXTURE)
    history = read(doc)
    history.messages[0].blocks[0].text = "a different request"

    out = formats.write(history, doc)

    (name,) = [n for n in doc.files if out.files[n] != doc.files[n]]
    before, after = event(doc, name), event(out, name)
    assert after["llm_message"]["content"][0]["text"] == "a different request"
    before["llm_message"]["content"][0]["text"] = "a different request"
    assert after == before


def test_a_new_tool_call_cannot_be_written():
    doc = load_path(V1_FIXTURE)
    history = read(doc)
    history.messages[-2].blocks.append(Block.tool_use("toolu_new", "terminal", {"command": "ls"}))

    with pytest.raises(FormatError, match="a new tool_use block cannot be written"):
        formats.write(history, doc)


def test_a_thinking_block_dropped_from_the_history_is_taken_out_of_its_event_and_nothing_else():
    log = V1Log()
    log.user("go")
    (action,) = log.actions(["make"], thinking=True)
    log.observation(action)
    doc = log.document()
    history = read(doc)
    (holder,) = [m for m in history.messages if any(b.type == "thinking" for b in m.blocks)]
    holder.blocks = [b for b in holder.blocks if b.type != "thinking"]  # as the drop-thinking repair does

    out = formats.write(history, doc)

    name = next(n for n in doc.files if action in n)
    before, after = event(doc, name), event(out, name)
    assert after["thinking_blocks"] == [] and {**before, "thinking_blocks": []} == after
    assert not [b for _, _, b in read(out).blocks() if b.type == "thinking"]


def test_a_result_inserted_into_a_log_of_events_without_parents_or_leaf_reads_back_in_place():
    log = V1Log()
    log.user("look")
    log.actions(["ls"])
    log.user("well?")
    log.agent("Nothing there.")
    files = log.files(leaf=None)
    for name in [n for n in files if n.startswith("events/event-")]:
        data = json.loads(files[name])
        data.pop("parent_id", None)
        files[name] = json.dumps(data).encode()
    doc = folder(files)
    result = repaired(doc)

    out = formats.write(result.history, doc)

    history = read(out)
    assert [m.role for m in history.messages] == ["user", "assistant", "tool", "user", "assistant"]
    assert json.loads(out.files["base_state.json"])["leaf_event_id"] == history.messages[-1].source.event
