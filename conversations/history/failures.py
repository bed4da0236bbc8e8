"""A failure the log itself records (issue 17 part 3): the provider refused a request, and what in
the history explains it.

Where a log records one: a litellm failure payload's error; an OpenHands V0 `agent_state_changed`
to `error` whose reason names a provider or litellm exception; a V1 `ConversationErrorEvent`; an
output.jsonl line's `error`; a Claude Code `isApiErrorMessage` turn or `system` `api_error` record.

Only a request error (HTTP 400/413/422, invalid_request_error, BadRequestError,
ValidationException, "Prompt is too long") says something about the history; rate limits,
overload, authentication and timeouts are shown but never make a conversation stuck. A failure
followed in the log by an answered request is `recovered`.

Pure: no Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .explain import explain
from .model import History

REQUEST_ERROR = re.compile(
    r"\b(?:400|413|422)\b|invalid_request_error|BadRequestError|ValidationException|Prompt is too long",
)
# An OpenHands V0 error state is a provider's when its reason names litellm or a provider error.
PROVIDER_EXCEPTION = re.compile(
    r"litellm\.|LLM\w*Error|BadRequestError|RateLimitError|APIError|APIConnectionError|ServiceUnavailable|"
    r"InternalServerError|AuthenticationError|Timeout|ContextWindowExceeded|ValidationException|"
    r"(?:Anthropic|Bedrock|OpenAI|Vertex|Gemini)Exception"
)


@dataclass(slots=True)
class Logged:
    """One failure as the log records it: its text, when (a timestamp, if the log has one), and
    the first message after it (None: nothing follows, or the log does not say where)."""

    error: str
    at: str | None
    after: int | None = None


def is_request_error(text: str) -> bool:
    return bool(REQUEST_ERROR.search(text))


def logged_failures(history: History) -> list[Logged]:
    """Every failure the log records, in log order."""
    meta = history.meta
    fmt = history.format
    if fmt == "litellm-log":
        return [Logged(history.error, history.ended_at or history.started_at)] if history.error else []
    if fmt == "openhands-output":
        error = meta.get("error")
        return [Logged(str(error), history.ended_at)] if error else []
    if fmt == "openhands":
        reason = str(meta.get("agent_state_reason") or "")
        if meta.get("agent_state") == "error" and PROVIDER_EXCEPTION.search(reason):
            return [Logged(reason, history.ended_at)]
        return []
    if fmt == "openhands-v1":
        return _v1_errors(meta)
    if fmt == "claude-code":
        found = []
        for item in meta.get("api_errors") or []:
            if isinstance(item, dict) and item.get("text"):
                at = item.get("message_index")
                found.append(Logged(str(item["text"]), item.get("timestamp"), at if isinstance(at, int) else None))
        return found
    return []


def _v1_errors(meta: dict[str, Any]) -> list[Logged]:
    left = meta.get("left_off")
    items = left.get("items") if isinstance(left, dict) else None
    return [
        Logged(str(item.get("detail") or "ConversationErrorEvent"), None)
        for item in items or []
        if isinstance(item, dict) and item.get("kind") == "ConversationErrorEvent"
    ]


def recovered(history: History, failure: Logged) -> bool:
    """Whether an answered request follows the failure in the log: an assistant reply after it
    (a V1 conversation that went on to finish)."""
    if history.format == "openhands-v1":
        return history.meta.get("execution_status") not in (None, "error")
    if failure.after is None:
        return False
    return any(
        m.role == "assistant" and not m.extra.get("isApiErrorMessage") for m in history.messages[failure.after :]
    )


def logged_failure(history: History) -> dict[str, Any] | None:
    """The failure that matters (the last request error not recovered, else the last request
    error, else the last failure), with what explains it: `explained_by` {rule, message_index}
    when a finding of the prediction is the error the provider answered, else `why_unexplained`.
    None when the log records no failure."""
    failures = logged_failures(history)
    if not failures:
        return None
    states = [(f, is_request_error(f.error), recovered(history, f)) for f in failures]
    chosen = (
        next((s for s in reversed(states) if s[1] and not s[2]), None)
        or next((s for s in reversed(states) if s[1]), None)
        or states[-1]
    )
    failure, request_error, was_recovered = chosen
    explained_by, why = _explained(history, failure.error) if request_error else (None, None)
    if not request_error:
        why = "not a request error (rate limit, overload, authentication or timeout): it says nothing about the history"
    return {
        "error": failure.error,
        "at": failure.at,
        "request_error": request_error,
        "explained_by": explained_by,
        "why_unexplained": why,
        "recovered": was_recovered,
    }


def _explained(history: History, error: str) -> tuple[dict[str, Any] | None, str | None]:
    explanation = explain(history, error)
    for item in explanation.errors:
        if item.agrees and item.prediction is not None:
            return {"rule": item.prediction.rule, "message_index": item.prediction.message_index}, None
    for item in explanation.errors:
        n = item.error.wire_index
        if item.agrees is False and item.message_index is None and n is not None:
            return None, (
                f"messages.{n} is past the end of this history ({len(history.messages)} messages): the request "
                f"that failed was not this history (a route, a fallback or a condensation built it). " + item.reason
            )
    if explanation.errors:
        return None, explanation.errors[0].reason
    return None, "the error names no rule this checker knows"
