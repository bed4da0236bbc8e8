"""Provider targets: which API a history would be sent to, through which litellm model, and what
that model can do (prompt caching, breakpoints, thinking, context window, minimum cacheable size).

Capabilities come from litellm's bundled model map (offline, read by modelmap.py without importing
litellm). For retired models the map no longer lists (claude-3-5-sonnet-20241022 and gemini-1.5-pro
in litellm 1.110.2) they come from RETIRED, each value with its source; anything else stays None
("unknown") rather than a guess.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from . import modelmap
from .errors import HistoryError

# name -> (provider as users say it, wire format litellm produces, default litellm model)
PROFILES: dict[str, tuple[str, str, str]] = {
    "anthropic": ("anthropic", "anthropic", "anthropic/claude-sonnet-4-5"),
    "bedrock": ("bedrock", "converse", "bedrock/converse/anthropic.claude-sonnet-4-5-20250929-v1:0"),
    "bedrock-invoke": ("bedrock", "anthropic", "bedrock/invoke/anthropic.claude-sonnet-4-5-20250929-v1:0"),
    "openai": ("openai", "openai", "openai/gpt-4o"),
    "gemini": ("gemini", "gemini", "gemini/gemini-2.5-pro"),
}
TARGET_NAMES = tuple(PROFILES)

# Maximum cache breakpoints per request, by wire format. Anthropic: "A maximum of 4 blocks with
# cache_control may be provided" (tghamm/Anthropic.SDK#50; same on Vertex, envoyproxy/ai-gateway
# PR #1712). Converse: 4 cache checkpoints (AWS Bedrock user guide, prompt-caching.html). OpenAI
# caches automatically and litellm strips markers. Gemini: litellm turns the first run of marked
# messages into one cachedContents entry: no per-marker limit.
MAX_BREAKPOINTS = {"anthropic": 4, "converse": 4, "openai": 0, "gemini": None}

# Retired models litellm 1.110.2 no longer maps. Sources:
# [A] Anthropic models overview / deprecations (docs.anthropic.com/en/docs/about-claude/models):
#     Claude 3.5 Sonnet v2 and 3.5 Haiku: 200K context, 8,192 max output, no extended thinking;
#     Claude 3.7 Sonnet: 200K, extended thinking.
# [B] Anthropic prompt caching docs, "Cache limitations": minimum cacheable length 1,024 tokens
#     for Sonnet/Opus 3.x, 2,048 for Haiku 3/3.5.
# [C] Google AI "Gemini models" (ai.google.dev/gemini-api/docs/models, 1.5 Pro): 2,097,152 input
#     tokens, 8,192 output; context caching docs for 1.5: minimum 32,768 tokens per cache.
RETIRED: dict[str, dict[str, Any]] = {
    "claude-3-5-sonnet-20241022": {
        "provider": "anthropic",
        "context_window": 200_000,
        "max_output_tokens": 8_192,
        "prompt_caching": True,
        "thinking": False,
        "min_cacheable_tokens": 1_024,
        "prefill": True,
        "source": "[A] [B]",
    },
    "claude-3-5-sonnet-20240620": {
        "provider": "anthropic",
        "context_window": 200_000,
        "max_output_tokens": 8_192,
        "prompt_caching": True,
        "thinking": False,
        "min_cacheable_tokens": 1_024,
        "prefill": True,
        "source": "[A] [B]",
    },
    "claude-3-5-haiku-20241022": {
        "provider": "anthropic",
        "context_window": 200_000,
        "max_output_tokens": 8_192,
        "prompt_caching": True,
        "thinking": False,
        "min_cacheable_tokens": 2_048,
        "prefill": True,
        "source": "[A] [B]",
    },
    "claude-3-7-sonnet-20250219": {
        "provider": "anthropic",
        "context_window": 200_000,
        "max_output_tokens": 64_000,
        "prompt_caching": True,
        "thinking": True,
        "min_cacheable_tokens": 1_024,
        "prefill": True,
        "source": "[A] [B]",
    },
    "gemini-1.5-pro": {
        "provider": "gemini",
        "context_window": 2_097_152,
        "max_output_tokens": 8_192,
        "prompt_caching": True,
        "thinking": False,
        "min_cacheable_tokens": 32_768,
        "prefill": None,
        "source": "[C]",
    },
}

# litellm's provider names -> our target names. Vertex AI serves Claude with Anthropic's own
# messages, and OpenAI-compatible providers answer with OpenAI's texts (docs/provider-rules.md s.3).
PROVIDER_TARGETS = {
    "anthropic": "anthropic",
    "vertex_ai-anthropic": "anthropic",
    "gemini": "gemini",
    "vertex_ai": "gemini",
    "vertex_ai_beta": "gemini",
    "bedrock": "bedrock",
    "openai": "openai",
    "azure": "openai",
    "text-completion-openai": "openai",
    "deepseek": "openai",
    "openrouter": "openai",
    "together_ai": "openai",
    "groq": "openai",
    "fireworks_ai": "openai",
    "mistral": "openai",
    "xai": "openai",
}


class UnknownTarget(HistoryError):
    """A target name that is not one of TARGET_NAMES."""


@dataclass(frozen=True, slots=True)
class Target:
    """A provider profile. `model` is the litellm model string ("anthropic/claude-sonnet-4-5");
    `api_model` what litellm's transformations take (no provider prefix, Bedrock route kept);
    `label` names it in a verdict ("anthropic", or "<group> via <model>" for a route).
    Capabilities are None when unknown."""

    name: str
    provider: str
    wire_format: str
    model: str
    llm_provider: str
    api_model: str
    label: str
    prompt_caching: bool | None = None
    max_cache_breakpoints: int | None = None
    thinking: bool | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    min_cacheable_tokens: int | None = None
    prefill: bool | None = None
    capability_source: str = "unknown"
    # The deployment's model_info, passed to litellm as a Router would (it changes what is sent).
    model_info: dict[str, Any] | None = None
    # litellm 1.110.2 drops Converse cachePoints when the model (map or model_info) has no
    # prompt caching; False replays an older litellm that sent them anyway.
    litellm_drops_markers: bool = True

    def with_model(self, model: str) -> Target:
        """The same target through another litellm model (capabilities re-read)."""
        return make_target(self.name, model, label=self.label)

    def replace(self, **changes: Any) -> Target:
        return dataclasses.replace(self, **changes)


def resolve(name: str, model: str | None = None) -> Target:
    """The target called `name` (one of TARGET_NAMES), through `model` when given."""
    if name not in PROFILES:
        raise UnknownTarget(f"unknown target {name!r}; known targets: {', '.join(TARGET_NAMES)}")
    return make_target(name, model or PROFILES[name][2], label=name)


@functools.lru_cache(maxsize=256)
def make_target(name: str, model: str, *, label: str | None = None) -> Target:
    provider, wire_format, _ = PROFILES[name]
    llm_provider, api_model = _split_model(name, model)
    caps, source = capabilities(model, llm_provider, api_model)
    return Target(
        name=name,
        provider=provider,
        wire_format=wire_format,
        model=model,
        llm_provider=llm_provider,
        api_model=api_model,
        label=label or name,
        max_cache_breakpoints=MAX_BREAKPOINTS[wire_format],
        capability_source=source,
        **caps,
    )


def target_for_model(model: str | None, default: str = "anthropic") -> Target:
    """The target a conversation's own model would be sent to; `default` when the model is
    missing or unknown. A `litellm_proxy/` prefix (a client talking to a litellm proxy) is
    stripped: the proxy sends the rest on."""
    if not model:
        return resolve(default)
    model = model.removeprefix("litellm_proxy/")
    name, full = _target_name(model)
    if name is None:
        return resolve(default)
    return resolve(name, full)


def own_target(model: str | None, default: str = "anthropic") -> tuple[Target, str | None]:
    """target_for_model, and the note a verdict carries when the model is missing or unknown
    and the target is `default` ("model unknown: judged as anthropic")."""
    target = target_for_model(model, default=default)
    known = bool(model) and _target_name(model.removeprefix("litellm_proxy/"))[0] is not None  # type: ignore[union-attr]
    return target, None if known else f"model unknown: judged as {target.label}"


def provider_of(model: str) -> tuple[str | None, str]:
    """litellm's provider for a model string, and the model without its prefix (modelmap replays
    litellm.get_llm_provider without importing litellm)."""
    provider, bare = modelmap.provider_of(model)
    if provider is None:  # a name litellm cannot place
        retired = RETIRED.get(model.split("/")[-1])
        return (retired["provider"] if retired else None), model.split("/")[-1]
    return provider, bare


def _target_name(model: str) -> tuple[str | None, str]:
    provider, bare = provider_of(model)
    if provider == "bedrock":
        if bare.startswith("invoke/"):
            return "bedrock-invoke", f"bedrock/{bare}"
        return "bedrock", f"bedrock/{bare}"
    if provider in ("vertex_ai", "vertex_ai_beta") and "claude" in bare:
        return "anthropic", f"{provider}/{bare}"
    name = PROVIDER_TARGETS.get(provider or "")
    if name is None:
        return None, model
    return name, f"{provider}/{bare}" if "/" not in model else model


def _split_model(name: str, model: str) -> tuple[str, str]:
    """(litellm provider, the model as transformations take it)."""
    provider, bare = provider_of(model)
    if name.startswith("bedrock"):
        route = "invoke/" if name == "bedrock-invoke" else "converse/"
        if not bare.startswith(("invoke/", "converse/")):
            bare = route + bare
        return "bedrock", bare
    return provider or PROFILES[name][0], bare


def capabilities(model: str, llm_provider: str, api_model: str) -> tuple[dict[str, Any], str]:
    """Capabilities from litellm's map, else from RETIRED, else unknown."""
    info = _model_info(model) or _model_info(f"{llm_provider}/{api_model.split('/', 1)[-1]}")
    if info:
        return {
            "prompt_caching": info.get("supports_prompt_caching"),
            "thinking": info.get("supports_reasoning"),
            "context_window": info.get("max_input_tokens"),
            "max_output_tokens": info.get("max_output_tokens"),
            "min_cacheable_tokens": info.get("prompt_cache_min_tokens") or _anthropic_minimum(model),
            "prefill": info.get("supports_assistant_prefill"),
        }, "litellm"
    retired = RETIRED.get(api_model.split("/")[-1])
    if retired:
        return {
            k: retired[k]
            for k in (
                "prompt_caching",
                "thinking",
                "context_window",
                "max_output_tokens",
                "min_cacheable_tokens",
                "prefill",
            )
        }, f"table {retired['source']}"
    return {}, "unknown"


def _anthropic_minimum(model: str) -> int | None:
    """Anthropic's documented minimum cacheable prompt length where litellm's map has none
    (Bedrock ids): 2,048 for Haiku 3/3.5, 4,096 for Opus 4.5+/Haiku 4.5, else 1,024
    (Anthropic prompt caching docs; AWS Bedrock prompt caching user guide)."""
    name = model.lower()
    if "claude" not in name:
        return None
    if "haiku-4" in name or "opus-4-5" in name or "opus-4-6" in name:
        return 4_096
    if "haiku" in name:
        return 2_048
    return 1_024


def _model_info(model: str) -> dict[str, Any] | None:
    """litellm.get_model_info(model) as modelmap replays it from litellm's own map (None: the map
    has no entry, where litellm raises ModelNotMappedError)."""
    return modelmap.model_info(model)
