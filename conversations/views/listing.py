"""The home page: every conversation, filtered, searched, sorted and paginated from the URL.

The query count is fixed whatever the page size: the page's rows in one query (source joined),
the verdict badges of all its revisions in one more, the filter choices from the cache."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.views.decorators.http import require_safe
from django_htmx.http import push_url

from conversations.history.formats import FORMAT_NAMES
from conversations.jobs import ACTIVE, job_progress
from conversations.models import Conversation, Finding, Job, Source, Status, Verdict, verdict_status
from conversations.search import PAGE_SIZES, SORT_LABELS, VERDICTS, ListQuery, conversations_filter, status_counts
from conversations.templatetags.inspector import compact
from conversations.views.common import render_page
from conversations.views.verdicts import target_names

CHOICES_SECONDS = 300
# Counting every match of a filter over 100,000 conversations costs more than the page itself;
# past this many the list says "1,000+" (the cap grows with the page asked for, so deep pages work).
COUNT_CAP = 1_000  # at least the largest page size
# The columns a list row shows; search_text (up to 200 KB a row) is never read here.
LIST_FIELDS = (
    "id",
    "title",
    "external_id",
    "format",
    "model",
    "provider",
    "last_at",
    "updated_at",
    "activity_at",
    "message_count",
    "tool_call_count",
    "token_count",
    "status",
    "latest_revision_id",
    "source__kind",
    "source__location",
)


@require_safe
def conversation_list(request: HttpRequest) -> HttpResponse:
    query = ListQuery.from_params(request.GET)
    rows = conversations_filter(query).select_related("source").only(*LIST_FIELDS)
    page = CappedPaginator(rows, query.per, cap=COUNT_CAP + (query.page - 1) * query.per).get_page(query.page)
    conversations = list(page)
    badges = verdict_badges([c.latest_revision_id for c in conversations if c.latest_revision_id])
    detail_prefix = reverse("conversations:detail", args=[0]).removesuffix("0/")
    context = {
        "query": query,
        "params": query.params(page=None),
        "page": page,
        "rows": [list_row(c, badges.get(c.latest_revision_id, []), detail_prefix) for c in conversations],
        "choices": list_choices(),
        "sorts": SORT_LABELS,
        "page_sizes": PAGE_SIZES,
        "verdict_choices": VERDICTS,
        "status_counts": status_counts(query),
        "rechecking": routes_rechecking(),
        "source_kinds": Source.Kind.choices,
        "formats": FORMAT_NAMES,
        "upload_max_mb": settings.UPLOAD_MAX_BYTES // (1024 * 1024),
    }
    response = render_page(request, "conversations/list.html", context, "table")
    if request.htmx:
        # The form sends every field, empty ones too; the address bar gets the short, shareable form.
        query_string = query.query_string()
        push_url(response, f"{request.path}?{query_string}" if query_string else request.path)
    return response


class CappedPaginator(Paginator):
    """A paginator that counts at most `cap` + 1 rows: `capped` says the count is a floor."""

    def __init__(self, object_list, per_page, *, cap: int):
        super().__init__(object_list, per_page)
        self.cap = cap

    @cached_property
    def count(self) -> int:
        return min(self.object_list.order_by()[: self.cap + 1].count(), self.cap + 1)

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    @property
    def shown_count(self) -> int:
        return min(self.count, self.cap)

    @property
    def shown_pages(self) -> int:
        return max(1, -(-self.shown_count // self.per_page))


def list_row(c: Conversation, verdicts: list[dict], detail_prefix: str) -> dict:
    """One row, formatted here rather than by template filters: a 100-row page spends its time
    in the template engine, and plain values render several times faster. Long values are cut
    by CSS (text-overflow), not here."""
    return {
        "conversation": c,
        "id": c.pk,
        "url": f"{detail_prefix}{c.pk}/",
        "title": c.title or "(untitled)",
        "format": c.format,
        "external_id": c.external_id,
        "provider": c.provider or "—",
        "model": c.model or "model unknown",
        "kind": c.source.kind,
        "location": c.source.location,
        "activity": f"{c.activity_at:%Y-%m-%d %H:%M}" if c.activity_at else "—",
        "messages": f"{c.message_count:,}",
        "tool_calls": f"{c.tool_call_count:,}",
        "tokens": compact(c.token_count) if c.token_count else "—",
        "tokens_title": f"{c.token_count:,} tokens reported by the log",
        "verdicts": verdicts,
        "status": Status(c.status).key,
        "status_label": c.get_status_display(),
    }


def verdict_badges(revision_ids: list[int]) -> dict[int, list[dict]]:
    """revision id -> its badges (own target first), in one query for the whole page."""
    badges: dict[int, list[dict]] = {}
    verdicts = (
        Verdict.objects.filter(revision_id__in=revision_ids)
        .order_by("revision_id", "-own_target", "target")
        .values_list("revision_id", "target", "accepted", "errors", "warnings", "first_rule")
    )
    for revision_id, target, accepted, errors, warnings, first_rule in verdicts:
        status = verdict_status(accepted, warnings)
        counts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((errors, "error"), (warnings, "warning")) if n]
        badges.setdefault(revision_id, []).append(
            {
                "target": target,
                "status": status,
                # An accepted verdict names no rule: its first rule can only be an info finding.
                "label": first_rule if first_rule and status != "accepted" else status,
                "title": f"{target}: {status}" + (f", {', '.join(counts)}" if counts else ""),
            }
        )
    return badges


def list_choices() -> dict[str, list[str]]:
    """The values the filter menus offer. Distinct values over every conversation are not
    free on a large table: computed at most every few minutes."""
    choices = cache.get("list-choices")
    if choices is None:
        live = Conversation.objects.live()
        choices = {
            "providers": sorted(p for p in live.values_list("provider", flat=True).distinct().order_by() if p),
            "models": sorted(m for m in live.values_list("model", flat=True).distinct().order_by() if m),
            "rules": sorted(Finding.objects.values_list("rule", flat=True).distinct().order_by()),
            "targets": sorted(
                set(target_names()) | set(Verdict.objects.values_list("target", flat=True).distinct().order_by())
            ),
        }
        cache.set("list-choices", choices, CHOICES_SECONDS)
    return choices


def routes_rechecking() -> list[dict]:
    """The re-check jobs a new route version started that are not over: the list says "re-checking
    N%" while its statuses are being brought up to date."""
    jobs = Job.objects.filter(kind=Job.Kind.RECHECK, options__has_key="route_version", status__in=ACTIVE)
    return [{"reason": job.options.get("reason", ""), "percent": job_progress(job).percent} for job in jobs[:3]]
