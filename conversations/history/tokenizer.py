"""The tokenizer litellm's token counter uses for a model, loaded without importing litellm.

The size rule estimates a request's tokens from a sample of its text (tokens.py); the sample is
tokenized the way litellm.token_counter(model=..., text=...) tokenizes text, so the estimate is off
only by what the sample misses. litellm picks a bundled HuggingFace tokenizer for some models
(Anthropic's for Claude models it lists by their bare name, DeepSeek's) and tiktoken for the
rest, encoding text in chunks of 1,024 characters; both tokenizer files ship inside litellm's
package, which is found with importlib (litellm is not imported). tests/core/test_tokenizer.py
holds the counts to litellm's own for every target's model and every model the fixtures name.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any

from . import modelmap

CHUNK = 1024  # litellm's TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS: tiktoken is quadratic in a long piece
DEEPSEEK = re.compile(r"deepseek[-_.](?:chat[-_.])?v[34]|(?:^|/)deepseek-(?:chat|reasoner|flash)(?::free)?$", re.I)
OPENAI_VERSIONED = re.compile(r"(?:gpt-(?:[5-9]|[1-9]\d+)|o[1-9]\d*)(?:[.-]|$)")
# tiktoken's own table, by model-name prefix, for the OpenAI models it knows (tiktoken.model).
OPENAI_PREFIXES = (
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
)

Count = Callable[[str], int]


def name_for(model: str) -> str:
    """Which tokenizer litellm counts `model`'s text with: "anthropic" or "deepseek" (bundled
    HuggingFace tokenizers), else a tiktoken encoding."""
    m = modelmap.load()
    entry = m.entries.get(model)
    if entry is not None and entry.get("litellm_provider") == "anthropic" and "claude-3" not in model:
        return "anthropic"
    if DEEPSEEK.search(model):
        return "deepseek"
    return _openai_encoding(model)


def _openai_encoding(model: str) -> str:
    """tiktoken's encoding for an OpenAI model, cl100k_base (litellm's default) for any other."""
    provider, bare = modelmap.provider_of(model)
    name = bare.rsplit("/", 1)[-1]
    if provider not in ("openai", "azure", "text-completion-openai") and not OPENAI_VERSIONED.match(name):
        return "cl100k_base"
    for prefix, encoding in OPENAI_PREFIXES:
        if name.startswith(prefix):
            return encoding
    return "o200k_base" if OPENAI_VERSIONED.match(name) else "cl100k_base"


@functools.cache
def counter(name: str) -> Count:
    """A function counting a text's tokens with the named tokenizer."""
    folder = modelmap.litellm_dir() / "litellm_core_utils" / "tokenizers"
    if name in ("anthropic", "deepseek"):
        from tokenizers import Tokenizer

        tokenizer: Any = Tokenizer.from_file(str(folder / f"{name}_tokenizer.json"))
        return lambda text: len(tokenizer.encode(text).ids)
    # litellm points tiktoken at the encodings it bundles (offline); so do we, before tiktoken reads it.
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(folder))
    import tiktoken

    encoding: Any = tiktoken.get_encoding(name)

    def count(text: str) -> int:
        return sum(
            len(encoding.encode(text[start : start + CHUNK], disallowed_special=()))
            for start in range(0, len(text), CHUNK)
        )

    return count


def count(model: str, text: str) -> int:
    """litellm.token_counter(model=model, text=text), for texts under litellm's 4,000,000
    characters (beyond which litellm extrapolates from samples of its own)."""
    return counter(name_for(model))(text)
