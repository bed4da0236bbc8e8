"""litellm logs: each logged call is the OpenAI conversation it sent, plus what the log knows about
the call (provider, model, the provider's error, trace)."""

import copy
import json

import pytest

from conversations.history import nextturn, targets, wire
from conversations.history.errors import FormatError
from conversations.history.formats import Document, detect, litellm_log, openai, read
from tests.support import FIXTURES

FIXTURE = FIXTURES / "formats" / "litellm-standard-logging-failure.json"


def payload() -> dict:
    return json.loads(FIXTURE.read_text())


def doc_of(obj, name: str = "payload.json") -> Document:
    return Document.from_bytes(name, json.dumps(obj).encode())


def jsonl_of(records: list, name: str = "payloads.jsonl") -> Document:
    return Document.from_bytes(name, b"\n".join(json.dumps(r).encode() for r in records) + b"\n")


def success_payload() -> dict:
    """The fixture's call as if the provider had answered with a tool call."""
    record = payload()
    record.update(
        status="success",
        error_str=None,
        error_information=None,
        prompt_tokens=5120,
        completion_tokens=42,
        total_tokens=5162,
    )
    record["response"] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "claude-3-5-sonnet-20241022",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Running it again.",
                    "tool_calls": [
                        {
                            "id": "toolu_01Again",
                            "type": "function",
                            "function": {"name": "execute_bash", "arguments": '{"command": "echo hi"}'},
                        }
                    ],
                },
            }
        ],
    }
    return record


@pytest.fixture(scope="module")
def history():
    [h] = read(Document.from_bytes(FIXTURE.name, FIXTURE.read_bytes()))
    return h


# --- detection ---------------------------------------------------------------------------------


def test_it_detects_the_payload_the_callback_wrapper_and_a_jsonl_of_payloads():
    assert detect(Document.from_bytes(FIXTURE.name, FIXTURE.read_bytes())) == "litellm-log"
    assert detect(doc_of({"standard_logging_object": payload()})) == "litellm-log"
    assert detect(jsonl_of([payload(), payload()])) == "litellm-log"


def test_it_does_not_claim_requests_or_claude_code_transcripts():
    for name in ("openai-request.json", "anthropic-request.json", "claude-code-session.jsonl"):
        doc = Document.from_bytes(name, (FIXTURES / "formats" / name).read_bytes())
        assert not litellm_log.sniff(doc), name


# --- the fixture -------------------------------------------------------------------------------


def test_the_failed_call_reads_into_its_openai_conversation(history):
    assert history.format == "litellm-log"
    assert len(history.system) == 1
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
    assert history.messages[1].tool_uses()[0].id == "toolu_01YD9jp2Pjwadjqzc8BPSz27"
    assert history.record is None


def test_the_cache_markers_of_the_logged_request_are_kept(history):
    where = [place for place, _ in history.cache_markers()]
    assert len([w for w in where if w.startswith("messages")]) == 3
    assert len([w for w in where if w.startswith("system")]) == 1


def test_the_call_facts_come_from_the_payload(history):
    assert history.error.startswith("litellm.BadRequestError: AnthropicException")
    assert "messages.26: Did not find 1 tool_result block(s)" in history.error
    assert history.model == "anthropic/claude-3-5-sonnet-20241022"
    assert history.provider == "anthropic"
    assert history.external_id == "a7b449a3-1395-4a01-adaa-19dba59466db"
    assert history.started_at.startswith("2026-11-25T") and history.started_at.endswith("Z")
    assert history.started_at <= history.ended_at
    assert history.usage is None  # a failed call has zero tokens: nothing to report
    assert history.meta["trace_id"] == "c519a9bd-eed8-4897-9cbb-edfbf1f46e7d"
    assert history.meta["model_group"] == "claude-3-5-sonnet-anthropic"
    assert history.meta["status"] == "failure"
    assert history.meta["call_type"] == "acompletion"
    assert history.meta["error_class"] == "BadRequestError"
    assert history.meta["error_code"] == "400"


def test_sources_point_into_the_payload(history):
    assert history.messages[2].source.path == "$.messages[3]"
    assert history.system[0].source.path == "$.messages[0]"


# --- other shapes ------------------------------------------------------------------------------


def test_a_jsonl_of_three_payloads_gives_three_histories_numbered_by_line():
    records = [payload(), payload(), payload()]
    records[1]["trace_id"] = "second"
    records[2]["messages"] = records[2]["messages"][:3]
    histories = read(jsonl_of(records))
    assert [h.record for h in histories] == [1, 2, 3]
    assert [h.meta["trace_id"] for h in histories][1] == "second"
    assert len(histories[2].messages) == 2
    assert {b.source.line for _, _, b in histories[2].blocks()} == {3}
    assert histories[2].messages[1].source.path == "$.messages[2]"


