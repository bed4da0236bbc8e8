"""OpenHands V1 conversation folders read as openhands-sdk 1.58.2 sends them
(docs/formats-openhands-v1.md), on the conversation the SDK itself wrote
(tests/fixtures/formats/openhands-v1, PROVENANCE.md) and on folders built event by event."""

import json

import pytest

from conversations.history import formats
from conversations.history.errors import FormatError
from conversations.history.formats import Document, load_path, openhands, openhands_v1
from conversations.history.formats.v1_layout import is_v1_dir
from tests.support import FIXTURES, V1_FIXTURE
from tests.v1_folders import V1Log, fixture_files, without_last_observation


def read(doc: Document):
    (history,) = formats.read(doc)
    return history


def fixture():
    return read(load_path(V1_FIXTURE))


def folder(files: dict[str, bytes]) -> Document:
    return Document(name="conversation", files=files, is_dir=True)


# --- the layout ------------------------------------------------------------------------------------


def test_a_v1_folder_is_detected_before_v0_and_only_as_v1():
    doc = load_path(V1_FIXTURE)

    assert formats.detect(doc) == "openhands-v1"
    assert openhands_v1.sniff(doc) and not openhands.sniff(doc)
    assert not openhands_v1.sniff(load_path(FIXTURES / "formats" / "openhands-events"))


def test_loading_keeps_the_sdk_sidecars_by_name_only_and_nothing_beyond_the_conversation(tmp_path):
    doc = load_path(V1_FIXTURE)

    assert doc.files["events/.eventlog.lock"] == b"" and doc.files["events/.eventlog-len-27.marker"] == b""
    assert sorted(doc.files) == sorted(
        ["base_state.json"] + [f"events/{p.name}" for p in (V1_FIXTURE / "events").iterdir()]
    )
    assert all(doc.files[n] == (V1_FIXTURE / n).read_bytes() for n in doc.files)


def test_a_folder_of_conversations_is_not_itself_one():
    assert is_v1_dir(V1_FIXTURE)
    assert not is_v1_dir(V1_FIXTURE.parent)
    assert formats.is_openhands_dir(V1_FIXTURE) and not formats.is_openhands_dir(V1_FIXTURE.parent)


# --- the shared conversation, as the SDK sends it ---------------------------------------------------


def test_the_shared_conversation_reads_as_the_sdk_sends_it():
    history = fixture()

    # The SDK's own view gives 19 LLM messages: the system prompt and these 18.
    assert len(history.system) == 1 and len(history.messages) == 18
    parallel = [m for m in history.messages if len(m.tool_uses()) > 1]
    assert [[u.id for u in m.tool_uses()] for m in parallel] == [
        ["toolu_01Hc4Jw9ZpQ2nR6tYb8Lx1Mf", "toolu_01Ty5Ks3Wm8Qa1Zc7Vn0Rd4G"]
    ]
    thinking = [b for _, _, b in history.blocks() if b.type == "thinking"]
    assert len(thinking) == 1 and thinking[0].signature
    calls = [b.id for _, _, b in history.blocks() if b.type == "tool_use"]
    results = [b.tool_use_id for _, _, b in history.blocks() if b.type == "tool_result"]
    assert calls == results and len(calls) == 8


def test_each_call_is_answered_by_the_tool_messages_right_after_it():
    messages = fixture().messages
    for i, message in enumerate(messages):
        uses = [u.id for u in message.tool_uses()]
        if uses:
            following = messages[i + 1 : i + 1 + len(uses)]
            assert [m.role for m in following] == ["tool"] * len(uses)
            assert [m.blocks[0].tool_use_id for m in following] == uses


def test_a_call_keeps_its_raw_arguments_and_their_parsed_value():
    use = fixture().messages[1].tool_uses()[0]

    assert use.name == "terminal"
    assert use.input["command"].startswith("cd /workspace/project && git log")
    assert json.loads(use.arguments) == use.input


