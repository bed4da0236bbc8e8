"""A request's input tokens: estimated without litellm, counted exactly with litellm's own counter
(imported lazily, only for a request near the context window).

Counting exactly costs the tokenizer about 15 ms per 100,000 tokens (and importing litellm
seconds), so a check estimates first, from a sample tokenized with the tokenizer litellm's counter
uses (tokenizer.py; rules/size.py decides when to count), and a history made from a counted one by
a few changes (a repair) is counted from that count: litellm counts a request message by message,
so only what changed is counted again.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import os
import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import tokenizer
from .formats import openai as openai_format
from .model import Block, CacheControl, History
from .wire import openai_request

# At most this many tokens a byte of text ever makes (Chinese and Japanese run near 0.3, code
# near 0.4, English prose near 0.2).
MOST_TOKENS_PER_BYTE = 0.5
SAMPLE_CHARS = 12_000  # the least the estimate tokenizes, in windows of WINDOW characters,
SAMPLE_SHARE = 0.02  # and this share of a longer request's characters
WINDOW = 1024  # litellm's counter tokenizes text in pieces this long too (tokenizer.CHUNK)
MARGIN_FLOOR = 0.03  # what an estimate of the whole text is off by at most (tests/core/test_tokens.py)
PER_MESSAGE = 4  # what litellm's counter adds for each message: 3 for separators, 1 for the role


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
    request, _ = openai_request(history)
    return counted(model, messages=request.get("messages") or [], tools=request.get("tools"))


def recount(base: Counted, history: History, model: str) -> int | None:
    """The input tokens of `history` from `base`'s count: the messages of `history` that are
    unchanged copies of `base.history`'s are not counted again; those added or changed are
    counted and those taken away or changed subtracted. None when it cannot be told that way
    (no origins; another system prompt, other tools, another format)."""
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


@dataclass(frozen=True)
class Estimate:
    """A request's tokens estimated from a sample of its text, and the share of them the estimate
    can be off by: four standard errors of the sampled rate, plus MARGIN_FLOOR for what it does
    not count as litellm does (message framing, how tools are written)."""

    tokens: int
    margin: float

    def over(self, limit: int) -> bool:
        return self.tokens * (1 - self.margin) > limit

    def under(self, limit: int) -> bool:
        return self.tokens * (1 + self.margin) < limit


def utf8_size(texts: list[str]) -> int:
    return sum(len(t) if t.isascii() else len(t.encode("utf-8", "surrogatepass")) for t in texts)


def estimate(texts: list[str], messages: int, model: str) -> int:
    """The tokens of a request sending `texts` in `messages` messages (estimated())."""
    return estimated(texts, messages, model).tokens


def estimated(texts: list[str], messages: int, model: str) -> Estimate:
    """The tokens of a request sending `texts` in `messages` messages: their characters counted
    at the rate a sample of them tokenizes at, with litellm's tokenizer for the model (loaded
    without litellm: tokenizer.py); at the densest rate text ever tokenizes at when there is no
    tokenizer."""
    texts = [t for t in texts if t]
    chars = sum(map(len, texts))
    try:
        count = tokenizer.counter(tokenizer.name_for(model))
    except Exception:  # no litellm installed, or a tokenizer file it lacks: the bound decides
        return Estimate(int(utf8_size(texts) * MOST_TOKENS_PER_BYTE) + PER_MESSAGE * messages, 1.0)
    windows = _windows(texts)
    counts = [count(w) for w in windows]
    sampled = sum(map(len, windows))
    rate = sum(counts) / max(sampled, 1)
    tokens = round(chars * rate) + PER_MESSAGE * messages
    return Estimate(tokens, MARGIN_FLOOR + _sampling_error(windows, counts, rate, sampled / max(chars, 1)))


def _sampling_error(windows: list[str], counts: list[int], rate: float, share: float) -> float:
    """Four standard errors of the sampled rate, as a share of it (none when all was sampled)."""
    if share >= 1 or len(windows) < 2 or rate <= 0:
        return 0.0
    rates = [n / len(w) for w, n in zip(windows, counts, strict=True) if w]
    error = statistics.stdev(rates) / math.sqrt(len(rates)) * math.sqrt(1 - share)
    return 4 * error / rate


def _windows(texts: list[str]) -> list[str]:
    """The sample: the texts end to end (joined by newlines) cut into windows of WINDOW
    characters, all of them for a short request; else one window at a random place in each of
    n equal stretches (a seeded random: the same texts give the same sample), n enough for
    SAMPLE_CHARS characters or SAMPLE_SHARE of them. Each text weighs as much as it is long."""
    total = sum(map(len, texts))
    want = max(SAMPLE_CHARS, int(total * SAMPLE_SHARE))
    if total <= want:
        joined = "\n".join(texts)
        return [joined[at : at + WINDOW] for at in range(0, len(joined), WINDOW)]
    starts = [0, *itertools.accumulate(map(len, texts))][:-1]
    n = -(-want // WINDOW)
    stretch = total / n
    rng = random.Random(total)
    out = []
    for k in range(n):
        position = int(k * stretch + rng.random() * max(stretch - WINDOW, 0))
        i = bisect.bisect_right(starts, position) - 1
        offset, need, pieces = position - starts[i], WINDOW, []
        while need > 0 and i < len(texts):  # on through the texts that follow
            piece = texts[i][offset : offset + need]
            pieces.append(piece)
            need -= len(piece)
            i, offset = i + 1, 0
        out.append("\n".join(pieces))
    return out


def arguments_text(history: History) -> list[str]:
    """The tool-call arguments a request sends (a wire keeps only a call's name)."""
    return [
        b.arguments if b.arguments is not None else json.dumps(b.input, default=str)
        for m in history.messages
        for b in m.tool_uses()
    ]
