"""The Anthropic Messages format: what a request reads as, that writing it back gives the same
document, and what a Messages body made from another format looks like."""

import json

import pytest

from conversations.history.formats import Document, FormatError, anthropic, detect, load_path, openai, read
from conversations.history.model import Block, CacheControl, History, Message, SystemPart
from tests.support import FIXTURES

ANTHROPIC_REQUEST = FIXTURES / "formats" / "anthropic-request.json"
OPENAI_FIXTURES = [*sorted((FIXTURES / "seed").glob("*.json")), FIXTURES / "formats" / "openai-request.json"]


def read_one(path) -> History:
    (history,) = anthropic.read(load_path(path))
    return history


def from_json(obj, name="request.json", **dumps) -> Document:
    return Document.from_bytes(name, json.dumps(obj, **dumps).encode())


# --- reading the fixture ---------------------------------------------------------------------


def test_the_request_reads_as_seven_alternating_turns_with_results_first():
    history = read_one(ANTHROPIC_REQUEST)

    assert history.format == "anthropic"
    assert [m.role for m in history.messages] == ["user", "assistant"] * 3 + ["user"]
    for i, message in enumerate(history.messages):
        calls = [b.id for b in message.tool_uses()]
        if calls:
            answer = history.messages[i + 1]
            assert [b.tool_use_id for b in answer.blocks[: len(calls)]] == calls
    assert [b.type for b in history.messages[5].blocks] == ["text", "tool_use", "tool_use"]
    assert history.messages[5].blocks[1].input == {
        "invoice_id": "in_30912",
        "amount_eur": 49.0,
        "reason": "duplicate charge for 2025-09",
    }


def test_the_request_has_three_cache_breakpoints_last_tool_last_system_block_last_result():
    history = read_one(ANTHROPIC_REQUEST)

    assert [place for place, _ in history.cache_markers()] == [
        "tools[2]",
        "system[0].blocks[1]",
        "messages[6].blocks[1]",
    ]


def test_the_system_prompt_is_one_part_of_two_blocks_and_everything_else_is_request():
    history = read_one(ANTHROPIC_REQUEST)

    (part,) = history.system
    assert part.before == 0 and part.content_form == "blocks" and len(part.blocks) == 2
    assert part.source.path == "$.system" and part.blocks[1].source.path == "$.system[1]"
    assert history.model == "claude-sonnet-4-5-20250929"
    assert history.request == {
        "max_tokens": 4096,
        "tool_choice": {"type": "auto"},
        "metadata": {"user_id": "nw-support-agent-7f3a"},
        "temperature": 0.2,
        "stream": True,
    }
    assert [t.name for t in history.tools] == ["get_customer", "list_invoices", "refund_invoice"]
    assert history.tools[0].parameters["required"] == ["email"]


def test_a_tool_result_keeps_its_content_as_a_string_or_as_blocks():
    history = read_one(ANTHROPIC_REQUEST)

    as_string = history.messages[2].blocks[0]
    as_blocks = history.messages[4].blocks[0]
    assert isinstance(as_string.content, str) and as_string.result_text.startswith('{"customer_id"')
    assert [b.type for b in as_blocks.content] == ["text"]
    assert as_blocks.content[0].source.path == "$.messages[4].content[0].content[0]"


def test_the_request_is_detected_as_anthropic_and_openai_requests_are_not():
    assert detect(load_path(ANTHROPIC_REQUEST)) == "anthropic"
    for path in OPENAI_FIXTURES:
        assert anthropic.sniff(load_path(path)) is False, path.name


@pytest.mark.parametrize(
    "obj, claimed",
    [
        (
            {
                "model": "gpt-4o",
                "max_tokens": 10,
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
            },
            False,
        ),
        (
            {
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"name": "f"}}],
            },
            False,
        ),
        ({"messages": [{"role": "user", "content": "hi"}]}, False),
        ({"system": "be brief", "messages": [{"role": "user", "content": "hi"}]}, True),
        (
            [
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]},
            ],
            True,
        ),
        ([{"role": "user", "content": "hi"}], False),
    ],
    ids=[
        "openai-with-max-tokens",
        "openai-tools",
        "no-marker",
        "top-level-system",
        "bare-list-blocks",
        "bare-list-plain",
    ],
)
def test_detection_follows_the_ambiguity_rule(obj, claimed):
    assert anthropic.sniff(from_json(obj)) is claimed


# --- read then write gives the same document -------------------------------------------------


def test_reading_then_writing_the_fixture_gives_back_the_same_bytes():
    doc = load_path(ANTHROPIC_REQUEST)

    written = anthropic.write(anthropic.read(doc)[0], doc)

    assert list(written.files) == [ANTHROPIC_REQUEST.name]
    assert json.loads(written.files[ANTHROPIC_REQUEST.name]) == json.loads(ANTHROPIC_REQUEST.read_bytes())
    assert written.files[ANTHROPIC_REQUEST.name] == ANTHROPIC_REQUEST.read_bytes()


