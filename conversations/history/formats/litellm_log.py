"""litellm logs: StandardLoggingPayload objects (what callbacks, S3/GCS/generic-API loggers write)
and proxy spend-log rows.

Each record is one call: `messages` is the OpenAI-format input, so the OpenAI reader does the
conversation and this module adds what the log knows about the call (model, provider, the error
the provider answered, timing, trace). On a success record the model's answer,
`response.choices[0].message`, is the conversation's last assistant turn.

Never written back: a log is a record of a request, not a store. The registry turns the history
into an OpenAI request instead (docs/formats.md §4).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ..errors import FormatError
from ..model import Block, History, Message, SourceRef, Usage
from . import openai
from .document import Document, loads

NAME = "litellm-log"
WRITABLE = False

WRAPPER = "standard_logging_object"
RESPONSE_PATH = "response.choices[0].message"
META_KEYS = ("trace_id", "model_group", "model_id", "api_base", "status", "call_type")


# --- detection ---------------------------------------------------------------------------------


def sniff(doc: Document) -> bool:
    if doc.is_dir or len(doc.files) != 1:
        return False
    try:
        first = _first_value(doc)
    except FormatError:
        return False
    return isinstance(first, dict) and is_record(first)


def is_record(obj: dict[str, Any]) -> bool:
    """A payload, its callback wrapper, or a spend-log row."""
    if isinstance(obj.get(WRAPPER), dict):
        return True
    if "trace_id" in obj and ("model_map_information" in obj or "hidden_params" in obj):
        return True
    if "status" in obj and "messages" in obj and "call_type" in obj:
        return True
    return _is_spend_row(obj)


def _is_spend_row(obj: dict[str, Any]) -> bool:
    return "request_id" in obj and "spend" in obj and "startTime" in obj


def _first_value(doc: Document) -> Any:
    """The object (or the first JSONL line) without parsing a whole JSONL file."""
    if doc.looks_like_jsonl():
        first = doc.text().lstrip().split("\n", 1)[0]
        try:
            return json.loads(first)
        except (ValueError, RecursionError):
            return None
    return doc.json()


# --- reading -----------------------------------------------------------------------------------


def read(doc: Document) -> list[History]:
    file, _ = doc.single
    if not doc.looks_like_jsonl():
        return [read_record(doc.json(), file=file)]
    histories = []
    for line, obj in doc.jsonl():
        try:
            histories.append(read_record(obj, file=file, line=line))
        except FormatError as exc:
            raise exc.located(file=file, line=line) from None
    return histories


def read_record(obj: Any, *, file: str, line: int | None = None) -> History:
    """One logged call as a History. `line` is the JSONL line (None for a lone object)."""
    if not isinstance(obj, dict):
        raise FormatError("a litellm log record must be a JSON object", file=file, line=line)
    prefix = "$"
    if isinstance(obj.get(WRAPPER), dict):
        obj, prefix = obj[WRAPPER], f"$.{WRAPPER}"
    spend_row = _is_spend_row(obj)
    messages = _json_field(obj, "messages", prefix, file, line)
    if messages is None or messages == {} or messages == "":  # spend rows default to {}
        raise FormatError(
            "the record has no messages (prompt logging off, or not a chat call)",
            file=file,
            line=line,
            path=f"{prefix}.messages",
        )
    if not isinstance(messages, list):
        raise FormatError(
            f"messages must be a list, got {type(messages).__name__}", file=file, line=line, path=f"{prefix}.messages"
        )

    parameters = _parameters(obj, prefix, file, line)
    request = {**parameters, "messages": messages}
    if isinstance(obj.get("model"), str):
        request["model"] = obj["model"]
    history = openai.parse_request(request, file=file, path=prefix, line=line)
    _move_tools_path(
        history, prefix, "model_parameters" if "tools" in _dict(obj.get("model_parameters")) else "proxy_server_request"
    )
    response = _response_message(obj, prefix, file, line)
    if response is not None:
        history.messages.append(response)

    history.format = NAME
    history.record = line
    _fill(history, obj, spend_row, file, line, prefix)
    return history


def _json_field(obj: dict[str, Any], key: str, prefix: str, file: str, line: int | None) -> Any:
    """A field that a spend-log export may hold as a JSON string."""
    value = obj.get(key)
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return loads(value)
        except (ValueError, RecursionError):
            raise FormatError(
                f"{key} is a string that is not valid JSON (or nested too deeply)",
                file=file,
                line=line,
                path=f"{prefix}.{key}",
            ) from None
    return value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _parameters(obj: dict[str, Any], prefix: str, file: str, line: int | None) -> dict[str, Any]:
    """The call's optional parameters (tools, tool_choice, max_tokens...): they are the rest of
    the request and the checks need them. Spend rows keep them in proxy_server_request."""
    parameters = _json_field(obj, "model_parameters", prefix, file, line)
    if not isinstance(parameters, dict) or not parameters:
        proxied = _dict(_json_field(obj, "proxy_server_request", prefix, file, line))
        parameters = {k: v for k, v in proxied.items() if k not in ("messages", "model")}
    return {k: v for k, v in parameters.items() if k not in ("messages", "model")}


def _move_tools_path(history: History, prefix: str, holder: str) -> None:
    """openai.parse_request names tools `$.tools[k]`; in the log they sit one level down."""
    old, new = f"{prefix}.tools", f"{prefix}.{holder}.tools"
    for tool in history.tools:
        if tool.source.path.startswith(old):
            tool.source.path = new + tool.source.path[len(old) :]


def _response_message(obj: dict[str, Any], prefix: str, file: str, line: int | None) -> Message | None:
    """The model's answer on a success record, as the last assistant message."""
    response = _json_field(obj, "response", prefix, file, line)
    choices = _dict(response).get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict) or message.get("role", "assistant") != "assistant":
        return None
    message = {**message, "role": "assistant"}
    parsed = openai.parse_request({"messages": [message]}, file=file, path=prefix, line=line)
    if not parsed.messages:
        return None
    answer = parsed.messages[0]
    old, new = f"{prefix}.messages[0]", f"{prefix}.{RESPONSE_PATH}"
    for source in _message_sources(answer):
        if source.path.startswith(old):
            source.path = new + source.path[len(old) :]
    answer.extra["from_response"] = True
    return answer


