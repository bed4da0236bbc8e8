"""The conversation page's messages and content blocks, rendered in Python.

A 30-message screen is some 40 content blocks and 600 template variables: through the template
engine that was half of the page's server time (each variable a lookup chain, each block a
partial, each raw-record link a URL reversal). These functions write the same HTML directly. Every
value goes through `esc` (conditional_escape), as the template's autoescape did; the only unescaped
HTML is the sanitized Markdown of `inspector.markdown`.

They read the plain dicts of conversations.views.page (message_dict, block_dict), and so does
the JSON twin: the page and its JSON keep showing one thing.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from conversations.templatetags.inspector import esc, markdown, num, pretty_json, query

register = template.Library()


@register.simple_tag
def message_turns(messages: list[dict], conversation_id: int, params: dict) -> SafeString:
    """Every <article class="turn"> of a window of messages."""
    # One reversal for the page: the raw-record URL differs only by the message index.
    raw_prefix = reverse("conversations:raw", args=[conversation_id, 0]).removesuffix("0/raw/")
    raw_query = esc(query(params, target=None))
    out: list[str] = []
    for m in messages:
        _turn(m, raw_prefix, raw_query, out)
    return mark_safe("".join(out))


@register.simple_tag
def content_blocks(blocks: list[dict]) -> SafeString:
    """The content blocks of a system prompt part."""
    out: list[str] = []
    for b in blocks:
        _block(b, out)
    return mark_safe("".join(out))


def _turn(m: dict, raw_prefix: str, raw_query: str, out: list[str]) -> None:
    anchor = esc(m["anchor"])
    role = esc(m["role"])
    out.append(
        f'<article class="turn role-{role}{" has-findings" if m["findings"] else ""}" id="{anchor}">\n'
        f'<header>\n<a class="idx" href="#{anchor}">#{esc(m["index"])}</a>\n<span class="role">{role}</span>'
    )
    if m["name"]:
        out.append(f" <code>{esc(m['name'])}</code>")
    out.append("\n")
    cache = m["cache"]
    if cache:
        out.append(
            f'<span class="cache-marker inline{" over" if cache["over_limit"] else ""}" title="{esc(cache["where"])}">'
            f"cache breakpoint {esc(cache['ordinal'])} of 4 (on the whole message) · caches "
            f"≈{esc(num(cache['prefix_tokens']))} tokens (estimate)</span>"
        )
    out.append('\n<span class="spacer"></span>\n')
    usage = m["usage"]
    if usage:
        # The four apart, "—" for a kind the log does not record.
        out.append(
            f'<span class="usage muted" title="tokens the log recorded for this request">'
            f"input {esc(num(usage.get('input')))} · cache read {esc(num(usage.get('cache_read')))} · "
            f"cache write {esc(num(usage.get('cache_write')))} · output {esc(num(usage.get('output')))}</span>"
        )
    out.append(
        f'\n<span class="tok" title="estimated tokens of this message, and of everything up to it">'
        f"≈{esc(num(m['tokens']))} · Σ≈{esc(num(m['cumulative']))}</span>\n"
    )
    if m["timestamp"]:
        out.append(f'<span class="muted">{esc(Truncator(str(m["timestamp"])).chars(25))}</span>')
    out.append("\n</header>\n")
    for f in m["findings"]:
        out.append(
            f'<div class="finding sev-{esc(f["severity"])}">\n<div><span class="sev">{esc(f["severity"])}</span> '
            f"<b>{esc(f['target'])}</b> <code>{esc(f['rule'])}</code>"
        )
        if f["wire_index"] is not None:
            out.append(f' <span class="muted">(wire message {esc(f["wire_index"])})</span>')
        out.append("</div>\n")
        if f["explanation"]:
            out.append(f"<p>{esc(f['explanation'])}</p>")
        out.append("\n")
        if f["provider_error"]:
            out.append(f'<pre class="provider-error">{esc(f["provider_error"])}</pre>')
        out.append("\n")
        if f["fix_text"]:
            out.append(f'<p class="fix">Fix: {esc(f["fix_text"])}</p>')
        out.append("\n</div>\n")
    if m.get("moved_past"):
        passed = ", ".join(f"the {p.get('role')}'s message (event {p.get('event')})" for p in m["moved_past"])
        if m.get("moved_past_total"):
            passed += f" and {m['moved_past_total'] - len(m['moved_past'])} more"
        out.append(
            f'<p class="note">The model sees these calls after {esc(passed)}, which the log has after them: '
            "OpenHands sends a call once its last result has arrived.</p>\n"
        )
    out.append('<div class="blocks">')
    if m["blocks"]:
        for b in m["blocks"]:
            _block(b, out)
    else:
        out.append('<p class="note">(no content)</p>')
    out.append("</div>\n")
    if m["source"]["known"]:
        raw = f"{raw_prefix}{m['index']}/raw/{raw_query}"
        out.append(
            f'<details class="raw" hx-get="{raw}" hx-trigger="toggle once" hx-target="find .raw-body">\n'
            f'<summary>raw source record <span class="muted">{esc(m["source"]["label"])}</span></summary>\n'
            f'<div class="raw-body"><a href="{raw}">open the source record</a></div>\n</details>\n'
        )
    out.append("</article>\n")


def _block(b: dict, out: list[str]) -> None:
    kind = b.get("type")
    cache = b.get("cache")
    out.append(f'\n<div class="block block-{esc(kind)}{" cached" if cache else ""}">\n')
    if kind == "text":
        out.append(f'<div class="md">{markdown(b.get("text"))}</div>\n')
    elif kind == "thinking":
        text = b.get("text") or ""
        out.append(
            f'<details class="thinking"><summary>thinking · {esc(num(len(text)))} characters</summary>'
            f"<pre>{esc(text)}</pre></details>\n"
        )
    elif kind == "redacted_thinking":
        out.append(
            f'<div class="thinking redacted">redacted thinking · {esc(num(b.get("size")))} bytes, opaque</div>\n'
        )
    elif kind == "tool_use":
        _tool_use(b, out)
    elif kind == "tool_result":
        _tool_result(b, out)
    elif kind in ("image", "document"):
        _media(b, kind, out)
    else:
        out.append(f'<p class="note">{esc(kind)} block</p>')
        if b.get("text"):
            out.append(f"<pre>{esc(b['text'])}</pre>")
        if b.get("extra"):
            out.append(f'<pre class="json">{esc(pretty_json(b["extra"]))}</pre>')
        out.append("\n")
    if cache:
        out.append(
            f'<div class="cache-marker{" over" if cache["over_limit"] else ""}" title="{esc(cache["where"])}">'
            f"cache breakpoint {esc(cache['ordinal'])} of 4 · caches ≈{esc(num(cache['prefix_tokens']))} "
            f"tokens (estimate)"
        )
        if cache["ttl"]:
            out.append(f" · ttl {esc(cache['ttl'])}")
        if cache["over_limit"]:
            out.append(" · over the limit of 4")
        out.append("</div>")
    out.append("\n</div>\n")


def _pair_link(b: dict, text: str) -> str:
    pair = b["pair"]
    return f'<a class="pair-link" href="{esc(pair.get("href"))}" data-pair="{esc(pair["anchor"])}">{text}</a>'


def _findings(b: dict, out: list[str]) -> None:
    for f in b.get("findings") or ():
        out.append(f'<p class="note error"><b>{esc(f["target"])}</b> <code>{esc(f["rule"])}</code> (see above)</p>')


def _tool_use(b: dict, out: list[str]) -> None:
    state = " not-sent" if b.get("not_sent") else "" if b["pair"] else " unpaired"
    # An OpenHands finish: the agent sends its text alone, never the call (so it has no result).
    not_sent = ' <span class="flag">(not sent to the model)</span>' if b.get("not_sent") else ""
    out.append(
        f'<div class="tool tool-call{state}" id="{esc(b["anchor"])}">\n'
        f'<div class="tool-head">\n<span class="kind">call</span> '
        f'<code class="tool-name">{esc(b["name"])}</code>{not_sent} '
        f'<code class="tool-id">{esc(b["id"])}</code>\n'
    )
    if b["duplicate"]:
        out.append('<span class="flag warn">duplicate id</span>')
    out.append('\n<span class="spacer"></span>\n')
    if b.get("subagent"):
        started = b["subagent"]
        out.append(
            f'<a class="subagent-link" href="{esc(started["url"])}">'
            f"subagent: {esc(Truncator(started['title']).chars(60))} →</a>\n"
        )
    if b["pair"]:
        out.append(_pair_link(b, f"result in #{esc(b['pair']['message'])} ↓") + "\n")
    elif not b.get("not_sent"):
        out.append('<span class="flag error">unpaired: no tool_result answers this call</span>')
    out.append("\n</div>\n")
    if b["arguments"] is not None:
        out.append(
            f'<p class="note error">The arguments are not valid JSON; as written:</p>'
            f'<pre class="json">{esc(b["arguments"])}</pre>\n'
        )
    else:
        out.append(f'<pre class="json">{esc(pretty_json(b["input"]))}</pre>')
    out.append("\n")
    _findings(b, out)
    out.append("\n</div>\n")


def _tool_result(b: dict, out: list[str]) -> None:
    out.append(
        f'<div class="tool tool-result{"" if b["pair"] else " unpaired"}{" is-error" if b["is_error"] else ""}" '
        f'id="{esc(b["anchor"])}">\n<div class="tool-head">\n<span class="kind">result</span> '
        f'<code class="tool-id">{esc(b["tool_use_id"])}</code>\n'
    )
    if b["is_error"]:
        out.append('<span class="flag error">is_error</span>')
    out.append("\n")
    if b["duplicate"]:
        out.append('<span class="flag warn">second result for this id</span>')
    out.append('\n<span class="spacer"></span>\n')
    if b["pair"]:
        out.append(_pair_link(b, f"↑ call in #{esc(b['pair']['message'])}") + "\n")
    else:
        out.append('<span class="flag error">unpaired: no tool call has this id</span>')
    out.append("\n</div>\n")
    if b["text"] is not None:
        out.append(f'<pre class="output">{esc(b["text"])}</pre>')
    out.append("\n")
    for inner in b["content"] or ():
        out.append("\n")
        if inner["type"] == "image":
            media = inner["media"] or {}
            if media.get("data_url"):
                out.append(
                    f'<img class="thumb" src="{esc(media["data_url"])}" '
                    f'alt="image in the tool result ({esc(media.get("media_type"))})">'
                )
            else:
                out.append(
                    f'<p class="note">image not shown ({esc(media.get("kind"))} {esc(media.get("media_type"))})</p>'
                )
            out.append("\n")
        else:
            out.append(f'<pre class="output">{esc(inner["text"])}</pre>')
        out.append("\n")
    out.append("\n")
    _findings(b, out)
    out.append("\n</div>\n")


def _media(b: dict, kind: str, out: list[str]) -> None:
    media = b.get("media") or {}
    if media.get("data_url"):
        out.append(
            f'<a href="{esc(media["data_url"])}" class="thumb-link"><img class="thumb" src="{esc(media["data_url"])}" '
            f'alt="{esc(kind)} ({esc(media.get("media_type"))})"></a>\n'
        )
    elif media.get("url"):
        out.append(f'<p class="note">Remote {esc(kind)}, not loaded: <code>{esc(media["url"])}</code></p>\n')
    else:
        out.append(f'<p class="note">{esc(kind)} · {esc(media.get("media_type") or "unknown type")}')
        if media.get("size"):
            out.append(f" · {esc(num(media['size']))} bytes of base64")
        out.append(" (not shown)</p>")
    out.append("\n")
