"""Fix code (findings.FIXES) -> the strategy that carries it out, and the order they run in.

A strategy is `apply(work, findings) -> None`: it changes `work.history` and notes each change
with `work.note`. It reads the findings it answers for where to act when they are precise, and
looks at the history itself otherwise, so it still does the right thing when a rule names the
message after the one at fault.
"""

from __future__ import annotations

from collections.abc import Callable

from ..findings import FIXES, Finding
from .work import Work

Strategy = Callable[[Work, list[Finding]], None]

STRATEGIES: dict[str, Strategy] = {}

# The order a round applies them in: roles and ids first (pairing depends on them), then the
# pairing itself (moving a real result beats inventing one, which beats dropping one), then empty
# content, order and prefill, thinking, the request, and cache markers last (they sit on blocks
# the other strategies may have moved, added or removed).
ORDER = (
    "fix-role",
    "rewrite-tool-use-ids",
    "drop-duplicate-tool-use",
    "move-text-before-tool-use",
    "merge-split-tool-results",
    "move-tool-results-first",
    "reattach-abandoned-call",
    "add-missing-tool-result",
    "drop-orphan-tool-result",
    "reparent-off-chain-results",
    "remove-empty-blocks",
    "remove-empty-messages",
    "fix-role-order",
    "drop-final-assistant",
    "strip-trailing-whitespace",
    "drop-thinking",
    "disable-thinking",
    "define-tools",
    "shorten-tool-names",
    "set-max-tokens",
    "shrink-images",
    "move-cache-marker",
    "remove-cache-markers",
    "remove-cached-content-markers",
    "reorder-cache-ttl",
    "trim-cache-markers",
)

# Codes deliberately left without a strategy, and why (the command and the pages say so).
NOT_AUTOMATIC = {
    "truncate-history": "dropping or summarising turns to fit the context window is a choice of "
    "what to lose (or needs a model to summarise): a person makes it",
    "split-history": "splitting one conversation into several requests changes what the model "
    "sees at each step: a person decides where",
    "none": "information only: nothing to repair",
}


def strategy(code: str) -> Callable[[Strategy], Strategy]:
    """Register a strategy for a fix code."""
    if code not in FIXES:
        raise ValueError(f"unknown fix code {code!r}")
    if code not in ORDER:
        raise ValueError(f"fix code {code!r} has no place in ORDER")

    def register(apply: Strategy) -> Strategy:
        if code in STRATEGIES:
            raise ValueError(f"two strategies for {code!r}")
        STRATEGIES[code] = apply
        return apply

    return register
