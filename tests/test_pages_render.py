"""The render helpers every page leans on: Markdown through a strict sanitizer, images only as
safe data: URLs, anchors that are always safe ids, token estimates and cache breakpoints in
prefix order, and the search text stored at ingest."""

import json
from html.parser import HTMLParser

import pytest

from conversations.history.formats import read
from conversations.history.formats.document import Document
from conversations.history.model import Block, CacheControl, History, Message, SystemPart
from conversations.search import SEARCH_TEXT_MAX, conversation_search_text
from conversations.templatetags import inspector
from conversations.templatetags.inspector import compact, markdown, num, pretty_json
from conversations.views.outline import anchor, outline_build
from conversations.views.page import media_dict
from tests.support import FIXTURES


def fixture_history(relative):
    path = FIXTURES / relative
    [history] = read(Document.from_bytes(path.name, path.read_bytes()))
    return history


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<svg onload=alert(1)></svg>",
        '<iframe src="https://evil.example"></iframe>',
        "<style>body{display:none}</style>",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![remote](https://evil.example/track.png)",
    ],
)
def test_markdown_never_lets_markup_or_script_urls_through(text):
    tags = live_markup(str(markdown(text)))

    assert {name for name, _ in tags} <= {"p", "a"}
    for _name, attrs in tags:
        assert set(attrs) <= {"href", "rel"}
        assert not attrs.get("href") or attrs["href"].startswith("https://")


