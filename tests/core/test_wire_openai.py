"""The OpenAI replay takes plain messages straight from the history instead of through their
request dicts (wire._simulate_openai). It must give exactly the wire the request dicts give,
for every fixture and for any mix of plain and unusual messages."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.history import formats
from conversations.history.formats import load_path
from conversations.history.formats.openai import HINT, messages_without_arguments, plain_out, to_request
from conversations.history.model import Block, CacheControl, History, Message, SourceRef, SystemPart
from conversations.history.targets import resolve
from conversations.history.wire import from_request, openai_request, simulate
from tests.support import FIXTURES, log_documents

OPENAI = resolve("openai")
DOCUMENTS = log_documents("seed", "samples", "formats")


def through_dicts(history: History):
    request, origins = openai_request(history)
    return from_request(request, origins, OPENAI, use_litellm=False)


def shape(wire) -> dict:
    """Everything of a wire request the rules read."""
    return {
        "messages": [
            (
                m.role,
                m.sources,
                [
                    (
                        b.type,
                        b.index,
                        b.origin,
                        b.text,
                        b.id,
                        b.name,
                        b.cache,
                        b.is_error,
                        b.signature,
                        b.has_signature,
                        b.has_text,
                    )
                    for b in m.blocks
                ],
            )
            for m in wire.messages
        ],
        "system": wire.system,
        "tools": wire.tools,
        "tool_markers": wire.tool_markers,
        "history_markers": wire.history_markers,
        "params": wire.params,
        "changes": wire.changes,
        "built": wire.built,
        "exact": wire.exact,
        "error": wire.error,
        "request": wire.request,
    }


def assert_same_wire(history: History) -> None:
    fast, general = simulate(history, OPENAI), through_dicts(history)
    assert shape(fast) == shape(general)
    for fast_message, message in zip(fast.messages, general.messages, strict=False):
        for fast_block, block in zip(fast_message.blocks, message.blocks, strict=False):
            # A block taken straight from the history has no request dict to point to; rules
            # read `raw` only for images and unknown parts, which always go through the dicts.
            assert fast_block.raw == block.raw or (
                fast_block.raw is None and block.type in ("text", "tool_use", "tool_result")
            )


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_fixture_gets_the_wire_its_request_dicts_give(path):
    for history in formats.read(load_path(path)):
        assert_same_wire(history)


def test_an_agent_history_is_taken_mostly_straight_from_the_history():
    history = formats.read(load_path(FIXTURES / "seed" / "openhands-6852-cache-on-tool-message.json"), format="openai")[
        0
    ]
    plain = [plain_out(m, True) is not None for m in history.messages]
    # all but the three with a cache marker, which go through their request dicts
    assert plain == [
        m.cache_control is None and all(b.cache_control is None for b in m.blocks) for m in history.messages
    ]
    assert plain.count(False) == 3


def test_the_request_is_made_only_when_a_rule_asks_for_it():
    history = formats.read(load_path(FIXTURES / "seed" / "openhands-6852-cache-on-tool-message.json"), format="openai")[
        0
    ]
    wire = simulate(history, OPENAI)
    assert wire._request is None
    assert wire.request == openai_request(history)[0]


# --- any mix of messages --------------------------------------------------------------------------

# Mostly plain (the replay's own path), sometimes not (the dicts' path), in any mix.
caches = st.sampled_from([None, None, None, CacheControl()])
texts = st.sampled_from(["", " ", "hello", "done\n"])
forms = st.sampled_from(["string", "string", "blocks", "null", "missing", "empty"])
extras = st.sampled_from(
    [
        {},
        {},
        {},
        {},
        {HINT: {}},
        {"x": 1},
        {HINT: {"role": "function"}},
        {HINT: {"function": {"name": "n"}}},
        {HINT: {"arguments": "object"}},
        {HINT: {"no_type": True}},
    ]
)


@st.composite
def blocks(draw, role: str):
    made = []
    for k in range(draw(st.integers(0, 3))):
        kind = draw(
            st.sampled_from(
                ["text", "tool_use", "tool_result", "image", "thinking"] if role != "tool" else ["tool_result", "text"]
            )
        )
        cache, extra = draw(caches), draw(extras)
        if kind == "text":
            made.append(Block(type="text", text=draw(texts | st.none()), cache_control=cache, extra=extra))
        elif kind == "tool_use":
            made.append(
                Block(
                    type="tool_use",
                    id=f"call_{k}",
                    name="run",
                    input={"k": k},
                    arguments=draw(st.sampled_from([None, f'{{"k": {k}}}', "{bad"])),
                    cache_control=cache,
                    extra=extra,
                )
            )
        elif kind == "tool_result":
            content = draw(texts | st.just([Block.text_block("part"), Block.text_block("two")]))
            made.append(
                Block(type="tool_result", tool_use_id=f"call_{k}", content=content, cache_control=cache, extra=extra)
            )
        elif kind == "image":
            made.append(
                Block(
                    type="image",
                    media={"type": "url", "url": "https://example.com/a.png"},
                    cache_control=cache,
                    extra=extra,
                )
            )
        else:
            made.append(Block(type="thinking", text="hmm", signature="sig", cache_control=cache, extra=extra))
    return made


@st.composite
def messages(draw):
    role = draw(st.sampled_from(["user", "assistant", "tool"]))
    return Message(
        role=role,
        blocks=draw(blocks(role)),
        content_form=draw(forms),
        cache_control=draw(caches),
        name=draw(st.none() | st.just("bob")),
        extra=draw(extras),
        source=SourceRef(),
    )


@st.composite
def histories(draw):
    count = draw(st.integers(0, 8))
    system = [
        SystemPart(
            blocks=[Block.text_block("be brief")], before=draw(st.integers(0, count)), cache_control=draw(caches)
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    return History(
        format=draw(st.sampled_from(["openai", "anthropic", "openhands"])),
        model="gpt-4o",
        system=system,
        messages=[draw(messages()) for _ in range(count)],
    )


def plain_message(role: str, blocks: list[Block], form: str = "string") -> History:
    return History(format="openai", model="gpt-4o", messages=[Message(role=role, blocks=blocks, content_form=form)])


@pytest.mark.parametrize(
    "history",
    [
        plain_message("assistant", [Block.text_block("")]),  # an empty string content: no text part
        plain_message("assistant", [Block.text_block("")], form="blocks"),  # an empty text part
        plain_message("user", [Block.text_block("a"), Block.text_block("b")]),  # two texts: parts
        plain_message("assistant", [Block.tool_use("call_1", "run", {}), Block.text_block("first")]),  # text first
        plain_message("assistant", [Block(type="thinking", text="hmm", signature="s"), Block.text_block("ok")]),
        plain_message("tool", [Block.tool_result("call_1", [Block.text_block("one"), Block.text_block("two")])]),
        plain_message("tool", [Block.tool_result("call_1", "x"), Block.tool_result("call_2", "y")]),
    ],
    ids=["empty-string", "empty-part", "two-texts", "calls-after-text", "thinking", "result-parts", "two-results"],
)
def test_each_plain_shape_gets_the_wire_its_request_dicts_give(history):
    assert plain_out(history.messages[0], True) is not None
    assert_same_wire(history)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_any_mix_of_messages_gets_the_wire_its_request_dicts_give(history):
    assert_same_wire(history)


# --- the messages the replay of Anthropic and Converse reads -------------------------------------


def without_arguments(request: dict) -> list:
    out = []
    for message in request["messages"]:
        message = dict(message)
        if isinstance(message.get("tool_calls"), list):
            message["tool_calls"] = [
                {**c, "function": {k: v for k, v in c["function"].items() if k != "arguments"}}
                if isinstance(c, dict) and isinstance(c.get("function"), dict)
                else c
                for c in message["tool_calls"]
            ]
        out.append(message)
    return out


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_fixture_gives_the_request_messages_without_their_arguments(path):
    for history in formats.read(load_path(path)):
        assert messages_without_arguments(history) == without_arguments(to_request(history))


@settings(max_examples=300, deadline=None)
@given(histories())
def test_any_mix_of_messages_gives_the_request_messages_without_their_arguments(history):
    assert messages_without_arguments(history) == without_arguments(to_request(history))
