"""Resume: the repaired history goes through litellm's real code path to a local fake provider
that enforces the rules it claims; an unrepaired history really is refused, with the provider's
words; the repaired one gets its reply as the last assistant message."""

import json
import shutil

import pytest

from conversations.history import formats
from conversations.history.check import check
from conversations.history.formats import load_path
from conversations.history.repair import repair
from conversations.resume import DEFAULT_MAX_TOKENS, ResumeError, _resume_error, resume
from conversations.writeback import append_reply, disk_hash
from tests.fakeprovider import FakeProvider, anthropic_error, openai_error
from tests.support import FIXTURES

UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"
TEXT_FIRST = FIXTURES / "samples" / "user-text-before-tool-result.json"
CLAUDE = "anthropic/claude-sonnet-4-5"
GPT = "openai/gpt-4o"
KEY = "sk-test-not-a-real-key"


@pytest.fixture(scope="module")
def fake():
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def reset(fake):
    fake.status, fake.delay, fake.reply = None, 0.0, "Done: the conversation can go on."
    fake.received.clear()


def history_of(path):
    (history,) = formats.read(load_path(path))
    return history


def send(history, fake, provider="anthropic", model=CLAUDE, **kw):
    kw.setdefault("continuation", "Please go on.")
    return resume(history, model=model, api_base=fake.api_base(provider), api_key=KEY, timeout=10, **kw)


# --- refused before the repair, accepted after -------------------------------------------------------


def test_an_unanswered_tool_call_is_refused_with_anthropics_own_words(fake):
    history = history_of(UNANSWERED)
    with pytest.raises(ResumeError) as refused:
        send(history, fake)
    text = (
        "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "toolu_01A9xKqv3VbN7mZ2rT5sY8wD. Each `tool_use` block must have a corresponding "
        "`tool_result` block in the next message."
    )
    assert str(refused.value) == text
    assert refused.value.status_code == 400 and refused.value.kind == "BadRequestError"
    assert json.loads(refused.value.body)["error"]["message"] == text  # the whole body, verbatim
    # The prediction said exactly this before anything was sent.
    predicted = check(history, target="anthropic").errors[0]
    assert predicted.provider_error == text


def test_the_repaired_history_is_accepted_and_the_reply_comes_back_last(fake):
    history = history_of(UNANSWERED)
    repaired = repair(history, target="anthropic").history
    fake.reply = "The listing was interrupted; running ls -la again."

    result = send(repaired, fake)

    body = fake.received[-1].body
    assert fake.received[-1].path == "/v1/messages"
    first = body["messages"][2]["content"][0]  # the synthetic result, first in the turn
    assert (first["type"], first["tool_use_id"]) == ("tool_result", "toolu_01A9xKqv3VbN7mZ2rT5sY8wD")
    assert "interrupted" in json.dumps(first["content"])
    assert body["messages"][-1]["content"][-1]["text"] == "Please go on."
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    reply = result.history_with_reply.messages[-1]
    assert reply is result.reply_message and reply.role == "assistant"
    assert reply.text == "The listing was interrupted; running ls -la again."
    assert reply.usage.input_tokens > 0 and reply.source.line is None
    assert [m.text for m in result.history_with_reply.messages[-2:-1]] == ["Please go on."]
    assert len(result.history_with_reply.messages) == len(repaired.messages) + 2
    assert len(repaired.messages) == 4  # the input is not changed
    assert result.raw_response["choices"][0]["message"]["content"] == reply.text


def test_a_user_message_typed_before_the_tool_result_is_refused_then_accepted(fake):
    history = history_of(TEXT_FIRST)
    with pytest.raises(
        ResumeError,
        match=r"^messages\.2: Did not find 1 `tool_result` block\(s\) at the "
        r"beginning of this message\.",
    ):
        send(history, fake)
    assert check(history, target="anthropic").errors[0].rule == "tool-result-not-first"
    result = send(repair(history, target="anthropic").history, fake)
    assert result.reply_message.text == fake.reply


def test_openai_refuses_the_unanswered_tool_call_with_its_own_words_and_accepts_the_repair(fake):
    history = history_of(UNANSWERED)
    with pytest.raises(ResumeError) as refused:
        send(history, fake, provider="openai", model=GPT)
    assert str(refused.value) == (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: "
        "toolu_01A9xKqv3VbN7mZ2rT5sY8wD"
    )
    assert fake.received[-1].path == "/v1/chat/completions"
    result = send(repair(history, target="openai").history, fake, provider="openai", model=GPT)
    assert result.reply_message.text == fake.reply
    assert fake.received[-1].body["messages"][3] == {
        "role": "tool",
        "content": "The tool call was interrupted before it returned a result.",
        "tool_call_id": "toolu_01A9xKqv3VbN7mZ2rT5sY8wD",
    }


# --- what comes back when it fails -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, kind, words",
    [
        (429, "RateLimitError", "Number of request tokens has exceeded your per-minute rate limit"),
        (500, "InternalServerError", "Internal server error"),
    ],
)
def test_an_anthropic_outage_is_reported_verbatim(fake, status, kind, words):
    fake.status = status
    with pytest.raises(ResumeError) as failed:
        send(repair(history_of(UNANSWERED), target="anthropic").history, fake)
    assert failed.value.status_code == status and failed.value.kind == kind
    assert str(failed.value).startswith(words)
    assert len(fake.received) == 1  # sent once: no silent retry


