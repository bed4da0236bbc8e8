"""A Claude Code session and the subagent it started, in a real browser: the parent's Agent call
links to the subagent's page, and the subagent's page names its parent and the call that started
it, with a link back."""

import shutil

import pytest
from playwright.sync_api import expect

from conversations.ingest import ingest_path
from conversations.models import Conversation
from tests.claude_sessions import agent_parent_session
from tests.support import FIXTURES

pytestmark = pytest.mark.browser

PARENT = "ef958aa1-0e93-49f0-bb71-150f63befcd1"
AGENT = "a4ca7529859c158c2"
REAL = FIXTURES / "real" / "claude-code-2.1.114-subagent"


def test_the_agent_call_leads_to_the_subagent_and_the_subagent_back_to_its_parent(logged_in, live_server, tmp_path):
    page = logged_in
    subagents = tmp_path / PARENT / "subagents"
    subagents.mkdir(parents=True)
    for suffix in (".jsonl", ".meta.json"):
        shutil.copyfile(REAL / f"agent-{AGENT}{suffix}", subagents / f"agent-{AGENT}{suffix}")
    (tmp_path / f"{PARENT}.jsonl").write_bytes(agent_parent_session(PARENT, AGENT))
    ingest_path(subagents / f"agent-{AGENT}.jsonl")  # the subagent first: the parent's ingest links it
    ingest_path(tmp_path / f"{PARENT}.jsonl")
    parent = Conversation.objects.get(external_id=PARENT)
    subagent = Conversation.objects.get(external_id=f"{PARENT}/agent-{AGENT}")

    page.goto(f"{live_server.url}{parent.get_absolute_url()}")
    call = page.locator(".tool-call", has=page.locator("code.tool-name", has_text="Agent"))
    expect(call.locator("a.subagent-link")).to_contain_text("subagent: Research Claude Code plan mode")
    call.locator("a.subagent-link").click()

    page.wait_for_url(f"{live_server.url}{subagent.get_absolute_url()}")
    expect(page.locator("h1")).to_have_text("Research Claude Code plan mode")
    said = page.locator(".subagent-of")
    expect(said).to_contain_text("subagent of")
    expect(said).to_contain_text("started by Agent at message 1")
    expect(said).to_contain_text("agent type general-purpose")
    said.locator("a", has_text="Agent").click()
    page.wait_for_url(f"{live_server.url}{parent.get_absolute_url()}#m1")
    expect(page.locator("#m1 .tool-call a.subagent-link")).to_be_visible()
