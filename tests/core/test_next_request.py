"""Issue 17: verdicts on the request the client sends next, by the client that sends it, and what
the log already proves (parts 1 to 3)."""

from __future__ import annotations

import json

from conversations.history import formats, nextturn, proof
from conversations.history.check import check
from conversations.history.failures import is_request_error, logged_failure
from conversations.history.findings import Finding, Verdict
from conversations.history.model import History
from conversations.history.repair import repair
from conversations.history.targets import own_target, resolve
from conversations.history.wire import request_for
from tests.support import FIXTURES

SYNTHETIC = FIXTURES / "synthetic"
SUBAGENT = FIXTURES / "real" / "claude-code-2.1.114-subagent" / "agent-a4ca7529859c158c2.jsonl"
LITELLM_FAILURE = FIXTURES / "formats" / "litellm-standard-logging-failure.json"


def read(path, fmt: str | None = None) -> History:
    (history,) = formats.read_each(formats.load_path(str(path)), format=fmt)
    assert isinstance(history, History)
    return history


def body(doc: dict, fmt: str = "anthropic") -> History:
    return formats.read(formats.Document.from_bytes("request.json", json.dumps(doc).encode()), format=fmt)[0]


def rules_of(verdict, severity: str | None = None) -> list[str]:
    return [f.rule for f in verdict.findings if severity is None or f.severity == severity]


# --- part 1: the next request --------------------------------------------------------------------------


def test_a_finished_run_on_a_model_without_prefill_is_not_judged_as_a_prefill():
    history = read(SYNTHETIC / "finished-run-no-prefill.jsonl")
    assert resolve("anthropic", "anthropic/claude-opus-4-6").prefill is False
    verdict = check(history, target=own_target(history.model)[0])
    assert verdict.accepted and "prefill-unsupported" not in rules_of(verdict)


def test_the_real_2_1_114_subagent_is_accepted_by_anthropic_with_warnings_only():
    history = read(SUBAGENT)
    verdict = check(history, target=own_target(history.model)[0])
    assert verdict.accepted
    assert set(rules_of(verdict)) == {"parallel-results-off-chain"}


def test_a_request_body_the_log_records_as_sent_is_judged_as_it_is():
    history = body(
        {
            "model": "claude-opus-4-6",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}],
        }
    )
    assert nextturn.next_request(history) is history
    verdict = check(history, target=own_target(history.model)[0])
    assert "prefill-unsupported" in rules_of(verdict, "error")


def test_the_placeholder_is_the_next_index_and_never_part_of_the_history():
    history = read(SYNTHETIC / "finished-run-no-prefill.jsonl")
    n = len(history.messages)
    judged = nextturn.next_request(history)
    assert len(history.messages) == n and len(judged.messages) == n + 1
    placeholder = judged.messages[n]
    assert placeholder.role == "user" and placeholder.text == "(the next user message)"
    assert nextturn.is_placeholder(placeholder)


def test_a_finding_on_the_placeholder_names_the_number_of_messages():
    # A transcript that ends on a tool call nobody answered: the next request's user turn (the
    # placeholder) is where the provider looks for the result.
    history = read(SYNTHETIC / "finished-run-no-prefill.jsonl")
    history.messages = history.messages[:2]
    n = len(history.messages)
    wire = request_for(nextturn.next_request(history), resolve("anthropic"))
    assert wire.messages[-1].sources == [n]
    [missing] = check(history, target="anthropic").findings
    assert (missing.rule, missing.message_index, missing.wire_index) == ("tool-result-missing", 1, n)


def test_thinking_in_the_last_answer_means_thinking_is_on():
    history = read(SYNTHETIC / "thinking-in-last-answer.jsonl")
    assert nextturn.thinking(history) is True
    verdict = check(history, target=own_target(history.model)[0])
    assert verdict.accepted and not rules_of(verdict)


def test_thinking_only_in_earlier_answers_is_unknown():
    history = read(SYNTHETIC / "thinking-in-last-answer.jsonl")
    last = history.messages[-1]
    last.blocks = [b for b in last.blocks if b.type == "text"]
    assert nextturn.thinking(history) is None


