"""The conversation page: what a support engineer sees of each turn, the tool calls paired both
ways, cache breakpoints, tokens, findings, long conversations in windows, and its JSON twin."""

import base64
import json

import pytest
import yaml

from conversations.ingest import ingest_path
from conversations.models import Conversation
from conversations.verdicts import route_verdicts
from tests.support import FIXTURES, ingested

pytestmark = pytest.mark.django_db

CACHE_SEED = FIXTURES / "seed" / "openhands-6852-cache-on-tool-message.json"
UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"
HOSTILE = FIXTURES / "samples" / "hostile-content.json"
# A 1x1 PNG.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


def page(client, conversation, **params):
    response = client.get(conversation.get_absolute_url(), params)
    assert response.status_code == 200
    return response


def written(tmp_path, name, document):
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def long_conversation(tmp_path, turns=65):
    """An OpenAI request of 1 + 2*turns messages: a question, then call/result pairs."""
    messages = [{"role": "user", "content": "Count the files, one directory at a time."}]
    for i in range(turns):
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{i:04d}",
                        "type": "function",
                        "function": {"name": "ls", "arguments": json.dumps({"dir": f"d{i}"})},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"call_{i:04d}", "content": f"{i} files"})
    return ingested(written(tmp_path, "long.json", {"model": "gpt-4o", "messages": messages}))


# --- who may see it, and how ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/", ".json", "/messages/0/raw/", "/diff/"])
def test_anonymous_visitors_are_sent_to_log_in(client, suffix):
    conversation = ingested(UNANSWERED)

    response = client.get(f"/conversations/{conversation.pk}{suffix}")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("who", ["viewer", "repairer", "admin_user"])
@pytest.mark.parametrize("suffix", ["/", ".json", "/messages/0/raw/", "/diff/"])
def test_every_logged_in_role_sees_every_page_of_a_conversation(client, request, who, suffix):
    conversation = ingested(UNANSWERED)
    client.force_login(request.getfixturevalue(who))

    response = client.get(f"/conversations/{conversation.pk}{suffix}")

    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("who", [None, "viewer", "repairer", "admin_user"])
def test_asking_for_the_request_a_route_or_an_explanation_needs_a_login_only(client, request, who):
    conversation = ingested(UNANSWERED)
    if who:
        client.force_login(request.getfixturevalue(who))
    base = f"/conversations/{conversation.pk}"
    config = (FIXTURES / "seed" / "proxy-config.yaml").read_text()

    responses = [
        client.get(f"{base}/wire/anthropic/"),
        client.post(f"{base}/route/", {"config": config, "group": "claude-3-5-sonnet-20241022"}),
        client.post(f"{base}/explain/", {"error": "messages: text content blocks must be non-empty"}),
    ]

    assert [r.status_code for r in responses] == [302 if who is None else 200] * 3


def test_a_deleted_or_unknown_conversation_is_not_found(client, viewer):
    conversation = ingested(UNANSWERED)
    Conversation.objects.filter(pk=conversation.pk).update(deleted_at="2026-01-01T00:00:00Z")
    client.force_login(viewer)

    assert client.get(conversation.get_absolute_url()).status_code == 404
    assert client.get("/conversations/999999/").status_code == 404
    assert client.get("/conversations/999999.json").status_code == 404


def test_htmx_load_more_gets_only_the_next_turns(client, viewer, tmp_path):
    conversation = long_conversation(tmp_path)
    client.force_login(viewer)

    response = client.get(
        conversation.get_absolute_url(), {"start": 50}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="more-50"
    )

    html = response.content.decode()
    assert "<html" not in html and 'class="verdict-summary"' not in html
    assert html.count('<article class="turn') == 50
    assert 'id="m50"' in html and 'id="m99"' in html and 'id="m100"' not in html
    assert 'hx-get="?start=100"' in html and 'hx-trigger="revealed"' in html