def _fill(history: History, obj: dict[str, Any], spend_row: bool, file: str, line: int | None, prefix: str) -> None:
    metadata = _dict(_json_field(obj, "metadata", prefix, file, line))
    error_info = _dict(obj.get("error_information")) or _dict(metadata.get("error_information"))
    history.model = _str(obj.get("model")) or history.model
    history.provider = _str(obj.get("custom_llm_provider")) or _str(error_info.get("llm_provider"))
    history.external_id = _str(obj.get("request_id" if spend_row else "id")) or _str(obj.get("id"))
    history.started_at = _time(obj.get("startTime"))
    history.ended_at = _time(obj.get("endTime"))
    history.error = _str(error_info.get("error_message")) or _str(obj.get("error_str"))
    prompt, completion = _int(obj.get("prompt_tokens")), _int(obj.get("completion_tokens"))
    if prompt or completion:
        history.usage = Usage(input_tokens=prompt, output_tokens=completion)
    meta = {key: obj.get(key) for key in META_KEYS if obj.get(key) not in (None, "")}
    for key in ("error_class", "error_code"):
        if error_info.get(key) not in (None, ""):
            meta[key] = error_info[key]
    if _str(obj.get("session_id")):
        meta["session_id"] = obj["session_id"]
    meta["record_kind"] = "spend_log" if spend_row else "standard_logging_payload"
    history.meta.update(meta)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: Any) -> str | None:
    """Epoch seconds (payloads) as ISO UTC; spend rows already hold ISO strings."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            moment = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return None


# --- the SourceRefs of a message (to move the response's paths) -------------------------------


def _message_sources(message: Message) -> Iterator[SourceRef]:
    yield message.source
    for block in message.blocks:
        yield from _block_sources(block)


def _block_sources(block: Block) -> Iterator[SourceRef]:
    yield block.source
    if isinstance(block.content, list):
        for inner in block.content:
            yield from _block_sources(inner)
