"""Claude Code transcripts: the main chain as Claude Code would resume it, everything else counted,
and write-back that leaves every untouched line byte-identical."""

import json
from datetime import datetime

import pytest

from conversations.history.errors import FormatError
from conversations.history.formats import Document, claude_code, detect, read, write
from conversations.history.model import Block, History
from tests.support import FIXTURES

FIXTURE = FIXTURES / "formats" / "claude-code-session.jsonl"
SESSION = "3f6d2a91-7c4e-4b1a-9e0d-5a8c2f71b6e4"


def fixture_lines() -> list[bytes]:
    """The fixture's lines (the last entry is b"": the file ends with a newline)."""
    return FIXTURE.read_bytes().split(b"\n")


def record(lines: list[bytes], number: int) -> dict:
    return json.loads(lines[number - 1])


def doc_of(lines: list[bytes], name: str = "session.jsonl") -> Document:
    return Document.from_bytes(name, b"\n".join(lines))


def read_one(lines: list[bytes]):
    [history] = read(doc_of(lines), format="claude-code")
    return history


def lines_of(history) -> list[list[int]]:
    return [[b.source.line for b in m.blocks] for m in history.messages]


def without_result_of_edit() -> list[bytes]:
    """The fixture as a crash leaves it: the Edit's rejection record (line 17) was never written
    and the interrupt record (line 18) hangs off the tool_use record (line 16)."""
    lines = fixture_lines()
    dropped = record(lines, 17)
    lines[17] = lines[17].replace(dropped["uuid"].encode(), dropped["parentUuid"].encode())
    del lines[16]
    return lines


@pytest.fixture(scope="module")
def history():
    [h] = read(doc_of(fixture_lines(), FIXTURE.name))
    return h


# --- detection ---------------------------------------------------------------------------------


def test_it_detects_the_fixture_as_claude_code():
    assert detect(doc_of(fixture_lines())) == "claude-code"


def test_it_detects_a_transcript_that_starts_with_a_snapshot_record():
    snapshot = b'{"type":"file-history-snapshot","messageId":"x","snapshot":{},"isSnapshotUpdate":false}'
    assert claude_code.sniff(doc_of([snapshot, *fixture_lines()[1:]]))


def test_it_does_not_claim_litellm_jsonl_or_headless_stream_json():
    payload = json.loads((FIXTURES / "formats" / "litellm-standard-logging-failure.json").read_text())
    litellm_jsonl = doc_of([json.dumps(payload).encode()] * 2)
    stream_json = doc_of(
        [
            b'{"type":"system","subtype":"init","session_id":"s","uuid":"u"}',
            b'{"type":"user","message":{"role":"user","content":"hi"},"session_id":"s"}',
        ]
    )
    openai_request = Document.from_bytes("r.json", (FIXTURES / "formats" / "openai-request.json").read_bytes())
    assert not claude_code.sniff(litellm_jsonl)
    assert not claude_code.sniff(stream_json)
    assert not claude_code.sniff(openai_request)


# --- the main chain ----------------------------------------------------------------------------


def test_the_main_chain_becomes_twelve_alternating_messages(history):
    roles = [m.role for m in history.messages]
    assert roles == ["user", "assistant"] * 6
    assert lines_of(history) == [[2], [3, 4], [5], [6], [7], [8, 9], [14], [15, 16], [17, 18, 19], [20], [21], [22]]


def test_the_grep_text_and_tool_use_records_merge_into_one_assistant_message(history):
    message = history.messages[1]
    assert [b.type for b in message.blocks] == ["text", "tool_use"]
    assert message.id == "msg_01HkR8TuVw3Xy5Zb7Cd9Ef1G"
    assert message.blocks[1].name == "Grep"
    assert message.blocks[1].source.path == "$.message.content[0]"
    assert message.model == "claude-sonnet-4-20250514"
    assert message.usage.cache_creation_input_tokens == 14203


def test_the_rejected_edit_and_the_interrupt_merge_into_the_next_user_message(history):
    message = history.messages[8]
    rejection, interrupt, instruction = message.blocks
    assert rejection.type == "tool_result" and rejection.is_error is True
    assert rejection.tool_use_id == history.messages[7].blocks[1].id
    assert rejection.result_text.startswith("The user doesn't want to proceed with this tool use.")
    assert interrupt.text == "[Request interrupted by user for tool use]"
    assert instruction.text.startswith("Don't touch the handler.")
    assert instruction.source.path == "$.message.content"
    assert message.content_form == "blocks"


def test_a_lone_string_record_keeps_its_string_form(history):
    assert history.messages[0].content_form == "string"
    assert history.messages[0].text.startswith("/healthz has been returning 500")


