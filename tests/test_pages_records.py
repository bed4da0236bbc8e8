"""What was read and what would be sent: each message's raw source record, found through the
SourceRefs in the revision's original document, and each target's request."""

import json

import pytest

from conversations.history.model import Block, Message
from conversations.revisions import revision_add
from conversations.views.records import PathError, path_resolve
from tests.support import FIXTURES, ingested

pytestmark = pytest.mark.django_db


def raw(client, conversation, index, **headers):
    response = client.get(f"/conversations/{conversation.pk}/messages/{index}/raw/", **headers)
    assert response.status_code == 200
    return response


def test_a_json_path_is_resolved_step_by_step():
    document = {"messages": [{"content": [{"text": "a"}, {"text": "b"}]}], "odd key": {"x": 1}}

    assert path_resolve(document, "$") is document
    assert path_resolve(document, "$.messages[0].content[1].text") == "b"
    assert path_resolve(document, '$["odd key"].x') == 1
    with pytest.raises(PathError, match=r"\$.messages\[3\] is not in the record"):
        path_resolve(document, "$.messages[3].content")
    with pytest.raises(PathError):
        path_resolve(document, "messages")


def test_a_message_of_a_json_request_shows_its_element(client, viewer):
    path = FIXTURES / "samples" / "unanswered-tool-call.json"
    conversation = ingested(path)
    client.force_login(viewer)

    [record] = raw(client, conversation, 1).context["records"]

    # The file's messages[0] is the system prompt, which is not a message of the history.
    expected = json.loads(path.read_text())["messages"][2]
    assert record["error"] is None and json.loads(record["json"]) == expected
    assert record["record_json"] is None  # the whole file is not a record
    assert record["label"] == "unanswered-tool-call.json: $.messages[2]"


def test_a_claude_code_turn_shows_every_line_it_was_read_from(client, viewer):
    path = FIXTURES / "formats" / "claude-code-session.jsonl"
    conversation = ingested(path)
    history = conversation.latest_revision.history
    index = next(i for i, m in enumerate(history.messages) if len({b.source.line for b in m.blocks}) > 1)
    client.force_login(viewer)

    records = raw(client, conversation, index).context["records"]

    lines = path.read_text().split("\n")
    assert len(records) == len(
        {history.messages[index].source.line} | {b.source.line for b in history.messages[index].blocks}
    )
    for record in records:
        whole = json.loads(lines[record["line"] - 1])
        assert json.loads(record["record_json"]) == whole
        assert json.loads(record["json"]) == path_resolve(whole, record["path"])


def test_an_openhands_message_shows_its_event_file(client, viewer):
    root = FIXTURES / "formats" / "openhands-events"
    conversation = ingested(root)
    client.force_login(viewer)

    [record] = raw(client, conversation, 0).context["records"]

    event = json.loads((root / record["file"]).read_text())
    assert record["file"].startswith("events/") and record["event"] == event["id"]
    assert json.loads(record["json"]) == event


def test_an_openhands_v1_message_of_parallel_calls_shows_each_action_event_file(client, viewer):
    from tests.support import V1_FIXTURE

    conversation = ingested(V1_FIXTURE)
    history = conversation.latest_revision.history
    index = next(i for i, m in enumerate(history.messages) if len(m.tool_uses()) == 2)
    client.force_login(viewer)

    records = raw(client, conversation, index).context["records"]
    page = client.get(conversation.get_absolute_url())

    assert page.status_code == 200
    events = [json.loads((V1_FIXTURE / r["file"]).read_text()) for r in records]
    assert [e["kind"] for e in events] == ["ActionEvent", "ActionEvent"]
    assert all(
        r["error"] is None and json.loads(r["record_json"] or r["json"]) == e
        for r, e in zip(records, events, strict=True)
    )


def test_an_openhands_trajectory_message_shows_its_event(client, viewer):
    path = FIXTURES / "formats" / "openhands-trajectory.json"
    conversation = ingested(path)
    client.force_login(viewer)

    records = raw(client, conversation, 1).context["records"]

    events = json.loads(path.read_text())
    whole = json.loads(records[0]["record_json"])
    assert whole in events and whole["id"] == records[0]["event"]


def test_htmx_gets_the_records_for_the_toggle(client, viewer):
    conversation = ingested(FIXTURES / "samples" / "hostile-content.json")
    client.force_login(viewer)

    response = raw(client, conversation, 0, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.lstrip().startswith('<div class="records">') and "<html" not in html
    assert "&lt;script&gt;document.title" in html and "<script>document" not in html


def test_a_message_made_by_a_repair_says_it_has_no_source_record(client, viewer, repairer):
    conversation = ingested(FIXTURES / "samples" / "unanswered-tool-call.json")
    history = conversation.latest_revision.history
    history.messages.insert(2, Message(role="tool", blocks=[Block.tool_result("call_x", "interrupted", is_error=True)]))
    revision_add(conversation, history, user=repairer, reason="repair", expected=1, action="repair")
    client.force_login(viewer)

    response = raw(client, conversation, 2)

    assert response.context["records"] == []
    assert b"names no source record" in response.content
    assert client.get(f"/conversations/{conversation.pk}/messages/99/raw/").status_code == 404


def test_the_page_offers_the_toggle_only_where_there_is_a_record(client, viewer, repairer):
    conversation = ingested(FIXTURES / "samples" / "unanswered-tool-call.json")
    history = conversation.latest_revision.history
    history.messages.insert(2, Message(role="tool", blocks=[Block.tool_result("call_x", "interrupted", is_error=True)]))
    revision_add(conversation, history, user=repairer, reason="repair", expected=1, action="repair")
    client.force_login(viewer)

    html = client.get(conversation.get_absolute_url()).content.decode()

    toggles = html.count('<details class="raw"')
    assert toggles == len(history.messages) - 1
    assert f'hx-get="/conversations/{conversation.pk}/messages/1/raw/?"' in html
    assert 'hx-trigger="toggle once" hx-target="find .raw-body"' in html


def test_the_request_as_sent_needs_a_known_target(client, viewer):
    conversation = ingested(FIXTURES / "samples" / "unanswered-tool-call.json")
    client.force_login(viewer)

    assert client.get(f"/conversations/{conversation.pk}/wire/nowhere/").status_code == 404


def test_the_request_as_it_would_be_sent_to_a_target(client, viewer):
    conversation = ingested(FIXTURES / "samples" / "unanswered-tool-call.json")
    client.force_login(viewer)

    full = client.get(f"/conversations/{conversation.pk}/wire/anthropic/")
    partial = client.get(f"/conversations/{conversation.pk}/wire/anthropic/", HTTP_HX_REQUEST="true")

    assert full.status_code == 200 and b"<html" in full.content
    assert partial.content.lstrip().startswith(b'<div class="wire-request">')
    body = full.context["wire"]["body"]
    assert [m["role"] for m in body["messages"]][:2] == ["user", "assistant"]
    assert "tool_use" in full.content.decode() and "toolu_01A9xKqv3VbN7mZ2rT5sY8wD" in full.content.decode()
