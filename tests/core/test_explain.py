"""Explaining a real error: out of litellm's wrapping, onto the history, against the prediction."""

from conversations.history import formats
from conversations.history.explain import explain, parse_error
from conversations.history.formats.openai import parse_request
from tests.support import FIXTURES

NOT_FIRST_26 = (
    "messages.26: Did not find 1 tool_result block(s) at the beginning of this message. "
    "Messages following tool_use blocks must begin with a matching number of tool_result blocks."
)
BEDROCK = 'litellm.BadRequestError: BedrockException - {"message":"You do not have access to explicit prompt caching"}'
ANTHROPIC = (
    'litellm.BadRequestError: AnthropicException - {"type":"error","error":{"type":"invalid_request_error",'
    f'"message":"{NOT_FIRST_26}"}}}}'
)
OLD_FORM = (
    f"{BEDROCK}. Received Model Group=claude-3-5-sonnet-20241022\nAvailable Model Group "
    f"Fallbacks=['anthropic/claude-3-5-sonnet-20241022']\nError doing the fallback: {ANTHROPIC}"
)
NEW_FORM = (
    f"{BEDROCK}\n\nLiteLLM: model group 'claude-3-5-sonnet-20241022' failed with the error above. "
    f"Fallback to anthropic/claude-3-5-sonnet-20241022 also failed: {ANTHROPIC}"
)


def seed(name):
    return formats.read(formats.load_path(FIXTURES / "seed" / name), format="openai")[0]


def test_both_fallback_forms_give_the_two_provider_errors_in_order():
    for text in (OLD_FORM, NEW_FORM):
        bedrock, anthropic = parse_error(text)
        assert (bedrock.provider, bedrock.rule, bedrock.group) == (
            "bedrock",
            "bedrock-no-explicit-caching",
            "claude-3-5-sonnet-20241022",
        )
        assert (anthropic.provider, anthropic.rule, anthropic.wire_index, anthropic.group) == (
            "anthropic",
            "tool-result-not-first",
            26,
            "anthropic/claude-3-5-sonnet-20241022",
        )
        assert anthropic.text == NOT_FIRST_26  # backticks stripped by the client, kept as said


def test_messages_26_cannot_be_in_the_logged_seed_so_the_failed_request_was_another():
    explained = explain(
        seed("openhands-6852-cache-removed-still-failing.json"),
        OLD_FORM,
        config=FIXTURES / "seed" / "proxy-config.yaml",
        group="claude-3-5-sonnet-20241022",
    )
    bedrock, anthropic = explained.errors
    assert anthropic.agrees is False and anthropic.message_index is None
    assert "7 messages once litellm has built" in anthropic.reason
    assert "the request that failed was not the one logged" in anthropic.reason
    # Judged as the seed's proxy sent it (markers and all), Bedrock's refusal is the prediction.
    assert bedrock.agrees is True


def test_the_litellm_failure_log_is_explained_from_the_error_it_carries():
    history = formats.read(formats.load_path(FIXTURES / "formats" / "litellm-standard-logging-failure.json"))[0]
    [error] = explain(history).errors
    assert error.error.wire_index == 26 and error.agrees is False
    assert "not the one logged" in error.reason


def test_an_error_the_prediction_foresaw_agrees_and_names_the_message():
    h = parse_request(
        {
            "messages": [
                {"role": "user", "content": "run it"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "toolu_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
                    ],
                },
                {"role": "user", "content": "I stopped it"},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "The action has not been executed."},
            ],
            "tools": [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}],
        },
        file="t",
    )
    error = ANTHROPIC.replace("messages.26", "messages.2")
    [explained] = explain(h, error).errors
    assert explained.agrees is True
    assert explained.message_index == 2 and explained.prediction.rule == "tool-result-not-first"


def test_a_text_it_does_not_know_is_said_plainly():
    [explained] = explain(
        seed("openhands-6852-proxy-vs-direct.json"),
        'litellm.BadRequestError: AnthropicException - {"error":{"message":"something new"}}',
    ).errors
    assert explained.agrees is None and "does not know" in explained.reason


def test_text_without_a_provider_error_explains_nothing():
    assert explain(seed("openhands-6852-proxy-vs-direct.json"), "Connection reset by peer").errors == []


# --- a pasted text is the viewer's: every pattern is linear in its length ----------------------------

HOSTILE_PASTES = {
    "index fragments": "messages.0.content.0: " * 3_000,
    "a run of digits": "1" * 65_000,
    "a run of dots": "." * 65_000,
    "a long word": "a" * 65_000,
    "max_tokens fragments": "max_tokens: 1 > 2 " * 3_600,
    "fallback fragments": "Fallback to x " * 4_600,
    "model group fragments": "model group 'a' failed with the error above. Fallback to " * 1_100,
    "nested JSON": '{"error":' * 7_000,
}


def test_a_hostile_64_kb_paste_is_read_whole_and_recognised():
    history = seed("openhands-6852-proxy-vs-direct.json")
    for name, filler in HOSTILE_PASTES.items():
        # The known text last, so that every pattern runs over the whole filler before it.
        text = f"litellm.BadRequestError: AnthropicException - {filler[: 63 * 1024]} {NOT_FIRST_26}"
        explained = explain(history, text)
        assert not explained.cut, name
        assert [(e.error.provider, e.error.rule) for e in explained.errors] == [
            ("anthropic", "tool-result-not-first")
        ], name
        assert explained.errors[0].error.wire_index == 26, name


def test_a_paste_past_64_kb_is_cut_and_the_explanation_says_so():
    text = ANTHROPIC + " " * 70_000 + "messages.3: all messages must have non-empty content"
    explained = explain(seed("openhands-6852-proxy-vs-direct.json"), text)
    assert explained.cut and [e.error.rule for e in explained.errors] == ["tool-result-not-first"]
    assert "cut at 64 KB" in explained.summary


def test_errors_past_the_twentieth_are_counted_not_compared():
    explained = explain(
        seed("openhands-6852-proxy-vs-direct.json"), "Error doing the fallback: ".join([ANTHROPIC] * 30)
    )
    assert len(explained.errors) == 20 and explained.left_out == 10
    assert len(explained.verdicts) == 1  # one target, judged once
