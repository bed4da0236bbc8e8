"""Converting between the OpenAI and Anthropic request formats keeps the conversation: messages,
tool ids, inputs and cache markers, and matches what litellm itself sends."""

import json
import os

import pytest

from conversations.history import formats
from conversations.history.formats import Document, load_path
from conversations.history.model import History
from tests.support import FIXTURES

SEEDS = sorted((FIXTURES / "seed").glob("*.json"))
OPENAI_FIXTURES = [*SEEDS, FIXTURES / "formats" / "openai-request.json"]
ANTHROPIC_REQUEST = FIXTURES / "formats" / "anthropic-request.json"


def convert(history: History, fmt: str) -> History:
    """Write the history in `fmt` as a fresh file, then read that file back."""
    written = formats.write(history, None, format=fmt)
    ((name, data),) = written.files.items()
    (converted,) = formats.read(Document.from_bytes(name, data), format=fmt)
    return converted


def conversation(history: History) -> list:
    """What must survive a conversion: roles, texts, tool calls with their inputs, results."""
    return [
        (
            m.role,
            m.text,
            [(b.id, b.name, b.input) for b in m.tool_uses()],
            [(b.tool_use_id, b.result_text) for b in m.tool_results()],
        )
        for m in history.messages
    ]


def marker_places(history: History) -> list[str]:
    return [place for place, _ in history.cache_markers()]


@pytest.mark.parametrize("path", OPENAI_FIXTURES, ids=lambda p: p.name)
def test_openai_to_anthropic_and_back_keeps_messages_tool_ids_inputs_and_cache_markers(path):
    (original,) = formats.read(load_path(path))

    via_anthropic = convert(original, "anthropic")
    back = convert(via_anthropic, "openai")

    assert via_anthropic.format == "anthropic" and back.format == "openai"
    assert conversation(back) == conversation(original)
    assert [p.text for p in back.system] == [p.text for p in original.system]
    assert marker_places(back) == marker_places(original)
    assert len(via_anthropic.cache_markers()) == len(original.cache_markers())
    assert [t.name for t in back.tools] == [t.name for t in original.tools]
    assert back.model == original.model


def test_the_seed_tool_message_marker_lands_on_its_tool_result_block_in_anthropic():
    (original,) = formats.read(load_path(FIXTURES / "seed" / "openhands-6852-cache-on-tool-message.json"))

    via_anthropic = convert(original, "anthropic")

    assert marker_places(via_anthropic) == [
        "system[0].blocks[0]",
        "messages[4].blocks[0]",
        "messages[6].blocks[0]",
        "messages[6].blocks[1]",
    ]
    last = via_anthropic.messages[6]
    assert [b.type for b in last.blocks] == ["tool_result", "text"]


def test_the_anthropic_request_to_openai_and_back_is_the_same_request():
    (original,) = formats.read(load_path(ANTHROPIC_REQUEST))

    via_openai = convert(original, "openai")
    written = formats.write(via_openai, None, format="anthropic")

    assert [m.role for m in via_openai.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "tool",
    ]
    assert json.loads(written.files["request.json"]) == json.loads(ANTHROPIC_REQUEST.read_bytes())


def test_an_openai_request_converted_to_anthropic_states_its_parameters_in_anthropic_terms():
    (original,) = formats.read(load_path(FIXTURES / "formats" / "openai-request.json"))

    body = json.loads(formats.write(original, None, format="anthropic").files["request.json"])

    assert body["system"] == original.system[0].text
    assert body["tool_choice"] == {"type": "auto"}
    assert body["metadata"] == {"user_id": "platform-oncall-ui"}
    assert body["max_tokens"] == 4096 and body["temperature"] == 0
    assert "parallel_tool_calls" not in body and "user" not in body


# --- against litellm's own transformations -----------------------------------------------------


@pytest.fixture(scope="module")
def litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_the_anthropic_messages_we_write_are_the_ones_litellm_sends(path, litellm):
    from litellm.litellm_core_utils.prompt_templates.factory import anthropic_messages_pt

    (history,) = formats.read(load_path(path))
    request = json.loads(path.read_bytes())
    non_system = [m for m in request["messages"] if m["role"] != "system"]

    theirs = anthropic_messages_pt(non_system, model="claude-3-5-sonnet-20241022", llm_provider="anthropic")
    ours = json.loads(formats.write(history, None, format="anthropic").files["request.json"])["messages"]

    assert ours == json.loads(json.dumps(theirs))


def test_the_openai_request_we_make_from_anthropic_agrees_with_litellms_reverse_adapter(litellm):
    from litellm.llms.anthropic.messages.adapters.transformation import LiteLLMAnthropicMessagesAdapter

    body = json.loads(ANTHROPIC_REQUEST.read_bytes())
    theirs, _ = LiteLLMAnthropicMessagesAdapter().translate_anthropic_to_openai(anthropic_message_request=body)
    (history,) = formats.read(load_path(ANTHROPIC_REQUEST))
    ours = formats.module("openai").to_request(history)

    def skeleton(request: dict) -> list:
        # litellm flattens unmarked text lists into strings; the shape that matters is the same.
        return [
            (
                m["role"],
                m.get("tool_call_id"),
                [c["id"] for c in m.get("tool_calls") or []],
                [json.loads(c["function"]["arguments"]) for c in m.get("tool_calls") or []],
                m.get("cache_control"),
            )
            for m in request["messages"]
        ]

    theirs = json.loads(json.dumps(theirs, default=str))
    assert skeleton(ours) == skeleton(theirs)
    assert {k: v for k, v in ours.items() if k not in ("messages", "tools")} == {
        k: v for k, v in theirs.items() if k not in ("messages", "tools")
    }
    assert [t["cache_control"] if "cache_control" in t else None for t in ours["tools"]] == [
        t.get("cache_control") for t in theirs["tools"]
    ]
