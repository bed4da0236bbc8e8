"""The list page's filters, sort and search, read from whitelisted query parameters.

Search runs on `SearchText.text` (a table beside the conversations), filled at ingest by `conversation_search_text`:
PostgreSQL full-text search (a GIN index over its `simple` tsvector) on PostgreSQL, a plain
case-insensitive substring match elsewhere (SQLite, for a first run and quick tests).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.http import QueryDict

from conversations.history.model import History
from conversations.history.status import LABELS as STATUS_LABELS
from conversations.history.status import STATUSES
from conversations.models import VERDICT_STATUSES, Conversation, Finding, SearchText, Source, Status, Verdict

# Enough for every id and tool name of a long session plus the start of its text; the GIN index
# and the row stay small. PostgreSQL refuses tsvectors over 1 MB, and to_tsvector costs ~80 ms per
# MB at ingest (200 KB took 15 ms a conversation and halved ingest throughput: bench/ingest.py).
SEARCH_TEXT_MAX = 32_000
# The tsvector configuration: `simple` keeps ids, paths and tool names as written (no stemming,
# no stop words), which is what people paste into the box.
SEARCH_CONFIG = "simple"
SEARCH_VECTOR = SearchVector("text", config=SEARCH_CONFIG)

VERDICTS = VERDICT_STATUSES
# Sort key in the URL -> ORM ordering. `id` breaks ties so pages never overlap. Each has an index
# (Conversation.Meta), read forwards or backwards.
SORTS: dict[str, tuple[str, ...]] = {
    # Stuck first, then at risk, healthy, unchecked; the latest activity first within each.
    "status": ("status", "-activity_at", "-id"),
    "-status": ("-status", "-activity_at", "-id"),
    "-activity": ("-activity_at", "-id"),
    "activity": ("activity_at", "id"),
    "-messages": ("-message_count", "-id"),
    "messages": ("message_count", "id"),
    "-tools": ("-tool_call_count", "-id"),
    "tools": ("tool_call_count", "id"),
    "-tokens": ("-token_count", "-id"),
    "tokens": ("token_count", "id"),
}
SORT_LABELS = {
    "status": "stuck first",
    "-status": "unchecked first",
    "-activity": "latest activity",
    "activity": "oldest activity",
    "-messages": "most messages",
    "messages": "fewest messages",
    "-tools": "most tool calls",
    "tools": "fewest tool calls",
    "-tokens": "most tokens",
    "tokens": "fewest tokens",
}
DEFAULT_SORT = "status"
PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 25
SOURCE_KINDS = tuple(Source.Kind.values)
# What a rule code, provider, model or target may look like: anything else is ignored, not
# passed to the database.
_NAME = re.compile(r"^[\w.:/@+-]{1,255}$")
_LABEL = re.compile(r"^[\w.:/@+ ()#-]{1,255}$")
# A page number past any list (a URL with 40 digits must not reach the database as a LIMIT).
MAX_PAGE = 1_000_000
SEARCH_MAX = 200


def conversation_search_text(history: History) -> str:
    """What the list's search box looks in: ids and names first (so the cap never cuts them),
    then the text of every message, tool result and tool input. Called by ingest."""
    head: list[str] = [history.title or "", history.external_id or "", history.model or ""]
    body: list[str] = []
    room = SEARCH_TEXT_MAX  # the body past the cap is cut anyway: it is not gathered
    for message in history.messages:
        for block in message.blocks:
            text = None
            if block.type == "tool_use":
                head.extend((block.name or "", block.id or ""))
                if room > 0:
                    text = block.arguments if block.arguments is not None else _compact(block.input)
            elif block.type == "tool_result":
                head.append(block.tool_use_id or "")
                if room > 0:
                    text = block.result_text
            elif block.type in ("text", "thinking") and room > 0:
                text = block.text
            if text:
                body.append(text)
                room -= len(text) + 1
    text = "\n".join(s for s in _unique(head) if s) + "\n" + "\n".join(body)
    # NUL cannot be stored in a PostgreSQL text column.
    return text.replace("\x00", " ")[:SEARCH_TEXT_MAX]


def _compact(value) -> str:
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass
class ListQuery:
    """The list page's state, as the URL carries it. Only known keys and well-formed values
    survive; `query_string()` gives them back for links (pager, sort headers, shared URLs)."""

    q: str = ""
    status: str = ""
    verdict: str = ""
    rule: str = ""
    target: str = ""
    provider: str = ""
    model: str = ""
    source: str = ""
    since: date | None = None
    until: date | None = None
    sort: str = DEFAULT_SORT
    per: int = DEFAULT_PAGE_SIZE
    page: int = 1
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_params(cls, params: QueryDict) -> ListQuery:
        query = cls()
        query.q = " ".join(params.get("q", "").split())[:SEARCH_MAX]
        query.status = _choice(params.get("status", ""), STATUSES)
        query.verdict = _choice(params.get("verdict", ""), VERDICTS)
        query.source = _choice(params.get("source", ""), SOURCE_KINDS)
        for name in ("rule", "target", "provider", "model"):
            value = params.get(name, "").strip()
            pattern = _LABEL if name == "target" else _NAME  # a route's labels may hold spaces
            if value and not pattern.match(value):
                query.errors.append(f"{name}: {value[:60]!r} is not a valid name; ignored")
                value = ""
            setattr(query, name, value)
        for name in ("since", "until"):
            raw = params.get(name, "").strip()
            try:
                setattr(query, name, date.fromisoformat(raw) if raw else None)
            except ValueError:
                query.errors.append(f"{name}: {raw[:20]!r} is not a date (YYYY-MM-DD); ignored")
        query.sort = _choice(params.get("sort", ""), tuple(SORTS)) or DEFAULT_SORT
        query.per = _int_choice(params.get("per"), PAGE_SIZES, DEFAULT_PAGE_SIZE)
        query.page = min(max(1, _int(params.get("page"), 1)), MAX_PAGE)
        return query

    @property
    def filtered(self) -> bool:
        return any(
            (
                self.q,
                self.status,
                self.verdict,
                self.rule,
                self.provider,
                self.model,
                self.source,
                self.since,
                self.until,
            )
        )

    def params(self, **changes) -> dict[str, str]:
        """The non-default parameters, with `changes` applied (a value of None drops a key)."""
        values = {
            "q": self.q,
            "status": self.status,
            "verdict": self.verdict,
            "rule": self.rule,
            "target": self.target,
            "provider": self.provider,
            "model": self.model,
            "source": self.source,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "sort": "" if self.sort == DEFAULT_SORT else self.sort,
            "per": "" if self.per == DEFAULT_PAGE_SIZE else str(self.per),
            "page": "" if self.page == 1 else str(self.page),
        }
        for key, value in changes.items():
            values[key] = "" if value is None else str(value)
        return {k: v for k, v in values.items() if v}

    def query_string(self, **changes) -> str:
        qd = QueryDict(mutable=True)
        qd.update(self.params(**changes))
        return qd.urlencode()


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else ""


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _int_choice(value, allowed: tuple[int, ...], default: int) -> int:
    number = _int(value, default)
    return number if number in allowed else default


def conversations_filter(query: ListQuery, queryset: QuerySet[Conversation] | None = None) -> QuerySet[Conversation]:
    """The live conversations matching the query, in its order. Verdict and rule filters look at
    the latest revision only: an older revision's findings are history, not the state."""
    qs = _unsorted_filter(query, queryset)
    if query.status:
        qs = qs.filter(status=Status.named(query.status))
    return qs.order_by(*SORTS[query.sort])


