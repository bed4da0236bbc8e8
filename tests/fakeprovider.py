"""A local fake LLM provider for tests: the Anthropic Messages API and OpenAI Chat Completions on
127.0.0.1, so litellm's real code paths (transformation, HTTP, response parsing, error mapping)
run end to end without a real provider.

It enforces the rules it claims, with the providers' own error bodies (texts from
docs/provider-rules.md, marked exact there), so an unrepaired history really is refused:

  Anthropic  max_tokens required; roles user/assistant; non-empty text blocks; non-empty messages
             (except a final assistant); at most 4 cache_control blocks; unique tool_use ids;
             every tool_use answered by a tool_result at the start of the next message
             ("`tool_use` ids were found without `tool_result` blocks immediately after" /
             "Did not find N `tool_result` block(s) at the beginning of this message"); no
             tool_result without its tool_use in the previous message.
  OpenAI     every tool_calls id answered by the tool messages right after it; no tool message
             that does not follow tool_calls.

A valid request gets a minimal valid answer (one text block, usage). Knobs, settable any time:
`reply` (the text), `delay` (seconds before answering: makes a client time out), `status`
(429 or 500: answer every request with that provider error). Every request body is recorded.

    with FakeProvider() as fake:
        litellm.completion(model="anthropic/claude-sonnet-4-5", api_base=fake.api_base("anthropic"), ...)
        fake.received[-1].body["messages"]
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANTHROPIC_PATH = "/v1/messages"
OPENAI_PATH = "/v1/chat/completions"
MAX_CACHE_BLOCKS = 4

# Provider error bodies for the status knob (shapes as the providers send them).
ANTHROPIC_STATUS = {
    429: (
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit "
        "(https://docs.anthropic.com/en/api/rate-limits); see the response "
        "headers for current usage. Please reduce the prompt length or the "
        "maximum tokens requested, or try again later.",
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
OPENAI_STATUS = {
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for gpt-4o in organization org-fake on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in 20s.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
}


@dataclass
class Received:
    path: str
    body: Any
    headers: dict[str, str]


# --- the rules -------------------------------------------------------------------------------


def _blocks(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def anthropic_error(body: Any) -> str | None:
    """The message Anthropic's Messages API would answer with a 400, or None when it accepts."""
    if not isinstance(body, dict):
        return "body: Input should be a valid dictionary"
    if "max_tokens" not in body:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages: Field required"
    for i, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
    for message in messages:
        for block in _blocks(message.get("content")):
            if block.get("type") == "text":
                if block.get("text") == "":
                    return "messages: text content blocks must be non-empty"
                if not str(block.get("text")).strip():
                    return "messages: text content blocks must contain non-whitespace text"
    for i, message in enumerate(messages):
        final_assistant = i == len(messages) - 1 and message["role"] == "assistant"
        if not _blocks(message.get("content")) and not final_assistant:
            return (
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
    marked = _count_cache_blocks(body)
    if marked > MAX_CACHE_BLOCKS:
        return f"A maximum of {MAX_CACHE_BLOCKS} blocks with cache_control may be provided. Found {marked}."
    return _anthropic_pairing_error(messages)


def _count_cache_blocks(body: dict) -> int:
    count = sum(1 for t in body.get("tools") or [] if isinstance(t, dict) and t.get("cache_control"))
    system = body.get("system")
    if isinstance(system, list):
        count += sum(1 for b in system if isinstance(b, dict) and b.get("cache_control"))
    for message in body["messages"]:
        count += sum(1 for b in _blocks(message.get("content")) if b.get("cache_control"))
    return count


def _anthropic_pairing_error(messages: list[dict]) -> str | None:
    seen: set[str] = set()
    for i, message in enumerate(messages):
        blocks = _blocks(message.get("content"))
        if message["role"] == "assistant":
            for k, block in enumerate(blocks):
                if block.get("type") == "tool_use":
                    if block.get("id") in seen:
                        return f"messages.{i}.content.{k}: tool_use ids must be unique"
                    seen.add(block.get("id"))
            error = _answered(i, blocks, messages)
            if error:
                return error
        else:
            previous = _blocks(messages[i - 1].get("content")) if i and messages[i - 1]["role"] == "assistant" else []
            asked = {b.get("id") for b in previous if b.get("type") == "tool_use"}
            for k, block in enumerate(blocks):
                if block.get("type") == "tool_result" and block.get("tool_use_id") not in asked:
                    return (
                        f"messages.{i}.content.{k}: unexpected `tool_use_id` found in `tool_result` "
                        f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
    return None


def _answered(i: int, blocks: list[dict], messages: list[dict]) -> str | None:
    """Whether assistant message i's tool calls are answered at the start of message i+1."""
    ids = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
    if not ids:
        return None
    first_use = next(k for k, b in enumerate(blocks) if b.get("type") == "tool_use")
    text_after = any(b.get("type") == "text" for b in blocks[first_use:])
    following = messages[i + 1] if i + 1 < len(messages) else None
    answers = _blocks(following.get("content")) if following and following["role"] == "user" else []
    leading = []
    for block in answers:
        if block.get("type") != "tool_result":
            break
        leading.append(block.get("tool_use_id"))
    anywhere = {b.get("tool_use_id") for b in answers if b.get("type") == "tool_result"}
    missing = [x for x in ids if x not in anywhere]
    if not missing and not text_after and all(x in leading for x in ids):
        return None
    if not missing and not text_after:
        return (
            f"messages.{i + 1}: Did not find {len(ids)} `tool_result` block(s) at the beginning of "
            "this message. Messages following `tool_use` blocks must begin with a matching number "
            "of `tool_result` blocks."
        )
    return (
        f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
        f"after: {', '.join(missing or ids)}. Each `tool_use` block must have a corresponding "
        "`tool_result` block in the next message."
    )


def openai_error(body: Any) -> tuple[str, str | None] | None:
    """(message, param) OpenAI Chat Completions would answer with a 400, or None."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return "Missing required parameter: 'messages'.", "messages"
    pending: list[str] = []
    asked_at = None
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            if asked_at is None or message.get("tool_call_id") not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            pending.remove(message.get("tool_call_id"))
            continue
        if pending:
            return _unanswered(pending, asked_at)
        pending, asked_at = [], None
        if role == "assistant" and message.get("tool_calls"):
            pending = [c.get("id") for c in message["tool_calls"]]
            asked_at = i
    if pending:
        return _unanswered(pending, asked_at)
    return None


def _unanswered(pending: list[str], at: int | None) -> tuple[str, str]:
    # Which message `param` names (the assistant or the one after its tool messages) is not
    # confirmed by any public report; this fake names the assistant message.
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to "
        "each 'tool_call_id'. The following tool_call_ids did not have response messages: " + ", ".join(pending),
        f"messages.[{at}].role",
    )


# --- the answers -----------------------------------------------------------------------------


def anthropic_reply(body: dict, text: str) -> dict:
    return {
        "id": f"msg_fake{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-fake"),
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": max(1, len(json.dumps(body)) // 4),
            "output_tokens": max(1, len(text) // 4),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def openai_reply(body: dict, text: str) -> dict:
    prompt = max(1, len(json.dumps(body)) // 4)
    completion = max(1, len(text) // 4)
    return {
        "id": f"chatcmpl-fake{uuid.uuid4().hex[:20]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-fake"),
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}
        ],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def anthropic_error_body(kind: str, message: str) -> dict:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": f"req_fake{uuid.uuid4().hex[:20]}",
    }


def openai_error_body(
    message: str, *, kind: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# --- the server ------------------------------------------------------------------------------


class FakeProvider:
    """The server, on an ephemeral port in a daemon thread. Use as a context manager."""

    def __init__(
        self, *, reply: str = "Done: the conversation can go on.", delay: float = 0.0, status: int | None = None
    ):
        self.reply = reply
        self.delay = delay
        self.status = status
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakeProvider:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- where to point litellm
    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake provider first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def api_base(self, provider: str) -> str:
        """litellm's api_base for this fake: Anthropic's is used verbatim, OpenAI's gets
        /chat/completions appended by the client."""
        return {"anthropic": self.url + ANTHROPIC_PATH, "openai": self.url + "/v1"}[provider]

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.received]

    # -- answering
    def answer(self, path: str, body: Any) -> tuple[int, dict]:
        if self.delay:
            time.sleep(self.delay)
        if path == ANTHROPIC_PATH:
            return self._anthropic(body)
        if path == OPENAI_PATH:
            return self._openai(body)
        return 404, {"error": {"message": f"no such endpoint {path}", "type": "not_found"}}

    def _anthropic(self, body: Any) -> tuple[int, dict]:
        if self.status is not None:
            kind, message = ANTHROPIC_STATUS.get(self.status, ("api_error", "Internal server error"))
            return self.status, anthropic_error_body(kind, message)
        error = anthropic_error(body)
        if error:
            return 400, anthropic_error_body("invalid_request_error", error)
        return 200, anthropic_reply(body, self.reply)

    def _openai(self, body: Any) -> tuple[int, dict]:
        if self.status is not None:
            kind, code, message = OPENAI_STATUS.get(self.status, ("server_error", None, "Internal error"))
            return self.status, openai_error_body(message, kind=kind, code=code)
        error = openai_error(body)
        if error:
            message, param = error
            return 400, openai_error_body(message, param=param)
        return 200, openai_reply(body, self.reply)

    def record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            path = self.path.split("?", 1)[0]
            fake.record(Received(path=path, body=body, headers=dict(self.headers)))
            status, answer = fake.answer(path, body)
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
