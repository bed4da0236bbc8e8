"""The list page's table rows and sortable headers, rendered in Python.

A 25-row page is some 500 template variables and four template includes: through the template
engine that was most of the list's rendering time. These write the same HTML, every value
through `esc` (conditional_escape) as autoescape did. The rows are the dicts of
conversations.views.listing.list_row.
"""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from conversations.templatetags.inspector import esc, query

register = template.Library()


@register.simple_tag
def conversation_rows(rows: list[dict]) -> SafeString:
    """One <tr> per conversation."""
    out: list[str] = []
    for row in rows:
        location = esc(row["location"])
        out.append(
            f'<tr>\n<td class="status"><span class="badge status-{esc(row["status"])}">'
            f"{esc(row['status_label'])}</span></td>\n"
            f'<td class="title"><a href="{esc(row["url"])}">{esc(row["title"])}</a>\n'
            f'<div class="sub">#{esc(row["id"])} · {esc(row["format"])}'
        )
        if row["external_id"]:
            out.append(f" · <code>{esc(row['external_id'])}</code>")
        out.append(
            f'</div></td>\n<td><span class="provider">{esc(row["provider"])}</span>'
            f'<div class="sub">{esc(row["model"])}</div></td>\n'
            f'<td class="source" title="{location}"><span class="kind">{esc(row["kind"])}</span> {location}</td>\n'
            f'<td class="nowrap">{esc(row["activity"])}</td>\n<td class="num">{esc(row["messages"])}</td>\n'
            f'<td class="num">{esc(row["tool_calls"])}</td>\n'
            f'<td class="num" title="{esc(row["tokens_title"])}">{esc(row["tokens"])}</td>\n<td class="verdicts">'
        )
        for v in row["verdicts"]:
            out.append(
                f'<span class="badge {esc(v["status"])}" title="{esc(v["title"])}"><b>{esc(v["target"])}</b> '
                f"{esc(v['label'])}</span>"
            )
        if not row["verdicts"]:
            out.append('<span class="badge unchecked">not checked</span>')
        out.append("</td>\n</tr>\n")
    return mark_safe("".join(out))


@register.simple_tag
def sort_header(list_query, params: dict, key: str, label: str, numeric: bool = False) -> SafeString:
    """A column header that sorts by `key`: descending first, ascending when it already is."""
    descending = f"-{key}"
    url = esc(query(params, sort=key if list_query.sort == descending else descending))
    arrow = " ↓" if list_query.sort == descending else " ↑" if list_query.sort == key else ""
    css = ' class="num"' if numeric else ""
    return mark_safe(f'<th{css}><a href="{url}" hx-get="{url}">{esc(label)}</a>{arrow}</th>\n')
