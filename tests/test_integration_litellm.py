"""The litellm integration end to end: a real litellm.Router in this process, routed to the local
fake provider (tests/fakeprovider.py), which answers a broken history with the provider's real
error; the callback delivers that failure to a live inspector; the guard repairs or refuses
before the call is spent; with the inspector down, the platform's calls are unaffected."""

import asyncio
import copy
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")

from conversations.api.auth import api_token_create  # noqa: E402
from conversations.models import Conversation, Source  # noqa: E402
from integrations.client import InspectorClient  # noqa: E402
from integrations.guard import GuardRefused, InspectorGuard, guard_request  # noqa: E402
from integrations.litellm_callback import InspectorCallback  # noqa: E402
from tests.fakeprovider import FakeProvider, anthropic_error  # noqa: E402
from tests.support import FIXTURES  # noqa: E402

litellm.suppress_debug_info = True
BROKEN = json.loads((FIXTURES / "samples" / "unanswered-tool-call.json").read_text())["messages"]
TOOL_ID = "toolu_01A9xKqv3VbN7mZ2rT5sY8wD"
CLAUDE = "anthropic/claude-sonnet-4-5"


@pytest.fixture
def fake():
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def model_map():
    """A Router writes its deployments into litellm's global model map (max_tokens and friends):
    give the next tests the map as it was."""
    saved = copy.deepcopy(litellm.model_cost)
    yield
    litellm.model_cost.clear()
    litellm.model_cost.update(saved)


@pytest.fixture
def router(fake):
    """A platform's router: group "claude" on Anthropic, falling back to group "gpt" on OpenAI."""
    return litellm.Router(
        model_list=[
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": CLAUDE,
                    "api_base": fake.api_base("anthropic"),
                    "api_key": "sk-ant-fake",
                    "max_tokens": 512,
                },
            },
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-4o", "api_base": fake.api_base("openai"), "api_key": "sk-fake"},
            },
        ],
        fallbacks=[{"claude": ["gpt"]}],
        num_retries=0,
    )


@pytest.fixture
def claude_only(fake):
    return litellm.Router(
        model_list=[
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": CLAUDE,
                    "api_base": fake.api_base("anthropic"),
                    "api_key": "sk-ant-fake",
                    "max_tokens": 512,
                },
            }
        ],
        num_retries=0,
    )


@pytest.fixture
def callbacks():
    """Install callbacks the way a platform does (litellm.callbacks), and take them out after."""
    saved = list(litellm.callbacks)
    installed = []

    def install(*handlers):
        installed.extend(handlers)
        litellm.callbacks = list(handlers)
        return handlers[0] if len(handlers) == 1 else handlers

    yield install
    # litellm copies callbacks into its per-event lists; a stale one would take the next test's events.
    for handler in installed:
        litellm.logging_callback_manager.remove_callback_from_all_lists(handler)
    litellm.callbacks = saved