def live_markup(html):
    """The elements a browser would build from `html`: (tag, attributes)."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collector().feed(html)
    return found


def test_markdown_keeps_what_people_write():
    html = str(markdown("**bold** _it_ `code`\n\n- a\n- b\n\n```py\nx = 1 < 2\n```\n\n[docs](https://example.com)"))

    assert "<strong>bold</strong>" in html and "<em>it</em>" in html and "<code>code</code>" in html
    assert "<li>a</li>" in html and "<pre><code>x = 1 &lt; 2\n</code></pre>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">docs</a>' in html


def test_huge_text_is_shown_as_escaped_plain_text():
    html = str(markdown("<b>x</b> " * 20_000))

    assert html.startswith('<pre class="plain">&lt;b&gt;x&lt;/b&gt;')


def test_a_message_past_20000_characters_is_plain_text_not_markdown():
    assert str(markdown("**a** " * 3_333)).startswith("<p><strong>a</strong>")  # 19,998 characters
    assert str(markdown("**a** " * 3_334)).startswith('<pre class="plain">**a**')


def test_a_message_nested_deeper_than_32_is_plain_text_not_markdown():
    assert "<a href" in str(markdown("[" * 31 + "[a](https://example.com)" + "]" * 31))  # 32 deep
    assert str(markdown("[" * 32 + "[a](https://example.com)" + "]" * 32)).startswith('<pre class="plain">[[[')
    assert str(markdown(">" * 33 + " quoted")).startswith('<pre class="plain">&gt;&gt;')
    assert str(markdown("[" * 19_999)).startswith('<pre class="plain">[[[')


def test_every_rendered_message_is_cached_by_its_text_whatever_its_length():
    text = "a paragraph of **Markdown** that goes on. " * 400  # 17,200 characters
    first = inspector.rendered_markdown(text)
    # The same string object: taken from the cache, not rendered again.
    assert inspector.rendered_markdown(text) is first and str(markdown(text)) == first
    assert inspector.rendered_markdown(text + "!") is not first


def test_json_and_numbers_read_well():
    assert pretty_json({"a": [1, "é"]}) == '{\n  "a": [\n    1,\n    "é"\n  ]\n}'
    assert (num(1234567), num(None), compact(987), compact(1234), compact(45_678), compact(2_500_000)) == (
        "1,234,567",
        "—",
        "987",
        "1.2k",
        "46k",
        "2.5M",
    )


def test_only_safe_raster_images_become_data_urls():
    assert (
        media_dict({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="})["data_url"]
        == "data:image/png;base64,iVBORw0KGgo="
    )
    assert media_dict({"type": "base64", "media_type": "image/svg+xml", "data": "PHN2Zz4="})["data_url"] is None
    assert media_dict({"type": "base64", "media_type": 'image/png" onerror="x', "data": "AA=="})["data_url"] is None
    remote = media_dict({"type": "url", "url": "https://example.com/a.png"})
    assert remote["data_url"] is None and remote["url"] == "https://example.com/a.png"


@pytest.mark.parametrize("tool_id", ["toolu_01ABC-x", "call_<script>x</script>", 'a" onmouseover="x', "", "ü" * 3])
def test_anchors_are_always_safe_ids(tool_id):
    made = anchor("tool", tool_id)

    assert made.startswith("tool-") and made.replace("-", "").replace("_", "").isalnum() and made.isascii()
    assert anchor("tool", tool_id) == made and anchor("result", tool_id) == "result-" + made[5:]


def test_cache_breakpoints_come_in_prefix_order_with_growing_prefixes():
    history = fixture_history("seed/openhands-6852-cache-on-tool-message.json")

    outline = outline_build(history)

    assert [m.where for m in outline.markers] == [where for where, _ in history.cache_markers()]
    assert [m.ordinal for m in outline.markers] == [1, 2, 3, 4]
    prefixes = [m.prefix_tokens for m in outline.markers]
    assert prefixes == sorted(prefixes)
    assert outline.markers[0].prefix_tokens <= outline.prefix_tokens


def test_a_marker_on_a_whole_message_caches_all_of_it():
    history = History(
        format="openai",
        messages=[
            Message("user", [Block.text_block("a" * 400)]),
            Message("user", [Block.text_block("b" * 400), Block.text_block("c" * 400)], cache_control=CacheControl()),
        ],
        system=[SystemPart([Block.text_block("s" * 40, cache_control=CacheControl())])],
    )

    outline = outline_build(history)

    first, second = outline.markers
    assert (first.where, first.prefix_tokens) == ("system[0].blocks[0]", 10)
    assert (second.where, second.message, second.block) == ("messages[1]", 1, None)
    assert second.prefix_tokens == outline.cumulative[1]


def test_token_estimates_count_characters_over_four_and_a_fixed_amount_per_image():
    history = History(
        format="anthropic",
        messages=[
            Message(
                "user", [Block.text_block("x" * 400), Block(type="image", media={"type": "base64", "data": "A" * 9999})]
            ),
            Message("assistant", [Block.tool_use("t1", "ls", {"dir": "/"})]),
        ],
    )

    outline = outline_build(history)

    assert outline.tokens[0] == 4 + 100 + 1_600
    assert outline.cumulative == [outline.tokens[0], outline.tokens[0] + outline.tokens[1]]
    assert outline.uses == {"t1": [1, 0]} and outline.results == {}


def test_search_text_has_ids_and_tool_names_first_then_the_text():
    history = fixture_history("samples/unanswered-tool-call.json")
    call = next(b for _, _, b in history.blocks() if b.type == "tool_use")

    text = conversation_search_text(history)

    head = text[:500]
    assert call.id in head and call.name in head
    assert history.messages[0].text in text
    assert json.loads(call.arguments) and call.arguments in text


def test_search_text_is_capped_and_storable():
    history = History(
        format="openai",
        messages=[
            Message("user", [Block.text_block("word\x00 " * 100_000)]),
            Message("assistant", [Block.tool_use("call_last", "late_tool", {})]),
        ],
    )

    text = conversation_search_text(history)

    assert len(text) == SEARCH_TEXT_MAX and "\x00" not in text
    assert "call_last" in text and "late_tool" in text  # ids come first, so the cap never cuts them


def test_the_capped_search_text_is_the_whole_text_cut_at_the_cap():
    """The body past the cap is never gathered: what is kept is exactly the start of the whole."""
    messages = []
    for n in range(400):
        messages.append(
            Message(
                "assistant",
                [Block.text_block(f"step {n} " * 20), Block.tool_use(f"call_{n}", f"tool_{n % 7}", {"n": n})],
            )
        )
        messages.append(Message("tool", [Block.tool_result(f"call_{n}", f"output {n} " * 30)]))
    history = History(format="openai", model="gpt-4o", messages=messages)
    head = ["gpt-4o"] + [s for n in range(400) for s in (f"tool_{n % 7}", f"call_{n}")]
    body = [
        s
        for n in range(400)
        for s in (f"step {n} " * 20, json.dumps({"n": n}, separators=(",", ":")), f"output {n} " * 30)
    ]
    whole = "\n".join(dict.fromkeys(head)) + "\n" + "\n".join(body)

    assert len(whole) > 3 * SEARCH_TEXT_MAX
    assert conversation_search_text(history) == whole[:SEARCH_TEXT_MAX]