def test_the_sidechain_is_in_meta_not_in_the_messages(history):
    read_lines = {b.source.line for _, _, b in history.blocks()}
    assert read_lines.isdisjoint({10, 11, 12, 13})
    assert history.meta["sidechains"] == [
        {"root": "db6ef68a-99d0-4e38-82f0-326a4227420c", "records": 4, "first_line": 10}
    ]
    sidechain = [i["where"] for i in history.meta["left_off"]["items"] if i["reason"] == "sidechain"]
    assert sidechain == ["line 10", "line 11", "line 12", "line 13"]


def test_it_reads_session_facts_and_the_title_from_the_summary(history):
    assert history.title == "Healthz 500 traced to renamed heartbeat column"
    assert history.external_id == SESSION
    assert history.provider == "anthropic"
    assert history.model == "claude-sonnet-4-20250514"
    assert history.started_at == "2025-08-13T09:14:02.118Z"
    assert history.ended_at == "2025-08-13T09:15:01.013Z"
    assert history.meta["records_by_type"] == {"summary": 1, "user": 10, "assistant": 11}
    assert history.meta["chain_breaks"] == []
    assert history.meta["cwd"] == "/Users/ana/src/shop-api"


def test_meta_and_api_error_records_stay_messages_but_are_marked():
    lines = fixture_lines()
    meta = record(lines, 18)
    meta["isMeta"] = True
    lines[17] = json.dumps(meta, separators=(",", ":")).encode()
    error = record(lines, 22)
    error["isApiErrorMessage"] = True
    error["message"]["model"] = "<synthetic>"
    lines[21] = json.dumps(error, separators=(",", ":")).encode()
    h = read_one(lines)
    assert h.messages[8].extra["isMeta"] is True
    assert h.messages[8].extra["isMeta_lines"] == [18]
    assert h.messages[11].extra["isApiErrorMessage"] is True
    assert h.model == "claude-sonnet-4-20250514"  # the synthetic error turn names no real model


