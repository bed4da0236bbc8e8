"""Real OpenHands logs through the whole product: the resolver's output.jsonl and the gpt-4o
trajectory ingest and render; an output.jsonl with a bad line loses that line alone, in ingest,
check_history and repair_history."""

import json
import sys
from io import BytesIO, TextIOWrapper

import pytest
from django.core.management import call_command

from conversations.api.auth import api_token_create
from conversations.models import Conversation
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db

RESOLVER = FIXTURES / "real" / "openhands-resolver-output" / "output.jsonl"
GPT4O = FIXTURES / "real" / "openhands-trajectory-gpt4o" / "basic_interactions.json"
TRAJECTORY = FIXTURES / "formats" / "openhands-trajectory.json"


def command(name, *args):
    """(exit status, stdout, stderr) of a management command run in this process."""
    out, err = BytesIO(), BytesIO()
    stdout, stderr = TextIOWrapper(out, encoding="utf-8"), TextIOWrapper(err, encoding="utf-8")
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    try:
        call_command(name, *map(str, args), stdout=stdout, stderr=stderr)
        status = 0
    except SystemExit as exc:
        status = exc.code
    finally:
        stdout.flush()
        stderr.flush()
        sys.stdout, sys.stderr = saved
    return status, out.getvalue().decode(), err.getvalue().decode()


def ingest(*paths):
    status, out, _ = command("ingest", *paths, "--json")
    return status, json.loads(out)


def output_with_a_bad_middle_line(tmp_path):
    """An evaluation run's output.jsonl: two good instances around a line cut short."""
    events = json.loads(TRAJECTORY.read_text())
    good = [
        json.dumps({"instance_id": f"acme__inventory-{n}", "instruction": "Run the tests.", "history": events})
        for n in (1, 3)
    ]
    path = tmp_path / "output.jsonl"
    path.write_text(f'{good[0]}\n{{"instance_id": "acme__inventory-2", "history": [\n{good[1]}\n')
    return path


