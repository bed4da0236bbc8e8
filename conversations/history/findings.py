"""What a check says about a history for one target: findings, and the verdict they add up to.

`to_dict()` gives exactly the JSON contract of `check_history --json` (issue 4), which users'
scripts read; the Django side stores the same dicts. Keep the keys stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")

# One repair strategy per code: the repair helper implements them, the pages show the line.
FIXES: dict[str, str] = {
    "add-missing-tool-result": "answer each unanswered tool call with a synthetic is_error tool result "
    "in the message right after it",
    "move-tool-results-first": "put the tool results first in the message after the tool call, before any text",
    "merge-split-tool-results": "gather the results of one assistant turn into the single message that follows it",
    "drop-orphan-tool-result": "remove tool results whose tool call is not in the message before",
    "drop-duplicate-tool-use": "remove the second tool call that reuses an id (and its result)",
    "rewrite-tool-use-ids": "rewrite tool call ids (and their results' ids) to ^[a-zA-Z0-9_-]+$, at most 40 characters",
    "move-text-before-tool-use": "put an assistant turn's text before its tool calls",
    "remove-empty-messages": "drop messages that have no content (or fill them with a placeholder)",
    "remove-empty-blocks": "drop empty or whitespace-only text blocks",
    "remove-cache-markers": "remove every cache marker (cache_control / cachePoint)",
    "trim-cache-markers": "keep only the last 4 cache markers",
    "move-cache-marker": "move the cache marker off a synthetic error result onto the message before it",
    "reorder-cache-ttl": "give the markers before a 5m marker the 5m TTL too (longer TTLs first)",
    "fix-role-order": "merge consecutive same-role messages and start with a user message",
    "fix-role": "map a message with a role the provider does not know onto user or assistant",
    "strip-trailing-whitespace": "strip trailing whitespace from the final assistant message",
    "drop-final-assistant": "remove the trailing assistant message (prefill) or add a user turn",
    "drop-thinking": "remove thinking blocks the request cannot carry (or that lost their signature)",
    "disable-thinking": "send the request with extended thinking off",
    "define-tools": "send the tool definitions with the request",
    "shorten-tool-names": "shorten tool names to at most 64 characters",
    "truncate-history": "drop or summarise the oldest turns until the request fits the context window",
    "split-history": "split the conversation so each request stays under the message limit",
    "shrink-images": "downscale or drop the images over the provider's limits",
    "set-max-tokens": "pass max_tokens explicitly with the request",
    "remove-cached-content-markers": "remove the cache markers so litellm does not create a "
    "Gemini cachedContents entry",
    "reparent-off-chain-results": "re-parent the result records that sit off the chain onto it, so a client "
    "that resumes by walking one chain (Claude Code) keeps them; no result is added",
    "reattach-abandoned-call": "put the abandoned tool call back on the conversation's branch, answered by "
    "the error result the agent's own recovery writes for an interrupted call",
    "none": "nothing to repair: for information",
}


@dataclass(slots=True)
class Finding:
    """One thing a rule found.

    message_index: 0-based index into History.messages (the system prompt is never a message);
    None for the request as a whole. wire_index: the index the provider's error names (into the
    request litellm would send), None when the error names none. provider_error: the provider's
    exact text with its indexes filled in, for errors. fix: a code of FIXES. content_index: the
    block inside the history message, when the finding is about one block.
    """

    rule: str
    severity: str
    message_index: int | None
    wire_index: int | None
    provider_error: str | None
    explanation: str
    fix: str
    content_index: int | None = None
    # The request parameter the log does not record that this finding rests on ("thinking",
    # "max_tokens", "tools", "system prompt", "cache markers", "client version"): such a finding
    # is a warning, never an error (issue 17).
    guess: str | None = None
    # The later reply in the log that proves a request holding this message was answered:
    # {"message_index": N, "timestamp": str | None}. An answered finding does not count against
    # the verdict (Verdict.accepted).
    answered: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if self.fix not in FIXES:
            raise ValueError(f"unknown fix code {self.fix!r}")

    def to_dict(self, *, detail: bool = False) -> dict[str, Any]:
        """The contract's seven keys, and issue 17's `guess` and `answered` (null when none);
        detail=True adds content_index for the pages."""
        d: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "message_index": self.message_index,
            "wire_index": self.wire_index,
            "provider_error": self.provider_error,
            "explanation": self.explanation,
            "fix": self.fix,
            "guess": self.guess,
            "answered": self.answered,
        }
        if detail and self.content_index is not None:
            d["content_index"] = self.content_index
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(
            rule=d["rule"],
            severity=d["severity"],
            message_index=d.get("message_index"),
            wire_index=d.get("wire_index"),
            provider_error=d.get("provider_error"),
            explanation=d.get("explanation", ""),
            fix=d.get("fix", "none"),
            content_index=d.get("content_index"),
            guess=d.get("guess"),
            answered=d.get("answered"),
        )

    @property
    def counts(self) -> bool:
        """Whether this finding counts against the verdict: an error the log does not prove
        was answered."""
        return self.severity == "error" and self.answered is None


@dataclass(slots=True)
class Verdict:
    """Whether `target` would accept the history; accepted = no error finding the log does not
    prove answered. `sender`: the client whose request body was judged (senders.SENDERS);
    `notes`: what the reader of the verdict must know ("model unknown: judged as anthropic",
    "direct: not applicable"); `applicable`: False when the sender cannot send to this target
    (no findings then)."""

    target: str
    provider: str
    findings: list[Finding] = field(default_factory=list)
    sender: str = ""
    notes: list[str] = field(default_factory=list)
    applicable: bool = True
    # The request's input tokens as litellm's counter counted them, when the check counted them
    # (near the window): what a check of a small change to the history starts from. Not part of
    # the command-line contract (to_dict).
    input_tokens: int | None = None
    # The failure the log records (failures.logged_failure), carried by the own target's verdict
    # to storage; per conversation in the command-line contract, not per verdict (to_dict).
    logged_failure: dict[str, Any] | None = None

    @property
    def accepted(self) -> bool:
        return not any(f.counts for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        """The errors that count against the verdict (not the ones the log proves answered)."""
        return [f for f in self.findings if f.counts]

    def to_dict(self, *, detail: bool = False) -> dict[str, Any]:
        return {
            "target": self.target,
            "provider": self.provider,
            "accepted": self.accepted,
            "findings": [f.to_dict(detail=detail) for f in self.findings],
            "sender": self.sender,
            "notes": list(self.notes),
            "applicable": self.applicable,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        return cls(
            target=d["target"],
            provider=d["provider"],
            findings=[Finding.from_dict(f) for f in d.get("findings", [])],
            sender=d.get("sender", ""),
            notes=list(d.get("notes") or []),
            applicable=d.get("applicable", True),
        )
