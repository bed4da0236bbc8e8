"""What the log proves (issue 17 part 3): a later reply in the log from the same model proves that
the request holding every message since the last compaction or condensation before it was
answered. A finding inside such a prefix is marked `answered` and no longer counts against the
verdict, unless the verdict judges another target or sender than the one that answered, or the
rule declares a `changed` date later than the reply.

Pure: no Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .findings import Finding
from .model import History
from .nextturn import RECEIVED, ends_on_received_reply
from .targets import PROFILES, Target, target_for_model


@dataclass(frozen=True, slots=True)
class Reply:
    """An answered request: the reply's index, its timestamp, and the first message the request
    held (after the last compaction before it)."""

    index: int
    timestamp: str | None
    start: int


def boundaries(history: History) -> list[int]:
    """The message indexes where the history was compacted or condensed: a request after one
    held nothing before it (Claude Code compactions; an OpenHands V0 or V1 condensation summary)."""
    found: list[int] = []
    compactions = history.meta.get("compactions")
    if isinstance(compactions, list):
        for item in compactions:
            at = item.get("message_index") if isinstance(item, dict) else None
            if isinstance(at, int) and not isinstance(at, bool):
                found.append(at)
    found.extend(i for i, m in enumerate(history.messages) if m.extra.get("kind") == "summary")
    return sorted(set(found))


def replies(history: History, target: Target) -> list[Reply]:
    """The replies the log records as received from `target`'s model, in order. None for a log
    that records requests as sent (its assistant messages are the client's, whoever wrote them)
    or whose model is unknown (no reply is known to come from the same model)."""
    if history.format not in RECEIVED:
        return []
    cuts = boundaries(history)
    # An OpenHands V0 condensation: replies before it answered a request that held what it forgot.
    view_since = history.meta.get("view_since_event")
    found: list[Reply] = []
    last = len(history.messages) - 1
    for j, message in enumerate(history.messages):
        if message.role != "assistant" or j == 0 or message.extra.get("isApiErrorMessage"):
            continue
        if history.format == "litellm-log" and not (j == last and ends_on_received_reply(history)):
            continue  # a litellm payload's earlier assistant turns are part of the request it sent
        if isinstance(view_since, int) and isinstance(message.source.event, int) and message.source.event < view_since:
            continue
        model = message.model or history.model
        if not model or not _same_model(target_for_model(model), target):
            continue
        start = max((c for c in cuts if c <= j), default=0)
        found.append(Reply(j, message.timestamp, start))
    return found


def _same_model(answered: Target, target: Target) -> bool:
    """Whether `target` is the one that answered: the same provider profile, not a route's
    deployment, and the reply's model unless the target names none of its own (resolve(name)
    takes the profile's default model, which `check(history, target="anthropic")` means as
    "this conversation's Anthropic model")."""
    if answered.name != target.name or target.label != target.name:
        return False
    return target.model in (answered.model, PROFILES[target.name][2])


def mark(findings: list[Finding], proofs: list[Reply], changed: Mapping[str, str | None]) -> None:
    """Set `answered` on every finding inside the prefix of a later reply (the latest such reply,
    whose date a rule's `changed` is compared with)."""
    if not proofs:
        return
    for finding in findings:
        i = finding.message_index
        if i is None or finding.severity == "info":
            continue
        reply = next((r for r in reversed(proofs) if r.start <= i < r.index), None)
        if reply is None:
            continue
        since = changed.get(finding.rule)
        if since and (reply.timestamp is None or reply.timestamp[:10] < since):
            continue  # the provider may have accepted it then and refuse it now
        finding.answered = {"message_index": reply.index, "timestamp": reply.timestamp}
