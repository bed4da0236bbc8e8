"""The OpenAI Chat Completions format: what a request reads as, and that writing it back gives the
same document."""

import json

import pytest

from conversations.history.formats import Document, FormatError, detect, load_path, openai, read
from conversations.history.model import Block, CacheControl, History, Message, SystemPart
from tests.support import FIXTURES

SEEDS = sorted((FIXTURES / "seed").glob("*.json"))
OPENAI_FIXTURES = [*SEEDS, FIXTURES / "formats" / "openai-request.json"]
CACHE_ON_TOOL = FIXTURES / "seed" / "openhands-6852-cache-on-tool-message.json"
CACHE_REMOVED = FIXTURES / "seed" / "openhands-6852-cache-removed-still-failing.json"
PROXY_VS_DIRECT = FIXTURES / "seed" / "openhands-6852-proxy-vs-direct.json"
OPENAI_REQUEST = FIXTURES / "formats" / "openai-request.json"


def read_one(path) -> History:
    (history,) = openai.read(load_path(path))
    return history


def from_json(obj, name="request.json", **dumps) -> Document:
    return Document.from_bytes(name, json.dumps(obj, **dumps).encode())


def assert_answered_in_order(history: History) -> None:
    """Every tool call is answered by the tool messages right after its assistant turn."""
    for i, message in enumerate(history.messages):
        calls = [b.id for b in message.tool_uses()]
        if calls:
            following = history.messages[i + 1 : i + 1 + len(calls)]
            assert [m.role for m in following] == ["tool"] * len(calls)
            assert [m.blocks[0].tool_use_id for m in following] == calls


# --- reading the fixtures --------------------------------------------------------------------


def test_the_cache_on_tool_message_seed_reads_as_eight_messages_after_one_system_part():
    history = read_one(CACHE_ON_TOOL)

    assert history.format == "openai"
    assert len(history.system) == 1 and history.system[0].before == 0
    assert [m.role for m in history.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
        "tool",
        "user",
    ]
    assert len(history.tools) == 6
    assert_answered_in_order(history)


def test_the_cache_on_tool_message_seed_has_four_markers_one_of_them_on_the_tool_message():
    history = read_one(CACHE_ON_TOOL)

    where = [place for place, _ in history.cache_markers()]
    assert where == ["system[0].blocks[0]", "messages[4].blocks[0]", "messages[6]", "messages[7].blocks[0]"]
    tool_message = history.messages[6]
    assert tool_message.role == "tool" and tool_message.cache_control.type == "ephemeral"
    assert tool_message.source.path == "$.messages[7]"
    assert history.meta["litellm_extensions"] == ["cache_control"]


def test_the_cache_removed_seed_keeps_its_markers_on_system_and_user_blocks_only():
    history = read_one(CACHE_REMOVED)

    markers = history.cache_markers()
    assert len(markers) == 4
    assert all(isinstance(element, Block) for _, element in markers)
    assert all(m.cache_control is None for m in history.messages)
    assert history.tools == []
    assert_answered_in_order(history)


def test_the_proxy_vs_direct_seed_has_no_marker_and_a_tool_without_parameters():
    history = read_one(PROXY_VS_DIRECT)

    assert history.cache_markers() == []
    assert "litellm_extensions" not in history.meta
    finish = next(t for t in history.tools if t.name == "finish")
    assert finish.parameters is None and finish.kind == "function"


def test_an_assistant_turn_with_empty_content_and_a_tool_call_holds_one_tool_use():
    history = read_one(CACHE_ON_TOOL)

    assistant = history.messages[1]
    assert assistant.content_form == "blocks"
    (call,) = assistant.blocks
    assert call.type == "tool_use" and call.name == "execute_bash"
    assert call.arguments == '{"command": "echo \\"Hello World\\""}'
    assert call.input == {"command": 'echo "Hello World"'}
    assert call.source.path == "$.messages[2].tool_calls[0]"