def status_counts(query: ListQuery) -> list[dict]:
    """How many conversations of each status match the query's other filters, in the list's
    order (one GROUP BY on the status index when nothing else is filtered)."""
    counted = dict(_unsorted_filter(query).order_by().values_list("status").annotate(n=Count("pk")))
    return [
        {"key": key, "label": STATUS_LABELS[key], "count": counted.get(Status.named(key).value, 0)} for key in STATUSES
    ]


def _unsorted_filter(query: ListQuery, queryset: QuerySet[Conversation] | None = None) -> QuerySet[Conversation]:
    qs = Conversation.objects.live() if queryset is None else queryset
    if query.provider:
        qs = qs.filter(provider=query.provider)
    if query.model:
        qs = qs.filter(model=query.model)
    if query.source:
        qs = qs.filter(source__kind=query.source)
    if query.since:
        qs = qs.filter(activity_at__gte=datetime.combine(query.since, time.min, tzinfo=UTC))
    if query.until:
        qs = qs.filter(activity_at__lte=datetime.combine(query.until, time.max, tzinfo=UTC))
    if query.verdict:
        qs = qs.with_verdict(query.verdict, query.target or None)
    elif query.target:
        # A target alone: the conversations checked against it.
        qs = qs.filter(Exists(Verdict.objects.filter(revision=OuterRef("latest_revision"), target=query.target)))
    if query.rule:
        findings = Finding.objects.filter(revision=OuterRef("latest_revision"), rule=query.rule)
        if query.target:
            findings = findings.filter(target=query.target)
        qs = qs.filter(Exists(findings))
    if query.q:
        qs = text_search(qs, query.q)
    return qs


def text_search(qs: QuerySet[Conversation], text: str) -> QuerySet[Conversation]:
    if connection.vendor == "postgresql":
        # The same expression as the GIN index (conversations_searchtext_gin), so the index answers.
        matching = SearchText.objects.annotate(search=SEARCH_VECTOR).filter(
            search=SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
        )
        return qs.filter(pk__in=matching.values("conversation_id"))
    return qs.filter(search_entry__text__icontains=text)
