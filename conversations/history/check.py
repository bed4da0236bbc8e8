"""Would this target accept this history? The one entry point the rest of the product calls.

    verdict = check(history, target=resolve("anthropic"))
    verdict.accepted, verdict.findings

RULES_VERSION changes whenever a rule, a text or the litellm pin changes what a check says; the
Django side re-checks stored conversations when it differs from what they were checked with
(`manage.py recheck`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from . import nextturn, proof, rules, senders
from .findings import SEVERITIES, Finding, Verdict
from .formats import anthropic, openai
from .model import History, Tool
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
# 2027.1.1 judges the next request (issue 17): a placeholder user turn after a received reply,
# the sender, guesses as warnings, and findings the log proves answered.
RULES_VERSION = "2027.1.1"


def check(
    history: History,
    *,
    target: Target | str,
    build_request: bool | None = None,
    counted: Counted | None = None,
    sender: str | None = None,
    next_turn: bool = True,
    proven: bool = True,
) -> Verdict:
    """The verdict of `target` on the request `sender` (default: the format's, senders.py) sends
    next for `history` (nextturn.py: a log that ends on a received reply goes on with a user
    turn; next_turn=False judges the history as the request it is, as the guard does).

    Through litellm (senders litellm and openhands, and every sender to a route's deployment)
    that request is the replay (wire.simulate: litellm's transformation replayed without
    importing litellm, held to litellm's output by tests/core/test_replay.py) wherever it covers
    the history and target, else litellm's own transformation (wire.request_for).
    build_request=True always builds it with litellm's own transformation (imported lazily,
    offline); False always replays. `counted`: the count of the history this one was made from
    (a repair's), which its token count starts from. `proven`: mark the findings the log proves
    answered (proof.py)."""
    if isinstance(target, str):
        target = resolve(target)
    sender = senders.check_name(sender) if sender else senders.default_sender(history)
    reason = senders.not_applicable(sender, history, target)
    if reason is not None:
        return Verdict(target=target.label, provider=target.provider, sender=sender, notes=[reason], applicable=False)
    judged = nextturn.next_request(history) if next_turn else history
    if sender == "claude-code":
        judged = _with_tool_definitions(judged)
    thinking = nextturn.thinking(history)
    if senders.sends_natively(sender, history, target):
        verdict = check_body(judged, _logged_body(judged, target), target=target, counted=counted, thinking=thinking)
    else:
        wire = request_for(judged, target, use_litellm=build_request)
        wire.assumed_thinking = thinking
        verdict = judge(judged, wire, counted=counted)
    verdict.sender = sender
    _sender_findings(verdict, history, sender)
    _guesses(verdict, history, thinking)
    if proven and sender == senders.default_sender(history):
        changed = {code: meta.changed for code, meta in rules.RULES.items() if meta.changed}
        # The client-resume rules judge what a resume does to the log, which no live reply proves.
        provable = [f for f in verdict.findings if f.rule not in rules.EVERY_TARGET]
        proof.mark(provable, proof.replies(history, target), changed)
    verdict.findings = _ordered(verdict.findings)
    return verdict


def _logged_body(history: History, target: Target) -> dict[str, Any]:
    """The body as the client built it: an openai request as logged to openai, else the
    Anthropic Messages body."""
    if target.wire_format == "openai":
        return openai.to_request(history)
    return anthropic.to_request(history)


# Rules about tool definitions: Claude Code always sends one for every tool it has, so they never
# fire for its requests.
TOOL_DEFINITION_RULES = ("litellm-dummy-tool", "litellm-tools-as-text", "bedrock-toolconfig-required")
# Claude Code's resume that walks one chain and loses parallel results: the versions of
# anthropics/claude-code#31330 and #37672 (2.1.6x to 2.1.7x); for a newer one it is a guess.
PARALLEL_RESULTS_KNOWN_UP_TO = (2, 1, 79)


def _with_tool_definitions(history: History) -> History:
    """The history with a definition for every tool it calls (Claude Code sends its whole tool
    list with every request; its log records none)."""
    defined = {t.name for t in history.tools}
    missing = []
    for _, _, block in history.blocks():
        if block.type == "tool_use" and block.name and block.name not in defined:
            defined.add(block.name)
            missing.append(Tool(name=block.name, parameters={"type": "object", "properties": {}}))
    if not missing:
        return history
    return dataclasses.replace(history, tools=[*history.tools, *missing])


def _sender_findings(verdict: Verdict, history: History, sender: str) -> None:
    """What the sender changes about the findings: the client resume rules only hold for that
    client, and for Claude Code only for the versions known to lose results."""
    if sender == "claude-code":
        verdict.findings = [f for f in verdict.findings if f.rule not in TOOL_DEFINITION_RULES]
        version = _version(history.meta.get("version"))
        if version is not None and version > PARALLEL_RESULTS_KNOWN_UP_TO:
            for f in verdict.findings:
                if f.rule == "parallel-results-off-chain":
                    _guessed(
                        f,
                        "client version",
                        f"Claude Code {history.meta.get('version')} is newer than the versions known to lose them",
                    )
    else:
        verdict.findings = [f for f in verdict.findings if f.rule != "parallel-results-off-chain"]


def _version(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, str):
        return None
    parts = value.split(".")
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


# The request parameter each rule rests on, where a log may not record it.
GUESSED = {
    "thinking-in-final-without-thinking-enabled": "thinking",
    "max-tokens-too-large": "max_tokens",
    "bedrock-toolconfig-required": "tools",
    "litellm-tools-as-text": "tools",
    "litellm-dummy-tool": "tools",
    "system-empty-text": "system prompt",
    "cache-control-too-many": "cache markers",
    "cache-ttl-order": "cache markers",
    "cache-below-minimum": "cache markers",
    "cache-on-synthetic-error": "cache markers",
    "cache-control-on-empty-text": "cache markers",
    "bedrock-no-explicit-caching": "cache markers",
    "cache-markers-dropped": "cache markers",
}


def _guesses(verdict: Verdict, history: History, thinking: bool | None) -> None:
    """A finding that rests on a parameter the log does not record is a warning naming it."""
    recorded = nextturn.records_request(history)
    for f in verdict.findings:
        guess = GUESSED.get(f.rule)
        if guess is None:
            continue
        if guess == "thinking":
            if thinking is None:
                _guessed(f, guess, "the log does not record whether thinking is on")
        elif guess == "max_tokens":
            if f.severity == "warning":  # the rule's own downgrade: the client's max_tokens is not logged
                _guessed(f, guess, None)
        elif not recorded:
            _guessed(f, guess, f"the log does not record the {guess} the client sends")


def _guessed(finding: Finding, guess: str, why: str | None) -> None:
    finding.guess = guess
    if finding.severity == "error":
        finding.severity = "warning"
    if why:
        finding.explanation += f" This rests on a guess ({guess}): {why}."


def judge(history: History, wire: WireRequest, *, counted: Counted | None = None) -> Verdict:
    """The verdict on a request already built (by build/simulate, or parsed from a provider
    body with wire.parse_body)."""
    target = wire.target
    ctx = rules.context(history, target, wire, counted=counted)
    findings = _ordered(rules.run_in(ctx))
    return Verdict(target=target.label, provider=target.provider, findings=findings, input_tokens=ctx.input_tokens)


def check_body(
    history: History,
    body: dict[str, Any],
    *,
    target: Target | str,
    counted: Counted | None = None,
    thinking: bool | None = None,
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
    wire.assumed_thinking = thinking
    return judge(history, wire, counted=counted)


def check_targets(
    history: History, targets: Iterable[Target | str], *, build_request: bool | None = None, sender: str | None = None
) -> list[Verdict]:
    return [check(history, target=t, build_request=build_request, sender=sender) for t in targets]


def _ordered(findings: list[Finding]) -> list[Finding]:
    """Errors first, then warnings, then information; in history order within each."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (rank[f.severity], -1 if f.message_index is None else f.message_index))
