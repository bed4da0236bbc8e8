"""Routes: every deployment a call to a model group could reach, in the order it is tried."""

import pytest

from conversations.history import formats
from conversations.history.routes import RouteError, check_route, load_config, route_deployments
from tests.support import FIXTURES

SEED_CONFIG = FIXTURES / "seed" / "proxy-config.yaml"
GROUP = "claude-3-5-sonnet-20241022"
SEEDS = sorted((FIXTURES / "seed").glob("openhands-6852-*.json"))


def seed(path):
    return formats.read(formats.load_path(path), format="openai")[0]


def test_the_seed_route_tries_bedrock_then_the_anthropic_fallback():
    route = route_deployments(load_config(SEED_CONFIG), GROUP)
    assert [d.model for d in route] == [
        "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
        "anthropic/claude-3-5-sonnet-20241022",
    ]
    assert route[0].model_info == {"supports_prompt_caching": False}


def test_a_verdict_per_deployment_names_the_group_and_the_model():
    verdicts = check_route(seed(SEEDS[0]), SEED_CONFIG, GROUP)
    assert [(v.target, v.provider) for v in verdicts] == [
        ("claude-3-5-sonnet-20241022 via bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0", "bedrock"),
        ("anthropic/claude-3-5-sonnet-20241022 via anthropic/claude-3-5-sonnet-20241022", "anthropic"),
    ]


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_the_seed_as_the_2025_proxy_sent_it_fails_on_bedrock_only_with_cache_markers(path):
    # OpenHands PR #6852: "BedrockException - You do not have access to explicit prompt caching".
    # That proxy's litellm ignored model_info and sent the markers.
    bedrock = check_route(seed(path), SEED_CONFIG, GROUP, litellm_reads_model_info=False)[0]
    texts = [f.provider_error for f in bedrock.errors]
    if "proxy-vs-direct" in path.name:
        assert bedrock.accepted
    else:
        assert texts == ["You do not have access to explicit prompt caching"]


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_litellm_1_110_drops_the_markers_for_that_deployment_and_bedrock_accepts(path):
    bedrock = check_route(seed(path), SEED_CONFIG, GROUP, litellm_reads_model_info=True)[0]
    assert bedrock.accepted
    dropped = [f for f in bedrock.findings if f.rule == "cache-markers-dropped"]
    assert bool(dropped) == ("proxy-vs-direct" not in path.name)


CONFIG = {
    "model_list": [
        {"model_name": "primary", "litellm_params": {"model": "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0"}},
        {
            "model_name": "primary",
            "litellm_params": {"model": "bedrock/invoke/anthropic.claude-3-5-sonnet-20241022-v2:0"},
        },
        {"model_name": "second", "litellm_params": {"model": "openai/gpt-4o"}},
        {"model_name": "third", "litellm_params": {"model": "gemini/gemini-2.5-pro"}},
    ],
    "litellm_settings": {"fallbacks": [{"primary": ["third", "second"]}]},
}


def test_the_groups_own_deployments_come_first_in_the_order_listed_then_each_fallback_group():
    route = route_deployments(CONFIG, "primary")
    assert [d.model for d in route] == [
        "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
        "bedrock/invoke/anthropic.claude-3-5-sonnet-20241022-v2:0",
        "gemini/gemini-2.5-pro",
        "openai/gpt-4o",
    ]


def test_a_group_without_fallbacks_is_its_own_route_and_default_fallbacks_apply():
    assert [d.group for d in route_deployments(CONFIG, "second")] == ["second"]
    config = dict(CONFIG, router_settings={"default_fallbacks": ["third"]}, litellm_settings={})
    assert [d.group for d in route_deployments(config, "second")] == ["second", "third"]


def test_an_unknown_group_names_the_groups_there_are():
    with pytest.raises(RouteError) as raised:
        route_deployments(CONFIG, "nope")
    assert "primary" in str(raised.value)


def test_a_config_without_a_model_list_is_refused():
    with pytest.raises(RouteError):
        load_config("general_settings: {}\n")
