"""Gemini API and Vertex AI Gemini (docs/provider-rules.md s.4). Calls and results pair by position
and count, not by id; turn-order errors name no index, schema errors name `contents[N]`.
litellm keeps a tool result and the user text after it as two `user` contents.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..findings import Finding
from ..wire_blocks import WireMessage
from .base import Context, rule

CALL_POSITION = (
    "Please ensure that function call turn comes immediately after a user turn or after a function response turn."
)
RESPONSE_COUNT = (
    "Please ensure that the number of function response parts is equal to the number of "
    "function call parts of the function call turn."
)
RESPONSE_POSITION = "Please ensure that function response turn comes immediately after a function call turn."
EMPTY_PARTS = "* GenerateContentRequest.contents[{n}].parts: contents.parts must not be empty."
EMPTY_PART_DATA = (
    "* GenerateContentRequest.contents[{n}].parts[{m}].data: required oneof field 'data' "
    "must have one initialized field"
)
EMPTY_TEXT = (
    "Unable to submit request because it has an empty text parameter. Add a value to the "
    "parameter and try again. Learn more: "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"
)
SIGNATURE_MISSING = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools "
    "to work correctly, and missing thought_signature may lead to degraded model performance. "
    "Additional data, function call `default_api:{name}` , position {position}. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
GEMINI_3 = re.compile(r"gemini-([3-9]|\d\d)")


def _calls(message: WireMessage) -> int:
    return sum(1 for b in message.blocks if b.type == "tool_use")


def _responses(message: WireMessage) -> int:
    return sum(1 for b in message.blocks if b.type == "tool_result")


@rule("gemini-function-call-position", severity="error", fix="fix-role-order")
def function_call_position(ctx: Context) -> Iterator[Finding]:
    """A model turn with function calls that does not follow a user turn or a function response
    turn (history starts with it, or two model turns in a row)."""
    for k, message in enumerate(ctx.messages):
        if message.role == "assistant" and _calls(message) and (k == 0 or ctx.messages[k - 1].role != "user"):
            at = ctx.message_of(k)
            before = "nothing" if k == 0 else f"another model turn ({ctx.describe(ctx.message_of(k - 1))})"
            yield ctx.found(
                "gemini-function-call-position",
                wire_index=None,
                message_index=at,
                provider_error=CALL_POSITION,
                explanation=f"{ctx.describe(at)} calls tools, but {before} comes before it (contents[{k}]).",
            )
            return


@rule("gemini-function-response-count", severity="error", fix="add-missing-tool-result")
def function_response_count(ctx: Context) -> Iterator[Finding]:
    """The turn after a function call turn answers a different number of calls (a missing
    result, an extra one, or two identical calls litellm folded into one part)."""
    msgs = ctx.messages
    for k, message in enumerate(msgs[:-1]):
        calls = _calls(message)
        if message.role != "assistant" or not calls or msgs[k + 1].role != "user":
            continue
        answered = _responses(msgs[k + 1])
        if answered == calls:
            continue
        at = ctx.message_of(k)
        yield ctx.found(
            "gemini-function-response-count",
            wire_index=None,
            message_index=at,
            provider_error=RESPONSE_COUNT,
            explanation=f"{ctx.describe(at)} makes {calls} function call(s) "
            f"(contents[{k}]); the next turn answers {answered}.",
        )


@rule("gemini-function-response-position", severity="error", fix="drop-orphan-tool-result")
def function_response_position(ctx: Context) -> Iterator[Finding]:
    """A function response turn that does not follow a function call turn (an orphan result)."""
    for k, message in enumerate(ctx.messages):
        if message.role != "user" or not _responses(message):
            continue
        if k > 0 and ctx.messages[k - 1].role == "assistant" and _calls(ctx.messages[k - 1]):
            continue
        at = next((b.origin for b in message.blocks if b.type == "tool_result"), ctx.message_of(k))
        yield ctx.found(
            "gemini-function-response-position",
            wire_index=None,
            message_index=at,
            provider_error=RESPONSE_POSITION,
            explanation=f"{ctx.describe(at)} answers a tool call, but the turn before it "
            f"(contents[{k - 1}]) is not a function call turn.",
        )
        return


@rule("gemini-empty-parts", severity="error", fix="remove-empty-messages")
def empty_parts(ctx: Context) -> Iterator[Finding]:
    """A content with no parts."""
    for k, message in enumerate(ctx.messages):
        if not message.blocks:
            at = ctx.message_of(k)
            yield ctx.found(
                "gemini-empty-parts",
                wire_index=k,
                message_index=at,
                provider_error=EMPTY_PARTS.format(n=k),
                explanation=f"{ctx.describe(at)} becomes a content with no parts.",
            )


@rule("gemini-empty-part-data", severity="error", fix="remove-empty-blocks")
def empty_part_data(ctx: Context) -> Iterator[Finding]:
    """A part with none of its data fields set (an empty object)."""
    for k, message in enumerate(ctx.messages):
        for j, block in enumerate(message.blocks):
            if (
                block.type == "other"
                and isinstance(block.raw, dict)
                and not any(v not in (None, "", {}, []) for v in block.raw.values())
            ):
                at = block.origin if block.origin is not None else ctx.message_of(k)
                yield ctx.found(
                    "gemini-empty-part-data",
                    wire_index=k,
                    message_index=at,
                    provider_error=EMPTY_PART_DATA.format(n=k, m=j),
                    explanation=f"{ctx.describe(at)} becomes a part with no data (contents[{k}].parts[{j}]).",
                )


@rule("gemini-empty-text", severity="error", fix="remove-empty-blocks")
def empty_text(ctx: Context) -> Iterator[Finding]:
    """A text part with empty text (litellm sends `""` content as `{"text": ""}`); Gemini has
    refused these since late 2024 (zuisong/gemini-openai-proxy#83, microsoft/autogen#5762)."""
    for k, message in enumerate(ctx.messages):
        for block in message.blocks:
            if block.type == "text" and block.text == "":
                at = block.origin if block.origin is not None else ctx.message_of(k)
                yield ctx.found(
                    "gemini-empty-text",
                    wire_index=None,
                    message_index=at,
                    provider_error=EMPTY_TEXT,
                    explanation=f"{ctx.describe(at)} is empty; litellm sends it as an empty text part (contents[{k}]).",
                )
                return


@rule("gemini-thought-signature-missing", severity="error", fix="drop-thinking")
def thought_signature_missing(ctx: Context) -> Iterator[Finding]:
    """Gemini 3 and later: the first function call of a model turn in the current turn (since
    the last user text) replayed without its thought signature. litellm adds a placeholder
    signature, so this fires for requests built another way."""
    if not GEMINI_3.search(ctx.target.api_model):
        return
    start = 0
    for k, message in enumerate(ctx.messages):
        if message.role == "user" and any(b.type == "text" for b in message.blocks):
            start = k
    for k in range(start, len(ctx.messages)):
        message = ctx.messages[k]
        first = next((b for b in message.blocks if b.type == "tool_use"), None)
        if message.role == "assistant" and first is not None and not first.has_signature:
            at = ctx.message_of(k)
            yield ctx.found(
                "gemini-thought-signature-missing",
                wire_index=k,
                message_index=at,
                provider_error=SIGNATURE_MISSING.format(name=first.name, position=k),
                explanation=f"{ctx.describe(at)} replays a function call without the "
                f"thought signature {ctx.target.api_model} returned with it.",
            )
            return


@rule("gemini-ends-with-model", severity="warning", fix="drop-final-assistant")
def ends_with_model(ctx: Context) -> Iterator[Finding]:
    """The last content is a model turn: some Gemini models and Vertex refuse it, not
    consistently (crewAIInc/crewAI PR #6973)."""
    if ctx.messages and ctx.messages[-1].role == "assistant":
        at = ctx.message_of(len(ctx.messages) - 1)
        yield ctx.found(
            "gemini-ends-with-model",
            wire_index=None,
            message_index=at,
            explanation=f"The history ends with {ctx.describe(at)}; some Gemini models "
            f"answer 400 when the last turn is the model's.",
        )
