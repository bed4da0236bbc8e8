"""`manage.py repair_history`: a stable contract for users' scripts (issue 6).

    repair_history PATH [--format F] (--target T | --router-config FILE --model-group G)
                   [--out FILE] [--json] [--include-warnings]

Exit 2 when it could not run, 1 when findings remain that no repair covers, else 0; the repaired
log in the input's format on stdout or in --out; with --json only the report on stdout."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from conversations.history import formats
from conversations.history.check import check
from conversations.history.formats import load_path
from conversations.history.repair import judge_for
from tests.claude_sessions import empty_last_response
from tests.support import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"
CACHE_ON_TOOL = FIXTURES / "seed" / "openhands-6852-cache-on-tool-message.json"
VALID = FIXTURES / "formats" / "openai-request.json"
REPORT_KEYS = {"path", "target", "edits", "before", "after"}
# check_history's contract: issue 4's keys and issue 17's additions
VERDICT_KEYS = {"target", "provider", "accepted", "findings", "sender", "notes", "applicable"}
FINDING_KEYS = {
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


def run(*args) -> tuple[int, bytes, bytes]:
    """The command in this process (litellm loads once); (exit status, stdout, stderr)."""
    from io import BytesIO, TextIOWrapper

    out, err = BytesIO(), BytesIO()
    stdout, stderr = TextIOWrapper(out, encoding="utf-8"), TextIOWrapper(err, encoding="utf-8")
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    try:
        call_command("repair_history", *map(str, args), stdout=stdout, stderr=stderr)
        status = 0
    except SystemExit as exc:
        status = exc.code
    finally:
        stdout.flush()
        stderr.flush()
        sys.stdout, sys.stderr = saved
    return status, out.getvalue(), err.getvalue()


def test_it_repairs_an_interrupted_call_and_reports_it_as_json(tmp_path):
    out = tmp_path / "repaired.json"
    status, stdout, _ = run(UNANSWERED, "--format", "openai", "--target", "anthropic", "--out", out, "--json")
    assert status == 0
    report = json.loads(stdout)
    assert set(report) == REPORT_KEYS
    assert report["path"] == str(UNANSWERED) and report["target"] == "anthropic"
    assert [set(e) for e in report["edits"]] == [{"op", "message_index", "description"}] * len(report["edits"])
    assert "add-tool-result" in [e["op"] for e in report["edits"]]
    for verdict in report["before"] + report["after"]:
        assert set(verdict) == VERDICT_KEYS and all(set(f) == FINDING_KEYS for f in verdict["findings"])
    assert not report["before"][0]["accepted"] and report["after"][0]["accepted"]
    (history,) = formats.read(load_path(out), "openai")
    assert check(history, target="anthropic").accepted


def test_without_out_the_repaired_log_goes_to_stdout_in_its_own_format():
    status, stdout, stderr = run(UNANSWERED, "--target", "openai")
    assert status == 0
    request = json.loads(stdout)
    assert [m["role"] for m in request["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert b"edit(s) for openai" in stderr


def test_a_history_that_needs_nothing_is_written_back_byte_for_byte(tmp_path):
    out = tmp_path / "same.json"
    status, stdout, _ = run(VALID, "--target", "openai", "--out", out, "--json")
    assert status == 0 and json.loads(stdout)["edits"] == []
    assert out.read_bytes() == VALID.read_bytes()
    status, stdout, _ = run(VALID, "--target", "openai")
    assert status == 0 and stdout == VALID.read_bytes()


def test_warnings_are_only_repaired_when_asked(tmp_path):
    plain, fixed = tmp_path / "plain.json", tmp_path / "fixed.json"
    status, stdout, _ = run(CACHE_ON_TOOL, "--format", "openai", "--target", "anthropic", "--out", plain, "--json")
    assert status == 0 and json.loads(stdout)["edits"] == [] and plain.read_bytes() == CACHE_ON_TOOL.read_bytes()
    status, stdout, _ = run(
        CACHE_ON_TOOL, "--format", "openai", "--target", "anthropic", "--out", fixed, "--json", "--include-warnings"
    )
    assert status == 0 and [e["op"] for e in json.loads(stdout)["edits"]] == ["move-cache-marker"]
    assert "cache_control" not in json.loads(fixed.read_text())["messages"][7]


def test_findings_no_repair_covers_exit_1(tmp_path):
    source = tmp_path / "long.json"
    source.write_text(
        json.dumps(
            {
                "model": "gpt-4o",
                "messages": [
                    {"role": "user" if k % 2 == 0 else "assistant", "content": f"turn {k}"} for k in range(2050)
                ],
            }
        )
    )
    status, stdout, _ = run(source, "--target", "openai", "--out", tmp_path / "out.json", "--json")
    assert status == 1
    report = json.loads(stdout)
    assert report["edits"] == [] and [f["fix"] for f in report["after"][0]["findings"]] == ["split-history"]


def test_a_route_is_repaired_for_each_deployment(tmp_path):
    status, stdout, _ = run(
        UNANSWERED,
        "--router-config",
        FIXTURES / "seed" / "proxy-config.yaml",
        "--model-group",
        "claude-3-5-sonnet-20241022",
        "--out",
        tmp_path / "r.json",
        "--json",
    )
    report = json.loads(stdout)
    assert status == 0 and report["target"] == "claude-3-5-sonnet-20241022"
    assert [v["provider"] for v in report["after"]] == ["bedrock", "anthropic"]
    assert all(v["accepted"] for v in report["after"])


def test_a_litellm_log_comes_out_as_the_openai_request(tmp_path):
    out = tmp_path / "request.json"
    status, _, _ = run(
        FIXTURES / "formats" / "litellm-standard-logging-failure.json",
        "--target",
        "anthropic",
        "--out",
        out,
        "--include-warnings",
    )
    assert status == 0
    request = json.loads(out.read_text())
    assert "standard_logging_object" not in request and request["messages"] and request["max_tokens"]


def test_an_openhands_session_is_written_to_an_output_directory(tmp_path):
    session = tmp_path / "abc123"
    shutil.copytree(FIXTURES / "formats" / "openhands-events", session)
    (session / "events" / "10.json").unlink()
    (session / "agent_state.pkl").write_bytes(b"state")
    status, _, stderr = run(session, "--target", "openai")
    assert status == 2 and b"--out DIR" in stderr
    out = tmp_path / "repaired"
    status, stdout, _ = run(session, "--target", "openai", "--out", out, "--json")
    assert status == 0 and [e["op"] for e in json.loads(stdout)["edits"]] == ["add-tool-result"]
    assert json.loads((out / "events" / "12.json").read_text())["observation"] == "error"
    assert (out / "agent_state.pkl").read_bytes() == b"state"
    assert not (session / "events" / "12.json").exists()  # the input is left alone


def test_an_openhands_v1_conversation_is_written_to_an_output_directory(tmp_path):
    from tests.v1_folders import fixture_files, without_last_observation, write_folder

    conversation = write_folder(tmp_path / "4f7c2a9e", without_last_observation(fixture_files()))
    (conversation / "observations").mkdir()
    (conversation / "observations" / "terminal-1.txt").write_text("full output")
    before = {p: p.read_bytes() for p in conversation.rglob("*") if p.is_file()}
    status, _, stderr = run(conversation, "--target", "anthropic", "--include-warnings")
    assert status == 2 and b"--out DIR" in stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    status, _, stderr = run(conversation, "--target", "anthropic", "--include-warnings", "--out", tmp_path / "full")
    assert status == 2 and b"must not exist yet (or be empty)" in stderr

    out = tmp_path / "repaired"
    status, stdout, _ = run(conversation, "--target", "anthropic", "--include-warnings", "--out", out, "--json")

    assert status == 0 and [e["op"] for e in json.loads(stdout)["edits"]] == ["reattach-tool-call"]
    (history,) = formats.read(load_path(out))
    assert history.meta["abandoned"] == [] and history.messages[-1].blocks[0].is_error
    assert (out / "events" / ".eventlog-len-27.marker").exists() and (out / "events" / ".eventlog.lock").exists()
    assert (out / "observations" / "terminal-1.txt").read_text() == "full output"
    assert {p: p.read_bytes() for p in conversation.rglob("*") if p.is_file()} == before  # the input is left alone


def test_without_warnings_an_abandoned_call_is_left_and_the_output_is_the_input(tmp_path):
    from tests.v1_folders import fixture_files, without_last_observation, write_folder

    conversation = write_folder(tmp_path / "4f7c2a9e", without_last_observation(fixture_files()))
    out = tmp_path / "out"

    status, stdout, _ = run(conversation, "--target", "anthropic", "--out", out, "--json")

    assert status == 0 and json.loads(stdout)["edits"] == []
    assert load_path(out).files == load_path(conversation).files


@pytest.mark.parametrize(
    "args, reason",
    [
        (["does-not-exist.json", "--target", "anthropic"], b"no such file"),
        ([UNANSWERED, "--target", "anthropic", "--json"], b"--json needs --out"),
        ([UNANSWERED, "--target", "no-such-provider"], b"unknown target"),
        ([UNANSWERED], b"give --target"),
        ([UNANSWERED, "--target", "anthropic", "--model-group", "g"], b"either --target"),
        (
            [UNANSWERED, "--router-config", FIXTURES / "seed" / "proxy-config.yaml", "--model-group", "nope"],
            b"no model group 'nope'",
        ),
    ],
)
def test_it_exits_2_when_it_cannot_run(args, reason):
    status, stdout, stderr = run(*args)
    assert status == 2 and reason in stderr and stdout == b""


def test_a_truncated_log_exits_2_naming_the_line(tmp_path):
    bad = tmp_path / "truncated.json"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assis')
    status, _, stderr = run(bad, "--target", "anthropic")
    assert status == 2 and b"truncated.json: line 1: invalid JSON" in stderr


@pytest.mark.slow
def test_it_needs_no_database_and_no_environment(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unreachable",
        "INSPECTOR_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "repair_history",
            str(UNANSWERED),
            "--target",
            "openai",
            "--out",
            str(tmp_path / "out.json"),
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()[-500:]
    assert json.loads(result.stdout)["after"][0]["accepted"]
    bad = subprocess.run(
        [sys.executable, "manage.py", "repair_history", str(UNANSWERED), "--target", "openai", "--format", "nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert bad.returncode == 2


def single_conversation_fixtures():
    paths = []
    for folder in ("formats", "seed", "samples", "real"):
        root = FIXTURES / folder
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".json", ".jsonl") and "events" not in p.parts):
            try:
                if len(formats.read(load_path(path))) == 1:
                    paths.append(path)
            except Exception:
                continue  # not a log
    return paths


@pytest.mark.parametrize("target", ["anthropic", "bedrock", "bedrock-invoke", "openai", "gemini"])
def test_litellms_own_transformation_gives_the_same_repair_report_log_and_exit_code(tmp_path, target):
    """--litellm judges each round on the body litellm builds; the default on the replay."""
    for path in single_conversation_fixtures():
        replayed, built = tmp_path / "replayed", tmp_path / "built"
        one = run(path, "--target", target, "--out", replayed, "--json", "--include-warnings")
        other = run(path, "--target", target, "--out", built, "--json", "--include-warnings", "--litellm")
        assert (one[0], one[1]) == (other[0], other[1]), path
        if one[0] == 2:
            # Refused by both (a Claude Code session has no place for the tool definitions a
            # Bedrock repair adds): nothing written.
            assert not replayed.exists() and not built.exists() and b"read back differently" in one[2], path
            continue
        # The same log (Claude Code records a repair adds get fresh uuids, so compare what they say).
        assert _said(replayed) == _said(built), path
        replayed.unlink(), built.unlink()


def _said(path):
    from conversations.history.formats.openai import to_request

    return [to_request(h) for h in formats.read(load_path(path))]


def test_an_output_that_would_read_back_differently_is_not_written_and_exits_2(tmp_path):
    source = tmp_path / "session.jsonl"
    source.write_bytes(empty_last_response())
    out = tmp_path / "repaired.jsonl"

    status, stdout, stderr = run(source, "--target", "anthropic", "--out", out)
    to_stdout = run(source, "--target", "anthropic")

    assert status == 2 and not out.exists()
    assert stderr.decode().strip() == (
        "repair_history: the output would read back differently: "
        "message 1: missing (the output holds 1 messages, not 2)"
    )
    assert to_stdout[0] == 2 and to_stdout[1] == b""


def test_the_after_verdicts_are_those_of_the_output_read_back(tmp_path):
    out = tmp_path / "repaired.json"

    status, stdout, _ = run(UNANSWERED, "--target", "anthropic", "--out", out, "--json")

    (back,) = formats.read(load_path(out), "openai")
    [again] = judge_for(back, target="anthropic")
    assert status == 0 and json.loads(stdout)["after"] == [again.to_dict()]


def test_in_a_folder_of_conversation_folders_it_repairs_the_one_named(tmp_path):
    folders = tmp_path / "conversations"
    shutil.copytree(FIXTURES / "formats" / "openhands-events", folders / "stuck")
    (folders / "stuck" / "events" / "10.json").unlink()
    shutil.copytree(FIXTURES / "formats" / "openhands-events", folders / "fine")

    status, _, stderr = run(folders, "--target", "openai", "--out", tmp_path / "out")
    assert status == 2 and b"give --conversation NAME, one of 'fine'; 'stuck'" in stderr

    status, _, _ = run(folders, "--conversation", "stuck", "--target", "openai", "--out", tmp_path / "out")

    assert status == 0
    assert json.loads((tmp_path / "out" / "events" / "12.json").read_text())["observation"] == "error"
