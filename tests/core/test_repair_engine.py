"""The repair loop: a copy repaired until accepted or until nothing more can be done, edits a
person can read, what no strategy covers reported, on histories as long as agents make them."""

import json

import pytest

from conversations.history import formats
from conversations.history.findings import FIXES, Finding, Verdict
from conversations.history.formats import Document, load_path
from conversations.history.repair import NOT_AUTOMATIC, ORDER, STRATEGIES, RepairError, plan, repair
from conversations.history.repair.work import Work
from tests.support import FIXTURES

SAMPLES = FIXTURES / "samples"


def read(obj, format="openai"):
    (history,) = formats.read(Document.from_bytes("request.json", json.dumps(obj).encode()), format)
    return history


def finding(rule, fix, severity="error", message_index=None):
    return Finding(
        rule=rule,
        severity=severity,
        message_index=message_index,
        wire_index=None,
        provider_error=None,
        explanation="",
        fix=fix,
    )


def test_every_fix_code_has_a_strategy_or_a_reason_why_not():
    assert set(STRATEGIES) | set(NOT_AUTOMATIC) == set(FIXES)
    assert not set(STRATEGIES) & set(NOT_AUTOMATIC)
    assert list(ORDER) == [code for code in ORDER if code in STRATEGIES] and set(ORDER) == set(STRATEGIES)


def test_the_input_history_is_never_changed():
    (history,) = formats.read(load_path(SAMPLES / "user-text-before-tool-result.json"))
    before = history.to_dict()
    messages = list(history.messages)
    result = repair(history, target="openai")
    assert result.edits
    assert history.to_dict() == before
    assert len(history.messages) == len(messages)
    assert all(a is b for a, b in zip(history.messages, messages, strict=True))
    assert result.history is not history and result.history.messages[0] is not history.messages[0]


def test_a_history_the_target_accepts_comes_back_equal_with_no_edits():
    (history,) = formats.read(load_path(FIXTURES / "formats" / "anthropic-request.json"))
    result = repair(history, target="anthropic")
    assert result.accepted and not result.changed
    assert result.history.to_dict() == history.to_dict()
    assert [v.to_dict() for v in result.after] == [v.to_dict() for v in result.before]


def test_what_no_strategy_covers_is_reported_and_the_loop_stops():
    # Too many messages for OpenAI: splitting the conversation is a person's decision.
    messages = [{"role": "user" if k % 2 == 0 else "assistant", "content": f"turn {k}"} for k in range(2050)]
    history = read({"model": "gpt-4o", "messages": messages})
    result = repair(history, target="openai")
    assert not result.accepted and not result.changed
    assert [f.rule for f in result.remaining()] == ["openai-too-many-messages"]
    assert plan(result.after).uncovered[0].fix == "split-history" and "split-history" in NOT_AUTOMATIC


def test_a_repair_fixes_what_it_can_and_reports_the_rest():
    messages = [
        {"role": "user", "content": "list"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}],
        },
    ]
    messages += [{"role": "user" if k % 2 == 0 else "assistant", "content": f"turn {k}"} for k in range(2050)]
    result = repair(read({"model": "gpt-4o", "messages": messages}), target="openai")
    assert [e.op for e in result.edits] == ["add-tool-result"]
    assert [f.rule for f in result.remaining()] == ["openai-too-many-messages"]


def test_the_plan_orders_strategies_and_leaves_warnings_out_unless_asked():
    verdict = Verdict(
        target="anthropic",
        provider="anthropic",
        findings=[
            finding("cache-control-too-many", "trim-cache-markers"),
            finding("tool-result-missing", "add-missing-tool-result", message_index=1),
            finding("context-overflow", "truncate-history"),
            finding("cache-on-synthetic-error", "move-cache-marker", severity="warning"),
            finding("cache-below-minimum", "none", severity="info"),
        ],
    )
    steps = plan([verdict]).steps
    assert [s.fix for s in steps] == ["add-missing-tool-result", "trim-cache-markers"]
    assert [f.rule for f in plan([verdict]).uncovered] == ["context-overflow"]
    assert [s.fix for s in plan([verdict], include_warnings=True).steps] == [
        "add-missing-tool-result",
        "move-cache-marker",
        "trim-cache-markers",
    ]