def test_the_openai_request_reads_parallel_calls_string_content_and_parameters():
    history = read_one(OPENAI_REQUEST)

    assert history.model == "gpt-4o-2024-08-06"
    assert history.system[0].content_form == "string"
    assert history.system[0].text.startswith("You are DeployBot")
    assert len(history.messages) == 9
    assert [b.name for b in history.messages[1].blocks] == [
        "get_service_status",
        "get_service_status",
        "list_recent_deploys",
    ]
    assert history.messages[1].content_form == "null"
    assert history.messages[1].extra == {"refusal": None}
    assert history.messages[2].content_form == "string"
    assert history.messages[2].blocks[0].result_text.startswith('{"service": "checkout"')
    assert_answered_in_order(history)
    assert history.request == {
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "temperature": 0,
        "user": "platform-oncall-ui",
    }
    assert [t.extra for t in history.tools] == [{"strict": True}] * 3


def test_source_refs_name_the_file_and_the_json_path_of_each_element():
    history = read_one(OPENAI_REQUEST)

    assert str(history.system[0].source) == "openai-request.json: $.messages[0]"
    assert history.messages[0].source.path == "$.messages[1]"
    assert history.messages[0].blocks[0].source.path == "$.messages[1].content"
    assert history.messages[1].blocks[2].source.path == "$.messages[2].tool_calls[2]"
    assert history.tools[1].source.path == "$.tools[1]"
    parts = read_one(CACHE_ON_TOOL).messages[0].blocks
    assert [b.source.path for b in parts] == ["$.messages[1].content[0]", "$.messages[1].content[1]"]


@pytest.mark.parametrize("path", OPENAI_FIXTURES, ids=lambda p: p.name)
def test_every_openai_fixture_is_detected_as_openai(path):
    assert detect(load_path(path)) == "openai"


# --- read then write gives the same document -------------------------------------------------


@pytest.mark.parametrize("path", OPENAI_FIXTURES, ids=lambda p: p.name)
def test_reading_then_writing_a_fixture_gives_back_the_same_json(path):
    doc = load_path(path)
    written = openai.write(openai.read(doc)[0], doc)

    assert list(written.files) == [path.name]
    assert json.loads(written.files[path.name]) == json.loads(path.read_bytes())


@pytest.mark.parametrize("path", OPENAI_FIXTURES, ids=lambda p: p.name)
def test_reading_then_writing_a_fixture_keeps_key_order_and_layout_byte_for_byte(path):
    doc = load_path(path)

    assert openai.write(openai.read(doc)[0], doc).files[path.name] == path.read_bytes()


# Everything the reader must tell apart to give it back: content null / "" / [] / missing,
# parts it does not model, litellm's thinking_blocks, legacy shapes, unknown keys.
EDGE_CASES = [
    {"role": "developer", "content": "Be terse.", "name": "policy"},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Look", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
            {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="},
            {"type": "input_audio", "input_audio": {"data": "AAA=", "format": "wav"}},
        ],
        "cache_control": {"type": "ephemeral"},
    },
    {
        "role": "assistant",
        "content": "",
        "reasoning_content": "hmm",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
            {"type": "redacted_thinking", "data": "opaque"},
        ],
        "tool_calls": [
            {"id": "call_1", "function": {"name": "f", "arguments": '{ "a" : 1 }'}, "index": 0},
            {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": {"b": 2}}},
            {"id": "call_3", "type": "function", "function": {"name": "h", "arguments": "not json"}},
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "one"}]},
    {"role": "tool", "tool_call_id": "call_2", "content": None},
    {"role": "tool", "tool_call_id": "call_3", "content": "three", "name": "h"},
    {"role": "system", "content": [{"type": "text", "text": "a rule in the middle"}]},
    {"role": "assistant", "content": None, "tool_calls": None, "refusal": None},
    {"role": "function", "name": "legacy", "content": "old"},
    {"role": "user", "content": []},
    {"role": "assistant", "tool_calls": []},
]


