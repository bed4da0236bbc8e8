"""Uploading logs from the list page: several files at once, each its own transaction. A file over
settings.INGEST_INLINE_MAX_BYTES is ingested by a background job: the upload page (GET, with the
jobs' ids) shows their progress and then links to the conversations."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from conversations import tasks
from conversations.history.formats import FORMAT_NAMES
from conversations.history.formats.document import Document
from conversations.ingest import ingest_document
from conversations.ingest.staged import ingest_state, ingests_inline
from conversations.models import IngestJob, Source
from conversations.views.common import render_page

# Jobs one progress page follows (an upload carries at most UPLOAD_MAX_FILES files).
JOBS_SHOWN_MAX = 200


@require_http_methods(["GET", "HEAD", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _progress(request)
    files = request.FILES.getlist("files")
    fmt = request.POST.get("format") or None
    if fmt is not None and fmt not in FORMAT_NAMES:
        messages.error(request, f"Unknown format {fmt!r}.")
        return redirect("conversations:list")
    if not files:
        messages.error(request, "Choose at least one log file to upload.")
        return redirect("conversations:list")
    queued = []
    for upload in files:
        if upload.size > settings.UPLOAD_MAX_BYTES:
            messages.error(
                request,
                f"{upload.name}: {upload.size:,} bytes is larger than the limit of "
                f"{settings.UPLOAD_MAX_BYTES:,} bytes; nothing was stored.",
            )
        elif not ingests_inline(upload.size):
            queued.append(_queue(request, upload, fmt))
        else:
            _ingest_inline(request, upload, fmt)
    queued = [pk for pk in queued if pk is not None]
    if queued:
        return redirect(f"{reverse('conversations:upload')}?{urlencode({'job': queued}, doseq=True)}")
    return redirect("conversations:list")


def _queue(request: HttpRequest, upload: UploadedFile, fmt: str | None) -> int | None:
    try:
        job = tasks.ingest_start(
            upload.chunks(), name=upload.name or "upload", kind=Source.Kind.UPLOAD, format=fmt, user=request.user
        )
    except OSError as exc:
        messages.error(
            request, f"{upload.name}: it could not be kept for its ingest ({exc.strerror}); nothing was stored."
        )
        return None
    messages.info(request, f"{upload.name}: {upload.size:,} bytes, ingested in the background (job {job.pk}).")
    return job.pk


def _ingest_inline(request: HttpRequest, upload: UploadedFile, fmt: str | None) -> None:
    doc = Document.from_bytes(upload.name or "upload", upload.read())
    outcome = ingest_document(
        doc, kind=Source.Kind.UPLOAD, location=upload.name or "upload", format=fmt, user=request.user
    )
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


def visible_ingest_jobs(user, ids: list[int]):
    """The ingest jobs among `ids` this user may follow: their own, or any for staff."""
    jobs = IngestJob.objects.filter(pk__in=ids)
    return jobs if user.is_staff else jobs.filter(created_by=user)


def _progress(request: HttpRequest) -> HttpResponse:
    ids = [int(v) for v in request.GET.getlist("job") if v.isdigit() and len(v) < 12][:JOBS_SHOWN_MAX]
    rows = list(visible_ingest_jobs(request.user, ids).order_by("pk"))
    states = [ingest_state(job) for job in rows]
    context = {
        "jobs": states,
        "running": any(s["status"] in (IngestJob.Status.QUEUED, IngestJob.Status.RUNNING) for s in states),
        "poll": request.get_full_path(),
    }
    return render_page(request, "conversations/upload.html", context, "progress", status=200 if rows else 404)
