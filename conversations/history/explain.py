"""Explain an error a provider really answered: take it out of litellm's wrapping, find which
rule it is and which history message its index names, and say whether the prediction agrees.

litellm wraps provider errors in two fallback forms:
  old (the seed, 2025):  "<primary>. Received Model Group=G\\nAvailable Model Group Fallbacks=['F']
                          \\nError doing the fallback: <fallback error>"
  1.110.2:               "<primary>\\n\\nLiteLLM: model group 'G' failed with the error above.
                          Fallback to F also failed: <fallback error>"
and each provider error as "litellm.BadRequestError: AnthropicException - {json}".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .check import judge
from .findings import Finding, Verdict
from .model import History
from .routes import deployment_target, load_config, route_deployments
from .rules import bedrock, cache, content, gemini, litellm, openai, pairing, roles, size, thinking
from .targets import PROVIDER_TARGETS, Target, resolve, target_for_model
from .wire import WireRequest, request_for

# Provider texts as templates; {n}/{m}/{k}/{j} are the indexes they name.
TEXTS: list[tuple[str, str]] = [
    ("tool-result-missing", pairing.MISSING),
    ("tool-result-not-first", pairing.NOT_FIRST),
    ("tool-result-orphan", pairing.ORPHAN),
    ("server-tool-result-orphan", pairing.SERVER_ORPHAN),
    ("tool-use-id-duplicate", pairing.DUPLICATE),
    ("tool-use-id-duplicate", "messages.{n}.content.{m}: `tool_use` ids must be unique"),
    ("tool-use-id-pattern", pairing.PATTERN),
    ("empty-message-content", content.EMPTY_MESSAGE),
    ("empty-text-block", content.EMPTY_TEXT),
    ("empty-text-block", content.BLANK_TEXT),
    ("cache-control-on-empty-text", content.CACHE_ON_EMPTY),
    ("first-message-not-user", roles.FIRST_NOT_USER),
    ("roles-not-alternating", roles.NOT_ALTERNATING),
    ("final-assistant-trailing-whitespace", roles.TRAILING_WHITESPACE),
    ("prefill-unsupported", roles.NO_PREFILL),
    ("thinking-missing-before-tool-use", thinking.MISSING_BEFORE_TOOL_USE),
    ("thinking-signature-missing", thinking.SIGNATURE_MISSING),
    ("thinking-text-missing", thinking.TEXT_MISSING),
    ("thinking-signature-invalid", thinking.SIGNATURE_INVALID),
    ("thinking-in-final-without-thinking-enabled", thinking.FINAL_WITHOUT_THINKING),
    ("cache-control-too-many", cache.TOO_MANY),
    ("cache-ttl-order", cache.TTL_ORDER),
    ("bedrock-no-explicit-caching", cache.NO_EXPLICIT_CACHING),
    ("context-overflow", size.PROMPT_TOO_LONG),
    ("openai-context-overflow", size.OPENAI_TOO_LONG),
    ("gemini-context-overflow", size.GEMINI_TOO_LONG),
    ("bedrock-first-not-user", bedrock.FIRST_NOT_USER),
    ("bedrock-roles-not-alternating", bedrock.NOT_ALTERNATING),
    ("bedrock-tool-result-count", bedrock.RESULT_COUNT),
    ("bedrock-toolconfig-required", bedrock.TOOLCONFIG),
    ("bedrock-blank-text", bedrock.BLANK_TEXT),
    ("bedrock-mixed-tool-result-turn", bedrock.MIXED_TURN),
    ("openai-tool-response-missing", openai.RESPONSE_MISSING),
    ("openai-tool-orphan", openai.ORPHAN),
    ("openai-tool-orphan", "Messages with role 'tool' must be a response to a preceding message with 'tool_calls'"),
    ("openai-tool-call-id-too-long", openai.ID_TOO_LONG),
    ("openai-tool-name-too-long", openai.NAME_TOO_LONG),
    ("gemini-function-call-position", gemini.CALL_POSITION),
    ("gemini-function-response-count", gemini.RESPONSE_COUNT),
    ("gemini-function-response-position", gemini.RESPONSE_POSITION),
    ("gemini-empty-parts", gemini.EMPTY_PARTS),
    ("gemini-empty-part-data", gemini.EMPTY_PART_DATA),
    ("gemini-empty-text", gemini.EMPTY_TEXT),
    ("max-tokens-too-large", litellm.MAX_TOKENS),
]
INDEXES = ("n", "k")
# The same problem under another provider's code: an agreement across them is an agreement.
SAME_PROBLEM = {"bedrock-tool-result-missing": "tool-result-missing"}
EXCEPTION = "Exception - "
# The longest text a placeholder in the middle of a provider text stands for (an id list, a model).
PLACEHOLDER_MAX = 300
# A pasted error is cut here (the page says so): enough for a fallback chain of a few providers.
ERROR_MAX = 64 * 1024
# At most this many provider errors of one text are compared with the prediction.
ERRORS_MAX = 20
EXCEPTION_PROVIDERS = {
    "anthropic": "anthropic",
    "bedrock": "bedrock",
    "openai": "openai",
    "azure": "openai",
    "vertexai": "gemini",
    "vertex_ai": "gemini",
    "gemini": "gemini",
    "vertexaianthropic": "anthropic",
}


def _pattern(template: str) -> re.Pattern[str]:
    """A template as a pattern that cannot backtrack: the viewer pastes the text it runs on.

    Each index is at most 12 digits; a placeholder at either end of the first sentence is left
    out (its text is never used); one in the middle is at most PLACEHOLDER_MAX characters none
    of which is the first of the literal that follows, so it ends where that literal can begin.
    Every quantifier is thus bounded and never overlaps its neighbour: a search costs a constant
    at each position of the text, linear in its length."""
    plain = template.replace("`", "")
    # A client may cut the text after the first sentence; the first sentence is enough.
    first = plain.split(". ", 1)[0]
    pieces = re.split(r"\{(\w+)\}", first)  # literal, name, literal, name, ..., literal
    out = []
    for k, piece in enumerate(pieces):
        if k % 2 == 0:
            out.append(re.escape(piece))
        elif piece in ("n", "m", "k", "j"):
            out.append(rf"(?P<{piece}>\d{{1,12}})")
        elif 0 < k < len(pieces) - 1 and pieces[k - 1] and pieces[k + 1]:
            out.append(rf"[^{re.escape(pieces[k + 1][0])}\n]{{1,{PLACEHOLDER_MAX}}}")
    return re.compile("".join(out))


PATTERNS = [(code, _pattern(t)) for code, t in TEXTS]


@dataclass
class ProviderError:
    """One provider's answer found in an error string. `group` is the litellm model group that
    called it, when the wrapping says."""

    text: str
    provider: str | None = None
    group: str | None = None
    rule: str | None = None
    wire_index: int | None = None
    content_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "provider": self.provider,
            "group": self.group,
            "rule": self.rule,
            "wire_index": self.wire_index,
            "content_index": self.content_index,
        }


@dataclass
class ExplainedError:
    error: ProviderError
    target: str | None
    message_index: int | None
    agrees: bool | None
    reason: str
    prediction: Finding | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.error.to_dict(),
            "target": self.target,
            "message_index": self.message_index,
            "agrees": self.agrees,
            "reason": self.reason,
            "prediction": self.prediction.to_dict() if self.prediction else None,
        }


@dataclass
class Explanation:
    """`cut`: the text was longer than ERROR_MAX and only its start was read; `left_out`: the
    provider errors past the first ERRORS_MAX, found but not compared."""

    errors: list[ExplainedError] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    cut: bool = False
    left_out: int = 0

    @property
    def summary(self) -> str:
        said = " ".join(e.reason for e in self.errors) if self.errors else "No provider error found in the text."
        if self.left_out:
            said += f" {self.left_out} more provider errors were found and not compared (the first {ERRORS_MAX} were)."
        if self.cut:
            said += f" The text was cut at {ERROR_MAX // 1024} KB; only that much was read."
        return said

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "errors": [e.to_dict() for e in self.errors],
            "verdicts": [v.to_dict() for v in self.verdicts],
            "cut": self.cut,
            "left_out": self.left_out,
        }


# --- taking the provider's words out of litellm's -----------------------------------------------

SEPARATORS = re.compile(rf"Error doing the fallback: |Fallback to [^\n]{{1,{PLACEHOLDER_MAX}}}? also failed: ")


def parse_error(text: str) -> list[ProviderError]:
    """The provider errors in a litellm error string, primary first, then each fallback's."""
    if not text:
        return []
    groups = _groups(text)
    errors = []
    for k, segment in enumerate(SEPARATORS.split(text)):
        error = _provider_error(segment)
        if error is None:
            continue
        error.group = groups[k] if k < len(groups) else None
        errors.append(error)
    return errors


