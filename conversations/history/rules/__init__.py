"""The rules: one module per family (pairing, content, roles, cache, thinking, size), per
provider's own validation (bedrock, openai, gemini, litellm) and for what a client's own resume does
to its log (resume), a registry of which run for which
target. `run(history, target, wire)` gives the findings, in wire order.
"""

from __future__ import annotations

from ..findings import Finding
from ..model import History
from ..targets import Target
from ..tokens import Counted
from ..wire import WireRequest
from . import (  # noqa: F401  (registers the rules)
    bedrock,
    branches,
    cache,
    content,
    gemini,
    litellm,
    openai,
    pairing,
    resume,
    roles,
    size,
    thinking,
)
from .base import RULES, Context, Rule
from .registry import EVERY_TARGET, TARGET_RULES, WRAPPERS

__all__ = ["RULES", "Rule", "Context", "TARGET_RULES", "EVERY_TARGET", "run", "run_in", "context", "rules_for"]


def rules_for(target: Target) -> list[Rule]:
    return [RULES[code] for code in (*TARGET_RULES[target.name], *EVERY_TARGET)]


def run(history: History, target: Target, wire: WireRequest) -> list[Finding]:
    return run_in(context(history, target, wire))


def context(history: History, target: Target, wire: WireRequest, counted: Counted | None = None) -> Context:
    return Context(history=history, target=target, wire=wire, wrapper=WRAPPERS[target.name], counted=counted)


def run_in(ctx: Context) -> list[Finding]:
    """The findings of every rule of the context's target."""
    findings: list[Finding] = []
    for meta in rules_for(ctx.target):
        findings.extend(meta.check(ctx))
    return findings
