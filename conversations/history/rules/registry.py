"""Which rules judge which target, and how each target words Anthropic's validation errors.

Providers differ here and only here: a dict per target, no if/elif over provider names in the
rules. The order of a list is the order findings are reported in for one wire position.
"""

from __future__ import annotations

ANTHROPIC_PAIRING = (
    "tool-result-missing",
    "tool-result-not-first",
    "tool-result-orphan",
    "server-tool-result-orphan",
    "tool-use-id-duplicate",
    "tool-use-id-pattern",
)
ANTHROPIC_CONTENT = ("empty-message-content", "empty-text-block", "cache-control-on-empty-text", "system-empty-text")
ANTHROPIC_THINKING = (
    "thinking-missing-before-tool-use",
    "thinking-signature-missing",
    "thinking-text-missing",
    "thinking-signature-invalid",
    "thinking-in-final-without-thinking-enabled",
)
ANTHROPIC_CACHE = ("cache-control-too-many", "cache-ttl-order", "cache-below-minimum", "cache-on-synthetic-error")
ANTHROPIC_SIZE = ("context-overflow", "image-too-large", "too-many-images")
LITELLM = ("litellm-transform-error", "litellm-dummy-tool", "max-tokens-too-large", "litellm-merged-turns")

TARGET_RULES: dict[str, tuple[str, ...]] = {
    # The first-party API accepts an assistant message first and merges same-role turns.
    "anthropic": (
        *LITELLM,
        *ANTHROPIC_PAIRING,
        *ANTHROPIC_CONTENT,
        "invalid-role",
        "final-assistant-trailing-whitespace",
        "prefill-unsupported",
        *ANTHROPIC_THINKING,
        *ANTHROPIC_CACHE,
        *ANTHROPIC_SIZE,
    ),
    "bedrock-invoke": (
        *LITELLM,
        "first-message-not-user",
        "roles-not-alternating",
        *ANTHROPIC_PAIRING,
        *ANTHROPIC_CONTENT,
        "invalid-role",
        "final-assistant-trailing-whitespace",
        "prefill-unsupported",
        *ANTHROPIC_THINKING,
        "bedrock-no-explicit-caching",
        *ANTHROPIC_CACHE,
        "cache-markers-dropped",
        *ANTHROPIC_SIZE,
    ),
    "bedrock": (
        "litellm-transform-error",
        "litellm-merged-turns",
        "litellm-tools-as-text",
        "bedrock-first-not-user",
        "bedrock-roles-not-alternating",
        "bedrock-tool-result-count",
        "bedrock-tool-result-missing",
        "tool-result-not-first",
        "tool-result-orphan",
        "bedrock-toolconfig-required",
        "bedrock-blank-text",
        "bedrock-mixed-tool-result-turn",
        "thinking-missing-before-tool-use",
        "bedrock-no-explicit-caching",
        "cache-markers-dropped",
        "cache-control-too-many",
        "cache-below-minimum",
        "cache-on-synthetic-error",
        "context-overflow",
    ),
    "openai": (
        "litellm-transform-error",
        "openai-tool-response-missing",
        "openai-tool-orphan",
        "openai-tool-call-id-unknown",
        "openai-tool-call-id-too-long",
        "openai-too-many-messages",
        "openai-tool-name-too-long",
        "openai-context-overflow",
        "cache-markers-dropped",
    ),
    "gemini": (
        "litellm-transform-error",
        "litellm-merged-turns",
        "gemini-function-call-position",
        "gemini-function-response-count",
        "gemini-function-response-position",
        "gemini-empty-parts",
        "gemini-empty-part-data",
        "gemini-empty-text",
        "gemini-thought-signature-missing",
        "gemini-ends-with-model",
        "gemini-context-overflow",
        "cache-markers-dropped",
    ),
}

# Rules about the log and what the client's own resume does with it, not about a provider's
# request: judged the same for every target.
EVERY_TARGET = ("abandoned-tool-call", "parallel-results-off-chain")

# How a target returns Anthropic's own validation text. Bedrock InvokeModel: "The model returned
# the following errors: <anthropic message>" (anomalyco/opencode#3077, daisuke-awaji/moca#254);
# Converse passes Claude's errors on the same way (moca#254 for the context window; for the other
# Anthropic texts on Converse the wrapper is our best evidence, not a quote).
WRAPPERS: dict[str, str] = {
    "anthropic": "{}",
    "bedrock-invoke": "The model returned the following errors: {}",
    "bedrock": "The model returned the following errors: {}",
    "openai": "{}",
    "gemini": "{}",
}
