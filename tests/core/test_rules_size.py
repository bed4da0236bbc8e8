"""Size limits: the context window and images (provider-rules.md s.1, s.3, s.4)."""

import re

from conversations.history.check import check, check_body
from conversations.history.formats import anthropic as anthropic_format
from conversations.history.formats.openai import parse_request
from conversations.history.routes import Deployment, deployment_target


def small_window(model, tokens=1000):
    """A deployment whose model_info gives a small window, so a short history overflows it."""
    return deployment_target(Deployment("small", model, {"max_input_tokens": tokens}))


def talk(chars):
    return parse_request({"messages": [{"role": "user", "content": "word " * (chars // 5)},
                                       {"role": "assistant", "content": "ok"},
                                       {"role": "user", "content": "go on"}]}, file="t")


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
    [finding] = check(talk(8000), target=small_window("bedrock/invoke/anthropic.claude-3-5-sonnet-20241022-v2:0")).errors
    assert finding.provider_error.startswith("The model returned the following errors: prompt is too long: ")


def test_openai_words_it_as_its_maximum_context_length():
    # kaixindelele/ChatPaper#7
    [finding] = check(talk(8000), target=small_window("openai/gpt-4o")).errors
    assert finding.rule == "openai-context-overflow"
    assert re.fullmatch(r"This model's maximum context length is 1000 tokens\. However, your messages "
                        r"resulted in \d+ tokens\. Please reduce the length of the messages\.",
                        finding.provider_error)
    assert check(talk(800), target=small_window("openai/gpt-4o")).accepted


def test_gemini_words_it_as_the_input_token_count():
    [finding] = check(talk(8000), target=small_window("gemini/gemini-2.5-pro")).errors
    assert finding.rule == "gemini-context-overflow"
    assert check(talk(800), target=small_window("gemini/gemini-2.5-pro")).accepted


def image_body(*sizes):
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * size}}
               for size in sizes] + [{"type": "text", "text": "what is this?"}]
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