@pytest.mark.parametrize(
    "layout",
    [
        {"separators": (",", ":")},
        {"separators": (", ", ": ")},
        {"indent": 4},
        {"indent": "\t"},
        {"indent": 2, "ensure_ascii": True},
    ],
    ids=["compact", "python-default", "indent-4", "tabs", "ascii"],
)
def test_every_edge_case_it_reads_is_written_back_byte_for_byte_in_the_same_layout(layout):
    source = {
        "model": "gpt-4o",
        "messages": EDGE_CASES + [{"role": "user", "content": "ünïcode"}],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {}}, "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_preview"},
        ],
        "max_tokens": 50,
        "usage": {"prompt_tokens": 3},
    }
    doc = from_json(source, "edge.json", **layout)
    history = openai.read(doc)[0]

    assert openai.write(history, doc).files["edge.json"] == doc.files["edge.json"]


def test_the_edge_cases_read_as_the_canonical_model_describes_them():
    history = openai.read(from_json(EDGE_CASES))[0]

    assert history.meta["shape"] == "list"
    assert [(p.role, p.before) for p in history.system] == [("developer", 0), ("system", 5)]
    user, assistant = history.messages[0], history.messages[1]
    assert [b.type for b in user.blocks] == ["text", "image", "image", "other"]
    assert user.blocks[1].media == {"type": "url", "url": "https://example.com/a.png"}
    assert user.blocks[2].media == {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    assert user.blocks[3].extra["raw"]["type"] == "input_audio"
    assert user.cache_control.type == "ephemeral" and user.blocks[0].cache_control.ttl == "1h"
    assert [b.type for b in assistant.blocks] == ["thinking", "redacted_thinking", "tool_use", "tool_use", "tool_use"]
    assert assistant.content_form == "empty" and assistant.extra["reasoning_content"] == "hmm"
    assert assistant.blocks[0].signature == "sig=="
    assert [b.input for b in assistant.tool_uses()] == [{"a": 1}, {"b": 2}, None]
    assert assistant.tool_uses()[2].arguments == "not json"
    assert [m.content_form for m in history.messages[2:5]] == ["blocks", "null", "string"]
    assert history.messages[2].blocks[0].content[0].text == "one"
    assert history.messages[4].name == "h"
    legacy = history.messages[6]
    assert legacy.role == "tool" and legacy.name == "legacy" and legacy.blocks[0].tool_use_id is None
    assert history.messages[7].content_form == "blocks" and history.messages[7].blocks == []
    assert history.messages[8].content_form == "missing"
    assert set(history.meta["litellm_extensions"]) == {"cache_control", "thinking_blocks"}


def test_an_openhands_completion_log_takes_tools_from_kwargs_and_is_written_back_whole():
    log = {
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "response": {
            "id": "chatcmpl-1",
            "model": "claude-3-5-sonnet-20241022",
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}},
        },
        "args": [],
        "kwargs": {"tools": [{"type": "function", "function": {"name": "finish"}}], "temperature": 0},
        "timestamp": 1738370050.5,
        "cost": 0.01,
    }
    doc = from_json(log, "claude-3-5-sonnet-1738370050.5.json")
    history = read(doc)[0]

    assert [t.name for t in history.tools] == ["finish"]
    assert history.tools[0].source.path == "$.kwargs.tools[0]"
    assert history.model == "claude-3-5-sonnet-20241022"
    # OpenAI's prompt_tokens (10) holds the 4 cached ones: counted once, as cache reads.
    assert (history.usage.input_tokens, history.usage.cache_read_input_tokens) == (6, 4)
    assert history.token_count == 12
    assert history.request == {"temperature": 0}
    assert openai.write(history, doc).files[doc.single[0]] == doc.files[doc.single[0]]
    assert set(openai.to_request(history)) == {"model", "messages", "tools", "temperature"}


def test_duplicate_tool_call_ids_and_unanswered_calls_are_read_for_the_checker_to_report():
    messages = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "orphan"},
        {"role": "user", "content": "again"},
    ]

    history = openai.read(from_json({"messages": messages}))[0]

    assert [b.id for b in history.messages[1].blocks] == ["call_1", "call_1"]
    assert history.messages[2].blocks[0].tool_use_id == "call_9"


# --- writing after a change ------------------------------------------------------------------


