"""Would this target accept this history? The one entry point the rest of the product calls.

    verdict = check(history, target=resolve("anthropic"))
    verdict.accepted, verdict.findings

RULES_VERSION changes whenever a rule, a text or the litellm pin changes what a check says; the
Django side re-checks stored conversations when it differs from what they were checked with
(`manage.py recheck`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import rules
from .findings import SEVERITIES, Finding, Verdict
from .formats import anthropic
from .model import History
from .targets import Target, resolve
from .tokens import Counted
from .wire import WireRequest, parse_body, request_for

# Bump when findings change for the same history (rules, texts, litellm pin, or what is stored of
# them: 2026.11.2 stores content_index, so a stored verdict can stand in for a check; 2026.11.3
# counts a request's tokens at its own rate and with its tool-call arguments; 2026.11.4 judges on
# the replay held to litellm's output (ingest's old replay missed max_tokens and Converse's text
# form of tool calls) and estimates tokens with litellm's tokenizer for the model; 2026.12.1 reads
# Claude Code's parallel results from their side branches and warns of parallel-results-off-chain,
# and reads OpenHands V0 calls where ConversationMemory puts them).
RULES_VERSION = "2026.12.1"


def check(
    history: History, *, target: Target | str, build_request: bool | None = None, counted: Counted | None = None
) -> Verdict:
    """The verdict of `target` on `history`, on the request litellm would send. By default that
    request is the replay (wire.simulate: litellm's transformation replayed without importing
    litellm, held to litellm's output by tests/core/test_replay.py) wherever it covers the
    history and target, else litellm's own transformation (wire.request_for).
    build_request=True always builds it with litellm's own transformation (imported lazily,
    offline); False always replays. `counted`: the count of the history this one was made from
    (a repair's), which its token count starts from."""
    if isinstance(target, str):
        target = resolve(target)
    if sent_natively(history, target):
        return check_body(history, anthropic.to_request(history), target=target, counted=counted)
    wire = request_for(history, target, use_litellm=build_request)
    return judge(history, wire, counted=counted)


# Formats whose clients build and send the Anthropic request themselves (Claude Code, anything
# that logs a Messages request): litellm never sees it, and its silent repairs (tool results moved
# first, ids rewritten, empty text replaced) never happen, so the body is judged as it is.
NATIVE_ANTHROPIC_FORMATS = ("anthropic", "claude-code")


def sent_natively(history: History, target: Target) -> bool:
    """Whether `history` goes to `target` as its own Anthropic body rather than through litellm:
    an Anthropic-format history sent straight to Anthropic or Bedrock InvokeModel (a deployment of
    a litellm route, labelled otherwise, always goes through litellm)."""
    return (
        history.format in NATIVE_ANTHROPIC_FORMATS and target.wire_format == "anthropic" and target.label == target.name
    )


def judge(history: History, wire: WireRequest, *, counted: Counted | None = None) -> Verdict:
    """The verdict on a request already built (by build/simulate, or parsed from a provider
    body with wire.parse_body)."""
    target = wire.target
    ctx = rules.context(history, target, wire, counted=counted)
    findings = _ordered(rules.run_in(ctx))
    return Verdict(target=target.label, provider=target.provider, findings=findings, input_tokens=ctx.input_tokens)


def check_body(
    history: History, body: dict[str, Any], *, target: Target | str, counted: Counted | None = None
) -> Verdict:
    """The verdict on a provider request body as logged (an Anthropic request a client sent
    directly, not through litellm): its message k is the history's message k."""
    if isinstance(target, str):
        target = resolve(target)
    wire = parse_body(body, target)
    h = 0
    for message in wire.messages:
        if message.role in ("system", "developer"):
            continue  # OpenAI bodies keep the system prompt in the list; it is no message of ours
        origin = h if h < len(history.messages) else None
        h += 1
        message.sources = [origin] if origin is not None else []
        for block in message.blocks:
            block.origin = origin
    wire.params = {k: v for k, v in body.items() if k not in ("messages", "system")}
    wire.built = True
    return judge(history, wire, counted=counted)


def check_targets(
    history: History, targets: Iterable[Target | str], *, build_request: bool | None = None
) -> list[Verdict]:
    return [check(history, target=t, build_request=build_request) for t in targets]


def _ordered(findings: list[Finding]) -> list[Finding]:
    """Errors first, then warnings, then information; in history order within each."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (rank[f.severity], -1 if f.message_index is None else f.message_index))