def _groups(text: str) -> list[str]:
    """Model groups in the order their errors appear."""
    new = re.findall(
        rf"model group '([^'\n]{{1,{PLACEHOLDER_MAX}}})' failed with the error above\. "
        rf"Fallback to ([^\n]{{1,{PLACEHOLDER_MAX}}}?) also failed",
        text,
    )
    if new:
        return [new[0][0], *[f.strip() for _, f in new]]
    primary = re.search(r"Received Model Group=(\S+)", text)
    fallbacks = re.search(r"Available Model Group Fallbacks=\[([^\]\n]{0,4000})\]", text)
    out = [primary.group(1)] if primary else []
    if fallbacks:
        out.extend(g.strip(" '\"") for g in fallbacks.group(1).split(",") if g.strip())
    return out


def _provider_error(segment: str) -> ProviderError | None:
    found = _exception(segment)
    provider = EXCEPTION_PROVIDERS.get(found[0].lower()) if found else None
    rest = segment[found[1] :] if found else segment
    message = _json_message(rest)
    if message is None:
        message = re.split(
            r"(?:\. )?Received Model Group=|No fallback model group found|"
            r"\n\nLiteLLM: |LiteLLM Retried:",
            rest,
            maxsplit=1,
        )[0].strip()
    if not message:
        return None
    error = ProviderError(text=message, provider=provider)
    _recognise(error)
    if error.rule is None and found is None:
        return None  # no provider named and no text we know: not a provider error
    return error


