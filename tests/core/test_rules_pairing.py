"""Tool pairing on Anthropic-shaped requests, from the reports cited in docs/provider-rules.md s.1."""

from conversations.history.check import check, check_body
from conversations.history.formats import anthropic as anthropic_format
from conversations.history.formats.openai import parse_request

TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object", "properties": {}}}}]


def call(call_id, name="bash", arguments="{}"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def history(*messages, tools=TOOLS, **params):
    return parse_request({"messages": list(messages), "tools": tools, **params}, file="test")


def errors(verdict, rule):
    return [f for f in verdict.findings if f.rule == rule]


# -- tool-result-missing ---------------------------------------------------------------------------


def test_it_rejects_a_tool_call_the_next_message_does_not_answer():
    # OpenHands/OpenHands#7512: the tool result was lost (context trimming), a user message follows.
    h = history(
        {"role": "user", "content": "run the tests"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_01Me5LTc9g2gH3yKQCtqGd7W")]},
        {"role": "user", "content": "any progress?"},
    )
    [finding] = errors(check(h, target="anthropic"), "tool-result-missing")
    assert finding.provider_error == (
        "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "toolu_01Me5LTc9g2gH3yKQCtqGd7W. Each `tool_use` block must have a corresponding "
        "`tool_result` block in the next message."
    )
    assert (finding.message_index, finding.wire_index, finding.fix) == (1, 2, "add-missing-tool-result")


def test_it_lists_every_unanswered_id_of_a_parallel_call_comma_separated():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_a"), call("toolu_b")]},
        {"role": "tool", "tool_call_id": "toolu_a", "content": "1"},
        {"role": "assistant", "content": "hmm"},
        {"role": "tool", "tool_call_id": "toolu_b", "content": "2"},
    )
    [finding] = errors(check(h, target="anthropic"), "tool-result-missing")
    assert "immediately after: toolu_b. Each" in finding.provider_error  # toolu_a was answered


def test_it_accepts_a_parallel_call_answered_in_one_message_in_any_order():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_a"), call("toolu_b")]},
        {"role": "tool", "tool_call_id": "toolu_b", "content": "2"},
        {"role": "tool", "tool_call_id": "toolu_a", "content": "1"},
        {"role": "user", "content": "thanks"},
    )
    assert check(h, target="anthropic").accepted


def test_it_accepts_a_synthetic_is_error_result_as_an_answer():
    h = parse_request(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": None, "tool_calls": [call("toolu_1")]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "interrupted by user"},
            ],
            "tools": TOOLS,
        },
        file="t",
    )
    assert check(h, target="anthropic").accepted


def test_text_after_the_tool_call_is_rejected_as_the_recorded_cassette_was():
    # anomalyco/opencode, fixtures/recordings/anthropic-messages/
    # rejects-malformed-assistant-tool-order-without-patch.json: the real 400, word for word.
    body = {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 4096,
        "messages": [
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "text", "text": "I will check the weather."},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": '{"temperature":"72F"}'}],
            },
            {"role": "user", "content": [{"type": "text", "text": "Use that result to answer briefly."}]},
        ],
        "tools": [
            {"name": "get_weather", "description": "Get weather", "input_schema": {"type": "object", "properties": {}}}
        ],
    }
    h = anthropic_format.parse_request(body, file="cassette")
    [finding] = check_body(h, body, target="anthropic").errors
    assert finding.rule == "tool-result-missing" and finding.fix == "move-text-before-tool-use"
    assert finding.provider_error == (
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "call_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    )


def test_the_recorded_200_with_text_first_and_same_role_turns_is_accepted():
    # accepts-malformed-assistant-tool-order-with-default-patch.json: a real 200 with two assistant
    # messages in a row, two user messages in a row, and an assistant message first.
    body = {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 4096,
        "messages": [
            {"role": "assistant", "content": [{"type": "text", "text": "I will check the weather."}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": '{"temperature":"72F"}'}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "Use that result to answer briefly.",
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            },
        ],
        "tools": [
            {"name": "get_weather", "description": "Get weather", "input_schema": {"type": "object", "properties": {}}}
        ],
    }
    h = anthropic_format.parse_request(body, file="cassette")
    assert check_body(h, body, target="anthropic").errors == []


def test_bedrock_invoke_returns_the_same_text_wrapped_in_its_validation_exception():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_1")]},
        {"role": "user", "content": "hello?"},
    )
    [finding] = errors(check(h, target="bedrock-invoke"), "tool-result-missing")
    assert finding.provider_error.startswith("The model returned the following errors: messages.2: `tool_use` ids")


# -- tool-result-not-first -------------------------------------------------------------------------


def test_a_user_message_typed_while_the_tool_ran_puts_text_before_the_result():
    # The seed case's lesson (docs/provider-rules.md s.5): litellm merges [user, tool] after the call
    # into one turn [text, tool_result], which breaks the "results first" rule.
    h = history(
        {"role": "user", "content": "run it"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_1")]},
        {"role": "user", "content": "I stopped the runtime"},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "The action has not been executed."},
    )
    [finding] = errors(check(h, target="anthropic"), "tool-result-not-first")
    assert finding.provider_error == (
        "messages.2: Did not find 1 `tool_result` block(s) at the beginning of this message. Messages "
        "following `tool_use` blocks must begin with a matching number of `tool_result` blocks."
    )
    assert (finding.message_index, finding.wire_index, finding.fix) == (2, 2, "move-tool-results-first")


def test_text_after_the_results_in_the_same_turn_is_accepted():
    h = history(
        {"role": "user", "content": "run it"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_1")]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "done"},
        {"role": "user", "content": "and now?"},
    )
    assert check(h, target="anthropic").accepted


# -- tool-result-orphan / server-tool-result-orphan -------------------------------------------------


def test_a_history_that_starts_with_a_tool_result_is_an_orphan():
    # anthropics/claude-code#18947: "messages.0.content.0: unexpected `tool_use_id` ..." after trimming.
    h = history(
        {"role": "tool", "tool_call_id": "toolu_01FfCGddPyWsq3gCLqXtsJki", "content": "ok"},
        {"role": "user", "content": "continue"},
    )
    [finding] = errors(check(h, target="anthropic"), "tool-result-orphan")
    assert finding.provider_error == (
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
        "toolu_01FfCGddPyWsq3gCLqXtsJki. Each `tool_result` block must have a corresponding "
        "`tool_use` block in the previous message."
    )
    assert (finding.message_index, finding.content_index) == (0, 0)


def test_a_result_answering_the_call_before_it_is_no_orphan():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_1")]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "ok"},
    )
    assert not errors(check(h, target="anthropic"), "tool-result-orphan")


def advisor_body(with_server_tool_use: bool) -> dict:
    assistant = [{"type": "text", "text": "Let me ask."}]
    if with_server_tool_use:
        assistant.append(
            {"type": "server_tool_use", "id": "srvtoolu_01JjfQsdhSJkT7qLCL7Pj9jc", "name": "advisor", "input": {}}
        )
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "review this"},
            {"role": "assistant", "content": assistant},
            {
                "role": "user",
                "content": [
                    {
                        "type": "advisor_tool_result",
                        "tool_use_id": "srvtoolu_01JjfQsdhSJkT7qLCL7Pj9jc",
                        "content": {"type": "advice", "text": "ok"},
                    },
                    {"type": "text", "text": "go on"},
                ],
            },
        ],
    }


