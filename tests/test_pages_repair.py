"""The repair flow in the browser: a preview anyone logged in may read; apply, restore, write back
and resume for repairers only, each a POST; a conflict when two people repair at once; downloads
for every viewer; a resumed conversation's reply, or the provider's refusal in its own words."""

import json
import shutil

import pytest

from conversations.history.formats.document import Document
from conversations.ingest import ingest_document
from conversations.models import AuditEvent, Conversation, Source
from tests.claude_sessions import empty_last_response
from tests.fakeprovider import FakeProvider
from tests.support import FIXTURES, ingested

pytestmark = pytest.mark.django_db

UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"
TOOL_ID = "toolu_01A9xKqv3VbN7mZ2rT5sY8wD"
RESUME_MODEL = "anthropic/claude-sonnet-4-5"


def url(conversation: Conversation, suffix: str) -> str:
    return f"/conversations/{conversation.pk}/{suffix}"


def html(response) -> str:
    return response.content.decode()


def revisions(conversation: Conversation) -> list[int]:
    return list(conversation.revisions.order_by("number").values_list("number", flat=True))


@pytest.fixture
def stuck(tmp_path):
    """The unanswered-tool-call sample, copied where a test may let the inspector write."""
    path = tmp_path / "logs" / "stuck.json"
    path.parent.mkdir()
    shutil.copyfile(UNANSWERED, path)
    return path


def apply(client, conversation, **fields):
    return client.post(url(conversation, "repair/"), {"expected": 1, **fields})


# --- the preview --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["repair/", "revisions/1/download/"])
def test_anonymous_visitors_are_sent_to_log_in(client, suffix):
    conversation = ingested(UNANSWERED)

    response = client.get(url(conversation, suffix))

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("suffix", ["repair/", "resume/", "revisions/1/restore/", "revisions/1/writeback/"])
def test_anonymous_posts_are_sent_to_log_in_and_change_nothing(client, suffix):
    conversation = ingested(UNANSWERED)

    response = client.post(url(conversation, suffix), {"expected": 1})

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert revisions(conversation) == [1]


