"""Prompt caching (docs/provider-rules.md s.1 "Prompt caching", s.2a, s.2b)."""

from conversations.history import formats
from conversations.history.check import check, check_body
from conversations.history.formats import anthropic as anthropic_format
from conversations.history.formats.openai import parse_request
from conversations.history.routes import Deployment, deployment_target
from conversations.history.targets import resolve
from tests.support import FIXTURES

EPHEMERAL = {"type": "ephemeral"}


def marked(n, ttl=None):
    """A history with n text blocks carrying cache markers (system + alternating turns)."""
    cache = dict(EPHEMERAL, **({"ttl": ttl} if ttl else {}))
    messages = [{"role": "system", "content": [{"type": "text", "text": "Be brief.", "cache_control": cache}]}]
    for i in range(n - 1):
        messages.append(
            {
                "role": "user" if i % 2 == 0 else "assistant",
                "content": [{"type": "text", "text": f"turn {i}", "cache_control": cache}],
            }
        )
    if messages[-1]["role"] == "assistant" or len(messages) == 1:
        messages.append({"role": "user", "content": "go on"})
    return parse_request({"messages": messages}, file="t")


def seed(name):
    return formats.read(formats.load_path(FIXTURES / "seed" / name), format="openai")[0]


def test_five_cache_breakpoints_are_rejected():
    # tghamm/Anthropic.SDK#50: litellm passes the fifth one through (no drop_params).
    [finding] = check(marked(5), target="anthropic").errors
    assert finding.provider_error == "A maximum of 4 blocks with cache_control may be provided. Found 5."
    assert finding.fix == "trim-cache-markers"


def test_four_cache_breakpoints_are_accepted():
    assert check(marked(4), target="anthropic").accepted


def test_converse_counts_its_cache_points_the_same_way():
    assert [f.rule for f in check(marked(5), target="bedrock").errors] == ["cache-control-too-many"]


def test_a_one_hour_breakpoint_after_a_five_minute_one_is_rejected():
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": EPHEMERAL}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            }
        ],
    }
    verdict = check_body(anthropic_format.parse_request(body, file="t"), body, target="anthropic")
    assert [f.provider_error for f in verdict.errors] == [
        "messages.0.content.0.cache_control.ttl: a ttl='1h' cache_control block must not come after "
        "a ttl='5m' cache_control block."
    ]


def test_longer_ttls_first_is_accepted():
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": EPHEMERAL}]}],
    }
    assert check_body(anthropic_format.parse_request(body, file="t"), body, target="anthropic").accepted


def test_a_breakpoint_under_the_minimum_is_information_not_a_rejection():
    # strands-agents/harness-sdk#1404: accepted, cache_creation_input_tokens 0.
    verdict = check(seed("openhands-6852-cache-removed-still-failing.json"), target="anthropic")
    below = [f for f in verdict.findings if f.rule == "cache-below-minimum"]
    assert below and all(f.severity == "info" and f.fix == "none" for f in below)
    assert verdict.accepted


def test_a_breakpoint_after_a_long_prefix_is_not_reported():
    # The seed with its tools: the system breakpoint closes ~2,500 tokens of tool definitions.
    verdict = check(seed("openhands-6852-cache-on-tool-message.json"), target="anthropic")
    assert not [f for f in verdict.findings if f.rule == "cache-below-minimum"]


def test_a_cache_marker_on_a_synthetic_error_result_is_a_warning_on_every_target_that_sends_it():
    history = seed("openhands-6852-cache-on-tool-message.json")
    for name in ("anthropic", "bedrock", "bedrock-invoke"):
        [finding] = [f for f in check(history, target=name).findings if f.rule == "cache-on-synthetic-error"]
        assert finding.severity == "warning" and finding.message_index == 6


def test_the_same_history_without_that_marker_has_no_such_warning():
    verdict = check(seed("openhands-6852-cache-removed-still-failing.json"), target="anthropic")
    assert not [f for f in verdict.findings if f.rule == "cache-on-synthetic-error"]


SEED_BEDROCK = Deployment(
    "claude-3-5-sonnet-20241022",
    "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
    {"supports_prompt_caching": False},
)


def test_cache_markers_reaching_an_account_without_caching_are_rejected():
    # BerriAI/litellm#7218 and the seed: Bedrock without explicit prompt caching.
    invoke = deployment_target(
        Deployment("g", "bedrock/invoke/anthropic.claude-3-5-sonnet-20241022-v2:0", {"supports_prompt_caching": False})
    )
    [finding] = check(seed("openhands-6852-cache-on-tool-message.json"), target=invoke).errors
    assert finding.provider_error == "You do not have access to explicit prompt caching"
    assert check(seed("openhands-6852-proxy-vs-direct.json"), target=invoke).accepted


def test_litellm_drops_converse_cache_points_for_such_a_deployment_and_warns_instead():
    verdict = check(
        seed("openhands-6852-cache-on-tool-message.json"),
        target=deployment_target(SEED_BEDROCK, litellm_reads_model_info=True),
    )
    assert verdict.accepted
    [finding] = [f for f in verdict.findings if f.rule == "cache-markers-dropped"]
    assert finding.severity == "warning" and "You do not have access to explicit prompt caching" in finding.explanation


def test_an_older_litellm_that_sent_them_gets_the_rejection():
    target = deployment_target(SEED_BEDROCK, litellm_reads_model_info=False)
    [finding] = check(seed("openhands-6852-cache-on-tool-message.json"), target=target).errors
    assert finding.rule == "bedrock-no-explicit-caching"


def test_markers_litellm_strips_for_openai_are_information():
    verdict = check(seed("openhands-6852-cache-on-tool-message.json"), target="openai")
    [finding] = [f for f in verdict.findings if f.rule == "cache-markers-dropped"]
    assert finding.severity == "info" and verdict.accepted
    assert not [
        f
        for f in check(seed("openhands-6852-proxy-vs-direct.json"), target="openai").findings
        if f.rule == "cache-markers-dropped"
    ]


def test_a_bedrock_model_with_caching_keeps_its_markers():
    verdict = check(
        seed("openhands-6852-cache-on-tool-message.json"),
        target=resolve("bedrock", "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0"),
    )
    assert verdict.accepted
    assert not [f for f in verdict.findings if f.rule in ("cache-markers-dropped", "bedrock-no-explicit-caching")]
