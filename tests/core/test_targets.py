"""Targets: which API a conversation goes to, and what that model can do."""

import pytest

from conversations.history.targets import TARGET_NAMES, UnknownTarget, resolve, target_for_model


@pytest.mark.parametrize(
    "name,provider,wire",
    [
        ("anthropic", "anthropic", "anthropic"),
        ("bedrock", "bedrock", "converse"),
        ("bedrock-invoke", "bedrock", "anthropic"),
        ("openai", "openai", "openai"),
        ("gemini", "gemini", "gemini"),
    ],
)
def test_every_target_resolves_to_its_provider_and_wire_format(name, provider, wire):
    target = resolve(name)
    assert (target.name, target.provider, target.wire_format, target.label) == (name, provider, wire, name)
    assert target.capability_source == "litellm"  # the default models are all in litellm's map


def test_an_unknown_target_is_a_clear_error_naming_the_known_ones():
    with pytest.raises(UnknownTarget) as raised:
        resolve("no-such-provider")
    assert "no-such-provider" in str(raised.value)
    assert all(name in str(raised.value) for name in TARGET_NAMES)


def test_a_litellm_proxy_prefix_is_stripped_and_the_model_kept():
    target = target_for_model("litellm_proxy/claude-3-5-sonnet-20241022")
    assert target.name == "anthropic"
    assert target.model == "anthropic/claude-3-5-sonnet-20241022"


@pytest.mark.parametrize(
    "model,name,api_model",
    [
        (
            "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
            "bedrock",
            "converse/anthropic.claude-3-5-sonnet-20241022-v2:0",
        ),
        (
            "bedrock/converse/anthropic.claude-3-5-sonnet-20241022-v2:0",
            "bedrock",
            "converse/anthropic.claude-3-5-sonnet-20241022-v2:0",
        ),
        (
            "bedrock/invoke/anthropic.claude-3-5-sonnet-20241022-v2:0",
            "bedrock-invoke",
            "invoke/anthropic.claude-3-5-sonnet-20241022-v2:0",
        ),
        ("gpt-4o", "openai", "gpt-4o"),
        ("gemini/gemini-2.5-pro", "gemini", "gemini-2.5-pro"),
        ("vertex_ai/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
    ],
)
def test_litellm_tells_the_provider_of_a_model_name(model, name, api_model):
    target = target_for_model(model)
    assert (target.name, target.api_model) == (name, api_model)


@pytest.mark.parametrize("model", [None, "", "openhands/some-agent-model", "no-such-model-xyz"])
def test_a_missing_or_unknown_model_gets_the_default_target(model):
    assert target_for_model(model).name == "anthropic"
    assert target_for_model(model, default="openai").name == "openai"


def test_retired_models_take_their_capabilities_from_the_cited_table():
    # litellm 1.110.2 no longer maps claude-3-5-sonnet-20241022 (ModelNotMappedError).
    claude = target_for_model("claude-3-5-sonnet-20241022")
    assert claude.capability_source.startswith("table")
    assert (claude.context_window, claude.max_output_tokens, claude.min_cacheable_tokens) == (200_000, 8_192, 1_024)
    assert claude.prompt_caching is True and claude.thinking is False
    gemini = target_for_model("gemini/gemini-1.5-pro")
    assert gemini.context_window == 2_097_152 and gemini.min_cacheable_tokens == 32_768


def test_mapped_models_take_their_capabilities_from_litellm():
    opus = target_for_model("claude-opus-4-6")
    assert opus.capability_source == "litellm"
    assert opus.prefill is False  # Opus 4.6 refuses assistant prefill
    assert opus.min_cacheable_tokens == 4_096
    assert opus.max_cache_breakpoints == 4
    assert target_for_model("gpt-4o").max_cache_breakpoints == 0  # OpenAI caches by itself


def test_a_model_nobody_knows_has_unknown_capabilities():
    target = resolve("openai", "openai/imaginary-model-9")
    assert target.capability_source == "unknown"
    assert target.context_window is None and target.prompt_caching is None