EDGE_REQUEST = {
    "model": "claude-opus-4-1",
    "system": "You are terse.",
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"}},
                {
                    "type": "document",
                    "source": {"type": "url", "url": "https://example.com/a.pdf"},
                    "title": "A",
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                },
                {"type": "text", "text": "What is this?", "citations": None},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Look first.", "signature": "EqQBCkgI"},
                {"type": "redacted_thinking", "data": "EmwKAhgB"},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "a"}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                {"type": "tool_use", "id": "toolu_1", "name": "open", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "is_error": True,
                    "content": [{"type": "text", "text": "denied"}],
                },
                {"type": "tool_result", "tool_use_id": "toolu_1"},
            ],
        },
        {"role": "system", "content": "kept as read"},
        {"role": "assistant", "content": []},
    ],
    "tools": [
        {"type": "custom", "name": "open", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3, "cache_control": {"type": "ephemeral"}},
    ],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "max_tokens": 2048,
}


@pytest.mark.parametrize("layout", [{"separators": (",", ":")}, {"indent": 4}], ids=["compact", "indent-4"])
def test_every_edge_case_it_reads_is_written_back_byte_for_byte(layout):
    doc = from_json(EDGE_REQUEST, "edge.json", **layout)

    history = anthropic.read(doc)[0]

    assert anthropic.write(history, doc).files["edge.json"] == doc.files["edge.json"]


