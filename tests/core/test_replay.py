"""The replay (wire.simulate) is held to litellm's own transformation (wire.build): for every
fixture and every target, and for random histories, the request the rules see (messages, roles,
blocks, ids, cache markers, what litellm changed, the parameters and max_tokens the rules read)
must be identical. Any difference fails: fix the replay, or leave that case to litellm
(wire.replay_covers says no, and the check builds the request with litellm)."""

from __future__ import annotations

import functools
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.history import formats, wire
from conversations.history.errors import HistoryError
from conversations.history.formats.openai import parse_request
from conversations.history.routes import deployment_target, deployments, load_config
from conversations.history.rules import size
from conversations.history.targets import TARGET_NAMES, resolve, target_for_model
from tests.support import FIXTURES

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydantic.*")
logging.getLogger("LiteLLM").setLevel(logging.ERROR)  # its own repairs, as warnings


def seen(request: wire.WireRequest) -> dict:
    """Everything of a wire request the rules read."""
    return {
        "format": request.format,
        "messages": [
            {"role": m.role, "sources": m.sources, "blocks": [_block(b) for b in m.blocks]} for m in request.messages
        ],
        "system": [_block(b) for b in request.system],
        "tools": request.tools,
        "tool_markers": request.tool_markers,
        "history_markers": request.history_markers,
        "params": request.params,
        "changes": request.changes,
        "error": request.error,
        "thinking": request.thinking,
        "max_tokens": request.max_tokens,
    }


def _block(block: wire.WireBlock) -> dict:
    out = {
        "type": block.type,
        "index": block.index,
        "origin": block.origin,
        "text": block.text,
        "id": block.id,
        "name": block.name,
        "cache": block.cache,
        "is_error": block.is_error,
        "signature": block.signature,
        "has_signature": block.has_signature,
        "has_text": block.has_text,
    }
    if block.type == "image":
        out["bytes"] = size._image_bytes(block.raw)  # what the image rules read of `raw`
    if block.type == "other":
        out["raw"] = block.raw  # the Gemini empty-part rule reads it whole
    return out


def assert_replayed_as_litellm_builds(history, target) -> None:
    if wire.replay_covers(history, target) is not None:
        return  # the check builds this one with litellm
    built = wire.build(history, target)
    assert built.exact, "litellm's messages did not line up with the replay's"
    assert seen(wire.simulate(history, target)) == seen(built)


# --- every fixture, every target -----------------------------------------------------------------


def fixture_histories():
    found = []
    for folder in ("formats", "seed", "samples", "real"):
        root = FIXTURES / folder
        paths = [p for p in root.rglob("*") if p.suffix in (".json", ".jsonl") and "events" not in p.parts]
        paths += [p.parent for p in root.rglob("events") if p.is_dir()]
        for path in sorted(paths):
            try:
                histories = formats.read(formats.load_path(path))
            except HistoryError:
                continue  # not a conversation (metadata, a summary-only session)
            found += [pytest.param(h, id=f"{path.relative_to(FIXTURES)}#{k}") for k, h in enumerate(histories)]
    return found


@functools.cache
def targets():
    """Every target's default model, a few more models per target, and the seed's route."""
    out = [resolve(name) for name in TARGET_NAMES]
    out += [
        resolve("anthropic", "anthropic/claude-3-5-sonnet-20241022"),
        resolve("anthropic", "anthropic/claude-opus-4-1"),
        resolve("bedrock", "bedrock/converse/anthropic.claude-3-5-sonnet-20241022-v2:0"),
        resolve("openai", "openai/gpt-4.1"),
        resolve("openai", "openai/gpt-5"),
        resolve("openai", "openai/o3"),
        resolve("gemini", "gemini/gemini-2.5-flash"),
        resolve("gemini", "gemini/gemini-1.5-pro"),
        resolve("gemini", "gemini/gemini-3-flash-preview"),
        resolve("bedrock-invoke", "bedrock/invoke/anthropic.claude-3-5-sonnet-20241022-v2:0"),
        target_for_model("vertex_ai/claude-3-5-sonnet-v2@20241022"),
        target_for_model("vertex_ai/claude-sonnet-4@20250514"),
        target_for_model("vertex_ai/gemini-2.5-pro"),
    ]
    config = load_config(FIXTURES / "seed" / "proxy-config.yaml")
    for deployment in deployments(config):
        for reads in (False, True):
            out.append(deployment_target(deployment, litellm_reads_model_info=reads))
    return out


def test_the_fixtures_and_targets_cover_what_the_replay_replays():
    covered = [(h, t) for h in fixture_histories() for t in targets() if wire.replay_covers(h.values[0], t) is None]
    assert len(fixture_histories()) >= 12 and len(covered) >= 100


@pytest.mark.parametrize("history", fixture_histories())
def test_every_fixture_is_replayed_for_every_target_as_litellm_builds_it(history):
    for target in targets():
        assert_replayed_as_litellm_builds(history, target)


# --- random histories ----------------------------------------------------------------------------

