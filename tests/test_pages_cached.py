"""What the conversation page keeps between requests never outlives what it was made from: a new
revision shows its own text, tokens and revision list right after the old one was viewed (the
outline is cached by revision and content hash, rendered Markdown by the text itself), and the
older revision keeps showing its own."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.history.formats import read as read_document
from conversations.history.formats.document import Document
from conversations.ingest import ingest_path
from conversations.models import Conversation
from conversations.revisions import revision_add
from conversations.views.outline import outline_build

pytestmark = pytest.mark.django_db

OLD_TEXT = "The build **fails** in `make test`."
NEW_TEXT = "The build *passes* now, after the fix to `conftest.py`, and every one of the 412 tests is green."


def chat(text: str) -> dict:
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "Why does the build fail?"},
            {"role": "assistant", "content": text},
        ],
    }


@pytest.fixture
def conversation(tmp_path):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(chat(OLD_TEXT)))
    outcome = ingest_path(path)
    assert outcome.status == "ingested", outcome.error
    return Conversation.objects.get(pk=outcome.added[0])


def edited(conversation, text: str):
    """A second revision of `conversation` whose answer reads `text`."""
    history = read_document(Document.from_bytes("chat.json", json.dumps(chat(text)).encode()))[0]
    return revision_add(conversation, history, user=None, reason="edited", expected=1, action="edit"), history


def test_a_new_revision_shows_its_own_text_after_the_old_one_was_viewed(client, viewer, conversation):
    client.force_login(viewer)
    before = client.get(conversation.get_absolute_url()).content.decode()
    assert "The build <strong>fails</strong> in <code>make test</code>." in before

    revision, history = edited(conversation, NEW_TEXT)
    response = client.get(conversation.get_absolute_url())
    html = response.content.decode()

    assert "The build <em>passes</em> now, after the fix to <code>conftest.py</code>" in html
    assert "<strong>fails</strong>" not in html
    # The token estimate is the new revision's, not the outline cached for the old one.
    assert response.context["page"]["tokens"]["total"] == outline_build(history).total_tokens
    assert (
        response.context["page"]["tokens"]["total"]
        != outline_build(
            read_document(Document.from_bytes("chat.json", json.dumps(chat(OLD_TEXT)).encode()))[0]
        ).total_tokens
    )
    assert "Revisions (2)" in html and f"?rev={revision.number}" in html and "?rev=1" in html


def test_the_older_revision_keeps_showing_its_own_text(client, viewer, conversation):
    client.force_login(viewer)
    client.get(conversation.get_absolute_url())
    edited(conversation, NEW_TEXT)

    html = client.get(conversation.get_absolute_url(), {"rev": 1}).content.decode()

    assert "The build <strong>fails</strong> in <code>make test</code>." in html
    assert "<em>passes</em>" not in html


def test_a_conversation_with_one_revision_lists_it_without_asking_the_database_for_more(client, viewer, conversation):
    client.force_login(viewer)
    client.get(conversation.get_absolute_url())  # the outline is cached from here on

    with CaptureQueriesContext(connection) as queries:
        html = client.get(conversation.get_absolute_url()).content.decode()

    assert "Revisions (1)" in html and "?rev=1" in html
    assert not [
        q for q in queries.captured_queries if 'FROM "conversations_revision"' in q["sql"] and "ORDER BY" in q["sql"]
    ]
