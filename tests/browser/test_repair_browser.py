"""A repairer in a real browser: opens a stuck conversation, previews the repair, applies it in
one click, and lands on the new revision, which its target accepts."""

import re

import pytest
from playwright.sync_api import expect

from conversations.ingest import ingest_path
from conversations.models import Conversation
from tests.support import FIXTURES

pytestmark = pytest.mark.browser

UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"


@pytest.fixture
def repairer_page(page, live_server, transactional_db, django_user_model):
    """A page logged in, through Django's login form, as a user with the repairer role."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("fixer", password="fixer-pass-1")
    user.user_permissions.add(Permission.objects.get(codename="repair_conversation"))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "fixer")
    page.fill("input[name=password]", "fixer-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def test_a_repairer_previews_and_applies_a_repair_and_lands_on_the_accepted_revision(repairer_page, live_server):
    page = repairer_page
    outcome = ingest_path(UNANSWERED)
    stuck = Conversation.objects.get(pk=outcome.added[0])
    conversation_url = f"{live_server.url}{stuck.get_absolute_url()}"
    # A CSP violation (an inline style or script) shows as a console error.
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    page.goto(conversation_url)
    expect(page.locator(".verdict-summary .badge").first).to_have_text("rejected")
    page.locator(".verdict-summary a.repair-entry", has_text="Repair…").click()

    # The preview: the edit in words, the verdict before and after, the changed message.
    page.wait_for_url(f"{conversation_url}repair/")
    preview = page.locator("#repair")
    expect(preview.locator(".edit-list")).to_contain_text("add-tool-result")
    expect(preview.locator(".edit-list")).to_contain_text("toolu_01A9xKqv3VbN7mZ2rT5sY8wD")
    expect(preview.locator(".hunk header").first).to_have_text("added message 2 (tool)")

    # Warnings too: the preview swaps in place (htmx), the URL follows.
    page.check("input[name=include_warnings] >> nth=0")
    page.locator(".repair-ask button", has_text="Preview").first.click()
    page.wait_for_url(re.compile(r"/repair/\?target=&include_warnings=1$"))
    expect(preview.locator(".edit-list li")).to_have_count(2)
    expect(preview.locator(".edit-list")).to_contain_text("set-max-tokens")
    expect(preview.locator('.badge[title="after the repair"]')).to_have_text("accepted")

    page.locator("#repair button", has_text="Apply as revision 2").click()

    page.wait_for_url(conversation_url)
    expect(page.locator(".flash li.success")).to_contain_text(
        "Repaired for its own target as revision 2 (accepted now)"
    )
    expect(page.locator(".conv-head .meta")).to_contain_text("revision 2 (latest)")
    expect(page.locator(".verdict-summary .verdict").first.locator(".badge")).to_have_text("accepted")
    expect(page.locator(".tool-call.unpaired")).to_have_count(0)
    assert stuck.revisions.count() == 2
    assert errors == []


def test_a_repair_that_lost_the_race_shows_the_conflict_in_place(repairer_page, live_server, django_user_model):
    from conversations import repairs

    page = repairer_page
    stuck = Conversation.objects.get(pk=ingest_path(UNANSWERED).added[0])
    page.goto(f"{live_server.url}{stuck.get_absolute_url()}repair/")
    expect(page.locator("#repair button", has_text="Apply as revision 2")).to_be_visible()
    # Someone else repairs it while the preview is open.
    colleague = django_user_model.objects.create_superuser("colleague", password="colleague-pass-1")
    repairs.repair_apply(stuck, user=colleague, expected=1, target="anthropic")

    page.locator("#repair button", has_text="Apply as revision 2").click()

    # The 409 is swapped in (inspector.js lets htmx swap it): who got there first, nothing written.
    conflict = page.locator("#repair .conflict")
    expect(conflict).to_contain_text("revision 2 was added by colleague")
    expect(conflict).to_contain_text("Nothing was written")
    assert page.url == f"{live_server.url}{stuck.get_absolute_url()}repair/"
    assert stuck.revisions.count() == 2
