"""modelmap: litellm's provider names and model capabilities without importing litellm, held to
litellm's own answers (get_llm_provider, get_model_info) over every key of its model map and every
model the fixtures, the targets and the route config name."""

import functools
import subprocess
import sys

import pytest
import yaml

from conversations.history import formats, modelmap
from conversations.history.errors import HistoryError
from conversations.history.targets import PROFILES, PROVIDER_TARGETS, RETIRED, capabilities, make_target
from tests.support import FIXTURES

# The providers a check judges (and so must name as litellm does).
TARGETED = set(PROVIDER_TARGETS)
# What a check reads of get_model_info.
FIELDS = (
    "max_input_tokens",
    "max_output_tokens",
    "supports_prompt_caching",
    "supports_reasoning",
    "prompt_cache_min_tokens",
    "supports_assistant_prefill",
)
# Providers whose provider lookup in litellm starts an OAuth device flow (a network call).
AUTHENTICATING = ("github_copilot", "chatgpt")
# Providers of the map whose models reach a target's wire format.
WIRE_PROVIDERS = {
    "anthropic": "anthropic",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "openai": "openai",
    "azure": "azure",
    "gemini": "gemini",
    "vertex_ai-anthropic_models": "vertex_ai",
    "vertex_ai-language-models": "vertex_ai",
}


@functools.cache
def litellm():
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def theirs_provider(model):
    try:
        bare, provider, _, _ = litellm().get_llm_provider(model)
    except Exception:
        return None
    return provider, bare


def theirs_info(model):
    try:
        info = litellm().get_model_info(model)
    except Exception:
        return None
    return {f: info.get(f) for f in FIELDS}


def ours_info(model):
    info = modelmap.model_info(model)
    return None if info is None else {f: info.get(f) for f in FIELDS}


@functools.cache
def fixture_models():
    models = {model for _, _, model in PROFILES.values()} | set(RETIRED)
    for path in sorted(FIXTURES.rglob("*")):
        if path.suffix not in (".json", ".jsonl") or "events" in path.parts or "wire" in path.parts:
            continue
        try:
            histories = formats.read(formats.load_path(path))
        except HistoryError:
            continue
        models |= {h.model for h in histories if h.model}
    for config in FIXTURES.rglob("*.yaml"):
        for entry in (yaml.safe_load(config.read_text()) or {}).get("model_list") or []:
            models.add(entry["litellm_params"]["model"])
            models.add(entry["model_name"])
    return sorted(models)


def map_keys():
    return [k for k in modelmap.load().entries if k.split("/")[0] not in AUTHENTICATING]


def test_the_fixtures_name_models_to_hold_the_lookups_to():
    assert "anthropic/claude-3-5-sonnet-20241022" in fixture_models()
    assert len(map_keys()) > 1000


def test_provider_names_are_litellms_for_every_key_of_its_map_and_every_fixture_model():
    wrong = []
    for model in map_keys() + fixture_models():
        theirs, ours = theirs_provider(model), modelmap.provider_of(model)
        ours = None if ours[0] is None else ours
        if (theirs and theirs[0] in TARGETED or ours and ours[0] in TARGETED) and theirs != ours:
            wrong.append((model, theirs, ours))
    assert not wrong, wrong[:20]


def test_capabilities_are_litellms_for_every_model_of_a_target_and_every_fixture_model():
    entries = modelmap.load().entries
    names = set(fixture_models())
    for key, info in entries.items():
        provider = WIRE_PROVIDERS.get(info.get("litellm_provider"))
        if provider:
            names |= {key, f"{provider}/{key.split('/', 1)[-1]}"}
    wrong = [(m, theirs_info(m), ours_info(m)) for m in sorted(names) if theirs_info(m) != ours_info(m)]
    assert not wrong, wrong[:20]
    assert len(names) > 1000


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_each_targets_default_model_has_its_capabilities_from_the_map(name):
    target = make_target(name, PROFILES[name][2])
    assert target.capability_source == "litellm" and target.context_window


def test_a_retired_model_falls_back_to_the_documented_table():
    caps, source = capabilities("anthropic/claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet-20241022")
    assert source.startswith("table") and caps["context_window"] == 200_000


def test_the_map_is_litellms_own_bundled_file():
    path = modelmap.litellm_dir() / modelmap.MAP_FILE
    assert path.is_file()
    import litellm as real

    assert path.parent == modelmap.litellm_dir() and real.__file__.startswith(str(path.parent))


def test_reading_the_map_and_the_targets_does_not_import_litellm():
    code = (
        "import sys; from conversations.history import targets; "
        "t = targets.target_for_model('bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0'); "
        "assert t.context_window, t; print('litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