def test_an_openai_rate_limit_is_reported_verbatim(fake):
    fake.status = 429
    with pytest.raises(ResumeError) as failed:
        send(repair(history_of(UNANSWERED), target="openai").history, fake, provider="openai", model=GPT)
    assert str(failed.value) == (
        "Rate limit reached for gpt-4o in organization org-fake on requests per min "
        "(RPM): Limit 3, Used 3, Requested 1. Please try again in 20s."
    )
    assert failed.value.status_code == 429 and len(fake.received) == 1


def test_a_provider_that_does_not_answer_in_time_is_a_timeout(fake):
    fake.delay = 2.0
    with pytest.raises(ResumeError, match="[Tt]imed? ?out") as failed:
        resume(
            repair(history_of(UNANSWERED), target="anthropic").history,
            model=CLAUDE,
            continuation=None,
            api_base=fake.api_base("anthropic"),
            api_key=KEY,
            timeout=0.5,
        )
    assert failed.value.kind == "Timeout"


# --- what is sent ------------------------------------------------------------------------------------------


def test_the_key_and_base_url_come_from_the_caller_never_from_the_log(fake):
    doc = load_path(FIXTURES / "formats" / "litellm-standard-logging-failure.json")
    (history,) = formats.read(doc)
    repaired = repair(history, target="anthropic").history
    result = send(repaired, fake, continuation=None, extra={"max_tokens": 321})
    received = fake.received[-1]
    assert received.headers.get("x-api-key") == KEY
    assert received.body["max_tokens"] == 321 and received.body["model"] == "claude-sonnet-4-5"
    assert result.history_with_reply.messages[-1].role == "assistant"
    assert len(result.history_with_reply.messages) == len(repaired.messages) + 1  # no continuation


def test_a_resumed_reply_is_appended_to_a_claude_code_session(fake, tmp_path):
    path = tmp_path / "session.jsonl"
    shutil.copyfile(FIXTURES / "formats" / "claude-code-session.jsonl", path)
    doc = load_path(path)
    (history,) = formats.read(doc)
    fake.reply = "Migration 0042 is in place; the health check passes."

    result = send(history, fake, continuation="Did the health check pass?")
    written = append_reply(path, doc, result.history_with_reply, expected_hash=disk_hash(path), roots=[tmp_path])

    old_lines = doc.single[1].split(b"\n")
    new_lines = path.read_bytes().split(b"\n")
    assert new_lines[: len(old_lines) - 1] == old_lines[:-1]  # every record kept byte for byte
    added = [json.loads(line) for line in new_lines if line and line not in old_lines]
    question, answer = added
    last_uuid = json.loads(old_lines[-2] or old_lines[-1])["uuid"]
    assert question["type"] == "user" and question["parentUuid"] == last_uuid
    assert question["message"]["content"] == "Did the health check pass?"
    assert answer["type"] == "assistant" and answer["parentUuid"] == question["uuid"]
    assert answer["message"]["content"] == [{"type": "text", "text": fake.reply}]
    assert written.backup.read_bytes() == doc.single[1]
    (again,) = formats.read(load_path(path))
    assert again.messages[-1].text == fake.reply


# --- the fake itself: the rules it claims, with the providers' texts ------------------------------------


def test_the_fake_refuses_an_orphan_tool_result_and_a_sixth_cache_marker():
    orphan = {
        "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "?"}]}],
    }
    assert anthropic_error(orphan) == (
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_x. Each "
        "`tool_result` block must have a corresponding `tool_use` block in the previous message."
    )
    marked = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    many = {"max_tokens": 10, "system": [marked], "messages": [{"role": "user", "content": [marked] * 5}]}
    assert anthropic_error(many) == "A maximum of 4 blocks with cache_control may be provided. Found 6."
    assert openai_error({"messages": [{"role": "tool", "tool_call_id": "x", "content": "?"}]}) == (
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
        "messages.[0].role",
    )
    assert anthropic_error({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}) is None


# --- what an error shows -------------------------------------------------------------------------------


class AuthenticationError(Exception):
    """As litellm names a provider's 401 (its message echoes what the provider said)."""

    status_code = 401


def test_a_resume_error_is_redacted_cut_and_has_no_traceback_nor_server_path():
    echoed = (
        "Incorrect API key provided: sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789. "
        "while loading /srv/inspector/.venv/lib/python3.11/site-packages/litellm/main.py "
        + "x" * 5000
        + '\nTraceback (most recent call last):\n  File "/srv/inspector/conversations/resume.py", line 9'
    )

    error = _resume_error(AuthenticationError(echoed))

    text = str(error)
    assert error.kind == "AuthenticationError" and error.status_code == 401
    assert text.startswith("Incorrect API key provided: [REDACTED]. while loading <path> xxx")
    assert "sk-proj-" not in text and "/srv/inspector" not in text and "Traceback" not in text
    assert len(text) <= 2000
    assert error.body is None or ("sk-proj-" not in error.body and len(error.body) <= 2000)