def _exception(segment: str) -> tuple[str, int] | None:
    """The provider of the first "<Provider>Exception - " and where its message starts: the
    word before the marker, read backwards (a pattern would rescan the word at each start)."""
    at = segment.find(EXCEPTION)
    while at >= 0:
        start = at
        while start > 0 and at - start < 40 and (segment[start - 1].isalnum() or segment[start - 1] == "_"):
            start -= 1
        if start < at:
            return segment[start:at], at + len(EXCEPTION)
        at = segment.find(EXCEPTION, at + 1)
    return None


def _json_message(text: str) -> str | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except (ValueError, RecursionError):  # a pasted text may nest deeper than the stack
        return None
    return _message_of(value)


def _message_of(value: Any) -> str | None:
    """error.message / message / Message, unwrapping a JSON string inside (Vertex wraps
    Anthropic's error JSON in its own)."""
    if isinstance(value, dict):
        for key in ("error", "message", "Message"):
            if key in value:
                found = _message_of(value[key])
                if found:
                    return found
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("{"):
            try:
                return _message_of(json.loads(stripped)) or value
            except (ValueError, RecursionError):
                return value
        return value
    return None


def _recognise(error: ProviderError) -> None:
    plain = error.text.replace("`", "")
    for code, pattern in PATTERNS:
        match = pattern.search(plain)
        if match:
            error.rule = code
            named = match.groupdict()
            index = next((named[n] for n in INDEXES if named.get(n) is not None), None)
            error.wire_index = int(index) if index is not None else None
            if named.get("m") is not None:
                error.content_index = int(named["m"])
            if code == "bedrock-no-explicit-caching" and error.provider is None:
                error.provider = "bedrock"
            return
    param = re.search(r"messages\.\[(\d{1,12})\]", error.text)
    if param:
        error.wire_index = int(param.group(1))


# --- matching against the prediction ------------------------------------------------------------


def explain(
    history: History,
    error: str | None = None,
    *,
    config: Any = None,
    group: str | None = None,
    build_request: bool | None = None,
    compare: bool = True,
) -> Explanation:
    """Each provider error in `error` (default: the error the log carries), mapped to the history
    and compared with the prediction for the target that answered it (compare=False: recognised
    only, no request built or judged)."""
    text = error if error is not None else (history.error or "")
    errors = parse_error(text[:ERROR_MAX])
    route = (
        [deployment_target(d) for d in route_deployments(load_config(config), group)]
        if config is not None and group
        else []
    )
    out = Explanation(cut=len(text) > ERROR_MAX, left_out=max(len(errors) - ERRORS_MAX, 0))
    used: set[int] = set()
    judged: dict[str, tuple[WireRequest, Verdict]] = {}  # a target met twice is judged once
    for provider_error in errors[:ERRORS_MAX]:
        target = _target_for(provider_error, history, route, used)
        if target is None:
            out.errors.append(
                ExplainedError(provider_error, None, None, None, "The error does not say which provider answered it.")
            )
            continue
        if not compare:
            out.errors.append(
                ExplainedError(
                    provider_error,
                    target.label,
                    None,
                    None,
                    f"{target.label} answered {provider_error.text!r} "
                    f"({provider_error.rule or 'a text this checker does not know'}); the history is "
                    "too large to compare with the prediction within a page request.",
                )
            )
            continue
        key = repr(target)  # model_info is a dict: not hashable, but its repr tells targets apart
        if key not in judged:
            wire = request_for(history, target, use_litellm=build_request)
            judged[key] = wire, judge(history, wire)
            out.verdicts.append(judged[key][1])
        wire, verdict = judged[key]
        out.errors.append(_compare(provider_error, target, wire, verdict, history))
    return out