@pytest.fixture
def inspector(live_server, django_user_model):
    """A live inspector and a platform user's token."""
    user = django_user_model.objects.create_user("platform", password="platform-pass-1")
    _, token = api_token_create(user, name="litellm")
    return live_server.url, token


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def run_async(coroutine):
    """asyncio.run in a thread of its own: other tests (Playwright's sync API) may leave an event
    loop running in this one, and asyncio.run refuses to start under it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the callback delivers failures -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_failed_call_lands_in_the_inspector_with_its_error_and_verdicts(inspector, claude_only, callbacks):
    url, token = inspector
    callback = callbacks(InspectorCallback(url, token))

    with pytest.raises(litellm.BadRequestError) as failure:
        claude_only.completion(model="claude", messages=BROKEN)

    assert f"`tool_use` ids were found without `tool_result` blocks immediately after: {TOOL_ID}" in str(failure.value)
    assert wait_for(lambda: callback.client.sent == 1), callback.client.dropped
    conversation = Conversation.objects.get()
    assert conversation.source.kind == Source.Kind.CAPTURE
    assert conversation.model == CLAUDE and conversation.message_count == 3
    history = conversation.latest_revision.history
    assert "tool_use` ids were found without `tool_result`" in history.error
    assert history.meta["model_group"] == "claude"
    verdict = conversation.latest_revision.verdicts.get(own_target=True)
    assert not verdict.accepted and verdict.first_rule == "tool-result-missing"


@pytest.mark.django_db(transaction=True)
def test_the_async_hooks_deliver_too_and_the_api_shows_the_failure(inspector, claude_only, callbacks):
    url, token = inspector
    callback = callbacks(InspectorCallback(url, token))

    async def platform_call():
        with pytest.raises(litellm.BadRequestError):
            await claude_only.acompletion(model="claude", messages=BROKEN)
        for _ in range(500):  # litellm runs async failure hooks as tasks on this loop
            if callback.recorded:
                break
            await asyncio.sleep(0.01)

    run_async(platform_call())

    assert wait_for(lambda: callback.client.sent == 1), callback.client.dropped
    client = InspectorClient(url, token)
    listing = client.request("GET", "/api/conversations", params={"source": "capture"})
    detail = client.request("GET", f"/api/conversations/{listing['results'][0]['id']}")
    assert "tool_result" in detail["error"]
    assert detail["verdicts"][0]["findings"][0]["rule"] == "tool-result-missing"


@pytest.mark.django_db(transaction=True)
def test_a_sample_of_successful_calls_is_recorded_when_asked(inspector, claude_only, callbacks):
    url, token = inspector
    callback = callbacks(InspectorCallback(url, token, sample_rate=1.0))
    fine = [{"role": "user", "content": "Say hello."}]

    claude_only.completion(model="claude", messages=fine)

    assert wait_for(lambda: callback.client.sent == 1), callback.client.dropped
    history = Conversation.objects.get().latest_revision.history
    assert history.meta["status"] == "success"
    assert history.messages[-1].role == "assistant"  # the model's answer is the last turn


def test_successful_calls_are_not_sent_by_default(claude_only, callbacks):
    callback = callbacks(InspectorCallback(f"http://127.0.0.1:{closed_port()}", "token"))

    claude_only.completion(model="claude", messages=[{"role": "user", "content": "Say hello."}])

    assert callback.recorded == 0 and callback.dropped == 0


# --- the inspector down ------------------------------------------------------------------------


def test_with_the_inspector_stopped_the_call_succeeds_and_the_callback_counts_a_drop(claude_only, callbacks, caplog):
    callback = callbacks(InspectorCallback(f"http://127.0.0.1:{closed_port()}", "token", sample_rate=1.0))

    response = claude_only.completion(model="claude", messages=[{"role": "user", "content": "Say hello."}])

    assert response.choices[0].message.content == "Done: the conversation can go on."
    assert wait_for(lambda: callback.dropped == 1)
    assert callback.client.dropped["unreachable"] == 1 and callback.client.sent == 0
    assert "dropped 1 record(s)" in caplog.text


def test_a_hanging_inspector_never_slows_the_call(claude_only, callbacks):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        callback = callbacks(InspectorCallback(url, "token", timeout=1.0))

        started = time.monotonic()
        with pytest.raises(litellm.BadRequestError):
            claude_only.completion(model="claude", messages=BROKEN)
        took = time.monotonic() - started

        assert took < 1.0
        assert wait_for(lambda: callback.dropped == 1, timeout=5)


def test_a_full_queue_drops_instead_of_waiting(claude_only, callbacks):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        callback = callbacks(
            InspectorCallback(f"http://127.0.0.1:{silent.getsockname()[1]}", "token", timeout=2.0, queue_size=1)
        )

        for _ in range(3):  # one in flight (hanging), one queued, one with no room
            with pytest.raises(litellm.BadRequestError):
                claude_only.completion(model="claude", messages=BROKEN)
            wait_for(lambda: callback.client._queue.empty(), timeout=0.5)

        assert wait_for(lambda: callback.client.dropped["queue full"] == 1, timeout=2)


# --- the guard ---------------------------------------------------------------------------------


def test_the_guard_repairs_the_history_and_the_call_succeeds(claude_only, fake):
    result = guard_request({"model": "claude", "messages": BROKEN}, router=claude_only, mode="repair")

    assert result.repaired and result.accepted and not result.before[0].accepted
    response = claude_only.completion(**result.data)
    assert response.choices[0].message.content == "Done: the conversation can go on."
    sent = fake.received[-1].body["messages"]
    assert sent[2]["content"][0]["type"] == "tool_result" and sent[2]["content"][0]["tool_use_id"] == TOOL_ID


def test_report_mode_only_logs_and_sends_the_request_as_it_is(claude_only, caplog):
    data = {"model": "claude", "messages": BROKEN}

    result = guard_request(data, router=claude_only, mode="report")

    assert result.data is data and not result.accepted
    assert "would reject the request" in caplog.text and "tool-result-missing" in caplog.text


def test_refuse_mode_raises_the_error_the_provider_would_answer(claude_only, fake):
    with pytest.raises(litellm.BadRequestError):
        claude_only.completion(model="claude", messages=BROKEN)
    actual = anthropic_error(fake.received[-1].body)

    with pytest.raises(GuardRefused) as refused:
        guard_request({"model": "claude", "messages": BROKEN}, router=claude_only, mode="refuse")

    assert refused.value.status_code == 400
    assert refused.value.message.startswith(actual)
    assert len(fake.received) == 1  # the refused call was never sent


def test_a_clean_history_goes_through_untouched_in_every_mode(claude_only):
    data = {"model": "claude", "messages": [{"role": "user", "content": "Say hello."}]}

    results = [guard_request(data, router=claude_only, mode=mode) for mode in ("report", "repair", "refuse")]

    assert all(r.data is data and r.accepted and not r.edits for r in results)


def test_the_guard_checks_every_deployment_of_the_route_fallbacks_included(router):
    result = guard_request({"model": "claude", "messages": BROKEN}, router=router, mode="report")

    assert [v.target for v in result.before] == ["claude via anthropic/claude-sonnet-4-5", "gpt via openai/gpt-4o"]
    assert not any(v.accepted for v in result.before)


def test_a_history_the_guard_cannot_read_goes_out_unchanged(claude_only):
    data = {"model": "claude", "messages": "not a list"}

    result = guard_request(data, router=claude_only, mode="refuse")

    assert result.data is data and result.skipped


def test_the_guard_takes_a_target_or_a_deployment_model_without_a_router():
    by_target = guard_request({"model": "whatever", "messages": BROKEN}, target="openai")
    by_model = guard_request({"model": "claude", "messages": BROKEN}, model=CLAUDE)

    assert by_target.before[0].target == "openai" and by_model.before[0].provider == "anthropic"


def test_an_unknown_mode_is_refused_at_once():
    with pytest.raises(ValueError, match="mode='block'"):
        guard_request({"model": CLAUDE, "messages": BROKEN}, mode="block")


# --- the guard as a proxy pre-call hook ------------------------------------------------------------


def pre_call(guard: InspectorGuard, data: dict, call_type: str = "acompletion"):
    # The proxy calls the hook by keyword, with these names.
    return run_async(guard.async_pre_call_hook(user_api_key_dict=None, cache=None, data=data, call_type=call_type))


def test_the_proxy_hook_repairs_before_the_call_and_the_call_succeeds(router, fake):
    guard = InspectorGuard(mode="repair", router=router)

    data = pre_call(guard, {"model": "claude", "messages": BROKEN, "metadata": {"user": "u1"}})

    assert data["metadata"] == {"user": "u1"} and guard.last.repaired
    response = run_async(router.acompletion(**data))
    assert response.choices[0].message.content == "Done: the conversation can go on."
    assert fake.received[-1].path == "/v1/messages"  # no fallback was needed


def test_the_proxy_hook_refuses_with_a_400_and_the_predicted_text(router, fake):
    guard = InspectorGuard(mode="refuse", router=router)

    with pytest.raises(GuardRefused) as refused:
        pre_call(guard, {"model": "claude", "messages": BROKEN})

    # litellm's proxy answers an exception with status_code 400 with a 400 and its `message`.
    assert refused.value.status_code == 400
    assert f"ids were found without `tool_result` blocks immediately after: {TOOL_ID}" in refused.value.message
    assert fake.received == []


def test_the_proxy_hook_leaves_other_call_types_alone(router):
    guard = InspectorGuard(mode="refuse", router=router)
    data = {"model": "claude", "input": ["embed me"]}

    assert pre_call(guard, data, call_type="aembedding") is data


def test_the_proxy_hook_is_found_where_the_proxy_looks_for_it():
    from litellm.integrations.custom_logger import CustomLogger

    assert "async_pre_call_hook" in vars(InspectorGuard)
    assert InspectorGuard.async_pre_call_hook is not CustomLogger.async_pre_call_hook
    assert isinstance(InspectorGuard(), CustomLogger) and isinstance(InspectorCallback("http://x", "t"), CustomLogger)


# --- the record the callback sends ----------------------------------------------------------------


def test_without_a_logging_payload_the_record_is_built_from_the_call_and_still_reads_as_a_litellm_log():
    from conversations.history import formats
    from conversations.history.formats.document import Document
    from integrations.litellm_callback import call_record

    error = litellm.BadRequestError(
        message="AnthropicException - messages.2: `tool_use` ids were found without "
        "`tool_result` blocks immediately after",
        model=CLAUDE,
        llm_provider="anthropic",
    )
    messages = list(BROKEN)
    kwargs = {
        "litellm_call_id": "call-1",
        "model": CLAUDE,
        "messages": messages,
        "exception": error,
        "optional_params": {"max_tokens": 512, "stream": False},
        "litellm_params": {"custom_llm_provider": "anthropic", "metadata": {"model_group": "claude"}},
    }

    record = call_record(kwargs)
    messages.append({"role": "assistant", "content": "the agent went on"})  # after the hook returned

    history = formats.read(Document.from_bytes("call.json", json.dumps(record).encode()))[0]
    assert history.format == "litellm-log" and len(history.messages) == 3
    assert "`tool_use` ids were found without" in history.error
    assert history.meta["model_group"] == "claude" and history.meta["error_class"] == "BadRequestError"
    assert history.request["max_tokens"] == 512


def test_calls_without_a_chat_history_are_not_recorded():
    from integrations.litellm_callback import call_record

    assert call_record({"standard_logging_object": {"messages": "redacted-by-litellm", "status": "failure"}}) is None
    assert call_record({"model": "text-embedding-3-small", "input": ["x"]}) is None