def test_a_request_body_without_a_thinking_config_has_thinking_off():
    history = body({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
    assert nextturn.thinking(history) is False


def test_a_guessed_max_tokens_is_a_warning_that_names_its_guess():
    history = read(FIXTURES / "formats" / "openhands-trajectory.json")
    verdict = check(history, target=own_target(history.model)[0])
    [finding] = [f for f in verdict.findings if f.rule == "max-tokens-too-large"]
    assert (finding.severity, finding.guess) == ("warning", "max_tokens")


def test_an_unknown_model_is_named_in_the_verdict_note():
    target, note = own_target(None, default="anthropic")
    assert target.name == "anthropic" and note == "model unknown: judged as anthropic"
    assert own_target("claude-opus-4-6")[1] is None


def test_whitespace_only_text_in_assistant_turns_is_a_warning_and_in_user_turns_an_error():
    assistant = body(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "text", "text": "\n\n"}, {"type": "text", "text": "ok"}]},
                {"role": "user", "content": [{"type": "text", "text": "  "}, {"type": "text", "text": "go on"}]},
            ],
        }
    )
    verdict = check(assistant, target="anthropic")
    found = {(f.rule, f.message_index): f.severity for f in verdict.findings}
    assert found[("empty-text-block", 1)] == "warning"
    assert found[("empty-text-block", 2)] == "error"


# --- part 2: the sender ---------------------------------------------------------------------------------


def test_every_verdict_names_its_sender_by_default_the_formats():
    assert check(read(SUBAGENT), target="anthropic").sender == "claude-code"
    assert check(read(LITELLM_FAILURE), target="anthropic").sender == "litellm"
    assert check(read(FIXTURES / "formats" / "openhands-trajectory.json"), target="anthropic").sender == "openhands"
    assert check(read(FIXTURES / "formats" / "anthropic-request.json"), target="anthropic").sender == "direct"


def test_direct_applies_only_to_a_request_body_in_the_targets_own_wire_format():
    transcript = check(read(SUBAGENT), target="anthropic", sender="direct")
    assert not transcript.applicable and transcript.notes[0].startswith("direct: not applicable")
    request = read(FIXTURES / "formats" / "anthropic-request.json")
    assert not check(request, target="openai", sender="direct").applicable
    assert check(request, target="bedrock-invoke", sender="direct").applicable


TWO_USER_TURNS = {
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 1024,
    "messages": [
        {"role": "user", "content": "Here is the log file."},
        {"role": "user", "content": "What failed?"},
        {"role": "assistant", "content": "The migration step."},
        {"role": "user", "content": "Why?"},
    ],
}


def test_two_user_turns_sent_directly_are_refused_by_bedrock_invoke():
    verdict = check(body(TWO_USER_TURNS), target="bedrock-invoke", sender="direct")
    assert not verdict.accepted and "roles-not-alternating" in rules_of(verdict, "error")


def test_two_user_turns_sent_through_litellm_to_bedrock_are_accepted_with_a_warning_that_it_merged_them():
    verdict = check(body(TWO_USER_TURNS, "openai"), target="bedrock")
    assert verdict.sender == "litellm" and verdict.accepted
    [merged] = [f for f in verdict.findings if f.rule == "litellm-merged-turns"]
    assert merged.severity == "warning" and merged.message_index == 1


def test_claude_code_sends_a_definition_for_every_tool_it_calls():
    history = read(SYNTHETIC / "finished-run-no-prefill.jsonl")
    through_litellm = check(history, target="bedrock", sender="litellm")
    as_claude_code = check(history, target="bedrock", sender="claude-code")
    assert "litellm-tools-as-text" in rules_of(through_litellm)
    assert not {"litellm-tools-as-text", "bedrock-toolconfig-required", "litellm-dummy-tool"} & set(
        rules_of(as_claude_code)
    )


def test_parallel_results_off_chain_is_a_guess_on_versions_newer_than_those_known_affected():
    verdict = check(read(SUBAGENT), target="anthropic")
    off_chain = [f for f in verdict.findings if f.rule == "parallel-results-off-chain"]
    assert off_chain and all(f.guess == "client version" and f.severity == "warning" for f in off_chain)
    # another client does not resume by walking Claude Code's chain
    assert "parallel-results-off-chain" not in rules_of(check(read(SUBAGENT), target="anthropic", sender="litellm"))


# --- part 3: what the log proves --------------------------------------------------------------------------