def test_the_system_prompt_and_the_tools_come_from_the_system_prompt_event():
    history = fixture()

    assert history.system[0].text.startswith("<SOUL>")
    assert [t.name for t in history.tools] == ["terminal", "file_editor", "task_tracker", "finish", "think"]
    assert all(t.description and t.parameters is None for t in history.tools)


def test_a_terminal_result_is_the_text_the_sdk_sends_with_its_framing():
    result = fixture().messages[2].blocks[0]

    assert result.result_text.endswith(
        "[The command completed with exit code 0.]\n[Current working directory: /workspace/project]\n"
        "[Python interpreter: /usr/bin/python]\n[Command finished with exit code 0]"
    )


def test_what_the_page_needs_comes_from_base_state():
    history = fixture()

    assert history.model == "anthropic/claude-sonnet-4-5-20250929"
    assert history.external_id == "4f7c2a9e-1b3d-4e8a-9c6f-2d5b8e1a7c30"
    assert history.meta["execution_status"] == "finished"
    assert (history.meta["agent"], history.meta["condenser"]) == ("Agent", "LLMSummarizingCondenser")
    assert history.messages[1].usage.input_tokens == 9800  # stats, by the response's id


def test_every_element_names_its_event_file():
    history = fixture()
    names = set(load_path(V1_FIXTURE).files)

    refs = [history.system[0].source, *(t.source for t in history.tools)]
    refs += [r for m in history.messages for r in (m.source, *(b.source for b in m.blocks))]
    assert all(r.file in names and r.file.startswith("events/event-") and r.event in r.file for r in refs)


def test_state_updates_are_left_off_as_bookkeeping():
    left = fixture().meta["left_off"]

    assert left["count"] == 7 and left["by_reason"] == {"bookkeeping": 7}
    assert left["items"][1]["detail"] == "execution_status = 'running'"


# --- the tree -------------------------------------------------------------------------------------


def test_without_leaf_event_id_the_branch_ends_at_the_last_event_that_is_not_a_state_update():
    log = V1Log()
    log.user("hi")
    log.agent("hello")
    log.state("execution_status", "finished")

    history = read(log.document(leaf=None))

    assert [m.text for m in history.messages] == ["hi", "hello"]


def test_events_without_parent_id_chain_in_file_order():
    log = V1Log()
    log.user("one")
    log.agent("two")
    files = log.files(leaf=None)
    for name in files:
        if name.startswith("events/event-"):
            event = json.loads(files[name])
            event.pop("parent_id", None)
            files[name] = json.dumps(event).encode()

    assert [m.text for m in read(folder(files)).messages] == ["one", "two"]


def test_an_event_off_the_branch_is_left_off_as_abandoned():
    log = V1Log()
    log.user("first try")
    log.save()
    log.agent("an answer the user rewound")
    log.resume()
    log.user("second try")

    history = read(log.document(leaf=log.leaf))

    assert [m.text for m in history.messages] == ["first try\nsecond try"]
    assert history.meta["left_off"]["by_reason"] == {"abandoned branch": 1}


def test_consecutive_user_messages_merge_as_the_sdk_merges_them():
    log = V1Log()
    a = log.user("one")
    b = log.user("two")

    (message,) = read(log.document()).messages

    assert [b.text for b in message.blocks] == ["one", "two"]
    assert [b.source.event for b in message.blocks] == [a, b]


def test_the_first_of_two_results_for_a_call_wins_and_the_other_is_listed():
    log = V1Log()
    log.user("go")
    (action,) = log.actions(["ls"])
    log.observation(action, "first")
    second = log.observation(action, "second")

    history = read(log.document())

    assert [m.blocks[0].result_text.split("\n")[0] for m in history.messages if m.role == "tool"] == ["first"]
    (item,) = history.meta["left_off"]["items"]
    assert item["reason"] == "duplicate result" and second in item["where"]