def test_the_edge_cases_read_as_the_canonical_model_describes_them():
    history = anthropic.read(from_json(EDGE_REQUEST))[0]

    assert history.system[0].content_form == "string" and history.system[0].text == "You are terse."
    user, assistant, results, odd, empty = history.messages
    assert [b.type for b in user.blocks] == ["image", "document", "text"]
    assert user.blocks[1].cache_control.ttl == "1h" and user.blocks[1].extra == {"title": "A"}
    assert [b.type for b in assistant.blocks] == ["thinking", "redacted_thinking", "other", "other", "tool_use"]
    assert assistant.blocks[0].text == "Look first." and assistant.blocks[0].signature == "EqQBCkgI"
    assert assistant.blocks[1].data == "EmwKAhgB"
    assert assistant.blocks[2].extra["raw"]["type"] == "server_tool_use"
    assert results.blocks[0].is_error is True and results.blocks[1].content is None
    assert odd.role == "system"
    assert empty.blocks == [] and empty.content_form == "blocks"
    assert [(t.name, t.kind) for t in history.tools] == [("open", "function"), ("web_search", "web_search_20250305")]
    assert history.tools[1].extra == {"max_uses": 3}
    assert history.request["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_a_bare_list_of_messages_is_read_and_written_back_as_a_list():
    messages = EDGE_REQUEST["messages"][:3]
    doc = from_json(messages)

    history = anthropic.read(doc)[0]

    assert history.meta["shape"] == "list" and history.system == []
    assert json.loads(anthropic.write(history, doc).files["request.json"]) == messages


def test_a_changed_parameter_and_an_added_block_are_written_in_place():
    doc = load_path(ANTHROPIC_REQUEST)
    history = anthropic.read(doc)[0]
    history.request["max_tokens"] = 8192
    history.messages[-1].blocks.append(Block.text_block("Anything else?"))

    written = json.loads(anthropic.write(history, doc).files[ANTHROPIC_REQUEST.name])

    assert list(written) == list(json.loads(ANTHROPIC_REQUEST.read_bytes()))
    assert written["max_tokens"] == 8192
    assert written["messages"][-1]["content"][-1] == {"type": "text", "text": "Anything else?"}


def test_a_system_prompt_removed_from_the_history_is_removed_from_the_request():
    doc = load_path(ANTHROPIC_REQUEST)
    history = anthropic.read(doc)[0]
    history.system = []

    written = json.loads(anthropic.write(history, doc).files[ANTHROPIC_REQUEST.name])

    assert "system" not in written
    assert written["messages"] == json.loads(ANTHROPIC_REQUEST.read_bytes())["messages"]


# --- a Messages body from another format -----------------------------------------------------


def test_an_openai_history_becomes_a_body_with_tool_messages_merged_into_the_next_user_turn():
    history = openai.read(load_path(FIXTURES / "seed" / "openhands-6852-cache-on-tool-message.json"))[0]

    body = anthropic.to_request(history)

    assert body["max_tokens"] == 4096
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert [m["role"] for m in body["messages"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    merged = body["messages"][-1]["content"]
    assert [b["type"] for b in merged] == ["tool_result", "text"]
    # The tool message's own marker now sits on its tool_result block.
    assert merged[0]["cache_control"] == {"type": "ephemeral"}
    assert merged[0]["tool_use_id"] == body["messages"][-2]["content"][0]["id"]
    assert body["tools"][1] == {
        "name": "finish",
        "description": body["tools"][1]["description"],
        "input_schema": {"type": "object", "properties": {}},
    }


def test_openai_parameters_are_mapped_to_their_messages_equivalents():
    history = openai.read(
        from_json(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "max_completion_tokens": 77,
                "tool_choice": {"type": "function", "function": {"name": "f"}},
                "parallel_tool_calls": False,
                "stop": "END",
                "user": "u-1",
                "n": 2,
                "response_format": {"type": "text"},
            }
        )
    )[0]

    body = anthropic.to_request(history)

    assert body["max_tokens"] == 77
    assert body["tool_choice"] == {"type": "tool", "name": "f", "disable_parallel_tool_use": True}
    assert body["stop_sequences"] == ["END"] and body["metadata"] == {"user_id": "u-1"}
    assert "n" not in body and "response_format" not in body


def test_a_single_plain_system_part_is_a_string_and_mid_conversation_parts_join_the_top():
    history = History(
        format="openhands",
        messages=[Message(role="user", blocks=[Block.text_block("hi")])],
        system=[SystemPart(blocks=[Block.text_block("one")], content_form="string")],
    )
    assert anthropic.to_request(history)["system"] == "one"

    history.system.append(SystemPart(blocks=[Block.text_block("two")], before=1, cache_control=CacheControl(ttl="5m")))
    assert anthropic.to_request(history)["system"] == [
        {"type": "text", "text": "one"},
        {"type": "text", "text": "two", "cache_control": {"type": "ephemeral", "ttl": "5m"}},
    ]


def test_foreign_extras_never_reach_a_messages_body():
    history = History(
        format="claude-code",
        messages=[
            Message(
                role="user",
                blocks=[Block.text_block("hi", extra={"uuid": "x"})],
                content_form="string",
                extra={"uuid": "1", "isSidechain": False},
            )
        ],
    )

    assert anthropic.to_request(history)["messages"] == [{"role": "user", "content": "hi"}]


def test_write_without_an_original_is_a_complete_request_file():
    history = read_one(ANTHROPIC_REQUEST)

    written = anthropic.write(history, None)

    assert list(written.files) == ["request.json"]
    assert json.loads(written.files["request.json"]) == json.loads(ANTHROPIC_REQUEST.read_bytes())


# --- bad input -------------------------------------------------------------------------------

BAD_INPUTS = {
    "truncated": (b'{"max_tokens": 10, "messages": [', "line 1"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "line"),
    "empty": (b"   \n", "empty"),
    "nested": (b'{"messages": ' + b"[" * 10000 + b"]" * 10000 + b"}", "nested too deeply"),
    "not-a-request": (b'"hello"', "$"),
    "messages-not-a-list": (b'{"messages": "hi"}', "$.messages"),
    "content-a-number": (b'{"messages": [{"role": "user", "content": 1}]}', "$.messages[0].content"),
    "block-without-type": (b'{"messages": [{"role": "user", "content": [{"text": "x"}]}]}', "$.messages[0].content[0]"),
    "tool-use-without-id": (
        b'{"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]}]}',
        "$.messages[0].content[0]",
    ),
    "tool-result-without-id": (
        b'{"messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]}',
        "$.messages[0].content[0]",
    ),
    "result-content-a-number": (
        b'{"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": 5}]}]}',
        "$.messages[0].content[0].content",
    ),
    "system-a-number": (b'{"system": 3, "messages": []}', "$.system"),
    "tool-without-name": (b'{"messages": [], "tools": [{"input_schema": {}}]}', "$.tools[0]"),
    "tool-description-a-list": (b'{"messages": [], "tools": [{"name": "f", "description": ["a"]}]}', "$.tools[0]"),
    "thinking-a-number": (
        b'{"messages": [{"role": "assistant", "content": [{"type": "thinking", "thinking": 5}]}]}',
        "$.messages[0].content[0]",
    ),
    "signature-an-object": (
        b'{"messages": [{"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": {}}]}]}',
        "$.messages[0].content[0]",
    ),
    "redacted-data-a-list": (
        b'{"messages": [{"role": "assistant", "content": [{"type": "redacted_thinking", "data": []}]}]}',
        "$.messages[0].content[0]",
    ),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_a_format_error_naming_the_file_and_the_place(name):
    data, place = BAD_INPUTS[name]

    with pytest.raises(FormatError) as caught:
        read(Document.from_bytes(f"/tmp/{name}.json", data), format="anthropic")

    message = str(caught.value)
    assert message.startswith(f"{name}.json: ")
    assert place in message
