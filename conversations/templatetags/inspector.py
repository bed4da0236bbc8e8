"""Render helpers for the pages: Markdown through a strict sanitizer, readable JSON, numbers.

Everything a page shows comes from models and users. Markdown is rendered with raw HTML off
(markdown-it escapes it) and the result goes through nh3 with a short allow-list anyway, so a
renderer bug cannot become a script. Everything else is escaped by Django's autoescape.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape
from urllib.parse import urlencode

import nh3
from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from conversations.history.finite import dumps

register = template.Library()

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}
# Markdown of a message past this size is shown as plain text: rendering megabytes of a pasted
# log as Markdown helps nobody and costs the page its speed.
MARKDOWN_MAX = 100_000
# Rendering Markdown and sanitizing it was a tenth of a conversation page's server time, and the
# same texts come back (the same conversation viewed again, agents' boilerplate turns). The HTML
# depends on the text alone, so it is kept per process by the text itself: nothing to invalidate,
# an edited message is another key. Short texts only, so the cache stays a few megabytes.
MARKDOWN_CACHED = 1024
MARKDOWN_CACHED_CHARS = 4_000


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        clean_content_tags={"script", "style"},
    )


def esc(value) -> str:
    """django.utils.html.conditional_escape without its lazy-string wrapper, which cost more than
    the escaping itself at a thousand calls a page."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return escape(str(value))


def markdown_html(text: str) -> str:
    return _cleaner().clean(_markdown().render(text))


@lru_cache(maxsize=MARKDOWN_CACHED)
def _markdown_html_cached(text: str) -> str:
    return markdown_html(text)


@register.filter
def markdown(text: str | None) -> SafeString:
    """Sanitized HTML for a message's Markdown text."""
    if not text:
        return mark_safe("")
    if len(text) > MARKDOWN_MAX:
        return mark_safe(f'<pre class="plain">{escape(text)}</pre>')
    if len(text) <= MARKDOWN_CACHED_CHARS:
        return mark_safe(_markdown_html_cached(text))
    return mark_safe(markdown_html(text))


@register.filter
def pretty_json(value) -> str:
    """Indented JSON (escaped by the template like any text)."""
    return dumps(value, indent=2, ensure_ascii=False, default=str)


@register.filter
def num(value) -> str:
    """1234567 -> 1,234,567 (no humanize: one filter is enough)."""
    if value is None or value == "":
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def compact(value: int | None) -> str:
    """12345 -> 12.3k, for dense columns."""
    if value is None:
        return "—"
    value = int(value)
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1_000:
        return f"{value / 1000:.1f}k"
    return str(value)


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


@register.simple_tag
def query(params: dict, **changes) -> str:
    """`?a=1&b=2` from a dict of parameters with `changes` applied (None or "" drops a key).
    Values may be lists (repeated keys)."""
    merged = dict(params)
    for key, value in changes.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return "?" + urlencode(merged, doseq=True)
