"""Uploading logs from the list page: several files at once, each its own transaction."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from conversations.history.formats import FORMAT_NAMES
from conversations.history.formats.document import Document
from conversations.ingest import ingest_document
from conversations.models import Source


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
            messages.error(
                request,
                f"{upload.name}: {upload.size:,} bytes is larger than the limit of "
                f"{settings.UPLOAD_MAX_BYTES:,} bytes; nothing was stored.",
            )
            continue
        doc = Document.from_bytes(upload.name, upload.read())
        outcome = ingest_document(doc, kind=Source.Kind.UPLOAD, location=upload.name, format=fmt, user=request.user)
        if outcome.status == "failed":
            messages.error(request, f"{outcome.error} (nothing was stored)")
        elif outcome.held and not (outcome.added or outcome.unchanged):
            messages.error(request, f"{upload.name}: {outcome.held_reason}.")
        elif outcome.status == "skipped":
            messages.info(request, f"{upload.name}: holds no conversation ({outcome.reason}); nothing was stored.")
        elif outcome.status == "unchanged":
            messages.info(request, f"{upload.name}: already loaded, unchanged.")
        else:
            messages.success(request, f"{upload.name}: {len(outcome.added)} conversation(s) loaded.")
        for failure in outcome.failures:
            messages.error(request, f"{failure['error']} (that record was not stored; the others were)")
    return redirect("conversations:list")
