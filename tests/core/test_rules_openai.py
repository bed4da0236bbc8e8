"""OpenAI Chat Completions (docs/provider-rules.md s.3); the wire index counts system messages."""

from conversations.history.check import check
from conversations.history.formats.openai import parse_request

TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object", "properties": {}}}}]


def call(call_id):
    return {"id": call_id, "type": "function", "function": {"name": "bash", "arguments": "{}"}}


def history(*messages, tools=TOOLS):
    return parse_request({"messages": list(messages), "tools": tools}, file="t")


def errors(h, rule=None):
    return [f for f in check(h, target="openai").errors if rule is None or f.rule == rule]


def test_a_call_without_its_tool_message_is_rejected():
    # aliasrobotics/cai#111, BerriAI/litellm#10083
    h = history(
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": None, "tool_calls": [call("call_jJATmoUduQWxi4tRwcQjsodM")]},
        {"role": "user", "content": "hello?"},
    )
    [finding] = errors(h)
    assert finding.provider_error == (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: "
        "call_jJATmoUduQWxi4tRwcQjsodM"
    )
    # the system message counts on OpenAI's side: history message 1 is messages.[2]
    assert (finding.message_index, finding.wire_index) == (1, 3)


def test_null_content_with_answered_tool_calls_is_accepted():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    )
    assert errors(h) == []


def test_a_tool_message_after_a_user_message_is_an_orphan():
    # miurla/morphic#136: "param": "messages.[3].role"
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1")]},
        {"role": "user", "content": "wait"},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    )
    [orphan] = errors(h, "openai-tool-orphan")
    assert orphan.provider_error == (
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."
    )
    assert orphan.wire_index == 3


def test_a_tool_message_answering_a_call_nobody_made_is_rejected():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1")]},
        {"role": "tool", "tool_call_id": "c9", "content": "ok"},
        {"role": "user", "content": "next"},
    )
    [unknown] = errors(h, "openai-tool-call-id-unknown")
    assert "did not have response messages: c1" in unknown.provider_error
    assert unknown.message_index == 2


def test_consecutive_user_messages_and_an_assistant_first_are_accepted():
    h = history(
        {"role": "assistant", "content": "Hi"}, {"role": "user", "content": "a"}, {"role": "user", "content": "b"}
    )
    assert check(h, target="openai").accepted


def test_a_long_tool_call_id_is_a_warning():
    # openclaw/openclaw PR #875; vercel/ai PR #17233 could not reproduce it in 2026.
    long_id = "fc_" + "x" * 80
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call(long_id)]},
        {"role": "tool", "tool_call_id": long_id, "content": "ok"},
    )
    verdict = check(h, target="openai")
    assert verdict.accepted
    assert [(f.rule, f.severity) for f in verdict.findings] == [("openai-tool-call-id-too-long", "warning")]
    short = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("call_1")]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
    )
    assert check(short, target="openai").findings == []


def test_more_than_2048_messages_are_rejected():
    many = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(2049)]
    assert [f.rule for f in errors(history(*many))] == ["openai-too-many-messages"]
    assert errors(history(*many[:2048])) == []


def test_a_tool_name_over_64_characters_is_rejected():
    # mrexodia/ida-pro-mcp#129
    name = "mcp__" + "n" * 66
    tools = [{"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}]
    [finding] = errors(history({"role": "user", "content": "go"}, tools=tools))
    assert finding.provider_error == (
        "Invalid 'tools[0].function.name': string too long. Expected a string "
        "with maximum length 64, but got a string with length 71 instead."
    )
    assert errors(history({"role": "user", "content": "go"})) == []
