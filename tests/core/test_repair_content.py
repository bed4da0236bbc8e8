"""Repairs of content, roles, thinking and the request around the messages: what a provider
refuses is fixed with the smallest change, and nothing is lost without an edit saying so."""

import base64
import json

from conversations.history import formats
from conversations.history.check import check_body
from conversations.history.formats import Document
from conversations.history.formats import anthropic as anthropic_format
from conversations.history.model import History
from conversations.history.repair import repair
from conversations.history.repair.roles import CONTINUE_TEXT, START_TEXT

MODEL = {"model": "claude-sonnet-4-5", "max_tokens": 512}
THINKING = {
    "model": "anthropic/claude-sonnet-4-5",
    "max_tokens": 2048,
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}


def read(obj, format="openai") -> History:
    (history,) = formats.read(Document.from_bytes("request.json", json.dumps(obj).encode()), format)
    return history


def sent_directly(target="anthropic"):
    """The Anthropic body as a client that does not go through litellm sends it."""
    return lambda h: [check_body(h, anthropic_format.to_request(h), target=target)]


def errors(verdicts) -> list[str]:
    return [f.rule for v in verdicts for f in v.findings if f.severity == "error"]


def texts(history: History) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in history.messages]


# --- empty content and whitespace -----------------------------------------------------------------


def test_an_empty_assistant_reply_is_removed_for_gemini():
    history = read(
        {
            **MODEL,
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "b"},
            ],
        }
    )
    result = repair(history, target="gemini")
    assert "gemini-empty-text" in errors(result.before)
    assert result.accepted
    assert texts(result.history) == [("user", "a"), ("user", "b")]
    assert [(e.op, e.message_index) for e in result.edits] == [("remove-message", 1)]


def test_a_blank_text_block_is_dropped_and_the_text_beside_it_kept():
    history = read(
        {
            **MODEL,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "text", "text": "  "}]}
            ],
        }
    )
    result = repair(history, target="anthropic", judge=sent_directly())
    assert "empty-text-block" in errors(result.before)
    assert result.accepted
    assert [b.text for b in result.history.messages[0].blocks] == ["look"]
    assert result.edits[0].description == "removed 1 empty text block(s) from message 0"


def test_the_cache_marker_of_an_empty_text_block_moves_onto_the_block_before_it():
    history = read(
        {
            **MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "screenshot attached"},
                        {"type": "text", "text": "", "cache_control": {"type": "ephemeral"}},
                    ],
                }
            ],
        }
    )
    result = repair(history, target="anthropic", judge=sent_directly())
    assert "cache-control-on-empty-text" in errors(result.before)
    assert result.accepted
    (block,) = result.history.messages[0].blocks
    assert block.text == "screenshot attached" and block.cache_control is not None


def test_trailing_whitespace_of_the_final_assistant_message_is_stripped():
    history = read(
        {**MODEL, "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "The answer is "}]}
    )
    result = repair(history, target="anthropic", judge=sent_directly())
    assert "final-assistant-trailing-whitespace" in errors(result.before)
    assert result.accepted and result.history.messages[-1].text == "The answer is"


def test_an_image_over_five_megabytes_is_replaced_by_a_note():
    image = base64.b64encode(b"\x89PNG" + b"\0" * (6 * 1024 * 1024)).decode()
    history = read(
        {
            **MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "see"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}},
                    ],
                }
            ],
        }
    )
    result = repair(history, target="anthropic")
    assert "image-too-large" in errors(result.before)
    assert result.accepted
    assert [b.type for b in result.history.messages[0].blocks] == ["text", "text"]
    assert result.history.messages[0].blocks[1].text.startswith("[image/png removed: 6,291,460 bytes")
    assert history.messages[0].blocks[1].type == "image"  # kept in the input (the earlier revision)


# --- roles and their order ------------------------------------------------------------------------------


def test_a_history_starting_with_the_assistant_gets_a_user_message_first_for_bedrock():
    history = read(
        {
            **MODEL,
            "messages": [{"role": "assistant", "content": "Hi, how can I help?"}, {"role": "user", "content": "a"}],
        }
    )
    result = repair(history, target="bedrock")
    assert "bedrock-first-not-user" in errors(result.before)
    assert result.accepted
    assert texts(result.history)[0] == ("user", START_TEXT)
    assert result.edits[0].message_index == 0 and result.edits[0].op == "add-message"


def test_consecutive_user_messages_are_merged_where_the_provider_does_not_merge_them():
    history = read(
        {
            **MODEL,
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "c"},
            ],
        }
    )
    result = repair(history, target="bedrock-invoke", judge=sent_directly("bedrock-invoke"))
    assert "roles-not-alternating" in errors(result.before)
    assert result.accepted
    assert [(m.role, [b.text for b in m.blocks]) for m in result.history.messages] == [
        ("user", ["a", "b"]),
        ("assistant", ["c"]),
    ]
    assert result.edits[0].description == "merged message 1 into message 0 (two user messages in a row)"


def test_a_role_the_provider_does_not_know_is_mapped():
    history = read(
        {
            **MODEL,
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "human", "content": "be brief"},
            ],
        },
        "anthropic",
    )
    result = repair(history, target="anthropic", judge=sent_directly())
    assert "invalid-role" in errors(result.before)
    assert result.accepted
    assert [m.role for m in result.history.messages] == ["user", "assistant", "user"]
    assert result.edits[0].description == "changed the role of message 2 from 'human' to 'user'"