def test_a_changed_tool_input_gets_new_arguments_and_an_unchanged_one_keeps_its_exact_string():
    doc = from_json(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{ "x" :1 }'}},
                        {"id": "b", "type": "function", "function": {"name": "f", "arguments": '{ "x" :1 }'}},
                    ],
                }
            ]
        }
    )
    history = openai.read(doc)[0]
    history.messages[0].blocks[1].input = {"x": 2}

    calls = json.loads(openai.write(history, doc).files["request.json"])["messages"][0]["tool_calls"]

    assert [c["function"]["arguments"] for c in calls] == ['{ "x" :1 }', '{"x": 2}']


def test_an_appended_tool_result_is_written_as_a_tool_message_after_the_others():
    doc = load_path(OPENAI_REQUEST)
    history = openai.read(doc)[0]
    history.messages.append(Message(role="tool", content_form="string", blocks=[Block.tool_result("call_new", "late")]))

    written = json.loads(openai.write(history, doc).files[OPENAI_REQUEST.name])

    assert written["messages"][-1] == {"role": "tool", "content": "late", "tool_call_id": "call_new"}
    assert list(written) == list(json.loads(OPENAI_REQUEST.read_bytes()))


def test_a_removed_parameter_is_removed_from_the_written_request():
    doc = load_path(OPENAI_REQUEST)
    history = openai.read(doc)[0]
    del history.request["temperature"]
    history.request["max_tokens"] = 1024

    written = json.loads(openai.write(history, doc).files[OPENAI_REQUEST.name])

    assert "temperature" not in written and written["max_tokens"] == 1024


def test_system_parts_go_back_before_the_message_they_preceded():
    doc = from_json(EDGE_CASES)
    history = openai.read(doc)[0]

    written = json.loads(openai.write(history, doc).files["request.json"])

    assert written[0]["role"] == "developer" and written[6]["role"] == "system"


# --- the OpenAI request for any history ------------------------------------------------------


def test_to_request_of_an_openai_request_is_that_request():
    history = read_one(OPENAI_REQUEST)

    assert openai.to_request(history) == json.loads(OPENAI_REQUEST.read_bytes())


