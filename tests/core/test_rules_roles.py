"""Roles and order (docs/provider-rules.md s.1 "Roles and order", s.2b)."""

from conversations.history.check import check, check_body
from conversations.history.formats import anthropic as anthropic_format
from conversations.history.formats.openai import parse_request
from conversations.history.targets import resolve, target_for_model


def history(*messages, **params):
    return parse_request({"messages": list(messages), **params}, file="test")


def rules(verdict):
    return [f.rule for f in verdict.errors]


ASSISTANT_FIRST = ({"role": "assistant", "content": "Hi! How can I help?"}, {"role": "user", "content": "hello"})


def test_the_first_party_api_accepts_a_history_that_starts_with_the_assistant():
    # anthropics/anthropic-sdk-typescript#622: the same request succeeds on Anthropic...
    assert check(history(*ASSISTANT_FIRST), target="anthropic").accepted


def test_bedrock_invoke_rejects_it_with_anthropics_older_text():
    # ...and fails on Bedrock.
    [finding] = check(history(*ASSISTANT_FIRST), target="bedrock-invoke").errors
    assert finding.provider_error == (
        'The model returned the following errors: messages: first message must use the "user" role'
    )
    assert (finding.message_index, finding.wire_index) == (0, None)


def test_bedrock_converse_rejects_it_with_its_own_text():
    # langgenius/dify#12340
    [finding] = check(history(*ASSISTANT_FIRST), target="bedrock").errors
    assert finding.rule == "bedrock-first-not-user"
    assert finding.provider_error == (
        "A conversation must start with a user message. Try again with a conversation that starts with a user message."
    )


SAME_ROLE = (
    {"role": "user", "content": "first"},
    {"role": "assistant", "content": None},
    {"role": "user", "content": "second"},
)


def test_two_user_turns_in_a_row_are_merged_by_the_first_party_api():
    # An assistant message with no content becomes nothing in litellm's request: two user turns.
    assert check(history(*SAME_ROLE), target="anthropic").accepted


def test_bedrock_invoke_does_not_merge_them():
    # modelcontextprotocol/quickstart-resources#20 (via Bedrock)
    verdict = check(history(*SAME_ROLE), target="bedrock-invoke")
    [finding] = verdict.errors
    assert finding.provider_error == (
        "The model returned the following errors: messages: roles must "
        'alternate between "user" and "assistant", but found multiple '
        '"user" roles in a row'
    )
    assert finding.message_index == 2


def test_converse_rejects_two_assistant_turns_in_a_row():
    # aws-samples/bedrock-access-gateway#25: litellm drops the blank user turn between them.
    h = history(
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "go on"},
    )
    assert rules(check(h, target="bedrock")) == ["bedrock-roles-not-alternating"]
    assert check(
        history({"role": "user", "content": "go"}, {"role": "assistant", "content": "a"}), target="bedrock"
    ).accepted


def test_a_role_anthropic_does_not_know_is_rejected_in_a_raw_body():
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "x"}],
    }
    verdict = check_body(anthropic_format.parse_request(body, file="t"), body, target="anthropic")
    assert "invalid-role" in rules(verdict)
    assert [f.provider_error for f in verdict.errors if f.rule == "invalid-role"] == [
        "messages.1.role: Input should be 'user' or 'assistant'"
    ]


def test_trailing_whitespace_in_a_prefill_is_rejected_when_sent_as_is():
    # tailcallhq/forgecode#1872
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure, "}],
    }
    verdict = check_body(anthropic_format.parse_request(body, file="t"), body, target="anthropic")
    assert [f.provider_error for f in verdict.errors] == [
        "messages: final assistant content cannot end with trailing whitespace"
    ]


def test_litellm_strips_it_so_its_request_is_accepted():
    h = history({"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure, "})
    assert check(h, target="anthropic").accepted


def test_a_prefill_is_rejected_by_a_model_without_prefill():
    # smallmain/vscode-unify-chat-provider#249: claude-opus-4-6 and later.
    h = history({"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure,"}, model="claude-opus-4-6")
    [finding] = check(h, target=target_for_model(h.model)).errors
    assert finding.provider_error == (
        "This model does not support assistant message prefill. The conversation must end with a user message."
    )
    assert finding.fix == "drop-final-assistant"


def test_a_prefill_is_accepted_by_a_model_with_prefill():
    h = history({"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure,"})
    assert check(h, target=resolve("anthropic", "anthropic/claude-sonnet-4-5")).accepted


def test_bedrock_invoke_accepts_a_user_first_alternating_history():
    h = history(
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "bye"}
    )
    assert check(h, target="bedrock-invoke").accepted and check(h, target="bedrock").accepted
