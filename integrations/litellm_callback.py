"""InspectorCallback: a litellm CustomLogger that records failed calls in Conversation Inspector.

    # SDK
    litellm.callbacks = [InspectorCallback()]          # INSPECTOR_URL, INSPECTOR_TOKEN from the env
    # proxy config.yaml (custom_callbacks.py next to it: `proxy_handler_instance = InspectorCallback()`)
    litellm_settings:
      callbacks: custom_callbacks.proxy_handler_instance

On each failed call (and a sample of successful ones, INSPECTOR_SAMPLE_RATE) it sends litellm's
StandardLoggingPayload (messages, tools, model, model group, deployment, the error) to
POST /api/conversations as a litellm-log record. The call never waits: the payload is copied and
queued, and a background thread posts it (integrations.client). A hook never raises.

This module imports litellm when it is imported: CustomLogger must be the base class, and only a
process that already uses litellm imports it.
"""

from __future__ import annotations

import logging
import os
import random
import traceback
import uuid
from datetime import datetime
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # noqa: E402
from litellm.integrations.custom_logger import CustomLogger  # noqa: E402

from integrations import config  # noqa: E402
from integrations.client import DEFAULT_QUEUE_SIZE, DEFAULT_TIMEOUT, InspectorClient  # noqa: E402

litellm.suppress_debug_info = True
log = logging.getLogger("integrations.inspector")

FORMAT = "litellm-log"


class InspectorCallback(CustomLogger):  # type: ignore[misc]  # litellm is untyped
    """url/token: the inspector and an API token (default INSPECTOR_URL / INSPECTOR_TOKEN);
    sample_rate: the share of successful calls to record too, 0..1 (default
    INSPECTOR_SAMPLE_RATE, else 0); timeout: seconds per post (the call never waits on it)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        sample_rate: float | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        client: InspectorClient | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.client = client or InspectorClient(url, token, timeout=timeout, queue_size=queue_size)
        # Public str attribute: litellm tells callback instances apart by their public str/int/bool
        # attributes, so two callbacks for two inspectors are both kept.
        self.url = self.client.url
        self.sample_rate = _rate(sample_rate)
        self._recorded = 0

    @property
    def recorded(self) -> int:
        """How many records were queued for the inspector."""
        return self._recorded

    @property
    def dropped(self) -> int:
        """How many records could not be sent (queue full, inspector down, refused)."""
        return self.client.dropped_total

    # litellm calls these by keyword: the parameter names are part of the interface.
    def log_failure_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, start_time, end_time, failed=True)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._record(kwargs, start_time, end_time, failed=True)

    def log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        if self._sampled():
            self._record(kwargs, start_time, end_time, failed=False)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        if self._sampled():
            self._record(kwargs, start_time, end_time, failed=False)

    def _sampled(self) -> bool:
        return self.sample_rate > 0 and random.random() < self.sample_rate

    def _record(self, kwargs: dict[str, Any], start_time: Any, end_time: Any, *, failed: bool) -> None:
        try:
            record = call_record(kwargs, start_time, end_time, failed=failed)
            if record is None:
                return
            # One source per call: its id (litellm_call_id), so a call is never a revision of another.
            call_id = record.get("id") or record.get("litellm_call_id") or uuid.uuid4().hex
            name = f"litellm/{record.get('model_group') or record.get('model') or 'call'}/{call_id}"
            if self.client.submit(record, format=FORMAT, kind="capture", name=name):
                self._recorded += 1
        except Exception:  # a logging hook must never break (or slow) the platform's call
            log.warning("Conversation Inspector: could not record a call:\n%s", traceback.format_exc(limit=3))


def call_record(
    kwargs: dict[str, Any], start_time: Any = None, end_time: Any = None, *, failed: bool = True
) -> dict[str, Any] | None:
    """The litellm-log record of one call: the StandardLoggingPayload when litellm built one
    (with the error filled in if it lacks it), else the same keys from the raw kwargs.
    None for calls without a chat history (embeddings, images...)."""
    payload = kwargs.get("standard_logging_object")
    if isinstance(payload, dict):
        record = dict(payload)
    else:
        record = _record_from_kwargs(kwargs, start_time, end_time, failed)
    if not isinstance(record.get("messages"), list) or not record["messages"]:
        return None
    # Written to JSON later, on the client's thread: copy what an agent may go on appending to.
    record["messages"] = list(record["messages"])
    if failed:
        _error_fill(record, kwargs.get("exception"))
    return record


def _record_from_kwargs(kwargs: dict[str, Any], start_time: Any, end_time: Any, failed: bool) -> dict[str, Any]:
    params = kwargs.get("litellm_params") or {}
    metadata = params.get("metadata") or {}
    model_info = params.get("model_info") or metadata.get("model_info") or {}
    optional = kwargs.get("optional_params") or {}
    return {
        "id": kwargs.get("litellm_call_id"),
        "trace_id": kwargs.get("litellm_trace_id"),
        "call_type": kwargs.get("call_type", "completion"),
        "status": "failure" if failed else "success",
        "model": kwargs.get("model"),
        "custom_llm_provider": params.get("custom_llm_provider"),
        "model_group": metadata.get("model_group"),
        "model_id": model_info.get("id"),
        "api_base": params.get("api_base"),
        "messages": kwargs.get("messages"),
        "model_parameters": {
            k: v for k, v in optional.items() if k in ("tools", "tool_choice", "max_tokens", "thinking", "temperature")
        },
        "startTime": _epoch(start_time),
        "endTime": _epoch(end_time),
    }


def _error_fill(record: dict[str, Any], exception: Any) -> None:
    if exception is None:
        return
    info = dict(record.get("error_information") or {})
    info.setdefault("error_message", str(exception))
    info.setdefault("error_class", exception.__class__.__name__)
    if getattr(exception, "status_code", None) is not None:
        info.setdefault("error_code", str(exception.status_code))
    if getattr(exception, "llm_provider", None):
        info.setdefault("llm_provider", exception.llm_provider)
    record["error_information"] = {k: v for k, v in info.items() if v not in (None, "")}
    record.setdefault("error_str", str(exception))
    record["status"] = "failure"


def _rate(value: float | None) -> float:
    if value is None:
        value = config.sample_rate()
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"sample_rate={value!r}: expected a number from 0 to 1")
    return value


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return value if isinstance(value, (int, float)) else None
