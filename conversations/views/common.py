"""What every page view starts with: the conversation and the user's rights, the revision asked
for, and one response for both renderings (the full page, or the named partial htmx asked for)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template import loader
from django.utils.cache import patch_vary_headers

from conversations.models import Conversation, Revision
from conversations.roles import can_repair


def conversation_for(request: HttpRequest, pk: int) -> tuple[Conversation, bool]:
    """(the live conversation, whether the user may repair it). Viewing needs only a login,
    which the middleware already asked for."""
    conversation = get_object_or_404(
        Conversation.objects.live().select_related("source", "latest_revision", "latest_revision__author"), pk=pk
    )
    return conversation, can_repair(request.user)


def revision_for(conversation: Conversation, number: str | None) -> Revision:
    """The revision `?rev=N` names, else the latest."""
    if number in (None, ""):
        if conversation.latest_revision is None:
            raise Http404("this conversation has no revision")
        return conversation.latest_revision
    try:
        wanted = int(number)
    except ValueError:
        raise Http404(f"no revision {number[:20]!r}") from None
    if conversation.latest_revision and conversation.latest_revision.number == wanted:
        return conversation.latest_revision
    return get_object_or_404(conversation.revisions.select_related("author"), number=wanted)


def int_param(value: str | None, default: int = 0, minimum: int = 0) -> int:
    try:
        return max(minimum, int(value))
    except (TypeError, ValueError):
        return default


def wants_partial(request: HttpRequest) -> bool:
    # A history restore (back button after the cache expired) needs the whole page.
    return bool(request.htmx) and not request.htmx.history_restore_request


def render_page(
    request: HttpRequest, template: str, context: dict, partial: str | None = None, status: int = 200
) -> HttpResponse:
    """The full page, or `template#partial` for an htmx request. Caches keep them apart."""
    name = f"{template}#{partial}" if partial and wants_partial(request) else template
    # Encoded here, not by HttpResponse: a lone surrogate from a log is shown as its escape
    # ("\\ud800") where strict UTF-8 would fail the whole page.
    content = loader.render_to_string(name, context, request)
    response = HttpResponse(content.encode("utf-8", "backslashreplace"), status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response