@pytest.mark.parametrize("who, may_apply", [("viewer", False), ("repairer", True), ("admin_user", True)])
def test_every_role_sees_the_preview_and_only_repairers_the_apply_button(client, request, who, may_apply):
    conversation = ingested(UNANSWERED)
    client.force_login(request.getfixturevalue(who))

    response = client.get(url(conversation, "repair/"))

    page = html(response)
    assert response.status_code == 200
    assert "add-tool-result" in page and TOOL_ID in page
    # Accepted after it, with the warning a repair of errors leaves alone (max_tokens unset).
    assert (
        '<span class="badge rejected" title="now">rejected</span>' in page
        and '<span class="badge warnings" title="after the repair">warnings</span>' in page
    )
    assert ("Apply as revision 2" in page) is may_apply
    assert ("Applying a repair needs the repairer role" in page) is not may_apply
    assert ('id="resume"' in page) is may_apply
    assert 'name="expected" value="1"' in page or not may_apply
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_the_preview_shows_the_changed_message_as_a_diff(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    page = html(client.get(url(conversation, "repair/"), {"target": "anthropic"}))

    assert "added message 2 (tool)" in page
    assert "The tool call was interrupted before it returned a result." in page
    assert '<span class="l add">+' in page


def test_a_preview_that_changes_more_than_4000_lines_is_summarised(client, viewer, tmp_path):
    calls = [{"id": f"call_{k}", "type": "function", "function": {"name": "ls", "arguments": "{}"}} for k in range(600)]
    path = tmp_path / "many.json"
    path.write_text(
        json.dumps(
            {
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": "go"}, {"role": "assistant", "tool_calls": calls}],
            }
        )
    )
    conversation = ingested(path)
    client.force_login(viewer)

    page = html(client.get(url(conversation, "repair/"), {"target": "openai"}))

    readable = page[page.index('<section class="repair-diff"') :]
    assert "Too large to diff here" in readable and '<span class="l add">' not in readable
    assert f'href="/conversations/{conversation.pk}/revisions/1/download/"' in page


def test_a_history_of_more_than_2000_tool_calls_is_not_checked_inside_a_page_request(client, viewer, tmp_path):
    calls = [{"id": f"c{k}", "type": "function", "function": {"name": "ls", "arguments": "{}"}} for k in range(2_001)]
    path = tmp_path / "many.json"
    path.write_text(
        json.dumps({"messages": [{"role": "user", "content": "go"}, {"role": "assistant", "tool_calls": calls}]})
    )
    conversation = ingested(path)
    client.force_login(viewer)

    preview = client.get(url(conversation, "repair/"), {"target": "anthropic"})
    wire = html(client.get(url(conversation, "wire/anthropic/")))
    explained = client.post(url(conversation, "explain/"), {"error": "AnthropicException - messages.1: x"})

    # The preview is queued as a background job (tests/test_background_preview.py), not computed here.
    assert preview.context["preview"] is None and preview.context["problem"] is None
    assert preview.context["preview_job"]["status"] == "pending" and "Previewing in the background" in html(preview)
    assert "Not built here" in wire and "?as=anthropic" in wire
    [item] = explained.context["explained"]["result"]["errors"]
    assert item["agrees"] is None and "too large to compare" in item["reason"]


def written_section(page: str) -> str:
    start = page.index('<section class="repair-written"')
    return page[start : page.index('<section class="repair-diff"', start)]


def test_the_preview_shows_the_change_as_it_will_be_written_in_the_sources_own_format(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    page = html(client.get(url(conversation, "repair/"), {"target": "anthropic"}))

    written = written_section(page)
    assert "As it will be written (openai)" in written
    assert "<code>unanswered-tool-call.json</code> changed" in written
    # The request's JSON, as written: the tool message the repair adds, key by key.
    assert '<span class="l add">+       &quot;role&quot;: &quot;tool&quot;,</span>' in written
    assert f"&quot;tool_call_id&quot;: &quot;{TOOL_ID}&quot;" in written
    assert "will not be written" not in written


def test_the_preview_says_what_the_provider_answers_before_and_after_the_repair(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    page = html(client.get(url(conversation, "repair/"), {"target": "anthropic"}))

    verdicts = page[page.index('<section class="repair-verdicts"') : page.index('<section class="repair-edits"')]
    before = verdicts[verdicts.index("Before the repair,") : verdicts.index("</pre>")]
    assert " answers:" in before and "tool_use" in before  # the error it answers today
    assert "After the repair, " in verdicts and " accepts it." in verdicts
    assert "It answers now" not in page


def test_the_preview_of_a_claude_code_repair_shows_its_jsonl_records_and_why_it_will_not_be_written(
    client, viewer, tmp_path
):
    path = tmp_path / "session.jsonl"
    path.write_bytes(empty_last_response())
    conversation = ingested(path)
    client.force_login(viewer)

    page = html(client.get(url(conversation, "repair/"), {"target": "anthropic"}))

    written = written_section(page)
    assert "As it will be written (claude-code)" in written
    assert '<span class="l del">- {&quot;parentUuid&quot;:' in written  # the record, as a JSONL line
    assert (
        "It will not be written, downloaded or written back: the output would read back differently: "
        "message 1: missing (the output holds 1 messages, not 2)." in written
    )


def test_htmx_gets_only_the_preview_region_and_a_plain_get_the_whole_page(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    partial = client.get(url(conversation, "repair/"), {"target": "openai"}, HTTP_HX_REQUEST="true")
    full = client.get(url(conversation, "repair/"), {"target": "openai"})

    assert partial.status_code == full.status_code == 200
    assert "<html" not in html(partial) and html(partial).lstrip().startswith('<div id="repair"')
    assert "Repair of revision 1 for openai" in html(partial)
    assert "<html" in html(full) and 'id="repair"' in html(full) and "Repair of revision 1 for openai" in html(full)
    assert "HX-Request" in partial["Vary"]


def test_a_history_that_needs_nothing_says_so_and_offers_no_apply(client, repairer):
    conversation = ingested(FIXTURES / "formats" / "anthropic-request.json")
    client.force_login(repairer)

    page = html(client.get(url(conversation, "repair/"), {"target": "anthropic"}))

    assert "Nothing to repair for anthropic" in page and "Apply as revision" not in page


def test_an_unknown_target_is_refused_with_the_known_ones(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    response = client.get(url(conversation, "repair/"), {"target": "mistral"})

    assert response.status_code == 400
    assert "Unknown target &#x27;mistral&#x27;; known targets: anthropic" in html(response)


def test_a_viewer_previews_a_route_by_post_and_stores_nothing(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)
    config = (FIXTURES / "seed" / "proxy-config.yaml").read_text()

    response = client.post(
        url(conversation, "repair/"), {"action": "preview", "config": config, "group": "claude-3-5-sonnet-20241022"}
    )

    page = html(response)
    assert response.status_code == 200
    assert "for route claude-3-5-sonnet-20241022" in page and "add-tool-result" in page
    # Bedrock and the fallback deployment: neither rejects it after the repair.
    assert page.count('title="after the repair">warnings</span>') == 2
    assert revisions(conversation) == [1]


def test_a_route_config_is_never_read_from_the_query_string(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    page = html(
        client.get(
            url(conversation, "repair/"),
            {"config": str(FIXTURES / "seed" / "proxy-config.yaml"), "group": "claude-3-5-sonnet-20241022"},
        )
    )

    assert "for its own target" in page and "route claude" not in page


def test_a_route_config_that_is_a_path_is_not_read_from_the_server(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    response = client.post(
        url(conversation, "repair/"),
        {
            "action": "preview",
            "group": "claude-3-5-sonnet-20241022",
            "config": str(FIXTURES / "seed" / "proxy-config.yaml"),
        },
    )

    assert response.status_code == 400
    assert "not a litellm proxy config" in html(response)


# --- apply --------------------------------------------------------------------------------------


def test_a_repairer_applies_the_repair_as_revision_2_and_sees_the_edits(client, repairer):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)

    response = apply(client, conversation, include_warnings="1")

    assert response.status_code == 302 and response["Location"] == conversation.get_absolute_url()
    assert revisions(conversation) == [1, 2]
    page = html(client.get(response["Location"]))
    assert (
        f"Repaired for its own target as revision 2 (accepted now). 2 edits: added a tool_result for {TOOL_ID} "
        "after message 1 (is_error: &#x27;The tool call was interrupted before it returned a result.&#x27;); "
        "set max_tokens to 4096 in the request."
    ) in page
    assert TOOL_ID in page and "revision 2 (latest)" in page
    assert '<span class="badge accepted">accepted</span>' in page
    assert AuditEvent.objects.filter(action="repair", actor=repairer, revision__number=2).exists()


def test_htmx_apply_navigates_to_the_conversation_page(client, repairer):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)

    response = client.post(url(conversation, "repair/"), {"expected": 1, "target": "openai"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200 and response["HX-Redirect"] == conversation.get_absolute_url()
    assert revisions(conversation) == [1, 2]


def test_a_viewer_cannot_apply_and_nothing_is_stored(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    response = apply(client, conversation)

    assert response.status_code == 403
    assert revisions(conversation) == [1]
    assert not AuditEvent.objects.filter(action="repair").exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_the_second_of_two_applies_on_the_same_revision_gets_a_conflict(client, repairer, admin_user, htmx):
    conversation = ingested(UNANSWERED)
    client.force_login(admin_user)
    apply(client, conversation, target="anthropic")
    client.force_login(repairer)
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    response = client.post(
        url(conversation, "repair/"), {"expected": 1, "target": "anthropic", "include_warnings": "1"}, **extra
    )

    page = html(response)
    assert response.status_code == 409
    assert (
        f"Conversation {conversation.pk} changed since you opened it: revision 2 was added by boss "
        "(repaired for anthropic: added a tool_result"
    ) in page
    assert "Nothing was written" in page
    assert ("<html" in page) is not htmx
    # The repair is shown again against revision 2, ready to apply over it.
    assert 'name="expected" value="2"' in page
    assert revisions(conversation) == [1, 2]


def test_an_apply_without_the_revision_it_read_is_refused(client, repairer):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)

    response = client.post(url(conversation, "repair/"), {"target": "anthropic"})

    assert response.status_code == 400 and "which revision it repairs" in html(response)
    assert revisions(conversation) == [1]


# --- write back ---------------------------------------------------------------------------------


def test_repair_and_write_back_rewrites_the_file_and_keeps_a_backup(client, repairer, stuck, settings):
    settings.WRITE_BACK_ROOTS = [stuck.parent]
    conversation = ingested(stuck)
    client.force_login(repairer)
    assert "Apply and write back to" in html(client.get(url(conversation, "repair/")))

    response = apply(client, conversation, writeback="1")

    page = html(client.get(response["Location"]))
    backups = list(stuck.parent.glob("stuck.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == UNANSWERED.read_bytes()
    on_disk = json.loads(stuck.read_text())
    assert [m["role"] for m in on_disk["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert f"Revision 2 written back to {stuck}; the previous version is kept at {backups[0]}." in page
    assert AuditEvent.objects.filter(action="write-back", revision__number=2).exists()


def test_write_back_outside_the_allowed_roots_is_refused_and_the_revision_kept(
    client, repairer, stuck, settings, tmp_path
):
    (tmp_path / "elsewhere").mkdir()
    settings.WRITE_BACK_ROOTS = [tmp_path / "elsewhere"]
    conversation = ingested(stuck)
    client.force_login(repairer)
    before = stuck.read_bytes()
    assert "Apply and write back to" not in html(client.get(url(conversation, "repair/")))

    response = apply(client, conversation, writeback="1")

    page = html(client.get(response["Location"]))
    assert "Revision 2 is stored but was not written back:" in page
    assert "not under an allowed write-back root" in page
    assert revisions(conversation) == [1, 2]
    assert stuck.read_bytes() == before and not list(stuck.parent.glob("*.bak-*"))


def test_the_latest_revision_can_be_written_back_on_its_own(client, repairer, stuck, settings):
    settings.WRITE_BACK_ROOTS = [stuck.parent]
    conversation = ingested(stuck)
    client.force_login(repairer)
    apply(client, conversation)

    earlier = client.post(url(conversation, "revisions/1/writeback/"))
    assert "Revision 1 is not the latest (revision 2 is)" in html(client.get(earlier["Location"]))
    assert stuck.read_bytes() == UNANSWERED.read_bytes()

    latest = client.post(url(conversation, "revisions/2/writeback/"))
    assert "Revision 2 written back to" in html(client.get(latest["Location"]))
    assert json.loads(stuck.read_text())["messages"][3]["tool_call_id"] == TOOL_ID


def test_a_viewer_cannot_write_back(client, viewer, stuck, settings):
    settings.WRITE_BACK_ROOTS = [stuck.parent]
    conversation = ingested(stuck)
    client.force_login(viewer)

    assert client.post(url(conversation, "revisions/1/writeback/")).status_code == 403
    assert stuck.read_bytes() == UNANSWERED.read_bytes()


# --- restore ------------------------------------------------------------------------------------


def test_a_repairer_restores_an_earlier_revision_as_a_new_one(client, repairer):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)
    apply(client, conversation)
    assert f'action="/conversations/{conversation.pk}/revisions/1/restore/"' in html(
        client.get(conversation.get_absolute_url())
    )

    response = client.post(url(conversation, "revisions/1/restore/"), {"expected": 2})

    assert response.status_code == 302
    assert revisions(conversation) == [1, 2, 3]
    assert conversation.revisions.get(number=3).content_hash == conversation.revisions.get(number=1).content_hash
    assert "Restored revision 1 as revision 3." in html(client.get(response["Location"]))


def test_a_restore_over_a_revision_added_meanwhile_gets_a_conflict(client, repairer):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)
    apply(client, conversation)

    response = client.post(url(conversation, "revisions/1/restore/"), {"expected": 1})

    page = html(response)
    assert response.status_code == 409
    assert "changed since you opened it: revision 2 was added by repairer" in page
    assert "Restore revision 1 over revision 2" in page and 'name="expected" value="2"' in page
    assert revisions(conversation) == [1, 2]


def test_a_viewer_cannot_restore_nor_sees_the_restore_button(client, viewer, repairer):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)
    apply(client, conversation)
    client.force_login(viewer)

    page = html(client.get(conversation.get_absolute_url()))
    response = client.post(url(conversation, "revisions/1/restore/"), {"expected": 2})

    assert "/restore/" not in page and "Repair…" not in page
    assert f"/conversations/{conversation.pk}/revisions/2/download/?as=anthropic" in page
    assert response.status_code == 403 and revisions(conversation) == [1, 2]


def test_restore_and_repair_are_post_only(client, repairer):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)

    assert client.get(url(conversation, "revisions/1/restore/")).status_code == 405
    assert client.get(url(conversation, "resume/")).status_code == 405
    assert client.get(url(conversation, "revisions/1/writeback/")).status_code == 405


# --- the conversation page's entries ----------------------------------------------------------


def test_a_repairer_finds_repair_on_the_rejected_verdict(client, repairer):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)

    page = html(client.get(conversation.get_absolute_url()))

    assert f'<a class="button repair-entry" href="/conversations/{conversation.pk}/repair/">Repair…</a>' in page
    assert f'href="/conversations/{conversation.pk}/repair/#resume">Resume…</a>' in page


# --- download -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["viewer", "repairer"])
def test_every_viewer_downloads_a_revision_as_logged(client, request, who):
    conversation = ingested(UNANSWERED)
    client.force_login(request.getfixturevalue(who))

    response = client.get(url(conversation, "revisions/1/download/"), {"as": "source"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="unanswered-tool-call-r1.json"'
    assert response["Content-Type"] == "application/json"
    assert response.content == UNANSWERED.read_bytes()


@pytest.mark.parametrize(
    "as_format, suffix, first_role",
    [
        ("openai", "json", "system"),  # its own format
        ("anthropic", "anthropic.json", "user"),
    ],
)
def test_a_repaired_revision_downloads_as_a_request_for_either_api(client, repairer, as_format, suffix, first_role):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)
    apply(client, conversation)

    response = client.get(url(conversation, "revisions/2/download/"), {"as": as_format})

    assert response["Content-Disposition"] == f'attachment; filename="unanswered-tool-call-r2.{suffix}"'
    body = json.loads(response.content)
    assert body["messages"][0]["role"] == first_role
    assert (
        TOOL_ID in response.content.decode() and "interrupted before it returned a result" in response.content.decode()
    )


def test_a_download_names_the_file_safely_whatever_the_log_was_called(client, viewer):
    doc = Document.from_bytes('we"ird name;\u00e9.json', UNANSWERED.read_bytes())
    outcome = ingest_document(doc, kind=Source.Kind.UPLOAD, location='../we"ird name;\u00e9.json')
    conversation = Conversation.objects.get(pk=outcome.added[0])
    client.force_login(viewer)

    response = client.get(url(conversation, "revisions/1/download/"))

    assert response["Content-Disposition"] == 'attachment; filename="we_ird_name_-r1.json"'


def test_a_download_in_an_unknown_format_is_refused(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    response = client.get(url(conversation, "revisions/1/download/"), {"as": "gemini"})

    assert response.status_code == 400 and b"source, openai, anthropic" in response.content
    assert client.get(url(conversation, "revisions/9/download/")).status_code == 404


# --- resume -------------------------------------------------------------------------------------


@pytest.fixture
def fake(settings):
    with FakeProvider(reply="Here are the files: README.md, setup.py.") as provider:
        settings.RESUME_API_BASE = provider.api_base("anthropic")
        settings.RESUME_API_KEY = "sk-test-not-a-real-key"
        yield provider


def test_a_repaired_conversation_resumes_and_the_reply_is_shown_as_a_turn(client, repairer, fake):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)
    apply(client, conversation)
    form = html(client.get(url(conversation, "repair/")))
    assert ">Please continue where you left off.</textarea>" in form
    # The conversation's own model, named so litellm routes it (the bare name is retired from its map).
    assert 'name="model" value="anthropic/claude-3-5-sonnet-20241022"' in form

    response = client.post(
        url(conversation, "resume/"),
        {"expected": 2, "model": RESUME_MODEL, "continuation": "Please go on with the listing."},
    )

    assert response.status_code == 302 and response["Location"] == f"{url(conversation, '')}?at=5"
    page = client.get(response["Location"], follow=True)
    text = html(page)
    assert page.redirect_chain[-1][0].endswith("#m5")
    assert "The model replied: its answer is message #5 of revision 3." in text
    assert '<article class="turn role-assistant" id="m5">' in text
    assert "Here are the files: README.md, setup.py." in text
    assert revisions(conversation) == [1, 2, 3]
    history = conversation.revisions.get(number=3).history
    assert [m.text for m in history.messages[-2:]] == [
        "Please go on with the listing.",
        "Here are the files: README.md, setup.py.",
    ]
    assert fake.received[-1].body["messages"][-1]["content"][-1]["text"] == "Please go on with the listing."


def test_resuming_an_unrepaired_history_shows_the_providers_error_verbatim_and_stores_nothing(client, repairer, fake):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)

    response = client.post(
        url(conversation, "resume/"), {"expected": 1, "model": RESUME_MODEL, "continuation": ""}, HTTP_HX_REQUEST="true"
    )

    page = html(response)
    assert response.status_code == 502
    assert page.lstrip().startswith('<section id="resume"')
    assert "The provider refused (BadRequestError, HTTP 400); nothing was written:" in page
    assert (
        f"messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: {TOOL_ID}. "
        "Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    ) in page
    assert revisions(conversation) == [1]
    assert AuditEvent.objects.filter(action="resume-failed", actor=repairer).exists()


def test_a_resume_refused_without_javascript_shows_the_whole_repair_page(client, repairer, fake):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)

    response = client.post(
        url(conversation, "resume/"), {"expected": 1, "model": RESUME_MODEL, "continuation": "Go on."}
    )

    page = html(response)
    assert response.status_code == 502 and "<html" in page
    assert "tool_use` ids were found without `tool_result` blocks" in page
    # What the person wrote is kept, to try again after repairing.
    assert ">Go on.</textarea>" in page and f'value="{RESUME_MODEL}"' in page


def test_a_viewer_cannot_resume(client, viewer, fake):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    response = client.post(url(conversation, "resume/"), {"expected": 1, "model": RESUME_MODEL})

    assert response.status_code == 403 and fake.received == [] and revisions(conversation) == [1]


def test_a_resume_on_a_stale_revision_gets_a_conflict_and_sends_nothing(client, repairer, fake):
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)
    apply(client, conversation)

    response = client.post(url(conversation, "resume/"), {"expected": 1, "model": RESUME_MODEL})

    assert response.status_code == 409
    assert "changed since you opened it: revision 2 was added by repairer" in html(response)
    assert fake.received == [] and revisions(conversation) == [1, 2]


def test_a_repair_whose_file_would_read_back_differently_is_never_written_back_nor_downloaded(
    client, repairer, tmp_path, settings
):
    path = tmp_path / "logs" / "session.jsonl"
    path.parent.mkdir()
    path.write_bytes(empty_last_response())
    settings.WRITE_BACK_ROOTS = [path.parent]
    conversation = ingested(path)
    client.force_login(repairer)
    before = path.read_bytes()

    response = apply(client, conversation, writeback="1")
    page = html(client.get(response["Location"]))
    download = client.get(url(conversation, "revisions/2/download/"), {"as": "source"})

    reason = "the output would read back differently: message 1: missing (the output holds 1 messages, not 2)"
    assert "Revision 2 is stored but was not written back:" in page and reason in page
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["session.jsonl"]
    assert download.status_code == 302 and reason in html(client.get(download["Location"]))
