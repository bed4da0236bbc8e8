"""Hostile content in a real browser: scripts, event handlers, javascript: links, SVG and HTML in
message text, tool names, tool inputs, file names and error strings are shown as text on every
page that shows them, never run, and the Content-Security-Policy header is on every response.

One browser context serves the whole module; the conversations are ingested per test (the live
server needs committed data, which pytest-django flushes after each test).
"""

from __future__ import annotations

import json
import shutil

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.support import FIXTURES, ingested

pytestmark = pytest.mark.browser

HOSTILE = FIXTURES / "samples" / "hostile-content.json"
LITELLM = FIXTURES / "formats" / "litellm-standard-logging-failure.json"
# A file name is shown on the list, the page and the admin: it may hold markup too (no "/" though).
HOSTILE_NAME = "x<svg onload=alert(7)>.json"
ERROR_TEXT = "<script>document.title='pwned'</script><img src=x onerror=alert(9)> refused"
ADDED = '<a href="javascript:alert(5)">revision two</a><svg><script>alert(6)</script></svg>'

# Anything a hostile log could smuggle into the page as live markup, inside the content area.
LIVE_MARKUP = """(root) => {
  const found = [];
  for (const el of root.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (attr.name.toLowerCase().startsWith('on')) found.push(el.tagName + ' ' + attr.name);
      if (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(attr.name.toLowerCase())
          && attr.value.trim().toLowerCase().startsWith('javascript:')) found.push(el.tagName + ' ' + attr.value);
    }
    if (['IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName)) found.push(el.tagName);
  }
  return found;
}"""


@pytest.fixture
def server(live_server):
    return live_server


@pytest.fixture
def hostile(transactional_db, live_server, tmp_path, django_user_model):
    chat = tmp_path / HOSTILE_NAME
    shutil.copyfile(HOSTILE, chat)
    log = json.loads(LITELLM.read_text())
    log["error_str"] = ERROR_TEXT
    if isinstance(log.get("error_information"), dict):
        log["error_information"]["error_message"] = ERROR_TEXT
    litellm_path = tmp_path / "litellm<b onmouseover=alert(8)>.json"
    litellm_path.write_text(json.dumps(log))
    django_user_model.objects.create_superuser("hostile-admin", password="hostile-pass-1")
    conversation = ingested(chat)
    # A second revision at the same place, so the diff has hostile lines on both sides.
    data = json.loads(chat.read_text())
    data["messages"].append({"role": "user", "content": ADDED})
    chat.write_text(json.dumps(data))
    assert ingested(chat).pk == conversation.pk
    return {"chat": conversation, "litellm": ingested(litellm_path)}


@pytest.fixture(scope="module")
def shared_page(browser):
    """One browser context and page for the module; every dialog is recorded (and dismissed)."""
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page, dialogs
    context.close()


@pytest.fixture
def session(shared_page, live_server, hostile):
    """The shared page, logged in as an admin (who sees every page) with a fresh session cookie:
    the database, sessions included, is flushed between tests."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="hostile-admin"))
    page, _ = shared_page
    page.context.clear_cookies()
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "url": live_server.url,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            }
        ]
    )
    return shared_page


def visit(session, server, path: str, *, content: str, texts: list[str]):
    """Open `path`, poke at it (hover everything, open every toggle), and check nothing ran."""
    page, dialogs = session
    dialogs.clear()
    response = page.goto(f"{server.url}{path}")
    assert response.status == 200, path
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "object-src 'none'" in csp, path
    title = page.title()
    for summary in page.locator(f"{content} details > summary:visible").all()[:20]:
        summary.click(timeout=3000)
    # Hover what a mouseover handler would sit on; an element that a toggle replaced meanwhile is skipped.
    for element in page.query_selector_all(f"{content} a, {content} b, {content} .md")[:40]:
        try:
            element.hover(timeout=1000)
        except PlaywrightError:
            pass
    page.wait_for_timeout(300)

    assert dialogs == [], dialogs
    assert page.title() == title and page.title() != "pwned"
    assert page.locator(content).first.evaluate(LIVE_MARKUP) == []
    for text in texts:
        expect(page.locator(content).first).to_contain_text(text)


def test_the_list(session, server, hostile):
    visit(session, server, "/", content="#table", texts=["Render this: <script>document.title='pwned'</script>"])


def test_the_list_searched_by_file_name(session, server, hostile):
    visit(session, server, "/?q=svg", content="body", texts=[])


def test_the_conversation_page(session, server, hostile):
    visit(
        session,
        server,
        hostile["chat"].get_absolute_url(),
        content="#page",
        texts=[
            "<img src=x onerror=alert(1)>",
            "<svg onload=alert(1)></svg>",
            '<iframe src="javascript:alert(1)"></iframe>',
            "<b onmouseover=alert(1)>hover</b>",
            ADDED,
            HOSTILE_NAME,
        ],
    )


def test_the_litellm_error_string_on_its_page(session, server, hostile):
    visit(session, server, hostile["litellm"].get_absolute_url(), content="#page", texts=[ERROR_TEXT])


def test_the_raw_record(session, server, hostile):
    visit(
        session,
        server,
        f"/conversations/{hostile['chat'].pk}/messages/1/raw/",
        content="body",
        texts=["<img src=x onerror=alert(1)>", "<script>alert('input')</script>"],
    )


def test_the_wire_view(session, server, hostile):
    visit(
        session,
        server,
        f"/conversations/{hostile['chat'].pk}/wire/anthropic/",
        content="body",
        texts=["<svg onload=alert(1)></svg>"],
    )


def test_the_diff(session, server, hostile):
    visit(
        session,
        server,
        f"/conversations/{hostile['chat'].pk}/diff/?a=1&b=2",
        content="body",
        texts=["revision two</a><svg><script>alert(6)</script></svg>"],
    )  # shown as JSON


def test_the_repair_preview(session, server, hostile):
    visit(
        session,
        server,
        f"/conversations/{hostile['chat'].pk}/repair/?target=anthropic",
        content="body",
        texts=["<script>"],
    )


def test_the_admin_changelist(session, server, hostile):
    visit(
        session, server, "/admin/conversations/conversation/", content="#result_list", texts=["Render this: <script>"]
    )
