"""What litellm itself does on the way (docs/litellm-notes.md)."""

from conversations.history import formats
from conversations.history.check import check
from conversations.history.formats.openai import parse_request
from conversations.history.targets import resolve
from tests.support import FIXTURES


def seed(name):
    return formats.read(formats.load_path(FIXTURES / "seed" / name), format="openai")[0]


def test_litellm_sends_a_max_tokens_an_unmapped_model_refuses():
    # litellm 1.110.2 does not map claude-3-5-sonnet-20241022 and sends max_tokens=128000. The
    # seed log does not say what the client passes, so it is a warning, not a certain rejection.
    verdict = check(
        seed("openhands-6852-proxy-vs-direct.json"), target=resolve("anthropic", "anthropic/claude-3-5-sonnet-20241022")
    )
    assert verdict.accepted
    [finding] = [f for f in verdict.findings if f.rule == "max-tokens-too-large"]
    assert finding.severity == "warning"
    assert finding.provider_error == (
        "max_tokens: 128000 > 8192, which is the maximum allowed number of output tokens for claude-3-5-sonnet-20241022"
    )
    assert finding.fix == "set-max-tokens"


def test_passing_max_tokens_fixes_it():
    h = parse_request({"max_tokens": 4096, "messages": [{"role": "user", "content": "hi"}]}, file="t")
    assert check(h, target=resolve("anthropic", "anthropic/claude-3-5-sonnet-20241022")).accepted


def test_litellm_adds_a_dummy_tool_when_the_history_has_tool_calls_but_no_tools():
    verdict = check(seed("openhands-6852-cache-removed-still-failing.json"), target="anthropic")
    assert ["litellm-dummy-tool"] == [f.rule for f in verdict.findings if f.rule.startswith("litellm")]
    assert not [
        f
        for f in check(seed("openhands-6852-proxy-vs-direct.json"), target="anthropic").findings
        if f.rule == "litellm-dummy-tool"
    ]


def test_a_request_litellm_refuses_to_build_is_rejected_with_litellms_words():
    h = parse_request(
        {"messages": [{"role": "user", "content": "go"}, {"role": "tool", "tool_call_id": "c9", "content": "x"}]},
        file="t",
    )
    [finding] = [f for f in check(h, target="gemini").errors if f.rule == "litellm-transform-error"]
    assert "Missing corresponding tool call for tool response message" in finding.provider_error
