"""The token estimate tokenizes its sample as litellm's counter would, without importing litellm; a
large request is counted exactly only when the estimate's margin cannot tell over from under."""

import json
import subprocess
import sys
import textwrap

import litellm
import pytest

from conversations.history import tokenizer, tokens
from tests.core.test_modelmap import fixture_models

CODE = "def f(x):\n    return {k: v for k, v in x.items() if v is not None}\n"
CHINESE = "我们需要修复这个函数中的错误，因为它在处理空列表时会崩溃。请检查日志并告诉我发生了什么。"
TEXT = (CODE * 200) + (CHINESE * 40) + ("\n\n    " * 50) + "Please run the tests again. " * 100
# Models whose tokenizer litellm would fetch from the network (llama, cohere): not ours to count.
FETCHED = ("llama", "command-r", "replicate")
OTHERS = ["claude-sonnet-4-5", "deepseek/deepseek-chat", "openai/gpt-4", "openai/o3", "azure/gpt-4o", "xai/grok-4"]


@pytest.mark.parametrize("model", [m for m in fixture_models() + OTHERS if not any(f in m for f in FETCHED)])
def test_the_sample_is_tokenized_as_litellms_counter_tokenizes_text(model):
    assert tokenizer.count(model, TEXT) == litellm.token_counter(model=model, text=TEXT)


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_the_estimate_imports_no_litellm():
    out = run(
        """
        import sys
        from conversations.history import tokens
        e = tokens.estimated(["some text " * 5000, "def f(): pass\\n" * 3000], 10, "anthropic/claude-sonnet-4-5")
        print(e.tokens > 10000, "litellm" in sys.modules)
        """
    )
    assert out == "True False"


def test_the_margin_is_the_sampling_error_plus_the_floor():
    even = tokens.estimated(["The total is computed in one place. " * 100_000], 1, "openai/gpt-4o")
    mixed = tokens.estimated([("x = 1\n" * 500) if k % 2 else (CHINESE * 40) for k in range(400)], 1, "openai/gpt-4o")
    whole = tokens.estimated([CODE * 10], 1, "openai/gpt-4o")
    assert whole.margin == tokens.MARGIN_FLOOR  # all of it tokenized: no sampling error
    assert tokens.MARGIN_FLOOR < even.margin < mixed.margin


LINE = "src/inventory/service.py:{n}:    total = sum(item.quantity for item in order.items)\n"


def large_request():
    """An agent's request of 1.4 million characters (over size.EXACT_CHARS), and its tokens by
    litellm's own count."""
    messages = [{"role": "user", "content": "Fix it."}]
    for n in range(400):
        call = {"name": "bash", "arguments": json.dumps({"command": f"grep -n total {n}"})}
        messages += [
            {
                "role": "assistant",
                "content": "Looking.",
                "tool_calls": [{"id": f"call_{n}", "type": "function", "function": call}],
            },
            {
                "role": "tool",
                "tool_call_id": f"call_{n}",
                "content": "".join(LINE.format(n=n * 40 + k) for k in range(40)),
            },
        ]
    messages.append({"role": "user", "content": "go on"})
    return {"messages": messages}, litellm.token_counter(model="openai/gpt-4o", messages=messages)


JUDGE = """
    import json, sys
    from dataclasses import replace
    from conversations.history.check import check
    from conversations.history.formats.openai import parse_request
    from conversations.history.targets import resolve

    request, window = json.loads(sys.stdin.read())
    target = replace(resolve("openai"), context_window=window)
    verdict = check(parse_request(request, file="t"), target=target, build_request=False)
    print(json.dumps([[f.rule for f in verdict.errors], verdict.input_tokens, "litellm" in sys.modules]))
"""


def judged(window_share: float):
    request, counted = large_request()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(JUDGE)],
        input=json.dumps([request, int(counted / window_share)]),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return counted, *json.loads(done.stdout)


def test_a_large_request_well_over_the_window_by_its_estimates_margin_is_not_counted():
    _, rules, counted, imported = judged(1.15)
    assert rules == ["openai-context-overflow"] and counted is None and not imported


def test_a_large_request_within_the_estimates_margin_of_the_window_is_counted_exactly():
    tokens_, rules, counted, imported = judged(1.01)
    assert rules == ["openai-context-overflow"] and counted == tokens_ and imported
