"""Counting a request's tokens offline: a history made from a counted one by a few changes (a
repair) is counted from that count, and comes to exactly what counting it whole gives; the
estimate weighs every text by its length."""

import random

import litellm
import pytest

from conversations.history import formats, tokens
from conversations.history.check import check
from conversations.history.formats import load_path
from conversations.history.repair import repair
from conversations.history.repair.work import clone
from conversations.history.tokens import Counted
from tests.support import FIXTURES, changed_at_random, log_documents

MODEL = "openai/gpt-4o"
DOCUMENTS = log_documents("seed", "samples", "formats")


def histories():
    return [h for path in DOCUMENTS for h in formats.read(load_path(path)) if h.messages]


@pytest.mark.parametrize("seed", range(4))
def test_whatever_a_change_does_the_count_from_the_old_count_is_the_whole_count(seed):
    rng = random.Random(seed)
    for history in histories():
        base = Counted(history, tokens.exact(history, MODEL))
        copy, origins = changed_at_random(history, rng, most=3)

        assert tokens.recount(base.to(origins), copy, MODEL) == tokens.exact(copy, MODEL), history.format


def test_a_repair_checks_its_result_from_the_count_it_started_from():
    history = formats.read(load_path(FIXTURES / "samples" / "unanswered-tool-call.json"))[0]
    before = check(history, target="openai", build_request=False)
    before.input_tokens = tokens.exact(history, MODEL)

    result = repair(history, target="openai", build_request=False, before=[before])

    [after] = result.after
    assert result.edits and after.input_tokens == tokens.exact(result.history, MODEL)


def test_another_system_prompt_or_other_tools_are_counted_whole():
    history = formats.read(load_path(FIXTURES / "samples" / "unanswered-tool-call.json"))[0]
    base = Counted(history, tokens.exact(history, MODEL), tuple(range(len(history.messages))))
    other = clone(history)
    other.system[0].blocks[0].text += " Be brief."
    assert tokens.recount(base, other, MODEL) is None


def test_the_estimate_weighs_a_long_text_as_much_as_it_is_long():
    """One long Chinese tool output among many short English lines: a sample taking as much of
    each text would see mostly English, and put the request at a third of its tokens."""
    chinese = "我们需要修复这个函数中的错误，因为它在处理空列表时会崩溃。请检查日志并告诉我发生了什么。" * 400
    texts = ["Please run the tests again."] * 300 + [chinese]
    real = litellm.token_counter(model=MODEL, text="\n".join(texts))
    assert 0.9 * real < tokens.estimate(texts, 0, MODEL) < 1.25 * real
