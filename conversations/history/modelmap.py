"""litellm's model map and provider names, read without importing litellm.

Importing litellm takes seconds; a check of one file must not wait for it. What a check needs from
litellm before building a request is small: which provider a model string names
(litellm.get_llm_provider) and what the model can do (litellm.get_model_info: context window,
output limit, prompt caching...). Both come from the JSON file litellm bundles
(model_prices_and_context_window_backup.json, the one litellm itself reads when
LITELLM_LOCAL_MODEL_COST_MAP=True), found with importlib.util.find_spec, so litellm's own upgrades
bring their data with them. The lookups below replay litellm's for the providers we target;
tests/core/test_modelmap.py holds them to litellm's answers over every key of the map and every
model the fixtures name.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAP_FILE = "model_prices_and_context_window_backup.json"

# Providers whose names a check reads (targets.PROVIDER_TARGETS and the routes' deployments),
# plus the prefixes litellm takes as a provider though no model of the map names them.
KNOWN_PREFIXES = frozenset(
    {
        "anthropic",
        "anthropic_text",
        "azure",
        "azure_ai",
        "bedrock",
        "deepseek",
        "fireworks_ai",
        "gemini",
        "groq",
        "litellm_proxy",
        "mistral",
        "openai",
        "openrouter",
        "text-completion-openai",
        "together_ai",
        "vertex_ai",
        "vertex_ai_beta",
        "xai",
    }
)
# Providers of the map that are no prefix litellm routes by (its provider_list lacks them).
NOT_PREFIXES = frozenset({"bedrock_converse"})

# The map's providers whose models get_llm_provider finds by their bare name, and the provider it
# answers for them (litellm's per-provider model lists).
LISTED = {
    "text-completion-openai": "text-completion-openai",
    "anthropic": "anthropic",
    "cohere": "cohere",
    "cohere_chat": "cohere_chat",
    "openrouter": "openrouter",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "watsonx": "watsonx",
    "empower": "empower",
    "gradient_ai": "gradient_ai",
}
VERTEX_LISTS = frozenset(
    f"vertex_ai-{kind}-models"
    for kind in ("text", "code-text", "language", "vision", "chat", "code-chat", "embedding", "image", "video")
)

DATED_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
STABLE_VERSION = re.compile(r"-\d+$")
FINETUNE_SUFFIX = re.compile(r"(:[^:]*){3}$")
BEDROCK_ROUTES = ("bedrock/", "chat_completions/", "converse/", "invoke/", "openai/", "mantle/", "nova-2/", "nova/")
BEDROCK_GEOS = ("global", "us", "eu", "apac", "jp", "au", "us-gov")
BEDROCK_REGION = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d$")
THROUGHPUT = re.compile(r"(:\d+):\d+k$")
WINDOW_SUFFIX = re.compile(r"\[\w+\]$")


class ModelMapMissing(RuntimeError):
    """litellm (and so its model map) is not installed."""


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    info: dict[str, Any]
    fill_for: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ModelMap:
    entries: dict[str, dict[str, Any]]
    lower: dict[str, str]
    aliases: dict[str, str]  # an alias row's name -> the name of the row it stands for
    prefixes: frozenset[str]
    routing: tuple[tuple[re.Pattern[str], str], ...]
    capability: tuple[Rule, ...]

    def key(self, name: str) -> str | None:
        """The map's key for `name`, exactly or else ignoring case (litellm's get_model_cost_key)."""
        if name in self.entries:
            return name
        return self.lower.get(name.lower())


def litellm_dir() -> Path:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMapMissing("litellm is not installed: its model map is where model capabilities come from")
    return Path(next(iter(spec.submodule_search_locations)))


def installed_litellm() -> str | None:
    """The installed litellm's version (from its metadata: litellm is not imported)."""
    try:
        return importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def load() -> ModelMap:
    raw = json.loads((litellm_dir() / MAP_FILE).read_bytes())
    return build(raw)


