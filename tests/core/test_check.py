"""check(): the verdict per target, the wire index map, and the provider texts word for word."""

import importlib
import json

import pytest

from conversations.history import formats
from conversations.history.check import RULES_VERSION, check, check_targets
from conversations.history.findings import FIXES, Finding, Verdict
from conversations.history.formats.openai import parse_request
from conversations.history.rules import EVERY_TARGET, RULES, TARGET_RULES
from conversations.history.targets import TARGET_NAMES, resolve
from conversations.history.wire import build, simulate
from tests.support import FIXTURES

SEEDS = sorted((FIXTURES / "seed").glob("openhands-6852-*.json"))
GOLDEN = json.loads((FIXTURES / "wire" / "provider-errors.json").read_text())


def seed(name: str):
    return formats.read(formats.load_path(FIXTURES / "seed" / name), format="openai")[0]


@pytest.mark.parametrize("entry", GOLDEN, ids=lambda e: f"{e['rule']}:{e['template']}")
def test_predicted_texts_are_the_providers_own_word_for_word(entry):
    module_name, constant = entry["template"].split(".")
    module = importlib.import_module(f"conversations.history.rules.{module_name}")
    assert getattr(module, constant).format(**entry["values"]) == entry["text"]
    assert entry["rule"] in RULES


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_anthropic_accepts_all_three_seed_histories(path):
    history = formats.read(formats.load_path(path), format="openai")[0]
    verdict = check(history, target="anthropic")
    assert verdict.accepted, [f.rule for f in verdict.errors]


def test_the_cache_marker_on_the_synthetic_error_result_is_a_warning():
    verdict = check(seed("openhands-6852-cache-on-tool-message.json"), target="anthropic")
    [finding] = [f for f in verdict.findings if f.rule == "cache-on-synthetic-error"]
    assert finding.severity == "warning" and finding.fix == "move-cache-marker"
    assert finding.message_index == 6  # the role=tool message "The action has not been executed"
    assert finding.wire_index == 6  # litellm merged it with the user message after it
    assert verdict.accepted


def test_the_nine_message_seed_becomes_seven_anthropic_messages_and_maps_back():
    history = seed("openhands-6852-cache-on-tool-message.json")
    assert len(history.messages) == 8  # the system message is the system prompt, not a message
    wire = build(history, resolve("anthropic"))
    assert len(wire.messages) == 7 and wire.exact
    assert [m.sources for m in wire.messages] == [[0], [1], [2], [3], [4], [5], [6, 7]]
    # litellm moved the tool message's cache marker onto its tool_result block
    last = wire.messages[6].blocks
    assert [b.type for b in last] == ["tool_result", "text"] and last[0].cache == {"type": "ephemeral"}


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
@pytest.mark.parametrize("name", TARGET_NAMES)
def test_the_cheap_path_reaches_the_same_verdict_as_litellm(path, name):
    history = formats.read(formats.load_path(path), format="openai")[0]
    built = check(history, target=name)
    replayed = check(history, target=name, build_request=False)
    assert built.accepted == replayed.accepted
    assert {f.rule for f in built.findings} == {f.rule for f in replayed.findings}
    assert [m.sources for m in build(history, resolve(name)).messages] == [
        m.sources for m in simulate(history, resolve(name)).messages
    ]


def test_the_verdict_dict_is_exactly_the_command_line_contract():
    history = parse_request(
        {
            "messages": [
                {"role": "user", "content": "list files"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
                    ],
                },
                {"role": "user", "content": "hello?"},
            ]
        },
        file="t",
    )
    verdict = check(history, target="openai").to_dict()
    # issue 4's keys, and issue 17's additions (sender, notes, applicable; guess, answered)
    assert set(verdict) == {"target", "provider", "accepted", "findings", "sender", "notes", "applicable"}
    assert verdict["accepted"] is False
    assert verdict["sender"] == "litellm"
    assert set(verdict["findings"][0]) == {
        "rule",
        "severity",
        "message_index",
        "wire_index",
        "provider_error",
        "explanation",
        "fix",
        "guess",
        "answered",
    }
    assert Verdict.from_dict(verdict).to_dict() == verdict


def test_accepted_means_no_error_finding():
    warning = Finding("cache-on-synthetic-error", "warning", 1, 1, None, "x", "move-cache-marker")
    error = Finding("tool-result-missing", "error", 1, 2, "messages.2: ...", "x", "add-missing-tool-result")
    assert Verdict("anthropic", "anthropic", [warning]).accepted
    assert not Verdict("anthropic", "anthropic", [warning, error]).accepted


def test_a_finding_refuses_an_unknown_severity_or_fix():
    with pytest.raises(ValueError):
        Finding("x", "fatal", None, None, None, "x", "none")
    with pytest.raises(ValueError):
        Finding("x", "error", None, None, None, "x", "pray")


def test_errors_come_first_in_a_verdict():
    history = seed("openhands-6852-cache-removed-still-failing.json")
    history.request["max_tokens"] = 100_000  # asked for explicitly: an error, not a risk
    verdict = check(history, target=resolve("anthropic", "anthropic/claude-3-5-sonnet-20241022"))
    severities = [f.severity for f in verdict.findings]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
    assert severities[0] == "error"


def test_every_registered_rule_has_a_fix_the_repair_knows_and_runs_somewhere():
    registered = {code for codes in TARGET_RULES.values() for code in codes} | set(EVERY_TARGET)
    assert registered == set(RULES)
    assert all(rule.fix in FIXES and rule.doc for rule in RULES.values())


def test_check_targets_gives_one_verdict_per_target_in_order():
    verdicts = check_targets(seed("openhands-6852-proxy-vs-direct.json"), ["openai", "gemini"])
    assert [v.target for v in verdicts] == ["openai", "gemini"]


def test_the_rules_version_is_a_stable_string():
    assert isinstance(RULES_VERSION, str) and RULES_VERSION
