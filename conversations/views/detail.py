"""The conversation page, its JSON twin, and the two questions asked from it: "what would this
route answer?" and "what does this provider error mean here?"."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST, require_safe

from conversations.history.explain import ERROR_MAX
from conversations.history.finite import dumps
from conversations.history.routes import RouteError
from conversations.history.senders import DEFAULT_SENDERS
from conversations.models import Conversation, Revision
from conversations.verdicts import explain_error, route_config, route_verdicts
from conversations.views.common import conversation_for, int_param, render_page, revision_for
from conversations.views.page import WINDOW, detail_dict
from conversations.views.verdicts import sender_names, target_names, verdict_dict

ROUTE_CONFIG_MAX = 100_000
GROUP_MAX = 255


def _targets(request: HttpRequest) -> list[str]:
    known = set(target_names())
    return [t for t in dict.fromkeys(request.GET.getlist("target")) if t in known]


def _sender(request: HttpRequest) -> str | None:
    """`?sender=`: judge the request another client would send (unknown names are ignored)."""
    sender = request.GET.get("sender", "")
    return sender if sender in sender_names() else None


def _kept(conversation: Conversation, revision: Revision, targets: list[str], sender: str | None = None) -> dict:
    """The parameters a link to another window of the page keeps."""
    keep: dict = {"rev": revision.number} if revision.pk != conversation.latest_revision_id else {}
    if targets:
        keep["target"] = targets
    if sender:
        keep["sender"] = sender
    return keep


def _page(
    conversation: Conversation, revision: Revision, *, start: int, targets: list[str], sender: str | None = None
) -> dict:
    if sender == DEFAULT_SENDERS.get(conversation.format):
        sender = None  # the stored verdicts are that sender's
    return detail_dict(
        conversation,
        revision,
        start=start,
        targets=targets,
        revisions=_revisions(conversation),
        link_params=_kept(conversation, revision, targets, sender),
        sender=sender,
    )


def _revisions(conversation: Conversation) -> list[Revision]:
    """Every revision, newest first. Numbers start at 1 and each new revision takes the latest's
    number + 1, so a latest revision numbered 1 is the only one (most conversations): no query."""
    latest = conversation.latest_revision
    if latest is not None and latest.number == 1:
        return [latest]
    return list(conversation.revisions.select_related("author").order_by("-number"))


def _page_context(
    conversation: Conversation,
    revision: Revision,
    can_repair: bool,
    *,
    start: int = 0,
    targets: list[str] | None = None,
    sender: str | None = None,
    **extra,
) -> dict:
    targets = targets or []
    keep = _kept(conversation, revision, targets, sender)
    page = _page(conversation, revision, start=start, targets=targets, sender=sender)
    # c and r: short names the template's partials use (they render without the page around them).
    return {
        "page": page,
        "c": page["conversation"],
        "r": page["revision"],
        "can_repair": can_repair,
        "params": keep,
        "route": None,
        "explained": None,
        **extra,
    }


@require_safe
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conversation, can_repair = conversation_for(request, pk)
    revision = revision_for(conversation, request.GET.get("rev"))
    if request.GET.get("at", "") != "":
        return _jump(request, conversation, revision)
    context = _page_context(
        conversation,
        revision,
        can_repair,
        start=int_param(request.GET.get("start")),
        targets=_targets(request),
        sender=_sender(request),
    )
    # htmx asks for the region it swaps: the whole page body (target picker) or the next turns.
    partial = "page" if request.htmx and request.htmx.target == "page" else "turns"
    return render_page(request, "conversations/detail.html", context, partial)


def _jump(request: HttpRequest, conversation: Conversation, revision: Revision) -> HttpResponse:
    """`?at=N`: the window holding message N, scrolled to it (the fragment does the scrolling,
    with or without JavaScript)."""
    at = min(int_param(request.GET.get("at")), max(revision.message_count - 1, 0))
    params = _kept(conversation, revision, _targets(request), _sender(request))
    if at >= WINDOW:
        params["start"] = at - at % WINDOW
    query = urlencode(params, doseq=True)
    return redirect(f"{conversation.get_absolute_url()}{'?' + query if query else ''}#m{at}")


@require_safe
def conversation_json(request: HttpRequest, pk: int) -> JsonResponse:
    """The page's data as JSON: the same dict, the same parameters (rev, start, target)."""
    conversation, _ = conversation_for(request, pk)
    revision = revision_for(conversation, request.GET.get("rev"))
    page = _page(
        conversation,
        revision,
        start=int_param(request.GET.get("start")),
        targets=_targets(request),
        sender=_sender(request),
    )
    # NaN and infinities of a log are null here, as in the API (JSON has no other way to say them).
    text = dumps(page, ensure_ascii=False, cls=DjangoJSONEncoder)
    try:
        return HttpResponse(text, content_type="application/json")
    except UnicodeEncodeError:  # a lone surrogate from a log: JSON's own escape, \ud800
        return HttpResponse(dumps(page, cls=DjangoJSONEncoder), content_type="application/json")


@require_POST
def route_check(request: HttpRequest, pk: int) -> HttpResponse:
    """Check the revision against a route: a pasted litellm proxy config and a model group.
    A POST, not a GET: proxy configs carry keys, which do not belong in URLs and logs."""
    conversation, can_repair = conversation_for(request, pk)
    revision = revision_for(conversation, request.POST.get("rev"))
    config = request.POST.get("config", "")[:ROUTE_CONFIG_MAX]
    group = request.POST.get("group", "").strip()[:GROUP_MAX]
    route = {"config": config, "group": group, "verdicts": [], "error": None}
    if not config.strip() or not group:
        route["error"] = "Paste a proxy config and name the model group the client asked for."
    else:
        try:
            route["verdicts"] = [verdict_dict(v) for v in route_verdicts(revision, route_config(config), group)]
        except RouteError as exc:
            route["error"] = str(exc)
    context = _page_context(conversation, revision, can_repair, route=route)
    return render_page(request, "conversations/detail.html", context, "route", status=400 if route["error"] else 200)


@require_POST
def error_explain(request: HttpRequest, pk: int) -> HttpResponse:
    """Explain an error a provider answered, against the prediction for this revision."""
    conversation, can_repair = conversation_for(request, pk)
    revision = revision_for(conversation, request.POST.get("rev"))
    # The whole text goes to explain, which reads its first ERROR_MAX characters and says so.
    text = request.POST.get("error", "").strip()
    explained = {"error_text": text[:ERROR_MAX], "result": None, "problem": None}
    if not text:
        explained["problem"] = "Paste the error text the provider answered."
    else:
        explained["result"] = explain_error(revision, text)
    context = _page_context(conversation, revision, can_repair, explained=explained)
    return render_page(
        request, "conversations/detail.html", context, "explain", status=400 if explained["problem"] else 200
    )
