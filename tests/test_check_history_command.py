"""`manage.py check_history`: the command-line contract users' scripts rely on (issue 4)."""

import json
import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.support import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((FIXTURES / "seed").glob("openhands-6852-*.json"))
CONFIG = FIXTURES / "seed" / "proxy-config.yaml"
UNANSWERED = {
    "model": "gpt-4o",
    "messages": [
        {"role": "user", "content": "list files"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": '{"cmd": "ls"}'}}
            ],
        },
        {"role": "user", "content": "hello?"},
    ],
}


def run(*args):
    """(exit code, stdout, stderr) of the command, in process."""
    out, err = StringIO(), StringIO()
    try:
        call_command("check_history", *map(str, args), stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_json_output_is_one_object_per_path_in_order_with_the_contract_keys():
    code, out, _ = run(*SEEDS, "--format", "openai", "--target", "anthropic", "--json")
    result = json.loads(out)
    assert code == 0
    assert [o["path"] for o in result] == [str(p) for p in SEEDS]
    for item in result:
        # issue 4's keys, and issue 17's additions: nothing renamed or removed
        assert set(item) == {"path", "format", "messages", "verdicts", "logged_failure", "status"}
        assert (item["format"], item["messages"], item["logged_failure"]) == ("openai", 8, None)
        [verdict] = item["verdicts"]
        assert set(verdict) == {"target", "provider", "accepted", "findings", "sender", "notes", "applicable"}
        assert verdict["accepted"] and verdict["sender"] == "litellm"
        # Accepted: at risk only for a warning that is not a guess (nor proven answered).
        warned = any(f["severity"] == "warning" and not f["guess"] and not f["answered"] for f in verdict["findings"])
        assert item["status"] == ("at_risk" if warned else "healthy")
        for finding in verdict["findings"]:
            assert set(finding) == {
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


def test_a_rejected_history_exits_1_with_each_targets_error(tmp_path):
    path = tmp_path / "unanswered.json"
    path.write_text(json.dumps(UNANSWERED))
    code, out, _ = run(path, "--format", "openai", "--target", "openai", "--target", "anthropic", "--json")
    [item] = json.loads(out)
    assert code == 1
    assert [(v["target"], v["accepted"]) for v in item["verdicts"]] == [("openai", False), ("anthropic", False)]
    assert item["verdicts"][1]["findings"][0]["provider_error"].startswith("messages.2: `tool_use` ids")


def test_without_a_target_the_conversation_is_judged_where_its_model_goes(tmp_path):
    path = tmp_path / "unanswered.json"
    path.write_text(json.dumps(UNANSWERED))
    _, out, _ = run(path, "--json")
    assert [v["target"] for v in json.loads(out)[0]["verdicts"]] == ["openai"]  # model gpt-4o


def test_a_route_gives_one_verdict_per_deployment_in_the_order_tried():
    code, out, _ = run(
        SEEDS[0],
        "--format",
        "openai",
        "--router-config",
        CONFIG,
        "--model-group",
        "claude-3-5-sonnet-20241022",
        "--json",
    )
    verdicts = json.loads(out)[0]["verdicts"]
    assert [v["provider"] for v in verdicts] == ["bedrock", "anthropic"]
    assert verdicts[0]["target"] == "claude-3-5-sonnet-20241022 via bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0"
    assert code == 1  # the Anthropic fallback gets litellm's default max_tokens for an unmapped model


def test_an_unreadable_input_exits_2_with_the_reason_on_stderr_and_keeps_the_others(tmp_path):
    missing = tmp_path / "does-not-exist.json"
    code, out, err = run(missing, SEEDS[2], "--format", "openai", "--json")
    first, second = json.loads(out)
    assert code == 2
    assert set(first) == {"path", "format", "messages", "error"} and "no such file" in first["error"]
    assert second["verdicts"][0]["accepted"]
    assert str(missing) in err


@pytest.mark.parametrize(
    "args",
    [
        ["--target", "no-such-provider"],
        ["--router-config", str(CONFIG)],
        ["--router-config", str(CONFIG), "--model-group", "no-such-group"],
        ["--format", "no-such-format"],
    ],
)
def test_a_bad_option_exits_2_with_the_reason_on_stderr(args):
    result = manage("check_history", str(SEEDS[0]), *args, "--json")
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.strip()


def test_a_litellm_jsonl_with_several_records_gives_one_object_per_record(tmp_path):
    record = json.loads((FIXTURES / "formats" / "litellm-standard-logging-failure.json").read_text())
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n")
    _, out, _ = run(path, "--target", "anthropic", "--json")
    result = json.loads(out)
    assert len(result) == 2 and {o["path"] for o in result} == {str(path)}


def test_the_human_report_is_short_and_names_the_fix(tmp_path):
    path = tmp_path / "unanswered.json"
    path.write_text(json.dumps(UNANSWERED))
    code, out, _ = run(path, "--target", "anthropic")
    assert code == 1
    assert "anthropic: REJECTED" in out
    assert "error tool-result-missing at message 1 (sent as messages.2)" in out
    assert "fix: add-missing-tool-result" in out


def manage(*args):
    """The command as users run it: a fresh process with no database and no environment."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_it_runs_with_no_database_and_no_environment():
    result = manage("check_history", str(SEEDS[2]), "--format", "openai", "--json")
    assert result.returncode == 0, result.stderr[-500:]
    assert json.loads(result.stdout)[0]["verdicts"][0]["accepted"]


def fixture_paths():
    """Every fixture log (files, and OpenHands session folders), as the command reads them."""
    paths = []
    for folder in ("formats", "seed", "samples", "real"):
        root = FIXTURES / folder
        paths += sorted(p for p in root.rglob("*") if p.suffix in (".json", ".jsonl") and "events" not in p.parts)
        paths += sorted(p.parent for p in root.rglob("events") if p.is_dir())
    return paths


@pytest.mark.parametrize(
    "options",
    [
        [],
        [
            "--target",
            "anthropic",
            "--target",
            "bedrock",
            "--target",
            "bedrock-invoke",
            "--target",
            "openai",
            "--target",
            "gemini",
        ],
        ["--router-config", CONFIG, "--model-group", "claude-3-5-sonnet-20241022"],
    ],
    ids=["own-target", "every-target", "route"],
)
def test_litellms_own_transformation_gives_the_same_output_and_exit_code(options):
    """--litellm builds each request with litellm itself; the default replays it. Held to the
    same output on every fixture: the replay is what litellm builds."""
    replayed = run(*fixture_paths(), *options, "--json")
    built = run(*fixture_paths(), *options, "--json", "--litellm")
    assert replayed[:2] == built[:2]
    assert len(json.loads(replayed[1])) >= len(fixture_paths()) - 3  # the few that are not logs say so


def test_a_folder_of_openhands_conversation_folders_gives_one_object_per_folder_named_by_it(tmp_path):
    shutil.copytree(FIXTURES / "formats" / "openhands-v1" / "4f7c2a9e1b3d4e8a9c6f2d5b8e1a7c30", tmp_path / "v1")
    shutil.copytree(FIXTURES / "formats" / "openhands-events", tmp_path / "v0")
    (tmp_path / "notes.md").write_text("not a conversation")

    code, out, _ = run(tmp_path, "--json")

    result = json.loads(out)
    assert code == 0
    assert [(o["conversation"], o["format"], o["path"]) for o in result] == [
        ("v0", "openhands", str(tmp_path / "v0")),
        ("v1", "openhands-v1", str(tmp_path / "v1")),
    ]
    assert all(o["status"] == "healthy" for o in result)