def build(raw: dict[str, Any]) -> ModelMap:
    """The map as litellm serves it: the fallback rules taken out, alias rows resolved."""
    rules = (raw.pop("fallback_generalizations", None) or {}).get("rules") or []
    raw.pop("sample_spec", None)
    entries = {k: v for k, v in raw.items() if isinstance(v, dict)}
    aliases = _aliases(entries)
    for alias, owner in aliases.items():
        entries[alias] = entries[owner]
    providers = {v.get("litellm_provider") for v in entries.values()}
    prefixes = {p for p in providers if isinstance(p, str) and "-" not in p and " " not in p} - NOT_PREFIXES
    lower: dict[str, str] = {}
    for k in entries:
        lower.setdefault(k.lower(), k)
    routing, capability = _rules(rules)
    return ModelMap(entries, lower, aliases, frozenset(prefixes | KNOWN_PREFIXES), routing, capability)


def _aliases(entries: dict[str, dict[str, Any]]) -> dict[str, str]:
    """litellm's _expand_model_aliases: a row {"alias_of": name} stands for that row, and a row's
    `aliases` list adds names for it (never over a row of its own)."""
    pointers = {name: info["alias_of"] for name, info in entries.items() if isinstance(info.get("alias_of"), str)}
    owners: dict[str, str] = {}
    for name, info in entries.items():
        listed = info.get("aliases")
        if name in pointers or not isinstance(listed, list):
            continue
        for alias in listed:
            if (alias in entries and alias not in pointers) or alias in owners:
                continue
            owners[alias] = name
    for alias, target in pointers.items():
        if target in entries and target not in pointers and alias not in owners:
            owners[alias] = target
    for name, info in entries.items():
        if "aliases" in info and name not in pointers:
            entries[name] = {k: v for k, v in info.items() if k != "aliases"}
    for alias in set(pointers) - set(owners):
        del entries[alias]
    return owners


def _rules(rules: Iterable[Any]) -> tuple[tuple[tuple[re.Pattern[str], str], ...], tuple[Rule, ...]]:
    routing: list[tuple[re.Pattern[str], str]] = []
    capability: list[Rule] = []
    for rule in rules:
        if not isinstance(rule, dict) or "extends" in rule:
            continue
        pattern, info = rule.get("pattern"), rule.get("model_info")
        if not isinstance(pattern, str) or not isinstance(info, dict):
            continue
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error:
            continue
        fill = rule.get("fill_missing_for_providers", [])
        if not isinstance(fill, list):
            continue
        if "litellm_provider" not in info:
            capability.append(Rule(compiled, info, frozenset(fill)))
        elif isinstance(info["litellm_provider"], str) and len(info) == 1:
            routing.append((compiled, info["litellm_provider"]))
    return tuple(routing), tuple(capability)


# --- provider names (litellm.get_llm_provider) ---------------------------------------------------


def provider_of(model: str) -> tuple[str | None, str]:
    """(litellm's provider for `model`, the model without its provider prefix); None when
    litellm could not place it."""
    m = load()
    prefix, slash, rest = model.partition("/")
    if prefix == "azure" and _azure_hosts_other(m, rest):
        return "openai", model  # litellm sends Azure's Cohere and Mistral models the OpenAI way
    if slash and prefix in m.prefixes and prefix not in m.entries:
        return prefix, _latest(m, rest, prefix)
    provider = _listed_provider(m, model)
    if provider is None:
        provider = next((p for pattern, p in m.routing if pattern.search(model)), None)
    if provider is None:
        return None, model
    return provider, _latest(m, model, provider)


def _azure_hosts_other(m: ModelMap, model: str) -> bool:
    entry = m.entries.get(model)
    mistral = m.entries.get(f"mistral/{model}")
    return (entry is not None and entry.get("litellm_provider") == "cohere_chat") or (
        mistral is not None and mistral.get("litellm_provider") == "mistral"
    )


def _listed_provider(m: ModelMap, model: str) -> str | None:
    """The provider of the per-provider model lists get_llm_provider reads for a bare name
    (litellm builds them from the map; not every provider has one)."""
    if "ft:gpt-3.5-turbo" in model or "ft:gpt-4" in model or model.startswith("gpt-image"):
        return "openai"
    entry = m.entries.get(model)
    provider = entry.get("litellm_provider") if entry is not None else None
    if not isinstance(provider, str):
        return None
    if provider == "openai":
        return None if model.startswith("ft:") else "openai"
    if provider in VERTEX_LISTS:
        return "vertex_ai"
    return LISTED.get(provider)