def test_edits_name_messages_of_the_history_the_repair_started_from():
    # Two interrupted calls: the second one's result lands after the first one's new message,
    # yet its edit still names the original message it follows.
    history = read(
        {
            "messages": [
                {"role": "user", "content": "a"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
                    ],
                },
                {"role": "user", "content": "b"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_2", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
                    ],
                },
                {"role": "user", "content": "c"},
            ]
        }
    )
    result = repair(history, target="openai")
    assert [(e.op, e.message_index) for e in result.edits] == [("add-tool-result", 1), ("add-tool-result", 3)]
    assert "after message 3" in result.edits[1].description
    assert [m.role for m in result.history.messages] == [
        "user",
        "assistant",
        "tool",
        "user",
        "assistant",
        "tool",
        "user",
    ]


def test_a_route_is_repaired_for_every_deployment_it_could_reach():
    (history,) = formats.read(load_path(SAMPLES / "unanswered-tool-call.json"))
    result = repair(history, route=(FIXTURES / "seed" / "proxy-config.yaml", "claude-3-5-sonnet-20241022"))
    assert [v.provider for v in result.before] == ["bedrock", "anthropic"]
    assert not result.before[1].accepted  # the fallback refuses the unanswered call
    assert result.accepted and len(result.after) == 2


def test_a_target_and_a_route_at_once_is_refused():
    (history,) = formats.read(load_path(SAMPLES / "unanswered-tool-call.json"))
    with pytest.raises(RepairError, match="not both"):
        repair(history, target="anthropic", route=(FIXTURES / "seed" / "proxy-config.yaml", "g"))


def long_history(turns: int) -> dict:
    """An agent session of `turns` tool calls: every tenth interrupted, every seventh answered
    after a user message typed while the tool ran."""
    messages = [{"role": "system", "content": "You are a coding agent."}]
    for k in range(turns):
        call_id = f"toolu_{k:06d}"
        messages.append({"role": "user", "content": f"step {k}"})
        messages.append(
            {
                "role": "assistant",
                "content": f"running step {k}",
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": "bash", "arguments": '{"cmd": "ls"}'}}
                ],
            }
        )
        if k % 10 == 3:
            continue
        if k % 7 == 2:
            messages.append({"role": "user", "content": f"typed while step {k} ran"})
        messages.append({"role": "tool", "tool_call_id": call_id, "content": "file.py " * 10})
    return {"model": "gpt-4o", "messages": messages}


@pytest.mark.slow
def test_a_ten_thousand_message_history_is_repaired_by_every_pairing_strategy_in_one_pass():
    # How fast is bench/bulk.py's business (a timed assertion here failed CI on a busy machine).
    history = read(long_history(3400))
    assert len(history.messages) > 10_000
    work = Work(history)
    work.begin_round()
    for code in (
        "move-tool-results-first",
        "add-missing-tool-result",
        "drop-orphan-tool-result",
        "remove-empty-blocks",
        "remove-empty-messages",
        "trim-cache-markers",
    ):
        STRATEGIES[code](work, [])
    ops = [e.op for e in work.edits]
    assert ops.count("add-tool-result") == 340 and ops.count("move-tool-result") == 486 - 49
    # Every call now answered by the tool message right after its assistant message.
    messages = work.history.messages
    for i, message in enumerate(messages):
        for use in message.tool_uses():
            assert messages[i + 1].role == "tool" and messages[i + 1].blocks[0].tool_use_id == use.id


def test_verdicts_already_known_stand_in_for_the_first_check():
    from conversations.history.check import check

    (history,) = formats.read(load_path(SAMPLES / "user-text-before-tool-result.json"))
    known = check(history, target="openai", build_request=False)
    judged = []

    def judge(h):
        judged.append(h)
        return [check(h, target="openai", build_request=False)]

    result = repair(history, target="openai", judge=judge, before=[known])

    assert result.before == [known]
    assert history not in judged  # only the repaired history was checked
    assert result.edits and result.accepted
    assert result.history.to_dict() == repair(history, target="openai").history.to_dict()


def test_known_verdicts_for_another_target_are_not_trusted():
    (history,) = formats.read(load_path(SAMPLES / "user-text-before-tool-result.json"))
    accepted_elsewhere = Verdict(target="gemini", provider="gemini", findings=[])

    result = repair(history, target="openai", before=[accepted_elsewhere])

    assert [v.target for v in result.before] == ["openai"]
    assert result.edits