def test_thinking_images_and_unknown_blocks_are_read_and_written_back():
    lines = fixture_lines()
    rec = record(lines, 3)
    rec["message"]["content"] = [
        {"type": "thinking", "thinking": "look for the route", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
    ]
    lines[2] = json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode()
    h = read_one(lines)
    thinking, redacted, image, other = h.messages[1].blocks[:4]
    assert (thinking.type, thinking.text, thinking.signature) == ("thinking", "look for the route", "sig==")
    assert (redacted.type, redacted.data) == ("redacted_thinking", "opaque")
    assert image.media["media_type"] == "image/png"
    assert other.type == "other" and other.extra["raw"]["name"] == "web_search"
    assert write(h, doc_of(lines)).single[1] == b"\n".join(lines)


# --- tolerated corruption ----------------------------------------------------------------------


def test_a_parent_never_written_ends_the_chain_and_is_reported():
    lines = fixture_lines()
    lines[7] = lines[7].replace(record(lines, 8)["parentUuid"].encode(), b"00000000-0000-4000-8000-000000000000")
    h = read_one(lines)
    assert lines_of(h)[0] == [8, 9]
    assert h.meta["chain_breaks"] == [8]
    unreachable = [i for i in h.meta["left_off"]["items"] if i["reason"] == "parent never written"]
    assert [i["where"] for i in unreachable] == [f"line {n}" for n in (2, 3, 4, 5, 6, 7)]
    assert "the chain from the leaf stops at line 8" in unreachable[0]["detail"]


def test_an_exact_duplicate_record_is_kept_once_and_counted():
    lines = fixture_lines()
    lines.insert(5, lines[4])  # line 5 written twice (lines 5 and 6)
    h = read_one(lines)
    assert len(h.messages) == 12
    [duplicate] = [i for i in h.meta["left_off"]["items"] if i["reason"] == "duplicate record"]
    assert duplicate == {
        "where": "line 6",
        "reason": "duplicate record",
        "kind": "user",
        "detail": "the same record as line 5",
    }
    assert write(h, doc_of(lines)).single[1] == b"\n".join(lines)


def test_the_same_uuid_with_different_content_is_an_error_naming_the_line():
    lines = fixture_lines()
    twin = record(lines, 5)
    twin["message"]["content"][0]["content"] = "something else"
    lines.insert(5, json.dumps(twin).encode())
    with pytest.raises(FormatError) as err:
        read_one(lines)
    assert err.value.line == 6
    assert "line 5" in err.value.reason


def test_a_branch_the_conversation_left_is_listed_as_abandoned():
    lines = fixture_lines()
    fork = record(lines, 19)
    fork["uuid"] = "aaaaaaaa-0000-4000-8000-000000000001"
    fork["message"]["content"] = "an abandoned branch"
    lines.insert(19, json.dumps(fork).encode())  # line 20, a sibling of line 19
    h = read_one(lines)
    [abandoned] = [i for i in h.meta["left_off"]["items"] if i["reason"] == "abandoned branch"]
    assert abandoned == {
        "where": "line 20",
        "reason": "abandoned branch",
        "kind": "user",
        "detail": "on a branch off line 18",
    }
    assert "an abandoned branch" not in [b.text for _, _, b in h.blocks()]


def test_a_subagent_file_of_sidechain_records_is_read_as_its_own_conversation():
    lines = fixture_lines()[9:13]
    h = read_one(lines)
    assert [m.role for m in h.messages] == ["user", "assistant", "user", "assistant"]
    assert h.meta["subagent"] == {"agent_id": None, "session_id": SESSION}
    assert h.meta["sidechains"] == []
    assert h.external_id == f"{SESSION}/agent-unknown"


# --- bad inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line5, reason",
    [
        (lambda raw: raw[: len(raw) // 2], "JSON"),
        (lambda raw: b"[1, 2, 3]", "must be a JSON object"),
        (lambda raw: raw.replace(b'"uuid":', b'"uuid_":'), "without a uuid"),
        (lambda raw: raw.replace(b'"message":', b'"message_":'), "without a message"),
        (lambda raw: raw.replace(b'"parentUuid":"', b'"parentUuid":7,"x":"'), "parentUuid must be"),
    ],
)
def test_a_bad_line_is_an_error_naming_it(line5, reason):
    lines = fixture_lines()
    lines[4] = line5(lines[4])
    with pytest.raises(FormatError) as err:
        read_one(lines)
    assert err.value.line == 5
    assert reason in str(err.value)


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary"])
def test_an_empty_or_binary_file_is_an_error(data):
    with pytest.raises(FormatError) as err:
        read(Document.from_bytes("session.jsonl", data), format="claude-code")
    assert err.value.file == "session.jsonl"


def test_a_file_with_no_conversation_records_is_an_error():
    with pytest.raises(FormatError, match="no user or assistant record"):
        read_one(fixture_lines()[:1])


# --- writing back ------------------------------------------------------------------------------


def test_an_unchanged_history_writes_back_byte_identical(history):
    original = FIXTURE.read_bytes()
    assert write(history, Document.from_bytes(FIXTURE.name, original)).single[1] == original
    stored = History.from_dict(json.loads(json.dumps(history.to_dict())))  # as the database keeps it
    assert write(stored, Document.from_bytes(FIXTURE.name, original)).single[1] == original
    no_final_newline = original.rstrip(b"\n")
    h = read(Document.from_bytes("s.jsonl", no_final_newline))[0]
    assert write(h, Document.from_bytes("s.jsonl", no_final_newline)).single[1] == no_final_newline


def test_a_synthetic_tool_result_becomes_a_record_parented_on_the_tool_use():
    lines = without_result_of_edit()
    h = read_one(lines)
    edit = h.messages[7].blocks[1]
    assert edit.name == "Edit" and [b.type for b in h.messages[8].blocks] == ["text", "text"]
    h.messages[8].blocks.insert(0, Block.tool_result(edit.id, "The tool call was interrupted.", is_error=True))

    written = write(h, doc_of(lines)).single[1].split(b"\n")

    assert len(written) == len(lines) + 1
    assert written[:16] == lines[:16] and written[18:] == lines[17:]
    new = json.loads(written[16])
    tool_use_record = record(lines, 16)
    assert new["parentUuid"] == tool_use_record["uuid"]
    assert new["type"] == "user"
    assert new["message"]["content"] == [
        {"type": "tool_result", "tool_use_id": edit.id, "content": "The tool call was interrupted.", "is_error": True}
    ]
    assert new["toolUseResult"] == "Error: The tool call was interrupted."
    for key in ("sessionId", "cwd", "version", "gitBranch", "userType", "isSidechain"):
        assert new[key] == tool_use_record[key]
    assert _time(new["timestamp"]) > _time(tool_use_record["timestamp"])
    assert new["timestamp"].endswith("Z") and len(new["timestamp"]) == 24
    assert new["uuid"] not in b"\n".join(lines).decode()
    # The interrupt record now hangs off the new one; only its parentUuid changed.
    reparented = json.loads(written[17])
    assert reparented["parentUuid"] == new["uuid"]
    assert written[17] == lines[16].replace(tool_use_record["uuid"].encode(), new["uuid"].encode())


def test_the_written_synthetic_result_reads_back_as_a_whole_chain():
    lines = without_result_of_edit()
    h = read_one(lines)
    edit = h.messages[7].blocks[1]
    h.messages[8].blocks.insert(0, Block.tool_result(edit.id, "interrupted", is_error=True))
    again = read_one(write(h, doc_of(lines)).single[1].split(b"\n"))
    assert lines_of(again)[0] == [2]
    assert again.meta["chain_breaks"] == []
    answer = again.messages[8].blocks[0]
    assert (answer.type, answer.tool_use_id, answer.is_error) == ("tool_result", edit.id, True)
    assert [m.role for m in again.messages] == ["user", "assistant"] * 6


def test_a_synthetic_result_for_a_leaf_tool_use_is_appended_after_it():
    lines = fixture_lines()[:20] + [b""]  # the Write tool_use (line 20) is the leaf
    h = read_one(lines)
    write_call = h.messages[-1].blocks[0]
    h.messages.append(
        type(h.messages[0])(role="user", blocks=[Block.tool_result(write_call.id, "never ran", is_error=True)])
    )
    written = write(h, doc_of(lines)).single[1]
    assert written.startswith(b"\n".join(lines[:20]) + b"\n") and written.endswith(b"\n")
    assert json.loads(written.split(b"\n")[20])["parentUuid"] == record(lines, 20)["uuid"]
    again = read_one(written.split(b"\n"))
    assert again.messages[-1].blocks[0].tool_use_id == write_call.id
    assert len(again.messages) == len(h.messages)


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00+01:00"])
def test_a_result_after_a_record_dated_at_the_end_of_time_is_still_written(stamp):
    """One millisecond after the year 9999 (or year 1 moved to UTC) does not exist: the new
    record gets the current time instead of an OverflowError."""
    lines = fixture_lines()[:20] + [b""]
    leaf = record(lines, 20)
    leaf["timestamp"] = stamp
    lines[19] = json.dumps(leaf).encode()
    h = read_one(lines)
    h.messages.append(
        type(h.messages[0])(
            role="user", blocks=[Block.tool_result(h.messages[-1].blocks[0].id, "never ran", is_error=True)]
        )
    )
    new = json.loads(write(h, doc_of(lines)).single[1].split(b"\n")[20])
    assert datetime.fromisoformat(new["timestamp"].replace("Z", "+00:00")).year > 2000


def test_removing_a_record_s_only_block_drops_the_line_and_reparents_its_child():
    lines = fixture_lines()
    h = read_one(lines)
    del h.messages[8].blocks[1]  # the interrupt text (line 18)
    written = write(h, doc_of(lines)).single[1].split(b"\n")
    assert len(written) == len(lines) - 1
    assert lines[17] not in written
    assert json.loads(written[17])["parentUuid"] == record(lines, 17)["uuid"]
    assert lines_of(read_one(written))[8] == [17, 18]


def test_removing_the_leaf_points_the_summary_at_the_new_leaf():
    lines = fixture_lines()
    h = read_one(lines)
    del h.messages[-1]
    written = write(h, doc_of(lines)).single[1].split(b"\n")
    assert json.loads(written[0])["leafUuid"] == record(lines, 21)["uuid"]
    again = read_one(written)
    assert again.title == "Healthz 500 traced to renamed heartbeat column"
    assert len(again.messages) == 11


def test_a_changed_block_rewrites_only_its_line_keeping_key_order():
    lines = fixture_lines()
    h = read_one(lines)
    h.messages[2].blocks[0].content = "Found 1 file"
    written = write(h, doc_of(lines)).single[1].split(b"\n")
    changed = [i for i, (a, b) in enumerate(zip(lines, written, strict=False)) if a != b]
    assert changed == [4]
    before, after = record(lines, 5), json.loads(written[4])
    assert list(after) == list(before)
    assert list(after["message"]["content"][0]) == list(before["message"]["content"][0])
    assert after["message"]["content"][0]["content"] == "Found 1 file"
    assert after["toolUseResult"] == before["toolUseResult"]


def test_it_writes_only_over_its_own_transcript(history):
    with pytest.raises(FormatError):
        claude_code.write(history, None)
    history_of_other_format = type(history)(format="openai", messages=history.messages)
    with pytest.raises(FormatError):
        claude_code.write(history_of_other_format, doc_of(fixture_lines()))


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_parent_uuid_loop_ends_the_chain_and_is_reported():
    lines = fixture_lines()
    lines[1] = lines[1].replace(b'"parentUuid":null', f'"parentUuid":"{record(lines, 5)["uuid"]}"'.encode())
    h = read_one(lines)
    assert lines_of(h)[0] == [2]
    assert h.meta["chain_breaks"] == [2]
