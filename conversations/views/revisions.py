"""The revisions of a conversation compared: any two, by number."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from conversations.history.diff import histories_diff
from conversations.views.common import conversation_for, render_page, revision_for
from conversations.views.page import revision_dict


@require_safe
def revision_diff(request: HttpRequest, pk: int) -> HttpResponse:
    """`?a=1&b=3`; by default the latest revision against its parent."""
    conversation, _ = conversation_for(request, pk)
    b = revision_for(conversation, request.GET.get("b"))
    a_number = request.GET.get("a") or (str(b.number - 1) if b.number > 1 else str(b.number))
    a = revision_for(conversation, a_number)
    revisions = list(conversation.revisions.select_related("author").order_by("-number"))
    context = {
        "conversation": conversation,
        "a": revision_dict(a),
        "b": revision_dict(b),
        "revisions": [revision_dict(r) for r in revisions],
        "diff": histories_diff(a.history, b.history) if a.pk != b.pk else None,
    }
    return render_page(request, "conversations/diff.html", context, "diff")
