"""Extended thinking (docs/provider-rules.md s.1 "Extended thinking")."""

from conversations.history.check import check, check_body
from conversations.history.formats import anthropic as anthropic_format
from conversations.history.formats.openai import parse_request

TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object", "properties": {}}}}]
THINKING = {"type": "enabled", "budget_tokens": 2048}


def loop(thinking_blocks=None, **params):
    """A tool loop: the last message answers the assistant's tool call."""
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}],
    }
    if thinking_blocks is not None:
        assistant["thinking_blocks"] = thinking_blocks
    return parse_request(
        {
            "messages": [
                {"role": "user", "content": "go"},
                assistant,
                {"role": "tool", "tool_call_id": "toolu_1", "content": "out"},
            ],
            "tools": TOOLS,
            **params,
        },
        file="t",
    )


def test_thinking_on_with_the_thinking_blocks_dropped_is_rejected():
    # deepset-ai/haystack-core-integrations#2146: an OpenAI-format history has nowhere for them.
    [finding] = check(loop(thinking=THINKING), target="anthropic").errors
    assert finding.rule == "thinking-missing-before-tool-use"
    assert finding.provider_error.startswith(
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`."
    )
    assert finding.provider_error.endswith("https://docs.claude.com/en/docs/build-with-claude/extended-thinking")
    assert finding.message_index == 1


def test_thinking_on_with_the_signed_thinking_block_kept_is_accepted():
    blocks = [{"type": "thinking", "thinking": "I should list files.", "signature": "EqQBCgIYAhIM"}]
    assert check(loop(blocks, thinking=THINKING), target="anthropic").accepted


def test_thinking_off_needs_no_thinking_block():
    assert check(loop(), target="anthropic").accepted


def test_litellm_drops_an_unsigned_thinking_block_so_the_loop_lacks_thinking():
    verdict = check(loop([{"type": "thinking", "thinking": "let me"}], thinking=THINKING), target="anthropic")
    assert [f.rule for f in verdict.errors] == ["thinking-missing-before-tool-use"]


def body(thinking_block, *, thinking=True, final=False):
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [thinking_block, {"type": "text", "text": "done"}]},
    ]
    if not final:
        messages.append({"role": "user", "content": "thanks"})
    out = {"model": "claude-sonnet-4-5", "max_tokens": 4096, "messages": messages}
    if thinking:
        out["thinking"] = THINKING
    return out


def judge(raw):
    return check_body(anthropic_format.parse_request(raw, file="t"), raw, target="anthropic")


def test_a_thinking_block_sent_without_its_signature_is_rejected():
    # justlovemaki/AIClient2API#437
    verdict = judge(body({"type": "thinking", "thinking": "hmm"}))
    assert [f.provider_error for f in verdict.errors] == ["messages.1.content.0.thinking.signature: Field required"]


def test_a_thinking_block_with_a_signature_but_no_text_is_rejected():
    # LibreChat-AI/agents PR #279
    verdict = judge(body({"type": "thinking", "signature": "EqQBCgIYAhIM"}))
    assert [f.provider_error for f in verdict.errors] == ["messages.1.content.0.thinking.thinking: Field required"]


def test_an_empty_signature_cannot_verify():
    # lbjlaq/Antigravity-Manager#498
    verdict = judge(body({"type": "thinking", "thinking": "hmm", "signature": ""}))
    assert [f.provider_error for f in verdict.errors] == [
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    ]


def test_a_complete_thinking_block_is_accepted():
    assert judge(body({"type": "thinking", "thinking": "hmm", "signature": "EqQBCgIYAhIM"})).accepted


def test_thinking_in_the_final_assistant_message_with_thinking_off_is_rejected():
    # tailcallhq/forgecode#1853
    verdict = judge(body({"type": "thinking", "thinking": "hmm", "signature": "EqQB"}, thinking=False, final=True))
    assert [f.provider_error for f in verdict.errors] == [
        "messages.1.content.0: When thinking is disabled, an `assistant` message in the final position "
        "cannot contain `thinking`. To use thinking blocks, enable `thinking` in your request."
    ]


def test_thinking_in_an_earlier_turn_with_thinking_off_is_ignored():
    assert judge(body({"type": "thinking", "thinking": "hmm", "signature": "EqQB"}, thinking=False)).accepted