def test_the_callback_wrapper_is_read_with_paths_inside_it():
    [h] = read(doc_of({"standard_logging_object": payload(), "litellm_call_id": "x"}))
    assert h.error.startswith("litellm.BadRequestError")
    assert h.messages[2].source.path == "$.standard_logging_object.messages[3]"


def test_a_success_record_ends_with_the_response_message():
    [h] = read(doc_of(success_payload()))
    answer = h.messages[-1]
    assert len(h.messages) == 9
    assert answer.role == "assistant" and answer.extra["from_response"] is True
    assert answer.source.path == "$.response.choices[0].message"
    assert answer.tool_uses()[0].id == "toolu_01Again"
    assert h.error is None
    assert (h.usage.input_tokens, h.usage.output_tokens) == (5120, 42)


def test_the_answer_s_mark_stays_out_of_the_request_it_makes():
    [h] = read(doc_of(success_payload()))

    answer = openai.to_request(h)["messages"][-1]

    assert answer["role"] == "assistant" and "from_response" not in answer
    assert h.messages[-1].extra["from_response"] is True  # still known to the history (nextturn)


def test_a_success_record_is_judged_on_the_replayed_request_not_litellm_s_own():
    # The marks once reached the request, and the replay handed every success record to litellm's
    # own transformation (7 ms a record: most of the ingest of a litellm JSONL).
    [h] = read(doc_of(success_payload()))
    judged = nextturn.next_request(h)  # the answer, then the placeholder of the next user turn

    for name in ("anthropic", "bedrock", "openai", "gemini"):
        target = targets.resolve(name)
        assert wire.replay_covers(judged, target) is None, name
        assert _seen(wire.simulate(judged, target)) == _seen(wire.build(judged, target)), name


def _seen(request: wire.WireRequest) -> list:
    return [(m.role, [(b.type, b.text, b.id, b.cache, b.origin) for b in m.blocks]) for m in request.messages]


def test_tools_come_from_the_model_parameters():
    record = payload()
    record["model_parameters"] = {
        "stream": False,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "execute_bash",
                    "description": "Run a command",
                    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
                },
            }
        ],
    }
    [h] = read(doc_of(record))
    assert [t.name for t in h.tools] == ["execute_bash"]
    assert h.tools[0].source.path == "$.model_parameters.tools[0]"


def test_a_proxy_spend_log_row_with_json_string_columns_is_read():
    original = payload()
    row = {
        "request_id": "req-42",
        "call_type": "acompletion",
        "api_key": "88dc28...",
        "spend": 0.0,
        "startTime": "2026-11-25T14:41:07.021Z",
        "endTime": "2026-11-25T14:41:07.027Z",
        "model": "claude-3-5-sonnet-20241022",
        "model_group": "claude-3-5-sonnet",
        "custom_llm_provider": "anthropic",
        "status": "failure",
        "metadata": json.dumps({"error_information": original["error_information"]}),
        "messages": json.dumps(original["messages"]),
        "response": "{}",
    }
    [h] = read(doc_of(row, "spend.json"))
    assert h.external_id == "req-42"
    assert len(h.messages) == 8
    assert h.error.startswith("litellm.BadRequestError")
    assert h.started_at == "2026-11-25T14:41:07.021Z"
    assert h.meta["record_kind"] == "spend_log"


# --- bad inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("messages, reason", [(None, "no messages"), ({}, "no messages"), ("hello", "must be a list")])
def test_a_record_without_a_message_list_is_an_error_naming_the_path(messages, reason):
    record = payload()
    record["messages"] = messages
    with pytest.raises(FormatError, match=reason) as err:
        read(doc_of(record), format="litellm-log")
    assert err.value.path == "$.messages"


def test_a_bad_jsonl_record_is_an_error_naming_its_line():
    record = payload()
    del record["messages"]
    with pytest.raises(FormatError) as err:
        read(jsonl_of([payload(), record, payload()]), format="litellm-log")
    assert err.value.line == 2 and err.value.path == "$.messages"


def test_a_truncated_jsonl_line_is_an_error_naming_it():
    lines = [json.dumps(payload()), json.dumps(payload())[:500], json.dumps(payload())]
    doc = Document.from_bytes("payloads.jsonl", "\n".join(lines).encode())
    assert detect(doc) == "litellm-log"
    with pytest.raises(FormatError) as err:
        read(doc)
    assert err.value.line == 2


def test_a_message_the_openai_reader_rejects_is_an_error_naming_the_record_line():
    broken = copy.deepcopy(payload())
    broken["messages"][3] = "not a message"
    with pytest.raises(FormatError) as err:
        read(jsonl_of([payload(), broken]), format="litellm-log")
    assert err.value.line == 2


def test_the_registry_turns_a_logged_call_into_the_openai_request_it_carried(history):
    from conversations.history.formats import write

    assert litellm_log.WRITABLE is False
    body = json.loads(write(history).single[1])
    assert body["messages"] == payload()["messages"]
    assert body["model"] == "anthropic/claude-3-5-sonnet-20241022"
