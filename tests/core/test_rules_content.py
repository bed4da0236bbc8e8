"""Empty content on Anthropic-shaped requests (docs/provider-rules.md s.1 "Content emptiness").

litellm replaces empty text with a placeholder on the way, so these rules reject requests built
another way (a logged Anthropic body, judged with check_body) and accept what litellm sends."""

from conversations.history.check import check, check_body
from conversations.history.formats import anthropic as anthropic_format
from conversations.history.formats.openai import parse_request


def anthropic_body(*messages, system=None):
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": list(messages)}
    if system is not None:
        body["system"] = system
    return body


def judge(body, target="anthropic"):
    return check_body(anthropic_format.parse_request(body, file="t"), body, target=target)


def test_an_empty_message_is_rejected_with_its_index():
    # anthropics/claude-code#3196: an empty assistant reply was stored.
    verdict = judge(
        anthropic_body(
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": []},
            {"role": "user", "content": "again"},
        )
    )
    [finding] = verdict.errors
    assert finding.rule == "empty-message-content"
    assert finding.provider_error == (
        "messages.1: all messages must have non-empty content except for the optional final assistant message"
    )
    assert finding.message_index == 1


def test_an_empty_final_assistant_message_is_allowed():
    verdict = judge(anthropic_body({"role": "user", "content": "hi"}, {"role": "assistant", "content": []}))
    assert not [f for f in verdict.errors if f.rule == "empty-message-content"]


def test_an_empty_text_block_is_rejected_without_index_but_the_finding_names_the_message():
    # miurla/morphic#83
    verdict = judge(
        anthropic_body(
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "ok"}]},
            {"role": "user", "content": "again"},
        )
    )
    [finding] = verdict.errors
    assert finding.provider_error == "messages: text content blocks must be non-empty"
    assert (finding.wire_index, finding.message_index, finding.content_index) == (None, 1, 0)


def test_a_whitespace_only_text_block_gets_the_second_wording():
    # anthropics/claude-code#23352
    verdict = judge(anthropic_body({"role": "user", "content": [{"type": "text", "text": "  \n"}]}))
    assert [f.provider_error for f in verdict.errors] == [
        "messages: text content blocks must contain non-whitespace text"
    ]


def test_litellm_fills_empty_text_so_what_it_sends_is_accepted():
    h = parse_request(
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "again"},
            ]
        },
        file="t",
    )
    assert check(h, target="anthropic").accepted


def test_a_cache_marker_on_an_empty_text_block_is_rejected():
    # anthropics/claude-code#55302: a pasted screenshot with an empty text block carrying the marker.
    verdict = judge(
        anthropic_body(
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "text", "text": "", "cache_control": {"type": "ephemeral"}},
                ],
            }
        )
    )
    [finding] = verdict.errors
    assert finding.provider_error == "messages.0.content.1.text: cache_control cannot be set for empty text blocks"


def test_a_cache_marker_on_a_text_with_words_is_fine():
    verdict = judge(
        anthropic_body(
            {"role": "user", "content": [{"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}}]}
        )
    )
    assert verdict.accepted


def test_an_empty_system_block_is_rejected():
    verdict = judge(anthropic_body({"role": "user", "content": "hi"}, system=[{"type": "text", "text": ""}]))
    assert [f.rule for f in verdict.errors] == ["system-empty-text"]
    assert judge(
        anthropic_body({"role": "user", "content": "hi"}, system=[{"type": "text", "text": "Be brief."}])
    ).accepted
