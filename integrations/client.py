"""A tiny client for the inspector's API, for code running inside an agent platform.

`submit()` never blocks and never raises: it puts the document on a bounded queue that one
daemon thread posts with a short timeout. Whatever cannot be sent (queue full, inspector down,
refused) is dropped, counted by reason, and logged at most once per LOG_INTERVAL, because the
platform's own calls matter more than our record of them. Standard library only.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from integrations import config

log = logging.getLogger("integrations.inspector")

DEFAULT_TIMEOUT = 2.0
DEFAULT_QUEUE_SIZE = 1000
LOG_INTERVAL = 60.0  # seconds between two "dropped" warnings


class InspectorUnavailable(Exception):
    """A synchronous post that did not get a 2xx answer (post(), not submit())."""


@dataclass(frozen=True)
class Item:
    body: bytes | dict[str, Any]  # a dict is written to JSON by the worker, off the caller's thread
    params: dict[str, str]


class InspectorClient:
    """url: the inspector's base URL (http://inspector:8000); token: an API token
    (`manage.py create_api_token USER`). Both default to INSPECTOR_URL / INSPECTOR_TOKEN."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ):
        self.url = (url or config.inspector_url()).rstrip("/")
        self.token = token or config.inspector_token()
        self.timeout = timeout
        self.sent = 0
        self.dropped: Counter[str] = Counter()
        self._queue: queue.Queue[Item] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_warning = 0.0
        self._unwarned = 0
        self._atexit = False
        if not self.url:
            log.warning("Conversation Inspector: no INSPECTOR_URL; failed calls will not be recorded")

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    # -- the background path
    def submit(self, body: bytes | dict[str, Any], **params: str) -> bool:
        """Queue a document (bytes, or a dict the worker writes as JSON) for
        POST /api/conversations?params. False when it was dropped."""
        if not self.configured:
            self._drop("not configured")
            return False
        try:
            self._queue.put_nowait(Item(body, params))
        except queue.Full:
            self._drop("queue full")
            return False
        self._ensure_worker()
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued was sent or dropped (tests, shutdown). True when done."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="inspector-client", daemon=True)
                self._thread.start()
                if not self._atexit:
                    # A script that fails one call and exits still gets it recorded, within a bound.
                    atexit.register(self.flush, self.timeout + 1)
                    self._atexit = True

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                body = item.body if isinstance(item.body, bytes) else json_bytes(item.body)
                self.post(body, **item.params)
                self.sent += 1
            except InspectorUnavailable as exc:
                self._drop(str(exc))
            except Exception as exc:  # never let the thread die: the next item may go through
                self._drop(f"{exc.__class__.__name__}: {exc}")
            finally:
                self._queue.task_done()

    def _drop(self, reason: str) -> None:
        with self._lock:
            key = reason.split(":", 1)[0][:80]
            self.dropped[key] += 1
            self._unwarned += 1
            now = time.monotonic()
            if self._last_warning and now - self._last_warning < LOG_INTERVAL:
                return
            count, self._unwarned, self._last_warning = self._unwarned, 0, now
        log.warning(
            "Conversation Inspector: dropped %d record(s) (%s); %d dropped in all. The calls "
            "themselves were not affected.",
            count,
            reason,
            self.dropped_total,
        )

    # -- the synchronous path (also what the worker calls)
    def post(self, body: bytes, **params: str) -> dict[str, Any]:
        """POST a document now; the API's JSON answer. Raises InspectorUnavailable."""
        return self.request("POST", "/api/conversations", body=body, params=params)

    def request(
        self, method: str, path: str, *, body: bytes | None = None, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(
            f"{self.url}{path}{query}",
            data=body,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "conversation-inspector-client",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return cast("dict[str, Any]", json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            raise InspectorUnavailable(f"HTTP {exc.code}: {_reason(exc)}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InspectorUnavailable(f"unreachable: {reason}") from None
        except ValueError as exc:
            raise InspectorUnavailable(f"bad answer: {exc}") from None


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, default=_jsonable, ensure_ascii=False).encode()


def _jsonable(value: Any) -> Any:
    """What json cannot write by itself: pydantic models litellm leaves in a payload, datetimes."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _reason(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("reason", ""))[:200]
    except Exception:  # an HTML error page, an empty body: the status says enough
        return error.reason or ""
