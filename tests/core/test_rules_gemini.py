"""Gemini API / Vertex AI Gemini (docs/provider-rules.md s.4)."""

from conversations.history.check import check, check_body
from conversations.history.formats.openai import parse_request
from conversations.history.targets import resolve

TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object", "properties": {}}}}]


def call(call_id, args="{}"):
    return {"id": call_id, "type": "function", "function": {"name": "bash", "arguments": args}}


def history(*messages):
    return parse_request({"messages": list(messages), "tools": TOOLS}, file="t")


def rules(verdict):
    return [f.rule for f in verdict.errors]


ANSWERED = (
    {"role": "user", "content": "go"},
    {"role": "assistant", "content": None, "tool_calls": [call("c1")]},
    {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    {"role": "user", "content": "next"},
)


def test_an_answered_call_followed_by_user_text_is_accepted():
    assert check(history(*ANSWERED), target="gemini").accepted


def test_a_call_turn_right_after_the_system_prompt_is_misplaced():
    # google-gemini/gemini-cli#11814: the history (after system extraction) starts with a call.
    h = history(
        {"role": "system", "content": "s"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    )
    verdict = check(h, target="gemini")
    assert "gemini-function-call-position" in rules(verdict)
    [finding] = [f for f in verdict.errors if f.rule == "gemini-function-call-position"]
    assert finding.provider_error == (
        "Please ensure that function call turn comes immediately after a user turn or after a function response turn."
    )
    assert finding.wire_index is None and finding.message_index == 0


def test_an_unanswered_call_breaks_the_response_count():
    # google-gemini/gemini-cli#4217: a cancelled tool call left without its response.
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1")]},
        {"role": "user", "content": "hello?"},
    )
    assert rules(check(h, target="gemini")) == ["gemini-function-response-count"]


def test_two_identical_parallel_calls_become_one_part_and_break_the_count():
    # litellm 1.110.2 drops a functionCall part identical to one already in the turn.
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("a"), call("b")]},
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": "2"},
    )
    assert rules(check(h, target="gemini")) == ["gemini-function-response-count"]
    different = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("a"), call("b", '{"x": 1}')]},
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": "2"},
    )
    assert check(different, target="gemini").accepted


def test_an_orphan_response_is_misplaced_and_litellm_refuses_it_first():
    # langchain-ai/langchain#27799
    h = history(
        {"role": "user", "content": "go"},
        {"role": "tool", "tool_call_id": "c9", "content": "x"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "next"},
    )
    assert rules(check(h, target="gemini")) == ["litellm-transform-error", "gemini-function-response-position"]


def test_an_empty_message_becomes_an_empty_text_part_gemini_refuses():
    # microsoft/autogen#5762
    h = history(
        {"role": "user", "content": "go"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "again"}
    )
    [finding] = check(h, target="gemini").errors
    assert finding.rule == "gemini-empty-text" and finding.message_index == 1


def raw(*contents):
    return {"contents": list(contents)}


def test_a_content_with_no_parts_is_rejected_with_its_index():
    # egoist/chatwise-releases#250
    h = history({"role": "user", "content": "go"}, {"role": "assistant", "content": "ok"})
    verdict = check_body(
        h, raw({"role": "user", "parts": [{"text": "go"}]}, {"role": "model", "parts": []}), target="gemini"
    )
    assert [f.provider_error for f in verdict.errors] == [
        "* GenerateContentRequest.contents[1].parts: contents.parts must not be empty."
    ]


def test_a_part_with_no_data_is_rejected():
    # boldsoftware/sketch#68
    h = history({"role": "user", "content": "go"})
    verdict = check_body(h, raw({"role": "user", "parts": [{}]}), target="gemini")
    assert [f.provider_error for f in verdict.errors] == [
        "* GenerateContentRequest.contents[0].parts[0].data: "
        "required oneof field 'data' must have one initialized field"
    ]
    assert check_body(h, raw({"role": "user", "parts": [{"text": "go"}]}), target="gemini").accepted


GEMINI_3 = resolve("gemini", "gemini/gemini-3.1-pro-preview")


def test_gemini_3_rejects_a_replayed_call_without_its_thought_signature():
    # lbjlaq/Antigravity-Manager#139
    h = history(*ANSWERED[:3])
    body = raw(
        {"role": "user", "parts": [{"text": "go"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "Task", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "Task", "response": {"content": "ok"}}}]},
    )
    [finding] = check_body(h, body, target=GEMINI_3).errors
    assert finding.rule == "gemini-thought-signature-missing"
    assert "function call `default_api:Task` , position 1." in finding.provider_error


def test_litellm_gives_gemini_3_a_placeholder_signature_so_its_request_passes():
    assert check(history(*ANSWERED[:3]), target=GEMINI_3).accepted


def test_ending_on_a_model_turn_is_a_warning():
    verdict = check(
        history({"role": "user", "content": "go"}, {"role": "assistant", "content": "done"}), target="gemini"
    )
    assert verdict.accepted and [f.rule for f in verdict.findings] == ["gemini-ends-with-model"]