def test_a_model_without_prefill_gets_a_user_turn_after_the_final_assistant_message():
    history = read(
        {
            "model": "anthropic/claude-sonnet-4-6",
            "max_tokens": 512,
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "Sure, here it is."}],
        }
    )
    result = repair(history)  # the conversation's own target: its model
    assert "prefill-unsupported" in errors(result.before)
    assert result.accepted
    assert texts(result.history) == [("user", "a"), ("assistant", "Sure, here it is."), ("user", CONTINUE_TEXT)]


def test_gemini_warns_about_a_final_model_turn_and_the_warning_is_fixed_on_request():
    history = read({**MODEL, "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    assert repair(history, target="gemini").edits == []
    result = repair(history, target="gemini", include_warnings=True)
    assert texts(result.history)[-1] == ("user", CONTINUE_TEXT)
    assert not [f for v in result.after for f in v.findings if f.severity == "warning"]


# --- extended thinking ------------------------------------------------------------------------------------


def tool_turn(first_blocks):
    return [
        {"role": "user", "content": "run it"},
        {
            "role": "assistant",
            "content": [*first_blocks, {"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]},
    ]


def test_thinking_is_turned_off_when_the_tool_turn_has_no_thinking_block_to_start_with():
    history = read({**THINKING, "messages": tool_turn([])}, "anthropic")
    result = repair(history, target="anthropic")
    assert "thinking-missing-before-tool-use" in errors(result.before)
    assert result.accepted and "thinking" not in result.history.request
    assert [e.op for e in result.edits] == ["disable-thinking"]
    assert json.loads(formats.write(result.history, None, "anthropic").single[1]).get("thinking") is None


def test_an_unsigned_thinking_block_is_dropped_and_then_thinking_turned_off():
    history = read({**THINKING, "messages": tool_turn([{"type": "thinking", "thinking": "hmm"}])}, "anthropic")
    result = repair(history, target="anthropic", judge=sent_directly())
    assert "thinking-signature-missing" in errors(result.before)
    assert result.accepted
    assert [e.op for e in result.edits] == ["drop-thinking", "disable-thinking"]  # two rounds
    assert [b.type for b in result.history.messages[1].blocks] == ["tool_use"]


def test_thinking_in_the_final_message_is_dropped_when_thinking_is_off():
    history = read(
        {
            **MODEL,
            "messages": [
                {"role": "user", "content": "a"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "c2ln"},
                        {"type": "text", "text": "ok"},
                    ],
                },
            ],
        },
        "anthropic",
    )
    result = repair(history, target="anthropic")
    assert "thinking-in-final-without-thinking-enabled" in errors(result.before)
    assert result.accepted and [b.type for b in result.history.messages[1].blocks] == ["text"]


# --- the request ------------------------------------------------------------------------------------------


def test_tool_names_over_64_characters_are_shortened_in_the_definition_and_the_calls():
    name = "mcp__github__" + "x" * 60
    history = read(
        {
            **MODEL,
            "tools": [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}],
            "messages": [
                {"role": "user", "content": "a"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            ],
        }
    )
    result = repair(history, target="openai")
    assert "openai-tool-name-too-long" in errors(result.before)
    assert result.accepted
    new = result.history.tools[0].name
    assert len(new) == 64 and new.startswith("mcp__github__")
    assert result.history.messages[1].blocks[0].name == new


def test_tool_definitions_are_added_for_a_history_that_calls_tools_it_does_not_define():
    history = read(
        {
            **MODEL,
            "messages": [
                {"role": "user", "content": "a"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "toolu_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_1", "content": "ok"},
            ],
        }
    )
    result = repair(history, target="bedrock", include_warnings=True)
    assert "litellm-tools-as-text" in [f.rule for v in result.before for f in v.findings]
    assert [(t.name, t.parameters) for t in result.history.tools] == [("bash", {"type": "object", "properties": {}})]
    assert "litellm-tools-as-text" not in [f.rule for v in result.after for f in v.findings]


def test_tool_call_ids_over_40_characters_are_shortened_for_openai_when_warnings_are_included():
    long_id = "call_" + "a" * 50
    history = read(
        {
            **MODEL,
            "messages": [
                {"role": "user", "content": "a"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": long_id, "type": "function", "function": {"name": "bash", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": long_id, "content": "ok"},
            ],
        }
    )
    result = repair(history, target="openai", include_warnings=True)
    new = result.history.messages[1].blocks[0].id
    assert len(new) <= 40 and result.history.messages[2].blocks[0].tool_use_id == new
    assert not [f for v in result.after for f in v.findings]


def test_max_tokens_is_set_when_litellm_would_send_more_than_the_model_allows():
    history = read({"model": "anthropic/claude-3-5-sonnet-20241022", "messages": [{"role": "user", "content": "a"}]})
    result = repair(history, include_warnings=True)
    # The log does not say what the client passes: litellm's default is a risk (a warning).
    assert "max-tokens-too-large" in [f.rule for v in result.before for f in v.findings if f.severity == "warning"]
    assert result.accepted and result.history.request["max_tokens"] == 4096
    assert "max_tokens" not in history.request


def test_an_explicit_max_tokens_over_the_limit_is_an_error_and_is_lowered():
    history = read(
        {
            "model": "anthropic/claude-3-5-sonnet-20241022",
            "max_tokens": 100_000,
            "messages": [{"role": "user", "content": "a"}],
        }
    )
    result = repair(history)
    assert "max-tokens-too-large" in errors(result.before)
    assert result.accepted and result.history.request["max_tokens"] <= 8192
