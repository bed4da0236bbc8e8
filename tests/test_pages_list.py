"""The list page (the home page): every role, both renderings, filters and search in the URL,
sorting, paging, verdict badges, and a query count that does not grow with the page size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation, Revision, Source, Verdict
from conversations.verdicts import revision_verdicts
from tests.support import FIXTURES, ingested

pytestmark = pytest.mark.django_db

HOSTILE = FIXTURES / "samples" / "hostile-content.json"
UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"
TEXT_BEFORE_RESULT = FIXTURES / "samples" / "user-text-before-tool-result.json"
OPENAI = FIXTURES / "formats" / "openai-request.json"
CACHE_SEED = FIXTURES / "seed" / "openhands-6852-cache-on-tool-message.json"
PROXY_VS_DIRECT = FIXTURES / "seed" / "openhands-6852-proxy-vs-direct.json"


def rows(response):
    return [row["conversation"].pk for row in response.context["rows"]]


# --- who may see it, and how ------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/?verdict=rejected")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/%3Fverdict%3Drejected"


@pytest.mark.parametrize("who", ["viewer", "repairer", "admin_user"])
def test_every_logged_in_role_sees_the_list(client, request, who):
    ingested(OPENAI)
    client.force_login(request.getfixturevalue(who))

    response = client.get("/")

    assert response.status_code == 200
    assert b"<html" in response.content and b'id="table"' in response.content
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_only_staff_see_the_admin_link(client, viewer, admin_user):
    client.force_login(viewer)
    assert b'href="/admin/"' not in client.get("/").content
    client.force_login(admin_user)
    assert b'href="/admin/"' in client.get("/").content


def test_htmx_gets_only_the_table(client, viewer):
    ingested(OPENAI)
    client.force_login(viewer)

    response = client.get("/", {"sort": "messages"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="table")

    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<div id="table"')
    assert b"<html" not in response.content and b'id="filters"' not in response.content
    assert "HX-Request" in response["Vary"]


def test_a_history_restore_gets_the_whole_page(client, viewer):
    client.force_login(viewer)

    response = client.get("/", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")

    assert b"<html" in response.content


# --- filters, search, sort, pages ---------------------------------------------------------------


def test_filtering_by_verdict_uses_the_checks_stored_at_ingest(client, viewer):
    stuck = ingested(UNANSWERED)  # Anthropic: tool-result-missing
    warned = ingested(CACHE_SEED)  # Anthropic accepts it, with a warning
    fine = ingested(OPENAI)  # OpenAI accepts it
    unchecked = ingested(HOSTILE)
    Verdict.objects.filter(revision=unchecked.latest_revision).delete()  # stored before checks existed
    client.force_login(viewer)

    assert rows(client.get("/", {"verdict": "rejected"})) == [stuck.pk]
    assert rows(client.get("/", {"verdict": "warnings"})) == [warned.pk]
    assert rows(client.get("/", {"verdict": "accepted"})) == [fine.pk]
    assert rows(client.get("/", {"verdict": "unchecked"})) == [unchecked.pk]


def test_the_verdict_filter_can_name_one_target(client, viewer):
    stuck, direct = ingested(UNANSWERED), ingested(PROXY_VS_DIRECT)
    revision_verdicts(direct.latest_revision, ["openai"])
    client.force_login(viewer)

    assert rows(client.get("/", {"verdict": "rejected", "target": "anthropic"})) == [stuck.pk]
    # Sent to Anthropic directly, the proxy-vs-direct history went through (PROVENANCE.md).
    assert rows(client.get("/", {"verdict": "accepted", "target": "anthropic"})) == [direct.pk]
    assert rows(client.get("/", {"verdict": "rejected", "target": "gemini"})) == []


def test_filtering_by_rule_looks_at_the_latest_revision(client, viewer):
    missing, not_first = ingested(UNANSWERED), ingested(TEXT_BEFORE_RESULT)
    client.force_login(viewer)

    assert rows(client.get("/", {"rule": "tool-result-missing"})) == [missing.pk]
    assert rows(client.get("/", {"rule": "tool-result-not-first"})) == [not_first.pk]
    assert rows(client.get("/", {"rule": "tool-result-missing", "target": "openai"})) == []
    assert rows(client.get("/", {"rule": "empty-text-block"})) == []


def test_filtering_by_provider_model_source_and_date(client, viewer):
    hostile, openai = ingested(HOSTILE), ingested(OPENAI)
    Conversation.objects.filter(pk=hostile.pk).update(provider="acme", model="acme-1")
    client.force_login(viewer)

    assert rows(client.get("/", {"provider": "acme"})) == [hostile.pk]
    assert rows(client.get("/", {"model": openai.model})) == [openai.pk]
    assert rows(client.get("/", {"source": "upload"})) == []
    assert set(rows(client.get("/", {"source": "path"}))) == {hostile.pk, openai.pk}
    assert rows(client.get("/", {"since": "2999-01-01"})) == []
    assert set(rows(client.get("/", {"until": "2999-01-01"}))) == {hostile.pk, openai.pk}


def test_search_finds_message_text_tool_names_and_tool_ids(client, viewer):
    unanswered, openai = ingested(UNANSWERED), ingested(OPENAI)
    history = unanswered.latest_revision.history
    call = next(b for _, _, b in history.blocks() if b.type == "tool_use")
    word = next(w for w in history.messages[0].text.split() if len(w) > 4 and w.isalpha())
    client.force_login(viewer)

    assert rows(client.get("/", {"q": call.id})) == [unanswered.pk]
    assert unanswered.pk in rows(client.get("/", {"q": call.name}))
    assert unanswered.pk in rows(client.get("/", {"q": word}))
    assert rows(client.get("/", {"q": "zebra-quartz-nowhere"})) == []
    assert openai.pk not in rows(client.get("/", {"q": call.id}))


def test_unknown_parameters_and_bad_values_are_ignored_and_said(client, viewer):
    ingested(OPENAI)
    client.force_login(viewer)

    response = client.get(
        "/",
        {
            "sort": "password; drop table",
            "per": "100000",
            "verdict": "maybe",
            "since": "yesterday",
            "rule": "<script>",
            "page": "-3",
            "debug": "1",
        },
    )

    assert response.status_code == 200
    query = response.context["query"]
    assert (query.sort, query.per, query.verdict, query.since, query.rule, query.page) == (
        "status",
        25,
        "",
        None,
        "",
        1,
    )
    assert b"is not a date" in response.content
    assert b"&lt;script&gt;" in response.content and b"<script>'" not in response.content


def test_the_filter_state_lives_in_the_links(client, viewer):
    for _ in range(3):
        Conversation.objects.create(
            source=Source.objects.create(kind="api", location=f"x{_}", format="openai", content_hash="0"),
            format="openai",
            provider="openai",
        )
    client.force_login(viewer)

    response = client.get("/", {"provider": "openai", "sort": "messages", "per": "25"})

    assert response.context["params"] == {"provider": "openai", "sort": "messages"}
    # The sort header flips the order and keeps the filters.
    assert b'href="?provider=openai&amp;sort=-messages"' in response.content


def test_sorting_by_message_count_both_ways(client, viewer):
    small, big = ingested(UNANSWERED), ingested(CACHE_SEED)
    assert small.message_count < big.message_count
    client.force_login(viewer)

    assert rows(client.get("/", {"sort": "-messages"})) == [big.pk, small.pk]
    assert rows(client.get("/", {"sort": "messages"})) == [small.pk, big.pk]


def many_conversations(count, *, verdicts_each=2):
    """`count` conversations sharing one revision's chunks, each with its own verdicts."""
    template = ingested(UNANSWERED).latest_revision
    source = template.conversation.source
    Conversation.objects.filter(pk=template.conversation_id).update(deleted_at=template.created_at)
    conversations = Conversation.objects.bulk_create(
        Conversation(
            source=source,
            locator=f"bulk {i}",
            format="openai",
            title=f"bulk {i}",
            model="gpt-4o",
            provider="openai",
            message_count=4,
        )
        for i in range(count)
    )
    revisions = Revision.objects.bulk_create(
        Revision(
            conversation=c,
            number=1,
            head_data=template.head_data,
            chunks=template.chunks,
            chunk_sizes=template.chunk_sizes,
            message_count=template.message_count,
            content_hash=template.content_hash,
            reason="bulk",
        )
        for c in conversations
    )
    for c, r in zip(conversations, revisions, strict=False):
        c.latest_revision = r
    Conversation.objects.bulk_update(conversations, ["latest_revision"])
    Verdict.objects.bulk_create(
        Verdict(
            revision=r,
            target=t,
            accepted=t != "anthropic",
            errors=int(t == "anthropic"),
            first_rule="tool-result-missing" if t == "anthropic" else "",
            own_target=t == "anthropic",
            rules_version=1,
        )
        for r in revisions
        for t in ("anthropic", "openai")[:verdicts_each]
    )
    return conversations