def _target_for(error: ProviderError, history: History, route: list[Target], used: set[int]) -> Target | None:
    provider = error.provider
    for k, target in enumerate(route):
        if k not in used and (provider is None or target.provider == provider):
            used.add(k)
            return target
    if provider is None:
        return None
    own = target_for_model(history.model) if history.model else None
    if own is not None and own.provider == provider:
        return own
    return resolve(PROVIDER_TARGETS.get(provider, provider) if provider != "bedrock" else "bedrock")


def _compare(
    error: ProviderError, target: Target, wire: WireRequest, verdict: Verdict, history: History
) -> ExplainedError:
    said = f"{target.label} answered {error.text!r}"
    n = error.wire_index
    if error.rule is None:
        return ExplainedError(
            error,
            target.label,
            None,
            None,
            f"{said}: a text this checker does not know, so it cannot say whether the prediction agrees.",
        )
    if n is not None and n >= len(wire.messages):
        return ExplainedError(error, target.label, None, False, _index_out_of_range(error, target, wire, history))
    message_index = wire.messages[n].first_source if n is not None else None
    same = [
        f
        for f in verdict.errors
        if SAME_PROBLEM.get(f.rule, f.rule) == SAME_PROBLEM.get(error.rule, error.rule)
        and (n is None or f.wire_index == n)
    ]
    if same:
        where = f" at {_describe(history, message_index)}" if message_index is not None else ""
        return ExplainedError(
            error, target.label, message_index, True, f"{said}; the prediction agrees ({error.rule}{where}).", same[0]
        )
    at_index = [f for f in verdict.errors if n is not None and f.wire_index == n]
    if at_index:
        return ExplainedError(
            error,
            target.label,
            message_index,
            False,
            f"{said}; the prediction finds a different problem at the same place ({at_index[0].rule}).",
            at_index[0],
        )
    if error.rule == "bedrock-no-explicit-caching":
        markers = wire.history_markers
        dropped = next((f for f in verdict.findings if f.rule == "cache-markers-dropped"), None)
        if dropped is not None:
            why = (
                f"{said}. The history carries {markers} cache markers and this deployment has no "
                f"explicit prompt caching; litellm 1.110.2 drops the markers for it (its "
                f"model_info says so), so the prediction is a warning, not this error: the proxy "
                f"that failed sent them (an older litellm)."
            )
            return ExplainedError(error, target.label, None, False, why, dropped)
        return ExplainedError(
            error,
            target.label,
            None,
            False,
            f"{said}: the history carries {markers} cache markers and this "
            f"account has no explicit prompt caching, which the model map cannot "
            f"know; give the deployment model_info.supports_prompt_caching: false "
            f"(check_history --router-config) to predict it.",
        )
    predicted = (
        "accepts the history"
        if verdict.accepted
        else f"predicts {', '.join(sorted({f.rule for f in verdict.errors}))} instead"
    )
    return ExplainedError(error, target.label, message_index, False, f"{said}; the prediction {predicted}.")


def _index_out_of_range(error: ProviderError, target: Target, wire: WireRequest, history: History) -> str:
    return (
        f"{target.label} answered {error.text!r}. messages.{error.wire_index} names a message the "
        f"logged history does not have: its {len(history.messages)} messages make "
        f"{len(wire.messages)} messages once litellm has built the {target.label} request "
        f"(messages.0 to messages.{len(wire.messages) - 1}). So the request that failed was not "
        f"the one logged: a longer history was sent (later turns, or a retry or fallback that "
        f"sent more messages), and this log cannot show which message was at fault."
    )


def _describe(history: History, message_index: int) -> str:
    if 0 <= message_index < len(history.messages):
        return f"message {message_index} ({history.messages[message_index].role})"
    return f"message {message_index}"
