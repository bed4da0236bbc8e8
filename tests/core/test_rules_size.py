"""Size limits: the context window and images (docs/provider-rules.md s.1, s.3, s.4)."""

import dataclasses
import json
import re

import litellm
import pytest

from conversations.history.check import check, check_body
from conversations.history.formats import anthropic as anthropic_format
from conversations.history.formats.openai import parse_request
from conversations.history.routes import Deployment, deployment_target


def small_window(model, tokens=1000):
    """A deployment whose model_info gives a small window, so a short history overflows it."""
    return deployment_target(Deployment("small", model, {"max_input_tokens": tokens}))


def talk(chars):
    return parse_request(
        {
            "messages": [
                {"role": "user", "content": "word " * (chars // 5)},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "go on"},
            ]
        },
        file="t",
    )


def test_a_history_over_the_window_is_rejected_with_the_token_count():
    # earendil-works/pi#102: "prompt is too long: 219898 tokens > 200000 maximum"
    [finding] = check(talk(8000), target=small_window("anthropic/claude-sonnet-4-5")).errors
    assert finding.rule == "context-overflow" and finding.fix == "truncate-history"
    assert re.fullmatch(r"prompt is too long: \d+ tokens > 1000 maximum", finding.provider_error)
    assert int(finding.provider_error.split()[4]) > 1000


def test_a_history_under_the_window_is_accepted():
    assert check(talk(800), target=small_window("anthropic/claude-sonnet-4-5")).accepted


def test_bedrock_wraps_the_same_text():
    # daisuke-awaji/moca#254
    [finding] = check(
        talk(8000), target=small_window("bedrock/invoke/anthropic.claude-3-5-sonnet-20241022-v2:0")
    ).errors
    assert finding.provider_error.startswith("The model returned the following errors: prompt is too long: ")


def test_openai_words_it_as_its_maximum_context_length():
    # kaixindelele/ChatPaper#7
    [finding] = check(talk(8000), target=small_window("openai/gpt-4o")).errors
    assert finding.rule == "openai-context-overflow"
    assert re.fullmatch(
        r"This model's maximum context length is 1000 tokens\. However, your messages "
        r"resulted in \d+ tokens\. Please reduce the length of the messages\.",
        finding.provider_error,
    )
    assert check(talk(800), target=small_window("openai/gpt-4o")).accepted


def test_gemini_words_it_as_the_input_token_count():
    [finding] = check(talk(8000), target=small_window("gemini/gemini-2.5-pro")).errors
    assert finding.rule == "gemini-context-overflow"
    assert check(talk(800), target=small_window("gemini/gemini-2.5-pro")).accepted


# --- what the window counts: any text, at its own rate --------------------------------------------

CODE = "def f(x):\n    return {k: v for k, v in x.items() if v is not None}\n"
CHINESE = "我们需要修复这个函数中的错误，因为它在处理空列表时会崩溃。请检查日志并告诉我发生了什么。"


def agent(results: list[str], arguments: list[str] | None = None):
    """A coding agent's history: a call per result, answered by the tool."""
    messages = [{"role": "user", "content": "Fix the bug."}]
    for n, result in enumerate(results):
        args = (arguments or [])[n] if arguments else json.dumps({"path": f"src/m{n}.py"})
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": f"call_{n}", "type": "function", "function": {"name": "edit", "arguments": args}}
                ],
            },
            {"role": "tool", "tool_call_id": f"call_{n}", "content": result},
        ]
    messages.append({"role": "user", "content": "go on"})
    return parse_request({"model": "gpt-4o", "messages": messages}, file="t"), messages


def written_in(piece: str, *, in_arguments: bool = False):
    """A history of four large tool results (or call arguments) made of `piece`, as an agent's
    history is, and its tokens by litellm's own count."""
    texts = [piece * 100] * 4
    history, messages = agent(["ok"] * 4, [json.dumps({"text": t}) for t in texts]) if in_arguments else agent(texts)
    return history, litellm.token_counter(model="gpt-4o", messages=messages)


@pytest.mark.parametrize("piece, chars_a_token", [(CODE, 2.8), (CHINESE, 1.5)], ids=["code", "chinese"])
def test_a_history_just_over_the_window_is_rejected_whatever_it_is_written_in(piece, chars_a_token):
    """Four characters a token would put these a quarter or more under the window (code makes a
    token of under three characters, Chinese of under one and a half): counted, they are over."""
    assert len(piece) / litellm.token_counter(model="gpt-4o", text=piece * 10) * 10 < chars_a_token
    history, tokens = written_in(piece)
    window = int(tokens / 1.05)
    [finding] = check(history, target=small_window("openai/gpt-4o", window)).errors
    assert finding.rule == "openai-context-overflow"
    assert int(re.search(r"resulted in (\d+) tokens", finding.provider_error)[1]) == tokens


def test_tool_call_arguments_count_towards_the_window():
    """A file an agent writes travels in the call's arguments: the provider counts them."""
    history, tokens = written_in(CODE, in_arguments=True)
    assert not check(history, target=small_window("openai/gpt-4o", int(tokens / 1.05))).accepted


@pytest.mark.parametrize("piece", [CODE, CHINESE], ids=["code", "chinese"])
def test_a_history_a_little_under_the_window_is_accepted_whatever_it_is_written_in(piece):
    history, tokens = written_in(piece)
    assert check(history, target=small_window("openai/gpt-4o", int(tokens / 0.95))).accepted


def image_body(*sizes):
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * size}} for size in sizes
    ] + [{"type": "text", "text": "what is this?"}]
    return {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": content}]}


def judge(body):
    return check_body(anthropic_format.parse_request(body, file="t"), body, target="anthropic")


def test_an_image_over_five_megabytes_is_rejected():
    verdict = judge(image_body(8, 7_200_000))  # 5.4 MB once decoded
    [finding] = verdict.errors
    assert finding.rule == "image-too-large" and finding.wire_index == 0
    assert finding.provider_error.startswith("messages.0.content.1.image.source.base64: image exceeds 5 MB maximum")


def test_an_image_under_five_megabytes_is_accepted():
    assert judge(image_body(6_000_000)).accepted


def test_more_than_a_hundred_images_are_rejected():
    assert [f.rule for f in judge(image_body(*[8] * 101)).errors] == ["too-many-images"]
    assert judge(image_body(*[8] * 100)).accepted


def test_an_anthropic_body_sent_as_it_is_is_counted_too():
    """A client that sends its own Messages request (Claude Code) goes by no OpenAI request of
    litellm's: its tokens are still counted."""
    from dataclasses import replace

    from conversations.history.targets import resolve

    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": CODE * 60}]}
    history = anthropic_format.parse_request(body, file="t")
    tokens = litellm.token_counter(model="gpt-4o", text=CODE * 60)
    target = replace(resolve("anthropic"), context_window=int(tokens / 1.05))
    [finding] = check(history, target=target).errors
    assert finding.rule == "context-overflow"


def test_the_next_user_message_placeholder_is_not_counted():
    # A transcript ending on the assistant's answer is judged with a placeholder user turn
    # appended (nextturn.py); its text stands for a message no one has written, so the count,
    # exact here (near the window), is that of the log's own messages.
    [question, answer, _] = talk(4600).messages
    transcript = dataclasses.replace(talk(4600), format="claude-code", messages=[question, answer])
    target = small_window("anthropic/claude-sonnet-4-5")
    going_on = check(transcript, target=target)
    as_logged = check(transcript, target=target, next_turn=False)
    assert going_on.input_tokens is not None and going_on.input_tokens == as_logged.input_tokens