def test_the_query_count_does_not_grow_with_the_page_size(client, viewer):
    many_conversations(120)
    client.force_login(viewer)
    client.get("/")  # fills the cached filter choices

    counts = {}
    for per in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/", {"per": per})
        assert len(response.context["rows"]) == per
        counts[per] = len(queries)

    assert counts[25] == counts[100]
    # session, user, count, rows, badges, the status counts, the route re-checks in progress, and
    # the two permission lookups of the top bar.
    assert counts[25] <= 9


def test_each_row_has_a_badge_per_target_naming_the_first_rule(client, viewer):
    many_conversations(2)
    client.force_login(viewer)

    html = client.get("/").content.decode()

    assert html.count('<span class="badge rejected"') == 2
    assert "<b>anthropic</b> tool-result-missing" in html
    assert '<span class="badge accepted"' in html and "<b>openai</b> accepted" in html


def test_pages_link_to_each_other_with_the_filters_kept(client, viewer):
    many_conversations(30, verdicts_each=1)
    client.force_login(viewer)

    first = client.get("/", {"verdict": "rejected"})
    second = client.get("/", {"verdict": "rejected", "page": 2})

    assert b'href="?verdict=rejected&amp;page=2"' in first.content
    assert first.context["page"].paginator.count == 30
    assert len(second.context["rows"]) == 5
    assert not set(rows(first)) & set(rows(second))


def test_a_large_result_is_counted_up_to_a_cap_and_every_page_still_works(client, viewer, monkeypatch):
    monkeypatch.setattr("conversations.views.listing.COUNT_CAP", 30)
    many_conversations(60, verdicts_each=1)
    client.force_login(viewer)

    first = client.get("/", {"sort": "messages"})
    last = client.get("/", {"sort": "messages", "page": 3})

    assert b"<strong>30+</strong> conversations" in first.content
    assert b"page 1 of 2+" in first.content and b'rel="next"' in first.content
    assert len(last.context["rows"]) == 10 and b'rel="next"' not in last.content
    assert b"<strong>60</strong> conversations" in last.content
    seen = set()
    for number in range(1, 4):
        seen |= set(rows(client.get("/", {"sort": "messages", "page": number})))
    assert len(seen) == 60


def test_titles_and_ids_from_logs_are_shown_as_text(client, viewer):
    ingested(HOSTILE)
    client.force_login(viewer)

    html = client.get("/").content.decode()

    assert "<script>document.title" not in html
    assert "&lt;script&gt;document.title" in html