IDS = ["call_1", "call_2", "toolu_01ABC", "functions.bash:0", "call 9", "c" * 70]
NAMES = ["bash", "str_replace_editor", "finish", "web.search", "think"]
TEXTS = ["", " ", "\n", "hello", "Run the tests.  ", "done\n", "中文", "a\n\nb"]
CACHE = st.sampled_from([None, None, None, {"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}])


@st.composite
def contents(draw, *, allow_none: bool, tool_result: bool = False):
    kind = draw(
        st.sampled_from(["string", "string", "parts", "none", "empty-list"] if allow_none else ["string", "parts"])
    )
    if kind == "string":
        return draw(st.sampled_from(TEXTS))
    if kind == "none":
        return None
    if kind == "empty-list":
        return []
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        part = {"type": "text", "text": draw(st.sampled_from(TEXTS))}
        if tool_result and draw(st.integers(0, 5)) == 0:
            part = {"type": "tool_reference", "tool_name": "bash"}  # Claude Code's deferred tools
        cache = draw(CACHE)
        if cache:
            part["cache_control"] = cache
        parts.append(part)
    return parts


@st.composite
def messages(draw, role: str):
    message: dict = {"role": role}
    if role == "tool":
        message["tool_call_id"] = draw(st.sampled_from(IDS))
        message["content"] = draw(contents(allow_none=False, tool_result=True))
        if draw(st.booleans()):
            message["name"] = draw(st.sampled_from(NAMES))
    elif role == "assistant":
        message["content"] = draw(contents(allow_none=True))
        calls = draw(st.integers(0, 3))
        if calls:
            message["tool_calls"] = []
            for _ in range(calls):
                call = {
                    "id": draw(st.sampled_from(IDS)),
                    "type": "function",
                    "function": {
                        "name": draw(st.sampled_from(NAMES)),
                        "arguments": draw(st.sampled_from(['{"command": "ls"}', "{}", '{"a": [1, 2]}'])),
                    },
                }
                cache = draw(CACHE)
                if cache:
                    call["cache_control"] = cache
                message["tool_calls"].append(call)
    if role in ("user", "assistant") and draw(st.integers(0, 6)) == 0:
        message["name"] = "bob"
    else:
        message["content"] = draw(contents(allow_none=False))
    cache = draw(CACHE)
    if cache:
        message["cache_control"] = cache
    return message


@st.composite
def requests(draw):
    request: dict = {"messages": []}
    for _ in range(draw(st.integers(0, 2))):
        system = {"role": "system", "content": draw(contents(allow_none=False))}
        cache = draw(CACHE)
        if cache:
            system["cache_control"] = cache
        request["messages"].append(system)
    roles = draw(st.lists(st.sampled_from(["user", "user", "assistant", "assistant", "tool"]), min_size=0, max_size=9))
    request["messages"] += [draw(messages(role)) for role in roles]
    if draw(st.booleans()):
        request["tools"] = [
            {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}
            for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
        ]
        cache = draw(CACHE)
        if cache:
            request["tools"][-1]["cache_control"] = cache
    if draw(st.booleans()):
        key = draw(st.sampled_from(["max_tokens", "max_tokens", "max_completion_tokens"]))
        request[key] = draw(st.sampled_from([1024, 8192, 100_000]))
    if draw(st.integers(0, 4)) == 0:
        request.update(
            draw(
                st.sampled_from(
                    [
                        {"thinking": {"type": "enabled", "budget_tokens": 2048}},
                        {"reasoning_effort": "low"},
                        {"tool_choice": "auto"},
                        {"tool_choice": "none"},
                        {"tool_choice": "required"},
                        {"tool_choice": {"type": "function", "function": {"name": "bash"}}},
                        {"parallel_tool_calls": False},
                        {"top_p": 0.9},
                        {"stop": ["END"]},
                    ]
                )
            )
        )
    if draw(st.booleans()):
        request["temperature"] = 0.2
    return request


@settings(
    max_examples=int(__import__("os").environ.get("REPLAY_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(requests(), st.integers(0, len(TARGET_NAMES) + 9))
def test_any_history_is_replayed_as_litellm_builds_it(request, which):
    history = parse_request(json.loads(json.dumps(request)), file="random")
    assert_replayed_as_litellm_builds(history, targets()[which])


# --- which one a check uses ----------------------------------------------------------------------

CHECK_A_FIXTURE = """
import logging, sys
logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
from conversations.history import formats
from conversations.history.check import check
path = "tests/fixtures/seed/openhands-6852-cache-on-tool-message.json"
history = formats.read(formats.load_path(path), format="openai")[0]
for name in ("anthropic", "bedrock", "openai", "gemini", "anthropic"):
    check(history, target=name)
print("litellm" in sys.modules)
"""


def run_check(extra_path: str | None = None) -> tuple[str, str]:
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([extra_path, env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", CHECK_A_FIXTURE], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip(), done.stderr


def test_a_check_the_replay_covers_imports_no_litellm():
    imported, log = run_check()
    assert imported == "False" and "verified against" not in log


def test_another_installed_litellm_makes_checks_ask_litellm_and_says_so_once(tmp_path):
    # A distribution record earlier on the path is the version importlib.metadata reports.
    record = tmp_path / "litellm-9.9.9.dist-info"
    record.mkdir()
    (record / "METADATA").write_text("Metadata-Version: 2.1\nName: litellm\nVersion: 9.9.9\n")
    imported, log = run_check(str(tmp_path))
    assert imported == "True"
    assert log.count("litellm 9.9.9 is installed") == 1 and wire.REPLAY_VERIFIED_WITH in log


def test_what_the_replay_does_not_cover_is_built_by_litellm():
    history = formats.read(formats.load_path(FIXTURES / "samples" / "hostile-content.json"))[0]
    target = resolve("anthropic")
    assert "rewrites such names" in (wire.replay_covers(history, target) or "")
    assert wire.request_for(history, target).built


def test_a_provider_the_replay_does_not_build_is_built_by_litellm():
    history = formats.read(formats.load_path(FIXTURES / "samples" / "unanswered-tool-call.json"))[0]
    azure = resolve("openai", "azure/gpt-4o")
    assert wire.replay_covers(history, azure) and wire.request_for(history, azure).built