def test_htmx_target_picker_gets_the_page_body(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    response = client.get(conversation.get_absolute_url(), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="page")

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="page">')
    assert "<html" not in html and 'class="verdict-summary"' in html and 'id="m0"' in html


# --- every turn -------------------------------------------------------------------------------


def test_each_turn_shows_its_role_and_markdown_rendered_safely(client, viewer):
    conversation = ingested(HOSTILE)
    client.force_login(viewer)

    html = page(client, conversation).content.decode()

    assert html.count('<article class="turn') == 5  # the system prompt and 4 messages
    assert '<span class="role">user</span>' in html and '<span class="role">tool</span>' in html
    assert "<strong>Done.</strong>" in html
    assert (
        "<pre><code>&lt;script&gt;alert(&#x27;code&#x27;)&lt;/script&gt;" in html
        or "<pre><code>&lt;script&gt;alert('code')&lt;/script&gt;" in html
    )


def test_hostile_content_is_shown_as_text_never_as_markup(client, viewer):
    conversation = ingested(HOSTILE)
    client.force_login(viewer)

    html = page(client, conversation).content.decode()

    scripts = html.count("<script")
    assert scripts == 2  # htmx and inspector.js, both from /static/
    assert "<img src=x" not in html and "<svg onload" not in html and "<iframe" not in html
    assert "<b onmouseover" not in html and "<style>" not in html
    assert 'href="javascript:' not in html and " style=" not in html and "hx-on" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the tool name, as text
    assert "&lt;script&gt;document.title=" in html


def test_thinking_is_collapsed_tool_inputs_are_json_and_images_are_thumbnails(client, viewer, tmp_path):
    path = written(
        tmp_path,
        "anthropic.json",
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "The user wants a description.", "signature": "sig"},
                        {"type": "tool_use", "id": "toolu_01", "name": "describe", "input": {"detail": "high", "n": 2}},
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "a red dot"}],
                },
            ],
        },
    )
    conversation = ingested(path)
    client.force_login(viewer)

    html = page(client, conversation).content.decode()

    assert '<details class="thinking"><summary>thinking' in html
    assert f'<img class="thumb" src="data:image/png;base64,{PIXEL}"' in html
    assert "https://example.com/cat.png" in html and 'src="https://example.com' not in html
    assert "{\n  &quot;detail&quot;: &quot;high&quot;,\n  &quot;n&quot;: 2\n}" in html


# --- tool calls paired both ways ----------------------------------------------------------------


def test_a_tool_call_and_its_result_link_to_each_other(client, viewer):
    conversation = ingested(CACHE_SEED)
    client.force_login(viewer)

    html = page(client, conversation).content.decode()

    call = "toolu_01ScT97bN9iq3KsDpYNY5Ppt"
    assert f'id="tool-{call}"' in html and f'id="result-{call}"' in html
    assert f'href="#result-{call}" data-pair="result-{call}"' in html
    assert f'href="#tool-{call}" data-pair="tool-{call}"' in html
    assert "unpaired" not in html.split('<section class="turns"')[1].replace("unpaired:", "")


