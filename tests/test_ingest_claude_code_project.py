"""A Claude Code project folder as it lies on disk (~/.claude/projects/<project>/), built under
tmp_path from the fixtures: sessions, a 2.1 subagent under `<session>/subagents/` with its
`.meta.json` sidecar, a summary-only session file and an empty one. `manage.py ingest` loads the
conversations and skips the rest, saying why; nothing fails.

The real files: tests/fixtures/real/ (the 2.1.114 subagent, the summary-only file) and
tests/fixtures/formats/claude-code-session.jsonl. The subagent's parent session is SYNTHETIC
(tests/claude_sessions.py): the real one is not public; it is built to start that subagent with an
Agent call whose result names its agentId, as Claude Code 2.1 writes it."""

import json
import shutil
from io import StringIO

import pytest
from django.core.management import call_command

from conversations.api.auth import api_token_create
from conversations.models import Conversation, SearchText
from tests.claude_sessions import AGENT_CALL, Session, agent_parent_session
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db

REAL = FIXTURES / "real"
PARENT = "ef958aa1-0e93-49f0-bb71-150f63befcd1"
AGENT = "a4ca7529859c158c2"
SUMMARY_ONLY = "4e27c414-a885-46a0-b5c8-d58e1417377d.jsonl"
EMPTY = "0b7d3f52-9a41-4c6e-8d2f-1e5a7c9b3d40.jsonl"


def parent_session() -> bytes:
    return agent_parent_session(PARENT, AGENT)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "projects" / "-experiments-worktrees"
    subagents = root / PARENT / "subagents"
    subagents.mkdir(parents=True)
    shutil.copyfile(
        FIXTURES / "formats" / "claude-code-session.jsonl", root / "3f6d2a91-7c4e-4b1a-9e0d-5a8c2f71b6e4.jsonl"
    )
    (root / f"{PARENT}.jsonl").write_bytes(parent_session())
    for suffix in (".jsonl", ".meta.json"):
        shutil.copyfile(
            REAL / "claude-code-2.1.114-subagent" / f"agent-{AGENT}{suffix}", subagents / f"agent-{AGENT}{suffix}"
        )
    shutil.copyfile(REAL / "claude-code-summary-only" / SUMMARY_ONLY, root / SUMMARY_ONLY)
    (root / EMPTY).write_bytes(b"")
    return root