def page(client, conversation):
    response = client.get(conversation.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


# --- the real files ------------------------------------------------------------------------------


def test_the_resolver_output_ingests_one_conversation_a_line_and_renders(client, viewer):
    status, summary = ingest(RESOLVER)
    assert (status, summary["ingested"], summary["failed"]) == (0, 2, [])
    conversations = {c.title: c for c in Conversation.objects.all()}
    assert set(conversations) == {"neubig/pr-viewer#5 Add MIT license", "neubig/pr-viewer#1 Add a toggle for dark mode"}
    first = conversations["neubig/pr-viewer#5 Add MIT license"]
    assert (first.format, first.message_count, first.external_id) == ("openhands-output", 8, "neubig/pr-viewer#5")
    client.force_login(viewer)
    html = page(client, first)
    assert "touch LICENSE" in html and "We can license this repo under the MIT license." in html


def test_a_resolver_runs_page_shows_its_outcome_cost_issue_and_explanation(client, viewer):
    ingest(RESOLVER)
    conversation = Conversation.objects.get(title="neubig/pr-viewer#5 Add MIT license")
    explanation = json.loads(RESOLVER.read_text().splitlines()[0])["result_explanation"]
    client.force_login(viewer)

    html = page(client, conversation)

    run = html[html.index('<dl class="run-facts">') : html.index("</dl>")]
    assert "<dt>issue</dt><dd>Add MIT license</dd>" in run
    assert "<dt>success</dt><dd>yes</dd>" in run
    assert "<dt>error</dt><dd>none</dd>" in run
    assert "<dt>accumulated cost</dt><dd>$0.070713</dd>" in run
    assert "<dt>result explanation</dt>" in run and explanation[:40].replace("'", "&#x27;") in run


def api_detail(client, user, conversation) -> dict:
    _, token = api_token_create(user)
    response = client.get(f"/api/conversations/{conversation.pk}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return response.json()


def test_the_api_gives_a_resolver_runs_facts_under_run(client, viewer):
    ingest(RESOLVER)
    conversation = Conversation.objects.get(title="neubig/pr-viewer#5 Add MIT license")
    explanation = json.loads(RESOLVER.read_text().splitlines()[0])["result_explanation"]

    body = api_detail(client, viewer, conversation)

    assert body["run"] == {
        "kind": "resolver",
        "instance_id": None,
        "issue_title": "Add MIT license",
        "success": True,
        "error": None,
        "accumulated_cost": 0.070713,
        "result_explanation": explanation,
    }


def test_the_api_gives_an_evaluation_runs_instance_id_and_null_for_what_its_line_lacks(client, viewer, tmp_path):
    ingest(output_with_a_bad_middle_line(tmp_path))
    conversation = Conversation.objects.get(external_id="acme__inventory-3")

    run = api_detail(client, viewer, conversation)["run"]

    assert run == dict.fromkeys(run, None) | {"kind": "evaluation", "instance_id": "acme__inventory-3"}


def test_a_log_that_is_no_run_has_no_run_facts(client, viewer):
    ingest(GPT4O)

    assert api_detail(client, viewer, Conversation.objects.get())["run"] is None


def test_the_gpt4o_trajectory_ingests_renders_and_is_judged_for_openai(client, viewer):
    status, summary = ingest(GPT4O)
    assert (status, summary["ingested"]) == (0, 1)
    conversation = Conversation.objects.get()
    assert (conversation.model, conversation.provider) == ("gpt-4o-2024-08-06", "openai")
    client.force_login(viewer)
    html = page(client, conversation)
    assert "Goldbach" in html
    assert '<code class="tool-name">finish</code> <span class="flag">(not sent to the model)</span>' in html
    assert "unpaired" not in html
    data = client.get(f"/conversations/{conversation.pk}.json").json()
    assert [v["target"] for v in data["verdicts"]] == ["openai"]
    assert data["verdicts"][0]["accepted"]


def test_the_page_says_when_the_model_sees_a_call_after_a_later_user_message(client, viewer, tmp_path):
    events = json.loads(TRAJECTORY.read_text())
    error = events.pop()  # the synthetic error observation for pytest's call
    typed = {
        "id": 11,
        "timestamp": "2025-07-14T08:04:00.000001",
        "source": "user",
        "message": "Are you still there?",
        "action": "message",
        "args": {"content": "Are you still there?", "image_urls": None, "wait_for_response": False},
    }
    error["id"] = 12
    path = tmp_path / "trajectory.json"
    path.write_text(json.dumps([*events, typed, error], indent=4))
    ingest(path)
    client.force_login(viewer)
    html = page(client, Conversation.objects.get())
    assert "The model sees these calls after the user&#x27;s message (event 11)" in html


# --- output.jsonl with a bad line -----------------------------------------------------------------


def test_a_bad_line_fails_alone_in_ingest_and_is_named_with_its_line(tmp_path):
    path = output_with_a_bad_middle_line(tmp_path)
    status, summary = ingest(path)
    assert status == 1
    assert summary["ingested"] == 2
    (failed,) = summary["failed"]
    assert failed["path"] == str(path) and failed["line"] == 2
    assert "line 2" in failed["error"] and "Extra data" not in failed["error"]
    assert sorted(Conversation.objects.values_list("external_id", flat=True)) == [
        "acme__inventory-1",
        "acme__inventory-3",
    ]
    # The same bytes again: still the bad line, and nothing new stored.
    status, summary = ingest(path)
    assert (status, summary["ingested"], summary["unchanged"], len(summary["failed"])) == (1, 0, 2, 1)


def test_check_history_names_each_conversation_and_judges_all_but_the_bad_line(tmp_path):
    path = output_with_a_bad_middle_line(tmp_path)
    status, out, err = command("check_history", path, "--json")
    assert status == 2
    results = json.loads(out)
    assert [r["conversation"] for r in results] == ["acme__inventory-1", "line 2", "acme__inventory-3"]
    assert "error" in results[1] and "verdicts" not in results[1]
    assert all(r["verdicts"] and "error" not in r for r in (results[0], results[2]))
    assert "line 2" in err


def test_a_path_of_one_conversation_has_no_conversation_key():
    status, out, _ = command("check_history", GPT4O, "--json")
    (result,) = json.loads(out)
    assert status == 0 and "conversation" not in result


def test_repair_history_repairs_the_conversation_it_is_asked_for(tmp_path):
    path = output_with_a_bad_middle_line(tmp_path)
    status, _, err = command("repair_history", path, "--target", "anthropic")
    assert status == 2 and "--conversation" in err and "'acme__inventory-3'" in err
    status, _, err = command("repair_history", path, "--target", "anthropic", "--conversation", "nope")
    assert status == 2 and "no conversation 'nope'" in err and "'line 2'" in err
    status, _, err = command("repair_history", path, "--target", "anthropic", "--conversation", "line 2")
    assert status == 2 and "truncated JSON" in err

    status, out, _ = command("repair_history", path, "--target", "anthropic", "--conversation", "acme__inventory-3")
    assert status == 0
    request = json.loads(out)  # never the output.jsonl: the conversation's request
    assert request["model"] == "litellm_proxy/claude-sonnet-4-20250514"
    assert [m["role"] for m in request["messages"]][:2] == ["system", "user"]


def test_an_output_conversation_downloads_as_a_request_and_is_never_written_back(settings, tmp_path):
    from conversations.repairs import download_document, writeback_refusal

    settings.WRITE_BACK_ROOTS = [tmp_path]
    copy = tmp_path / "output.jsonl"
    copy.write_bytes(RESOLVER.read_bytes())
    ingest(copy)
    conversation = Conversation.objects.get(external_id="neubig/pr-viewer#5")
    name, data = download_document(conversation.latest_revision)
    assert name.endswith(".json") and not name.endswith(".jsonl")
    assert json.loads(data)["messages"][1]["content"].endswith("<execute_bash>\ntouch LICENSE\n</execute_bash>")
    _, anthropic = download_document(conversation.latest_revision, "anthropic")
    assert json.loads(anthropic)["messages"][0]["role"] == "user"
    assert "never rewritten" in writeback_refusal(conversation)
