"""Bedrock Converse's own validation (docs/provider-rules.md s.2b)."""

from conversations.history import formats
from conversations.history.check import check, check_body
from conversations.history.formats.openai import parse_request
from conversations.history.targets import resolve
from tests.support import FIXTURES

TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object", "properties": {}}}}]


def call(call_id):
    return {"id": call_id, "type": "function", "function": {"name": "bash", "arguments": "{}"}}


def history(*messages, tools=TOOLS):
    return parse_request({"messages": list(messages), "tools": tools}, file="t")


def rules(verdict):
    return [f.rule for f in verdict.errors]


def test_more_results_than_calls_in_a_turn_are_rejected():
    # Just-Curieous/Curie#16: results of a trimmed call left behind.
    h = history(
        {"role": "tool", "tool_call_id": "toolu_gone", "content": "old"}, {"role": "user", "content": "continue"}
    )
    verdict = check(h, target="bedrock")
    [finding] = [f for f in verdict.errors if f.rule == "bedrock-tool-result-count"]
    assert finding.provider_error == (
        "The number of toolResult blocks at messages.0.content exceeds the number of toolUse blocks of previous turn."
    )


def test_as_many_results_as_calls_are_accepted():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("t1")]},
        {"role": "tool", "tool_call_id": "t1", "content": "ok"},
    )
    assert check(h, target="bedrock").accepted


def test_an_unanswered_call_comes_back_as_claudes_error_wrapped():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("t1")]},
        {"role": "user", "content": "hello?"},
    )
    [finding] = check(h, target="bedrock").errors
    assert finding.rule == "bedrock-tool-result-missing"
    assert finding.provider_error.startswith("The model returned the following errors: messages.2: `tool_use` ids")


def test_tool_blocks_without_tool_definitions_are_rejected_in_a_raw_converse_body():
    # langgenius/dify#16421: a summarisation call over an agent history.
    body = {
        "messages": [
            {"role": "user", "content": [{"text": "go"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "bash", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "ok"}]}}]},
        ]
    }
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("t1")]},
        {"role": "tool", "tool_call_id": "t1", "content": "ok"},
        tools=None,
    )
    verdict = check_body(h, body, target="bedrock")
    assert [f.provider_error for f in verdict.errors] == [
        "The toolConfig field must be defined when using toolUse and toolResult content blocks."
    ]
    body["toolConfig"] = {"tools": [{"toolSpec": {"name": "bash", "inputSchema": {"json": {}}}}]}
    assert check_body(h, body, target="bedrock").accepted


def test_litellm_writes_the_tool_blocks_as_text_instead_which_is_a_warning():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("t1")]},
        {"role": "tool", "tool_call_id": "t1", "content": "ok"},
        tools=None,
    )
    verdict = check(h, target="bedrock")
    assert verdict.accepted
    assert [f.rule for f in verdict.findings if f.severity == "warning"] == ["litellm-tools-as-text"]


def test_a_blank_text_block_is_rejected():
    # aws-samples/bedrock-engineer#8
    h = history(
        {"role": "user", "content": "   "}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "go on"}
    )
    [finding] = check(h, target="bedrock").errors
    assert finding.provider_error == (
        "The text field in the ContentBlock object at messages.0.content.0 "
        "is blank. Add text to the text field, and try again."
    )
    assert finding.message_index == 0


def test_results_and_text_in_one_turn_warn_for_claude_and_reject_other_models():
    # The seed: litellm merges the last tool message with the user text after it.
    h = formats.read(formats.load_path(FIXTURES / "seed" / "openhands-6852-proxy-vs-direct.json"), format="openai")[0]
    claude = check(h, target="bedrock")
    assert claude.accepted
    assert [f.rule for f in claude.findings] == ["bedrock-mixed-tool-result-turn"]
    # strands-agents/harness-sdk#1223: Llama 4 on Converse.
    llama = check(h, target=resolve("bedrock", "bedrock/converse/meta.llama4-maverick-17b-instruct-v1:0"))
    [finding] = [f for f in llama.errors if f.rule == "bedrock-mixed-tool-result-turn"]
    assert finding.provider_error == (
        "messages.6.content: Conversation blocks and tool result blocks cannot be provided in the same turn."
    )
