"""Render helpers for the pages: Markdown through a strict sanitizer, readable JSON, numbers.

Everything a page shows comes from models and users. Markdown is rendered with raw HTML off
(markdown-it escapes it) and the result goes through nh3 with a short allow-list anyway, so a
renderer bug cannot become a script. Everything else is escaped by Django's autoescape.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
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
# Markdown of a message past this size or this nesting depth is shown as plain escaped text:
# markdown-it's inline parser is quadratic in unclosed brackets (50 messages of "[" x 99,999 took
# 111 s a page view), and no message deeper than this reads better as Markdown.
MARKDOWN_MAX = 20_000
MARKDOWN_DEPTH_MAX = 32
# Rendering Markdown and sanitizing it was a tenth of a conversation page's server time, and the
# same texts come back (the same conversation viewed again, agents' boilerplate turns). The HTML
# depends on the text alone, so it is kept per process under a hash of the text: nothing to
# invalidate, an edited message is another key, and the key costs 32 bytes whatever the text.
MARKDOWN_CACHED = 4096
MARKDOWN_CACHED_BYTES = 64 * 1024 * 1024
_rendered: OrderedDict[bytes, str] = OrderedDict()
_rendered_size = 0
_rendered_lock = threading.Lock()
_OPENERS = {"[": "]", "(": ")"}


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
    return _cleaner().clean(_markdown().render(displayable(text)))


def displayable(text: str) -> str:
    """The text with any lone surrogate (a log may hold "\\ud800": valid JSON, no character)
    shown as its escape: UTF-8, and the sanitizer, have no way to carry it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def nesting_depth(text: str) -> int:
    """How deep the text nests, as far as Markdown's cost goes: the most brackets or parentheses
    open at once, or the most `>` quoting a line. One pass; no parser."""
    deepest = 0
    open_now = dict.fromkeys(_OPENERS, 0)
    closers = {v: k for k, v in _OPENERS.items()}
    for found in _NESTING.finditer(text):
        mark = found.group()
        if mark in open_now:
            open_now[mark] += 1
            deepest = max(deepest, open_now[mark])
        elif mark in closers:
            opener = closers[mark]
            open_now[opener] = max(open_now[opener] - 1, 0)
        else:  # a run of `>` (and spaces) opening a line
            deepest = max(deepest, mark.count(">"))
    return deepest


_NESTING = re.compile(r"[\[\]()]|^[ >]*>", re.M)


def _bounded_html(text: str) -> str:
    if nesting_depth(text) > MARKDOWN_DEPTH_MAX:
        return _plain(text)
    return markdown_html(text)


def _plain(text: str) -> str:
    return f'<pre class="plain">{escape(text)}</pre>'


def rendered_markdown(text: str) -> str:
    """The bounded HTML of `text`, from the per-process cache when it was rendered before."""
    global _rendered_size
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=32).digest()
    with _rendered_lock:
        html = _rendered.get(key)
        if html is not None:
            _rendered.move_to_end(key)
            return html
    html = _bounded_html(text)
    with _rendered_lock:
        if key not in _rendered:
            _rendered[key] = html
            _rendered_size += len(html)
        while len(_rendered) > MARKDOWN_CACHED or _rendered_size > MARKDOWN_CACHED_BYTES:
            _, dropped = _rendered.popitem(last=False)
            _rendered_size -= len(dropped)
    return html


@register.filter
def markdown(text: str | None) -> SafeString:
    """Sanitized HTML for a message's Markdown text; plain escaped text past the bounds."""
    if not text:
        return mark_safe("")
    if len(text) > MARKDOWN_MAX:
        return mark_safe(_plain(text))
    return mark_safe(rendered_markdown(text))


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