def test_whitespace_only_text_answered_twice_is_proven_answered_and_accepted():
    history = read(SYNTHETIC / "whitespace-text-answered-twice.jsonl")
    verdict = check(history, target=own_target(history.model)[0])
    blanks = [f for f in verdict.findings if f.rule == "empty-text-block"]
    assert [f.message_index for f in blanks] == [1, 3]
    assert all(f.answered == {"message_index": 5, "timestamp": history.messages[5].timestamp} for f in blanks)
    assert verdict.accepted


def test_an_answered_error_does_not_count_against_the_verdict():
    error = Finding("tool-result-missing", "error", 1, 2, "x", "x", "add-missing-tool-result")
    error.answered = {"message_index": 4, "timestamp": None}
    assert Verdict("anthropic", "anthropic", [error]).accepted


def test_another_sender_or_target_than_the_one_that_answered_proves_nothing():
    history = read(SYNTHETIC / "whitespace-text-answered-twice.jsonl")
    assert not any(f.answered for f in check(history, target="anthropic", sender="litellm").findings)
    assert not any(f.answered for f in check(history, target="bedrock-invoke").findings)


def test_a_rule_that_changed_after_the_reply_is_not_proven_by_it():
    history = read(SYNTHETIC / "whitespace-text-answered-twice.jsonl")
    target = own_target(history.model)[0]
    replies = proof.replies(history, target)
    finding = Finding("empty-text-block", "error", 1, None, "x", "x", "remove-empty-blocks")
    proof.mark([finding], replies, {"empty-text-block": "2026-06-01"})
    assert finding.answered is None
    proof.mark([finding], replies, {"empty-text-block": "2026-01-01"})
    assert finding.answered is not None


def test_a_compaction_starts_what_a_later_reply_proves():
    history = read(SYNTHETIC / "whitespace-text-answered-twice.jsonl")
    history.meta["compactions"] = [{"message_index": 2, "kind": "boundary"}]
    target = own_target(history.model)[0]
    assert [(r.index, r.start) for r in proof.replies(history, target)] == [(1, 0), (3, 2), (5, 2)]
    finding = Finding("empty-text-block", "warning", 1, None, None, "x", "remove-empty-blocks")
    proof.mark([finding], proof.replies(history, target), {})
    assert finding.answered is None  # message 1 was compacted away before replies 3 and 5


def test_the_litellm_failure_is_a_request_error_its_history_does_not_explain():
    failure = logged_failure(read(LITELLM_FAILURE))
    assert failure is not None
    assert failure["request_error"] is True and failure["recovered"] is False
    assert failure["explained_by"] is None
    assert failure["why_unexplained"].startswith("messages.26 is past the end of this history (8 messages)")


def test_rate_limits_and_overload_are_not_request_errors():
    assert is_request_error("litellm.BadRequestError: AnthropicException - invalid_request_error")
    assert is_request_error("Prompt is too long: 210000 tokens > 200000 maximum")
    assert not is_request_error("litellm.RateLimitError: 429 rate_limit_error")
    assert not is_request_error("529 overloaded_error: Overloaded")


def test_a_claude_code_api_error_followed_by_an_answer_is_recovered():
    history = read(SYNTHETIC / "whitespace-text-answered-twice.jsonl")
    history.meta["api_errors"] = [
        {"line": 3, "timestamp": "2026-03-10T10:00:07.000Z", "text": "400 Prompt is too long", "message_index": 2}
    ]
    failure = logged_failure(history)
    assert failure is not None and failure["recovered"] is True and failure["at"] == "2026-03-10T10:00:07.000Z"


def test_a_log_without_a_failure_has_none():
    assert logged_failure(read(SUBAGENT)) is None
    # an OpenHands runtime disconnect is not a provider's failure
    assert logged_failure(read(FIXTURES / "formats" / "openhands-events")) is None


def test_a_finding_on_the_placeholder_is_never_repaired_into_the_history():
    # The placeholder is no message of the history: a strategy given a finding on it would write
    # the turn it stands for (here: add a user turn after the received answer).
    history = read(SYNTHETIC / "finished-run-no-prefill.jsonl")
    n = len(history.messages)
    on_placeholder = Finding("prefill-unsupported", "error", n, None, "x", "x", "drop-final-assistant")
    before = [Verdict("anthropic", "anthropic", [on_placeholder], sender="claude-code")]
    result = repair(history, target=own_target(history.model)[0], before=before)
    assert not result.edits and len(result.history.messages) == n