def test_to_request_splits_an_anthropic_style_user_turn_into_tool_messages_then_the_text():
    history = History(
        format="claude-code",
        model="claude-sonnet-4",
        messages=[
            Message(role="user", blocks=[Block.text_block("list files")]),
            Message(
                role="assistant",
                blocks=[
                    Block(type="thinking", text="plan", signature="s1"),
                    Block.tool_use("toolu_1", "ls", {"path": "."}),
                    Block.tool_use("toolu_2", "ls", {"path": "/"}),
                ],
                extra={"uuid": "1f0e", "requestId": "req_1"},
            ),
            Message(
                role="user",
                blocks=[
                    Block.tool_result("toolu_1", "a.txt"),
                    Block.tool_result("toolu_2", [Block.text_block("etc")], cache_control=CacheControl()),
                    Block.text_block("and now?"),
                    Block(type="image", media={"type": "base64", "media_type": "image/png", "data": "QUJD"}),
                ],
            ),
        ],
        system=[SystemPart(blocks=[Block.text_block("You are Claude Code.")])],
        request={"max_tokens": 100, "metadata": {"session": "x"}},
    )

    request = openai.to_request(history)

    assert request["model"] == "claude-sonnet-4" and request["max_tokens"] == 100
    assert "metadata" not in request
    roles = [m["role"] for m in request["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "user"]
    assistant = request["messages"][2]
    assert "uuid" not in assistant and assistant["content"] is None
    assert assistant["thinking_blocks"] == [{"type": "thinking", "thinking": "plan", "signature": "s1"}]
    assert [json.loads(c["function"]["arguments"]) for c in assistant["tool_calls"]] == [{"path": "."}, {"path": "/"}]
    assert request["messages"][3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt"}
    assert request["messages"][4]["cache_control"] == {"type": "ephemeral"}
    assert request["messages"][5]["content"] == [
        {"type": "text", "text": "and now?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
    ]


def test_write_without_an_original_gives_a_clean_request_file():
    history = read_one(CACHE_ON_TOOL)

    written = openai.write(history, None)

    assert list(written.files) == ["request.json"]
    assert json.loads(written.files["request.json"]) == openai.to_request(history)


# --- detection and bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"not json at all",
        b"",
        b"\x00\x01\x02binary",
        b'{"model": "x"}',
        b"[1, 2, 3]",
        b'[{"id": 0, "source": "user", "action": "message"}]',
        b'{"messages": [{"role": "user", "content": "a"}]}\n{"messages": [{"role": "user", "content": "b"}]}\n',
    ],
    ids=["text", "empty", "binary", "no-messages", "numbers", "openhands-trajectory", "jsonl"],
)
def test_it_does_not_claim_what_is_not_a_chat_request(data):
    assert openai.sniff(Document.from_bytes("x.json", data)) is False


def test_it_does_not_claim_a_directory():
    doc = Document(name="session", files={"events/0.json": b'{"messages": []}'}, is_dir=True)

    assert openai.sniff(doc) is False


BAD_INPUTS = {
    "truncated": (b'{"messages": [{"role": "user", "content": "hi"}', "line 1"),
    "binary": (bytes(range(256)) * 4, "line"),
    "empty": (b"", "empty"),
    "nested": (b"[" * 10000 + b"]" * 10000, "nested too deeply"),
    "not-a-request": (b"42", "$"),
    "messages-not-a-list": (b'{"messages": {"role": "user"}}', "$.messages"),
    "message-not-an-object": (b'{"messages": ["hi"]}', "$.messages[0]"),
    "missing-role": (b'{"messages": [{"content": "hi"}]}', "$.messages[0]"),
    "unknown-role": (b'{"messages": [{"role": "robot", "content": "hi"}]}', "$.messages[0].role"),
    "content-a-number": (b'{"messages": [{"role": "user", "content": 3}]}', "$.messages[0].content"),
    "part-without-type": (b'{"messages": [{"role": "user", "content": [{"text": "x"}]}]}', "$.messages[0].content[0]"),
    "tool-calls-not-a-list": (
        b'{"messages": [{"role": "assistant", "tool_calls": {"id": "x"}}]}',
        "$.messages[0].tool_calls",
    ),
    "tool-call-without-id": (
        b'{"messages": [{"role": "assistant", "content": null, "tool_calls": '
        b'[{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}',
        "$.messages[0].tool_calls[0]",
    ),
    "tool-call-without-name": (
        b'{"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}]}',
        "$.messages[0].tool_calls[0].function",
    ),
    "tool-message-without-id": (b'{"messages": [{"role": "tool", "content": "x"}]}', "$.messages[0]"),
    "tools-not-a-list": (b'{"messages": [], "tools": {}}', "$.tools"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_a_format_error_naming_the_file_and_the_place(name):
    data, place = BAD_INPUTS[name]

    with pytest.raises(FormatError) as caught:
        read(Document.from_bytes(f"uploads/{name}.json", data), format="openai")

    message = str(caught.value)
    assert message.startswith(f"{name}.json: ")
    assert place in message


def test_parse_request_names_the_line_and_path_it_was_given():
    record = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]},
        ]
    }

    with pytest.raises(FormatError) as caught:
        openai.parse_request(record["messages"], file="proxy.jsonl", path="$.messages", line=7)

    assert str(caught.value) == "proxy.jsonl: line 7: $.messages[1].tool_calls[0]: tool call without an id"
    history = openai.parse_request(record["messages"][:1], file="proxy.jsonl", path="$.messages", line=7)
    assert str(history.messages[0].source) == "proxy.jsonl: line 7: $.messages[0]"


def test_thinking_blocks_of_a_shape_litellm_would_not_take_stay_as_read():
    """A thinking text that is not a string is no thinking block of ours: the list is kept in
    the message as it was, and written back unchanged."""
    odd = [{"type": "thinking", "thinking": 5, "signature": "s"}, {"type": "redacted_thinking", "data": "x"}]
    source = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok", "thinking_blocks": odd}],
    }
    doc = from_json(source, "odd.json", indent=2)

    history = openai.read(doc)[0]

    assert [b.type for b in history.messages[1].blocks] == ["text"]
    assert history.messages[1].extra["thinking_blocks"] == odd
    assert openai.write(history, doc).files["odd.json"] == doc.files["odd.json"]
