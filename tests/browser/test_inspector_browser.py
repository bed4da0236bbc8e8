"""A support engineer in a real browser: finds the stuck conversation, sees where it breaks, and
is never attacked by what a model or a user wrote into a log."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.support import FIXTURES, ingested

pytestmark = pytest.mark.browser

CACHE_SEED = FIXTURES / "seed" / "openhands-6852-cache-on-tool-message.json"
UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"
HOSTILE = FIXTURES / "samples" / "hostile-content.json"


def test_a_support_engineer_filters_to_rejected_and_reads_where_it_breaks(logged_in, live_server):
    page = logged_in
    stuck = ingested(UNANSWERED)  # Anthropic rejects it: tool-result-missing
    seed = ingested(CACHE_SEED)
    page.reload()

    # The list, filtered to rejected conversations: the table swaps in place, the URL follows.
    page.select_option("select[name=verdict]", "rejected")
    page.wait_for_url(re.compile(r"\?verdict=rejected$"))
    rows = page.locator("#table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".badge.rejected")).to_contain_text("anthropic")
    rows.first.locator("td.title a").click()
    page.wait_for_url(f"{live_server.url}/conversations/{stuck.pk}/")
    expect(page.locator(".tool-call.unpaired")).to_contain_text("unpaired: no tool_result answers this call")
    expect(page.locator("#m1 .finding").first).to_contain_text("tool-result-missing")

    # A seed conversation: its four cache breakpoints, each on its block, and the paired calls.
    page.goto(f"{live_server.url}{seed.get_absolute_url()}")
    markers = page.locator(".turns .cache-marker")
    expect(markers).to_have_count(4)
    expect(markers.nth(2)).to_contain_text("cache breakpoint 3 of 4 (on the whole message)")
    expect(page.locator("#m6 header .cache-marker")).to_be_visible()
    expect(page.locator(".tool-call:not(.unpaired)")).to_have_count(2)
    expect(page.locator(".tool-result:not(.unpaired)")).to_have_count(2)

    # Clicking a call lands on its result, highlighted; and back.
    call = "toolu_01EteZsAJEiMV1uJCWsaHcCQ"
    page.locator(f"#tool-{call} a.pair-link").click()
    result = page.locator(f"#result-{call}")
    expect(result).to_have_class(re.compile(r"\bflash\b"))
    expect(result).to_be_in_viewport()
    assert page.evaluate("location.hash") == f"#result-{call}"
    result.locator("a.pair-link").click()
    expect(page.locator(f"#tool-{call}")).to_be_in_viewport()

    # The raw record of the tool message: loaded on toggle, the line of the log as written.
    raw = page.locator("#m6 details.raw")
    raw.locator("summary").click()
    expect(raw.locator(".records pre.json").first).to_contain_text('"cache_control"')
    record = json.loads(raw.locator(".records pre.json").first.inner_text())
    assert record == json.loads(CACHE_SEED.read_text())["messages"][7]


def test_hostile_content_is_shown_as_text_and_never_runs(logged_in, live_server):
    page = logged_in
    hostile = ingested(HOSTILE)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    response = page.goto(f"{live_server.url}{hostile.get_absolute_url()}")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    title = page.title()
    assert title.startswith("Render this: <script>document.title='pwned'</script>")
    expect(page.locator("#m0 .md")).to_contain_text("<script>document.title='pwned'</script>")
    expect(page.locator("#m1 .tool-name")).to_have_text("<img src=x onerror=alert(1)>")
    expect(page.locator("#m2 pre.output")).to_contain_text('<iframe src="javascript:alert(1)"></iframe>')
    page.locator("#m3 .md").hover()
    for details in page.locator("details.raw > summary").all():
        details.click()
    page.wait_for_timeout(300)
    assert page.title() == title and dialogs == []
    assert page.locator("#page iframe, #page svg[onload], #page img[onerror]").count() == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 2  # htmx and inspector.js


def test_a_long_conversation_loads_the_rest_as_you_scroll(logged_in, live_server, tmp_path):
    page = logged_in
    messages = [{"role": "user", "content": "Go."}]
    for i in range(60):
        messages += [{"role": "assistant", "content": f"Step {i}."}, {"role": "user", "content": "Next."}]
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"model": "gpt-4o", "messages": messages}))
    conversation = ingested(path)

    page.goto(f"{live_server.url}{conversation.get_absolute_url()}")
    expect(page.locator("article.turn[id^=m]")).to_have_count(50)
    page.locator("#more-50").scroll_into_view_if_needed()
    expect(page.locator("article.turn[id^=m]")).to_have_count(100)
    page.locator("#more-100").scroll_into_view_if_needed()
    expect(page.locator("article.turn[id^=m]")).to_have_count(121)
    expect(page.locator("a.load-more[id^=more-]")).to_have_count(0)

    page.fill("input[name=at]", "117")
    page.click(".jumpbar button[type=submit]")
    page.wait_for_url(re.compile(r"\?start=100#m117$"))
    expect(page.locator("#m117")).to_be_in_viewport()


def test_the_list_filters_without_javascript(browser, live_server, engineer):
    ingested(UNANSWERED)
    ingested(CACHE_SEED)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "engineer")
    page.fill("input[name=password]", "engineer-pass-1")
    page.click("button[type=submit]")

    page.select_option("select[name=verdict]", "rejected")
    page.click("#filters button[type=submit]")

    page.wait_for_url(re.compile(r"verdict=rejected"))
    expect(page.locator("#table tbody tr")).to_have_count(1)
    context.close()
