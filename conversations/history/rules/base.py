"""What every rule needs: the rule table, and a Context that turns wire positions into history
messages and findings.

A rule is a small pure function `check(ctx) -> Iterable[Finding]`, registered with @rule(code,
severity=..., fix=...). Which rules run for which target is registry.py's business: a rule never
asks which provider it is judging beyond what the Context tells it (wire format, wrapper text).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from ..findings import FIXES, SEVERITIES, Finding
from ..model import History
from ..targets import Target
from ..tokens import Counted
from ..wire import WireRequest
from ..wire_blocks import WireBlock, WireMessage

# A rule's check: the findings of one context.
Check = Callable[["Context"], Iterable[Finding]]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    severity: str
    fix: str
    family: str
    check: Check
    doc: str = ""
    # The day ("YYYY-MM-DD") the provider started refusing what this rule finds: a reply in the
    # log older than that proves nothing about it (issue 17 part 3). None: as far back as known.
    changed: str | None = None


RULES: dict[str, Rule] = {}


def rule(code: str, *, severity: str, fix: str, changed: str | None = None) -> Callable[[Check], Check]:
    """Register `check` under `code` (the code of docs/provider-rules.md where it has one)."""
    if severity not in SEVERITIES or fix not in FIXES:
        raise ValueError(f"rule {code}: bad severity {severity!r} or fix {fix!r}")

    def register(check: Check) -> Check:
        family = check.__module__.rsplit(".", 1)[-1]
        if code in RULES:
            raise ValueError(f"rule {code} registered twice")
        RULES[code] = Rule(code, severity, fix, family, check, (check.__doc__ or "").strip(), changed)
        return check

    return register


@dataclass
class Context:
    history: History
    target: Target
    wire: WireRequest
    wrapper: str = "{}"
    # The count of the history this one was made from (a repair's), which the size rule counts
    # from; and the input tokens, when the size rule counted them exactly (Verdict.input_tokens).
    counted: Counted | None = None
    input_tokens: int | None = None
    _located: dict[Hashable, Any] = field(default_factory=dict)  # memo keys and content_index keys

    def memo(self, key: str, compute: Callable[[], _T]) -> _T:
        """A value several rules share (the merged turns), computed once per check."""
        if key not in self._located:
            self._located[key] = compute()
        return cast(_T, self._located[key])

    def blocks_of(self, kind: str) -> list[tuple[int, int, WireBlock]]:
        """Every block of this type as (wire message index, block index, block), in wire order:
        one pass over the request for all the rules that look for one kind of block."""
        index = self.memo("blocks", self._blocks_by_type)
        return index.get(kind, [])

    def _blocks_by_type(self) -> dict[str, list[tuple[int, int, WireBlock]]]:
        index: dict[str, list[tuple[int, int, WireBlock]]] = {}
        for k, message in enumerate(self.wire.messages):
            for j, block in enumerate(message.blocks):
                entries = index.get(block.type)
                if entries is None:
                    entries = index[block.type] = []
                entries.append((k, j, block))
        return index

    # -- the provider's own words
    def said(self, text: str) -> str:
        """The text as this target's API returns it (Bedrock wraps Anthropic's validation)."""
        return self.wrapper.format(text)

    # -- positions
    @property
    def messages(self) -> list[WireMessage]:
        return self.wire.messages

    def message_of(self, k: int | None) -> int | None:
        if k is None or not 0 <= k < len(self.wire.messages):
            return None
        return self.wire.messages[k].first_source

    def content_index(self, block: WireBlock) -> int | None:
        """Where the block sits in its history message (None when litellm made it up)."""
        if block.origin is None or not 0 <= block.origin < len(self.history.messages):
            return None
        key = (block.origin, block.type, block.id, block.text)
        if key not in self._located:
            self._located[key] = _locate(self.history, block)
        return cast("int | None", self._located[key])

    def describe(self, message_index: int | None) -> str:
        """'message 6 (tool)' for explanations; the system prompt when None."""
        if message_index is None or not 0 <= message_index < len(self.history.messages):
            return "the request"
        return f"message {message_index} ({self.history.messages[message_index].role})"

    # -- findings
    def found(
        self,
        code: str,
        *,
        explanation: str,
        wire_index: int | None = None,
        message_index: int | None = None,
        provider_error: str | None = None,
        content_index: int | None = None,
        severity: str | None = None,
        fix: str | None = None,
    ) -> Finding:
        meta = RULES[code]
        return Finding(
            rule=code,
            severity=severity or meta.severity,
            message_index=message_index,
            wire_index=wire_index,
            provider_error=provider_error,
            explanation=explanation,
            fix=fix or meta.fix,
            content_index=content_index,
        )


def _locate(history: History, block: WireBlock) -> int | None:
    message = history.messages[cast(int, block.origin)]  # content_index checked it
    for j, candidate in enumerate(message.blocks):
        if candidate.type != block.type:
            continue
        if block.type == "tool_use" and candidate.id == block.id:
            return j
        if block.type == "tool_result" and candidate.tool_use_id == block.id:
            return j
        if block.type == "text" and candidate.text == block.text:
            return j
        if block.type not in ("tool_use", "tool_result", "text"):
            return j
    return None


# -- helpers the rule modules share -------------------------------------------------------------


def turns(messages: list[WireMessage], merge: bool) -> Iterator[tuple[int, str, list[WireBlock]]]:
    """(wire index of the turn's first message, role, blocks) for each turn. With merge=True,
    consecutive same-role messages form one turn, as Anthropic's first-party API now merges them
    (opencode cassette accepts-malformed-assistant-tool-order-with-default-patch, 2026-05-05)."""
    k = 0
    while k < len(messages):
        start = k
        blocks = list(messages[k].blocks)
        role = messages[k].role
        k += 1
        while merge and k < len(messages) and messages[k].role == role:
            blocks.extend(messages[k].blocks)
            k += 1
        yield start, role, blocks


def ids(blocks: Iterable[WireBlock], kind: str) -> list[str]:
    return [b.id or "" for b in blocks if b.type == kind]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
