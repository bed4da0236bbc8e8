from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from conversations.history.formats import FORMAT_NAMES
from conversations.history.formats.document import Document
from conversations.ingest import ingest_document
from conversations.models import Conversation, Source


def conversation_list(request: HttpRequest) -> HttpResponse:
    conversations = Conversation.objects.live().select_related("source").order_by("-updated_at")
    page = Paginator(conversations, 50).get_page(request.GET.get("page"))
    return render(request, "conversations/list.html", {
        "page": page, "formats": FORMAT_NAMES, "upload_max_mb": settings.UPLOAD_MAX_BYTES // (1024 * 1024)})


def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.live().select_related("source", "latest_revision"), pk=pk)
    revision = conversation.latest_revision
    return render(request, "conversations/detail.html", {
        "conversation": conversation, "revision": revision,
        "history": revision.history if revision else None,
        "revisions": conversation.revisions.order_by("-number").only("number", "reason", "created_at", "author"),
    })


@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    files = request.FILES.getlist("files")
    fmt = request.POST.get("format") or None
    if fmt is not None and fmt not in FORMAT_NAMES:
        messages.error(request, f"Unknown format {fmt!r}.")
        return redirect("conversations:list")
    if not files:
        messages.error(request, "Choose at least one log file to upload.")
        return redirect("conversations:list")
    for upload in files:
        if upload.size > settings.UPLOAD_MAX_BYTES:
            messages.error(request, f"{upload.name}: {upload.size:,} bytes is larger than the limit of "
                                    f"{settings.UPLOAD_MAX_BYTES:,} bytes; nothing was stored.")
            continue
        doc = Document.from_bytes(upload.name, upload.read())
        outcome = ingest_document(doc, kind=Source.Kind.UPLOAD, location=upload.name, format=fmt,
                                  user=request.user)
        if outcome.status == "failed":
            messages.error(request, f"{outcome.error} (nothing was stored)")
        elif outcome.status == "unchanged":
            messages.info(request, f"{upload.name}: already loaded, unchanged.")
        else:
            messages.success(request, f"{upload.name}: {len(outcome.added)} conversation(s) loaded.")
    return redirect("conversations:list")