def test_an_unanswered_tool_call_stands_out_in_red(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    html = page(client, conversation).content.decode()

    assert 'class="tool tool-call unpaired"' in html
    assert "unpaired: no tool_result answers this call" in html


def test_odd_tool_ids_get_safe_anchors_that_still_pair(client, viewer):
    conversation = ingested(HOSTILE)
    client.force_login(viewer)

    html = page(client, conversation).content.decode()

    anchors = [part.split('"')[0] for part in html.split('id="tool-h')[1:]]
    assert len(anchors) == 1 and anchors[0].isalnum()
    assert f'href="#result-h{anchors[0]}"' in html and f'id="result-h{anchors[0]}"' in html


# --- cache breakpoints and tokens -------------------------------------------------------------------


def test_cache_breakpoints_are_marked_on_their_block_with_the_prefix_they_cache(client, viewer):
    conversation = ingested(CACHE_SEED)
    client.force_login(viewer)

    response = page(client, conversation)

    markers = response.context["page"]["cache"]["markers"]
    assert [m["ordinal"] for m in markers] == [1, 2, 3, 4]
    assert [m["where"] for m in markers] == [
        "system[0].blocks[0]",
        "messages[4].blocks[0]",
        "messages[6]",
        "messages[7].blocks[0]",
    ]
    prefixes = [m["prefix_tokens"] for m in markers]
    assert prefixes == sorted(prefixes) and prefixes[0] > 0
    html = response.content.decode()
    assert html.count("cache breakpoint 1 of 4") == 1 and "cache breakpoint 4 of 4" in html
    assert f"caches ≈{prefixes[1]:,} tokens (estimate)" in html
    assert "cache breakpoint 3 of 4 (on the whole message)" in html


def test_token_counts_per_message_add_up_against_the_context_window(client, viewer):
    conversation = ingested(CACHE_SEED)
    client.force_login(viewer)

    data = page(client, conversation).context["page"]

    messages = data["messages"]
    assert all(m["tokens"] > 0 for m in messages)
    for before, after in zip(messages, messages[1:], strict=False):
        assert after["cumulative"] == before["cumulative"] + after["tokens"]
    assert data["tokens"]["total"] == messages[-1]["cumulative"]
    assert data["tokens"]["context_window"] == 200_000
    assert data["tokens"]["estimate"] is True
    assert len(data["tokens"]["chart"]["points"].split()) == len(messages)


def test_the_chart_is_plain_svg(client, viewer):
    conversation = ingested(CACHE_SEED)
    client.force_login(viewer)

    html = page(client, conversation).content.decode()

    assert '<svg class="chart"' in html and '<polyline class="cumulative" points="' in html
    assert html.count('<line class="cache-tick"') == 3  # the system prompt's marker is before message 0


# --- findings and verdicts --------------------------------------------------------------------------


def test_findings_show_at_the_message_they_name_and_in_the_summary(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    response = page(client, conversation)

    data = response.context["page"]
    [verdict] = data["verdicts"]
    assert (verdict["target"], verdict["own"], verdict["status"]) == ("anthropic", True, "rejected")
    assert verdict["first_message"] == 1
    assert "tool-result-missing" in [f["rule"] for f in data["messages"][1]["findings"]]
    assert data["messages"][0]["findings"] == [] and data["messages"][2]["findings"] == []
    html = response.content.decode()
    turn = html.split('id="m1"')[1].split("</article>")[0]
    assert 'class="finding sev-error"' in turn and "<code>tool-result-missing</code>" in turn
    assert "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after" in turn
    assert "Fix: answer each unanswered tool call" in turn
    summary = html.split('class="verdict-summary"')[1].split("</section>")[0]
    assert '<pre class="provider-error"' in summary
    assert 'href="?at=1">first finding: #1</a>' in summary


def test_another_target_is_checked_on_demand_and_kept(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    response = page(client, conversation, target=["openai", "nowhere"])

    verdicts = {v["target"]: v for v in response.context["page"]["verdicts"]}
    assert set(verdicts) == {"anthropic", "openai"}
    assert verdicts["openai"]["status"] == "rejected" and not verdicts["openai"]["own"]
    assert "openai-tool-response-missing" in [f["rule"] for f in verdicts["openai"]["findings"]]
    assert conversation.latest_revision.verdicts.filter(target="openai").exists()
    # Later views show it without asking again, and the picker shows it checked.
    html = page(client, conversation).content.decode()
    assert '<input type="checkbox" name="target" value="openai" checked>' in html


def test_a_route_is_checked_against_a_pasted_proxy_config(client, viewer):
    conversation = ingested(CACHE_SEED)
    client.force_login(viewer)
    config = (FIXTURES / "seed" / "proxy-config.yaml").read_text()

    response = client.post(
        f"/conversations/{conversation.pk}/route/",
        {"config": config, "group": "claude-3-5-sonnet-20241022"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="route",
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="route"')
    # One verdict per deployment the group could reach: Bedrock first, then the Anthropic fallback.
    verdicts = html.split('<div class="verdict ')[1:]
    assert len(verdicts) == 2
    assert "<b>claude-3-5-sonnet-20241022 via bedrock/" in verdicts[0]
    assert "<b>anthropic/claude-3-5-sonnet-20241022 via anthropic/" in verdicts[1]
    # Each deployment's verdict, as the engine gives it, with every finding named.
    expected = route_verdicts(conversation.latest_revision, yaml.safe_load(config), "claude-3-5-sonnet-20241022")
    for shown, verdict in zip(verdicts, expected, strict=False):
        assert shown.startswith("rejected" if not verdict.accepted else ("warnings", "accepted"))
        assert all(f"<code>{f.rule}</code>" in shown for f in verdict.findings)


@pytest.mark.parametrize(
    "config, message",
    [
        ("model_list: [unclosed", b"The config is not YAML at line 1"),
        ("- just\n- a list", b"not a litellm proxy config"),
        ("/etc/passwd", b"not a litellm proxy config"),
    ],
)
def test_a_bad_route_config_says_why_and_reads_no_file(client, viewer, config, message):
    conversation = ingested(CACHE_SEED)
    client.force_login(viewer)

    response = client.post(f"/conversations/{conversation.pk}/route/", {"config": config, "group": "g"})

    assert response.status_code == 400
    assert message in response.content and b"root:" not in response.content


def test_a_pasted_provider_error_is_explained_against_the_prediction(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)
    error = (
        'litellm.BadRequestError: AnthropicException - {"type":"error","error":{"type":'
        '"invalid_request_error","message":"messages.2: `tool_use` ids were found without '
        "`tool_result` blocks immediately after: toolu_01A9xKqv3VbN7mZ2rT5sY8wD. Each `tool_use` block "
        'must have a corresponding `tool_result` block in the next message."}}'
    )

    response = client.post(f"/conversations/{conversation.pk}/explain/", {"error": error})

    assert response.status_code == 200 and b"<html" in response.content
    [item] = response.context["explained"]["result"]["errors"]
    assert (item["error"]["rule"], item["message_index"], item["agrees"]) == ("tool-result-missing", 2, True)
    html = response.content.decode()
    assert "the prediction agrees" in html and 'href="?at=2">message #2</a>' in html


def test_a_paste_past_64_kb_is_cut_and_the_page_says_so(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)
    error = "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: x" + "." * 70_000

    response = client.post(f"/conversations/{conversation.pk}/explain/", {"error": error})

    assert response.status_code == 200
    assert "The text was cut at 64 KB" in response.content.decode()
    assert len(response.context["explained"]["error_text"]) == 64 * 1024


def test_the_first_finding_jump_lands_in_the_window_that_holds_it(client, viewer, tmp_path):
    conversation = long_conversation(tmp_path)
    client.force_login(viewer)

    response = client.get(conversation.get_absolute_url(), {"at": 120})

    assert response.status_code == 302
    assert response["Location"] == f"{conversation.get_absolute_url()}?start=100#m120"
    assert client.get(conversation.get_absolute_url(), {"at": 3})["Location"].endswith("/#m3")
    assert client.get(conversation.get_absolute_url(), {"at": 10**9})["Location"].endswith("?start=100#m130")


# --- long conversations -------------------------------------------------------------------------


def test_a_long_conversation_opens_with_its_first_screen_and_a_load_more_link(client, viewer, tmp_path):
    conversation = long_conversation(tmp_path)
    client.force_login(viewer)

    response = page(client, conversation)

    html = response.content.decode()
    assert response.context["page"]["window"] == {
        "start": 0,
        "stop": 50,
        "total": 131,
        "size": 50,
        "next": 50,
        "previous": None,
    }
    assert 'id="m49"' in html and 'id="m50"' not in html
    assert '<a class="load-more" id="more-50" href="?start=50"' in html
    # The call in message 49 is answered in message 50, on the next screen: the link loads it.
    assert 'href="?start=50#result-call_0024" data-pair="result-call_0024"' in html


def test_a_later_window_links_back_to_calls_on_the_previous_screen(client, viewer, tmp_path):
    conversation = long_conversation(tmp_path)
    client.force_login(viewer)

    html = page(client, conversation, start=50).content.decode()

    assert 'href="#tool-call_0024"' not in html
    assert 'href="?#tool-call_0024" data-pair="tool-call_0024"' in html
    assert '<a class="load-more" href="?start=0">' in html


# --- revisions, JSON twin ---------------------------------------------------------------------------


def test_a_diff_past_4000_lines_is_summarised_with_a_download_of_each_side(client, viewer, fixture_copy):
    path = fixture_copy("samples/unanswered-tool-call.json")
    conversation = ingested(path)
    document = json.loads(path.read_text())
    document["messages"] += [{"role": "user", "content": f"line {k}\n" * 10} for k in range(600)]
    path.write_text(json.dumps(document))
    ingest_path(path)
    client.force_login(viewer)

    diff = client.get(f"/conversations/{conversation.pk}/diff/", {"a": 1, "b": 2})

    assert diff.status_code == 200 and diff.context["diff"]["summarised"]
    html = diff.content.decode()
    assert "Too large to diff here" in html and "lines added" in html
    for number in (1, 2):
        assert f'href="/conversations/{conversation.pk}/revisions/{number}/download/"' in html


def test_the_revisions_are_listed_and_any_two_can_be_compared(client, viewer, fixture_copy):
    path = fixture_copy("samples/unanswered-tool-call.json")
    conversation = ingested(path)
    document = json.loads(path.read_text())
    document["messages"].append({"role": "user", "content": "Are you still there?"})
    path.write_text(json.dumps(document))
    ingest_path(path)
    client.force_login(viewer)

    html = page(client, conversation).content.decode()
    assert "Revisions (2)" in html and f'href="/conversations/{conversation.pk}/?rev=1">r1</a>' in html

    diff = client.get(f"/conversations/{conversation.pk}/diff/", {"a": 1, "b": 2})
    assert diff.status_code == 200
    assert diff.context["diff"]["changed_messages"] == 1
    assert "added message" in diff.content.decode() and "Are you still there?" in diff.content.decode()

    old = page(client, conversation, rev=1)
    assert old.context["page"]["revision"]["number"] == 1 and not old.context["page"]["latest"]
    assert client.get(conversation.get_absolute_url(), {"rev": 9}).status_code == 404


def test_the_json_twin_is_the_pages_own_data(client, viewer):
    conversation = ingested(CACHE_SEED)
    client.force_login(viewer)

    shown = page(client, conversation).context["page"]
    twin = client.get(f"/conversations/{conversation.pk}.json").json()

    assert twin["messages"] == json.loads(json.dumps(shown["messages"]))
    assert twin["cache"] == shown["cache"] and twin["tokens"] == shown["tokens"]
    assert twin["conversation"]["id"] == conversation.pk
    assert twin["window"]["total"] == conversation.message_count


# --- questions asked from the page ---------------------------------------------------------------


def test_an_empty_error_paste_is_refused_with_a_reason(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    response = client.post(
        f"/conversations/{conversation.pk}/explain/", {"error": "  "}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="explain"
    )

    assert response.status_code == 400
    assert response.content.lstrip().startswith(b'<div id="explain"')
    assert b"Paste the error text" in response.content


def test_a_route_check_needs_a_config_and_a_group(client, viewer):
    conversation = ingested(UNANSWERED)
    client.force_login(viewer)

    response = client.post(f"/conversations/{conversation.pk}/route/", {"config": "", "group": "x"})

    assert response.status_code == 400
    assert b"<html" in response.content and b"Paste a proxy config" in response.content


def test_posting_questions_needs_a_login_and_the_csrf_token(client, viewer):
    conversation = ingested(UNANSWERED)

    assert client.post(f"/conversations/{conversation.pk}/explain/", {"error": "x"}).status_code == 302

    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(viewer)
    assert strict.post(f"/conversations/{conversation.pk}/explain/", {"error": "x"}).status_code == 403