def test_a_condensation_drops_what_it_forgot_and_inserts_its_summary():
    log = V1Log()
    old = log.user("an old request")
    log.agent("an old answer")
    log.user("the current request")
    log.condensation([old], "The user asked for something old.", 1)

    history = read(log.document())

    assert [(m.role, m.text) for m in history.messages] == [
        ("user", "The user asked for something old."),
        ("assistant", "an old answer"),
        ("user", "the current request"),
    ]
    assert history.meta["left_off"]["items"][0]["detail"].startswith("forgotten by condensation")


def test_an_unanswered_call_on_the_branch_stays_unanswered():
    log = V1Log()
    log.user("go")
    log.actions(["sleep 100"])

    history = read(log.document())

    assert history.messages[-1].tool_uses() and history.meta["abandoned"] == []


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda f: f.pop(next(n for n in sorted(f) if n.startswith("events/event-00002"))), "event index 2 is missing"),
        (lambda f: f.update({"base_state.json": b"[]"}), "must hold a JSON object"),
        (lambda f: f.pop("base_state.json"), "no base_state.json"),
    ],
)
def test_a_folder_the_sdk_could_not_load_is_a_format_error_naming_the_place(change, reason):
    files = fixture_files()
    change(files)

    with pytest.raises(FormatError, match=reason):
        formats.read(folder(files), "openhands-v1")


def test_a_leaf_that_names_no_event_is_a_format_error():
    log = V1Log()
    log.user("hi")

    with pytest.raises(FormatError, match="leaf_event_id names event nowhere"):
        formats.read(log.document(leaf="nowhere"))


def test_a_file_whose_name_lies_about_its_event_id_is_a_format_error():
    files = fixture_files()
    name = next(n for n in sorted(files) if n.startswith("events/event-00003"))
    files[name.replace("event-00003-b", "event-00003-c")] = files.pop(name)

    with pytest.raises(FormatError, match="is not the one its file name gives"):
        formats.read(folder(files))


# --- the abandoned call (the brief's case) -----------------------------------------------------------


def test_a_call_left_beyond_the_saved_leaf_is_listed_as_abandoned_with_its_file():
    history = read(folder(without_last_observation(fixture_files())))

    (batch,) = history.meta["abandoned"]
    (call,) = batch["unanswered"]
    assert call["id"] == "toolu_01Xe5Qa9Jc3Hm7Rt1Lv6Ub2N" and call["name"] == "finish"
    assert call["file"].startswith("events/event-00024-")
    assert batch["after_message"] == len(history.messages) - 1
    assert len(history.messages) == 16  # the finish call is not on the branch the SDK resumes


def test_a_long_terminal_output_is_cut_as_the_sdk_cuts_it_naming_where_it_saved_the_whole():
    log = V1Log()
    log.user("go")
    (action,) = log.actions(["cat big.log"])
    output = "".join(f"line {n}\n" for n in range(6000))
    log.observation(action, output, save_dir="/workspace/conversations/abc/observations")

    text = read(log.document()).messages[-1].blocks[0].result_text

    assert len(text) == 30_000
    assert text.startswith("line 0\n") and text.endswith("[Command finished with exit code 0]")
    assert "The complete output has been saved to /workspace/conversations/abc/observations/terminal_output_" in text


def test_symlinks_in_a_v1_folder_are_never_followed(tmp_path):
    from tests.v1_folders import write_folder

    conversation = write_folder(tmp_path / "c", fixture_files())
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET_KEY=hunter2")
    (conversation / "events" / "event-00027-0123abcd-0000-4000-8000-000000000000.json").symlink_to(secret)
    linked = tmp_path / "linked"
    (linked / "events").parent.mkdir()
    (linked / "base_state.json").write_bytes(fixture_files()["base_state.json"])
    (linked / "events").symlink_to(conversation / "events")

    doc = load_path(conversation)

    assert not any(b"hunter2" in data for data in doc.files.values())
    assert not is_v1_dir(linked)
