"""A request's input tokens, counted offline with litellm's own counter (imported lazily).

Counting exactly costs the tokenizer about 15 ms per 100,000 tokens, so a check estimates first
(rules/size.py decides when to count) and a history made from a counted one by a few changes (a
repair) is counted from that count: litellm counts a request message by message, so only what
changed is counted again.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .model import Block, CacheControl, History

# At most this many tokens a byte of text ever makes (Chinese and Japanese run near 0.3, code
# near 0.4, English prose near 0.2).
MOST_TOKENS_PER_BYTE = 0.5
SAMPLE_CHARS = 12_000  # what the estimate tokenizes, in windows of WINDOW characters
WINDOW = 400
PER_MESSAGE = 3  # what litellm's counter adds for each message (role and separators)


@dataclass(frozen=True)
class Counted:
    """A history whose request litellm's counter counted, and the count (Verdict.input_tokens):
    what a check of a history made from it starts from. `origins`, for each message of that
    other history, the index of the message of this one it is a copy of (RepairResult.origins);
    a copy is counted again only if it was changed."""

    history: History
    tokens: int
    origins: tuple[int | None, ...] | None = None

    def to(self, origins: Iterable[int | None]) -> Counted:
        return Counted(self.history, self.tokens, tuple(origins))


def counted(model: str, **what: Any) -> int | None:
    """litellm.token_counter(model=model, **what), or None for a shape or model it does not know."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    try:
        return int(litellm.token_counter(model=model, **what))
    except Exception:
        return None


def exact(history: History, model: str) -> int | None:
    """The input tokens of the history's request (the OpenAI request litellm is handed, which it
    counts the same whichever provider it goes to)."""
    from .wire import openai_request

    request, _ = openai_request(history)
    return counted(model, messages=request.get("messages") or [], tools=request.get("tools"))


def recount(base: Counted, history: History, model: str) -> int | None:
    """The input tokens of `history` from `base`'s count: the messages of `history` that are
    unchanged copies of `base.history`'s are not counted again; those added or changed are
    counted and those taken away or changed subtracted. None when it cannot be told that way
    (no origins; another system prompt, other tools, another format)."""
    from .formats import openai as openai_format

    old = base.history
    if (
        base.origins is None
        or len(base.origins) != len(history.messages)
        or old.format != history.format
        or old.tools != history.tools
        or _system(old) != _system(history)
    ):
        return None
    native = openai_format.is_native(history)
    kept: set[int] = set()
    added: list[dict[str, Any]] = []
    for message, origin in zip(history.messages, base.origins, strict=False):
        if (
            origin is not None
            and origin not in kept
            and 0 <= origin < len(old.messages)
            and message == old.messages[origin]
        ):
            kept.add(origin)
        else:
            added += openai_format.message_out(message, native)
    removed = [
        d for o, message in enumerate(old.messages) if o not in kept for d in openai_format.message_out(message, native)
    ]
    plus, minus = _messages_tokens(model, added), _messages_tokens(model, removed)
    if plus is None or minus is None:
        return None
    return base.tokens + plus - minus


def _messages_tokens(model: str, messages: list[dict[str, Any]]) -> int | None:
    """What these messages add to a request's count (without the request's own tokens)."""
    if not messages:
        return 0
    with_them, without = counted(model, messages=messages), counted(model, messages=[])
    return None if with_them is None or without is None else with_them - without


def _system(history: History) -> list[tuple[str, list[Block], str, CacheControl | None, dict[str, Any]]]:
    # Where a system part stands does not change its tokens.
    return [(p.role, p.blocks, p.content_form, p.cache_control, p.extra) for p in history.system]


# --- the estimate ---------------------------------------------------------------------------------


def utf8_size(texts: list[str]) -> int:
    return sum(len(t) if t.isascii() else len(t.encode("utf-8", "surrogatepass")) for t in texts)


def estimate(texts: list[str], messages: int, model: str) -> int:
    """The tokens of a request sending `texts` in `messages` messages: their characters counted
    at the rate a sample of them tokenizes at (at the densest rate text ever tokenizes at when
    there is no tokenizer for the model)."""
    chars = sum(map(len, texts))
    sample = _sample(texts)
    tokens = counted(model, text=sample) if sample else 0
    if tokens is None:
        return int(utf8_size(texts) * MOST_TOKENS_PER_BYTE) + PER_MESSAGE * messages
    return chars * tokens // max(len(sample), 1) + PER_MESSAGE * messages


def _sample(texts: list[str]) -> str:
    """Windows of WINDOW characters at even steps through all the texts end to end: about
    SAMPLE_CHARS characters, each text in them as much as its length makes it weigh."""
    texts = [t for t in texts if t]
    total = sum(map(len, texts))
    if total <= SAMPLE_CHARS:
        return "\n".join(texts)
    starts, at = [], 0
    for text in texts:
        starts.append(at)
        at += len(text)
    windows = SAMPLE_CHARS // WINDOW
    step = total / windows
    out = []
    for k in range(windows):
        position = int(k * step)
        i = bisect.bisect_right(starts, position) - 1
        offset, need = position - starts[i], WINDOW
        while need > 0 and i < len(texts):  # on through the texts that follow
            piece = texts[i][offset : offset + need]
            out.append(piece)
            need -= len(piece)
            i, offset = i + 1, 0
    return "\n".join(out)


def arguments_text(history: History) -> list[str]:
    """The tool-call arguments a request sends (a wire keeps only a call's name)."""
    return [
        b.arguments if b.arguments is not None else json.dumps(b.input, default=str)
        for m in history.messages
        for b in m.tool_uses()
    ]