def ingest(*paths):
    out, err = StringIO(), StringIO()
    try:
        call_command("ingest", *map(str, paths), "--json", stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = exc.code
    return status, json.loads(out.getvalue())


def test_the_project_folder_ingests_with_nothing_failed_and_every_skip_named(project):
    status, summary = ingest(project)

    assert (status, summary["failed"]) == (0, [])
    assert summary["ingested"] == 3
    skipped = {item["path"].removeprefix(str(project) + "/"): item["reason"] for item in summary["skipped_files"]}
    assert skipped == {
        f"{PARENT}/subagents/agent-{AGENT}.meta.json": "sidecar of a subagent",
        SUMMARY_ONLY: "no user or assistant record (1 summary): a Claude Code file that holds no conversation",
        EMPTY: "the file is empty",
    }
    assert summary["skipped"] == 3


def test_the_subagent_is_a_conversation_of_its_own_beside_its_parent(project):
    ingest(project)

    subagent = Conversation.objects.get(source__location__endswith=f"agent-{AGENT}.jsonl")
    parent = Conversation.objects.get(source__location__endswith=f"{PARENT}.jsonl")
    assert subagent.external_id == f"{PARENT}/agent-{AGENT}" != parent.external_id == PARENT
    assert subagent.tool_call_count == 24
    assert subagent.title == "Research Claude Code plan mode"  # the sidecar's description
    assert subagent.latest_revision.history.meta["subagent"] == {
        "agent_id": AGENT,
        "session_id": PARENT,
        "description": "Research Claude Code plan mode",
        "agent_type": "general-purpose",
        "worktree_path": "-experiments/worktrees/.claude/worktrees/agent-a4ca7529",
    }
    [call] = parent.latest_revision.history.meta["subagent_calls"]
    assert (call["agent_id"], call["tool"], call["message_index"]) == (AGENT, "Agent", 1)
    assert call["description"] == "Research Claude Code plan mode"


def test_the_tokens_column_counts_input_cache_reads_cache_writes_and_output(project):
    ingest(project)

    subagent = Conversation.objects.get(source__location__endswith=f"agent-{AGENT}.jsonl")
    usage = subagent.latest_revision.history.usage
    assert subagent.token_count == (
        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens + usage.output_tokens
    )
    assert subagent.token_count == 737_831


def test_a_json_file_no_reader_can_read_still_fails(project):
    (project / "notes.json").write_text('{"what": "not a conversation log"}')

    status, summary = ingest(project)

    assert status == 1
    assert [item["path"] for item in summary["failed"]] == [str(project / "notes.json")]


def subagent_and_parent():
    return (
        Conversation.objects.get(source__location__endswith=f"agent-{AGENT}.jsonl"),
        Conversation.objects.get(source__location__endswith=f"{PARENT}.jsonl"),
    )


def test_the_subagent_records_its_parent_and_the_call_that_started_it(project):
    ingest(project)

    subagent, parent = subagent_and_parent()
    assert subagent.parent == parent
    assert subagent.parent_tool_use_id == AGENT_CALL
    assert list(parent.subagents.all()) == [subagent]


@pytest.mark.parametrize("first", ["subagent", "parent"])
def test_the_link_is_made_whichever_of_the_two_is_ingested_first(project, first):
    subagent_log = project / PARENT / "subagents" / f"agent-{AGENT}.jsonl"
    parent_log = project / f"{PARENT}.jsonl"
    order = [subagent_log, parent_log] if first == "subagent" else [parent_log, subagent_log]

    for path in order:
        ingest(path)

    subagent, parent = subagent_and_parent()
    assert (subagent.parent, subagent.parent_tool_use_id) == (parent, AGENT_CALL)


def test_without_a_sidecar_the_title_is_the_calls_description_else_the_first_prompt(project):
    (project / PARENT / "subagents" / f"agent-{AGENT}.meta.json").unlink()
    subagent_log = project / PARENT / "subagents" / f"agent-{AGENT}.jsonl"

    ingest(subagent_log)
    alone = Conversation.objects.get(source__location__endswith=f"agent-{AGENT}.jsonl")
    assert alone.title.startswith("You are **alice**") and len(alone.title) <= 120

    ingest(project / f"{PARENT}.jsonl")
    alone.refresh_from_db()
    assert alone.title == "Research Claude Code plan mode"  # the Agent call's description input


def test_the_parents_call_links_to_the_subagent_and_the_subagent_names_its_parent(project, client, viewer):
    ingest(project)
    subagent, parent = subagent_and_parent()
    client.force_login(viewer)

    parent_html = client.get(parent.get_absolute_url()).content.decode()
    subagent_html = client.get(subagent.get_absolute_url()).content.decode()

    assert f'<a class="subagent-link" href="{subagent.get_absolute_url()}">' in parent_html
    assert "subagent of" in subagent_html and f'href="{parent.get_absolute_url()}"' in subagent_html
    assert "started by" in subagent_html and "Agent</a> at message 1" in subagent_html
    assert "agent type <code>general-purpose</code>" in subagent_html


def test_the_api_detail_gives_parent_subagents_and_usage(project, client, viewer):
    ingest(project)
    subagent, parent = subagent_and_parent()
    _, token = api_token_create(viewer)
    headers = {"Authorization": f"Bearer {token}"}

    child = client.get(f"/api/conversations/{subagent.pk}", headers=headers).json()
    mother = client.get(f"/api/conversations/{parent.pk}", headers=headers).json()

    assert child["parent"] == {"id": parent.pk, "tool_use_id": AGENT_CALL}
    assert mother["parent"] is None
    assert mother["subagents"] == [{"id": subagent.pk, "tool_use_id": AGENT_CALL}]
    usage = child["usage"]
    assert set(usage) == {"input", "cache_read", "cache_write", "output"}
    assert sum(usage.values()) == child["token_count"] == 737_831


def test_each_assistant_turn_shows_its_four_kinds_of_tokens(project, client, viewer):
    ingest(project)
    subagent, _ = subagent_and_parent()
    client.force_login(viewer)

    page = client.get(f"/conversations/{subagent.pk}.json").json()
    html = client.get(subagent.get_absolute_url()).content.decode()

    first = next(m for m in page["messages"] if m["role"] == "assistant")
    assert set(first["usage"]) == {"input", "cache_read", "cache_write", "output"}
    assert all(isinstance(v, int) for v in first["usage"].values())
    assert f"cache read {first['usage']['cache_read']:,}" in html


def test_every_record_left_out_is_counted_and_listed_with_its_reason(project, client, viewer):
    ingest(project)
    session = Conversation.objects.get(source__location__endswith="3f6d2a91-7c4e-4b1a-9e0d-5a8c2f71b6e4.jsonl")
    client.force_login(viewer)

    html = client.get(session.get_absolute_url()).content.decode()

    left_off = session.latest_revision.history.meta["left_off"]
    assert left_off["count"] == 5
    assert '<details class="left-off">' in html
    assert "5 records of the log left out of the conversation (1 bookkeeping, 4 sidechain)" in html
    for item in left_off["items"]:
        assert f"<td>{item['where']}</td><td>{item['reason']}</td>" in html


def test_a_subagent_whose_starting_call_is_not_named_is_still_linked_to_its_session(project):
    """Claude Code 2.0's Task results do not always name the agentId: the subagent is linked by
    its sessionId alone, with no starting call."""
    s = Session(session_id=PARENT, model="claude-opus-4-7")
    s.prompt("Research how plan mode works.")
    s.text("msg_01", "Starting a subagent.", stop_reason="end_turn")
    (project / f"{PARENT}.jsonl").write_bytes(s.data())

    ingest(project / f"{PARENT}.jsonl")
    ingest(project / PARENT / "subagents" / f"agent-{AGENT}.jsonl")

    subagent, parent = subagent_and_parent()
    assert (subagent.parent, subagent.parent_tool_use_id, subagent.agent_of) == (parent, "", PARENT)
    assert parent.agent_of == ""


# --- a sidecar changed alone ----------------------------------------------------------------------


def sidecar_rewritten(project, **changes) -> None:
    path = project / PARENT / "subagents" / f"agent-{AGENT}.meta.json"
    sidecar = json.loads(path.read_text())
    sidecar.update(changes)
    path.write_text(json.dumps(sidecar, indent=4))


@pytest.mark.parametrize("what", ["folder", "file"], ids=["the project folder", "the subagent's log"])
def test_a_changed_sidecar_alone_gives_the_subagent_its_title_and_agent_type(project, client, viewer, what):
    """The log's bytes did not change: the new facts come as a revision whose messages are the
    previous one's, chunk for chunk (a stored revision never changes). The folder goes through
    the parallel ingest, the single file through the other."""
    path = project if what == "folder" else project / PARENT / "subagents" / f"agent-{AGENT}.jsonl"
    ingest(project)
    sidecar_rewritten(project, description="Plan mode,  researched again", agentType="Explore")

    status, summary = ingest(path)

    subagent, _ = subagent_and_parent()
    assert (status, summary["ingested"], summary["failed"]) == (0, 1, [])
    assert subagent.title == "Plan mode, researched again"
    first, second = subagent.revisions.order_by("number")
    assert second.history.meta["subagent"]["agent_type"] == "Explore"
    assert first.history.meta["subagent"]["agent_type"] == "general-purpose"
    assert second.chunks == first.chunks  # no message stored again
    assert SearchText.objects.get(conversation=subagent).text.startswith("Plan mode, researched again")
    client.force_login(viewer)
    assert "agent type <code>Explore</code>" in client.get(subagent.get_absolute_url()).content.decode()
    # Read again unchanged, nothing moves.
    assert ingest(path)[1]["unchanged"] >= 1
    assert subagent.revisions.count() == 2


def test_a_sidecar_rewritten_with_the_same_facts_adds_no_revision(project):
    ingest(project)
    sidecar_rewritten(project)  # the same keys and values, laid out otherwise

    status, summary = ingest(project)

    subagent, _ = subagent_and_parent()
    assert (status, summary["ingested"]) == (0, 0)
    assert subagent.revisions.count() == 1


def test_a_sidecar_that_stops_naming_the_subagent_leaves_its_title_to_the_call_that_started_it(project):
    ingest(project)
    sidecar_rewritten(project, description="")

    ingest(project)

    subagent, _ = subagent_and_parent()
    assert subagent.title == "Research Claude Code plan mode"  # the Agent call's description input
    assert "description" not in subagent.latest_revision.history.meta["subagent"]