def test_a_server_tool_result_without_its_server_tool_use_is_rejected():
    # anthropics/claude-code#64383 (advisor tool).
    body = advisor_body(with_server_tool_use=False)
    h = anthropic_format.parse_request(body, file="t")
    [finding] = check_body(h, body, target="anthropic").errors
    assert finding.provider_error == (
        "messages.2.content.0: unexpected `tool_use_id` found in `advisor_tool_result` blocks: "
        "srvtoolu_01JjfQsdhSJkT7qLCL7Pj9jc. Each `advisor_tool_result` block must have a "
        "corresponding `server_tool_use` block before it."
    )


def test_a_server_tool_result_after_its_server_tool_use_is_accepted():
    body = advisor_body(with_server_tool_use=True)
    assert not check_body(anthropic_format.parse_request(body, file="t"), body, target="anthropic").errors


# -- ids -----------------------------------------------------------------------------------------


def test_a_tool_use_id_used_twice_is_rejected_at_its_second_use():
    # NachoSEO/claudegram#12: the same assistant turn merged twice.
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_a")]},
        {"role": "tool", "tool_call_id": "toolu_a", "content": "1"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_a")]},
        {"role": "tool", "tool_call_id": "toolu_a", "content": "2"},
    )
    [finding] = errors(check(h, target="anthropic"), "tool-use-id-duplicate")
    assert finding.provider_error == "messages.3.content.0: tool_use ids must be unique"
    assert finding.message_index == 3


def test_distinct_tool_use_ids_are_accepted():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_a")]},
        {"role": "tool", "tool_call_id": "toolu_a", "content": "1"},
        {"role": "assistant", "content": None, "tool_calls": [call("toolu_b")]},
        {"role": "tool", "tool_call_id": "toolu_b", "content": "2"},
    )
    assert check(h, target="anthropic").accepted


def test_an_id_from_another_provider_is_rejected_when_sent_as_is():
    # anomalyco/opencode#1279: `functions.bash:0` ids from an OpenAI-compatible provider.
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "ok"},
                    {"type": "tool_use", "id": "functions.bash:0", "name": "bash", "input": {}},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "functions.bash:0", "content": "1"}]},
        ],
    }
    h = anthropic_format.parse_request(body, file="t")
    [finding] = check_body(h, body, target="anthropic").errors
    assert finding.provider_error == "messages.1.content.1.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"


def test_litellm_rewrites_such_an_id_so_the_request_it_sends_is_accepted():
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call("functions.bash:0")]},
        {"role": "tool", "tool_call_id": "functions.bash:0", "content": "1"},
    )
    assert check(h, target="anthropic").accepted