def _latest(m: ModelMap, model: str, provider: str) -> str:
    """litellm resolves a `-latest` alias row to the name it stands for."""
    for key in (f"{provider}/{model}", model):
        owner = m.aliases.get(key)
        if owner is None:
            continue
        prefix, slash, _ = key.partition("/")
        own = prefix if slash and prefix in m.prefixes else m.entries[owner].get("litellm_provider")
        if own == provider:
            return owner.removeprefix(f"{provider}/")
    return model


# --- capabilities (litellm.get_model_info) ----------------------------------------------------------


def model_info(model: str) -> dict[str, Any] | None:
    """What litellm.get_model_info(model) reads from the map for `model`, or None where it raises."""
    m = load()
    provider, split = provider_of(model)
    candidates = _candidates(model, provider, split)
    for name in candidates:
        key = m.key(name)
        if key is None:
            continue
        info = m.entries[key]
        if _provider_matches(info, provider):
            return {**_fill_missing(m, key, info), **info}
    if any(m.key(name) is not None for name in candidates):
        return None
    for name in candidates:
        matched = [r.info for r in m.capability if r.pattern.search(name)]
        if matched:
            info = {k: v for i in matched for k, v in i.items()}
            return info if provider is None else {**info, "litellm_provider": provider}
    return None


def _candidates(model: str, provider: str | None, split: str) -> list[str]:
    stripped = _stripped(model, provider)
    if provider in ("bedrock", "bedrock_converse"):
        split = _bedrock_id(split)
    return [model, model, model, split, stripped, stripped, model]


def _stripped(model: str, provider: str | None) -> str:
    if provider in ("bedrock", "bedrock_converse"):
        return _bedrock_base(model)
    if provider in ("vertex_ai", "gemini", "databricks"):
        return STABLE_VERSION.sub("", model)
    if "ft:" in model:
        return FINETUNE_SUFFIX.sub("", model)
    return DATED_SUFFIX.sub("", model)


def _bedrock_routes(model: str) -> str:
    for prefix in BEDROCK_ROUTES:
        if model.startswith(prefix):
            model = model.split("/", 1)[1]
    return model


def _bedrock_id(model: str) -> str:
    """The id litellm looks a Bedrock model up by: no route, no region path, an ARN's last part."""
    model = _bedrock_routes(model)
    region, slash, rest = model.partition("/")
    if slash and BEDROCK_REGION.match(region):
        model = rest
    return model.split("/")[-1] if model.startswith("arn:") else model


def _bedrock_base(model: str) -> str:
    """litellm's get_bedrock_base_model: no route, ARN, throughput suffix, geography or region."""
    model = _bedrock_routes(model)
    if "arn" in model.lower():
        model = model.split("/")[-1]
    model = THROUGHPUT.sub(r"\1", model)
    model = WINDOW_SUFFIX.sub("", model)
    geo, dot, rest = model.partition(".")
    if dot and geo in BEDROCK_GEOS:
        return rest
    region, slash, rest = model.partition("/")
    if slash and BEDROCK_REGION.match(region):
        return rest
    return model


def _provider_matches(info: dict[str, Any], provider: str | None) -> bool:
    own = info.get("litellm_provider")
    if not provider or own is None or own == provider:
        return True
    if provider == "vertex_ai" and own.startswith("vertex_ai"):
        return True
    if provider == "fireworks_ai" and own.startswith("fireworks_ai"):
        return True
    if provider.startswith("bedrock") and own.startswith("bedrock"):
        return True
    if provider == "azure_ai" and own in ("azure", "openai"):
        return True
    return provider in ("litellm_proxy", "github", "nadir")


def _fill_missing(m: ModelMap, key: str, info: dict[str, Any]) -> dict[str, Any]:
    provider = info.get("litellm_provider", "")
    if not isinstance(provider, str) or not provider or info.get("mode", "chat") not in ("chat", "responses"):
        return {}
    return {k: v for r in m.capability if provider in r.fill_for and r.pattern.search(key) for k, v in r.info.items()}
