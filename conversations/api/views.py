"""The API's conversation endpoints: add a log, list, read one, read a revision's document.
Repairs are in repairs.py. Every handler runs after endpoint() authenticated the token."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from conversations import repairs, tasks
from conversations.api.auth import ApiError
from conversations.api.http import body_bytes, json_response
from conversations.api.serializers import conversation_detail, conversation_summary, verdict_dicts, verdict_summaries
from conversations.history import formats
from conversations.history.errors import FormatError
from conversations.history.formats.document import Document
from conversations.history.senders import SENDERS
from conversations.history.targets import TARGET_NAMES
from conversations.ingest import ingest_document
from conversations.ingest.staged import ingest_state, ingests_inline
from conversations.models import Conversation, IngestJob, Revision, Source, Verdict
from conversations.search import PAGE_SIZES, SORTS, SOURCE_KINDS, STATUSES, VERDICTS, ListQuery, conversations_filter
from conversations.verdicts import sender_verdicts

# Who may post: a platform's own calls (api) or the litellm callback's captures.
POST_KINDS = {"api": Source.Kind.API, "capture": Source.Kind.CAPTURE}
DOCUMENT_FORMATS = ("source", "openai", "anthropic")
NAME_MAX = 1024
# The list's parameters (the list page's filters): any other name is a client's mistake, told.
LIST_PARAMS = (
    "status",
    "verdict",
    "rule",
    "target",
    "provider",
    "model",
    "source",
    "since",
    "until",
    "q",
    "sort",
    "per",
    "page",
)


def conversation_create(request: HttpRequest) -> HttpResponse:
    """Ingest the body (a log in any supported format) and answer with its verdicts."""
    fmt = _choice(request.GET, "format", formats.FORMAT_NAMES)
    kind = POST_KINDS[_choice(request.GET, "kind", tuple(POST_KINDS)) or "api"]
    data = body_bytes(request, settings.UPLOAD_MAX_BYTES)
    if not data.strip():
        raise ApiError(400, "the body is empty: send the log itself as the request body")
    name = _source_name(request.GET.get("name", ""), data)
    if not ingests_inline(len(data)):
        return _ingest_queued(request, data, name=name, kind=kind, fmt=fmt)
    outcome = ingest_document(Document.from_bytes(name, data), kind=kind, location=name, format=fmt, user=request.user)
    if outcome.status == "failed":
        raise ApiError(400, outcome.error or "the log could not be read", stored=False)
    if outcome.held and not (outcome.added or outcome.unchanged):
        raise ApiError(409, outcome.held_reason)
    if outcome.status == "skipped":
        raise ApiError(400, f"{name}: no conversation found ({outcome.reason})", stored=False)
    ids = outcome.added + outcome.unchanged
    conversations = {c.pk: c for c in Conversation.objects.filter(pk__in=ids).select_related("latest_revision")}
    entries = [
        {
            "id": pk,
            "url": request.build_absolute_uri(reverse("api:conversation", args=[pk])),
            "verdicts": verdict_dicts(conversations[pk].latest_revision),
        }
        for pk in ids
        if pk in conversations
    ]
    if not entries:
        raise ApiError(400, f"{name}: no conversation found", stored=False)
    created = outcome.status == "ingested"
    body = {
        "id": entries[0]["id"],
        "status": outcome.status,
        "verdicts": entries[0]["verdicts"],
        "url": entries[0]["url"],
    }
    if len(entries) > 1:  # a JSONL litellm log holds one conversation per call
        body["conversations"] = entries
    return json_response(body, status=201 if created else 200, **({"Location": entries[0]["url"]} if created else {}))


def _ingest_queued(request: HttpRequest, data: bytes, *, name: str, kind: str, fmt: str | None) -> HttpResponse:
    """A body over INGEST_INLINE_MAX_BYTES: staged and ingested by a background job; 202 with the
    URL that answers its state."""
    try:
        job = tasks.ingest_start([data], name=name, kind=kind, format=fmt, user=request.user)
    except OSError as exc:
        raise ApiError(503, f"the body could not be kept for its ingest ({exc.strerror}); nothing was stored") from None
    status_url = request.build_absolute_uri(reverse("api:ingest-job", args=[job.pk]))
    return json_response({"job": job.pk, "status_url": status_url}, status=202, Location=status_url)


def ingest_job_get(request: HttpRequest, pk: int) -> HttpResponse:
    """A background ingest's state: queued, running, done (with its conversations) or failed (with
    the error, as the inline answer would have given it)."""
    job = IngestJob.objects.filter(pk=pk).first()
    if job is None or not (request.user.is_staff or job.created_by_id == request.user.pk):
        raise ApiError(404, f"no ingest job {pk}")
    state = ingest_state(job)
    state["conversations"] = [
        {"id": cid, "url": request.build_absolute_uri(reverse("api:conversation", args=[cid]))}
        for cid in state["conversations"]
    ]
    return json_response(state)


def _source_name(raw: str, data: bytes) -> str:
    """The source label: the client's name (posting new bytes under the same name adds a revision
    to the same conversation), or one derived from the content (the same body twice is stored once)."""
    name = raw.strip()
    if not name:
        return f"api-{hashlib.sha256(data).hexdigest()[:16]}.json"
    if len(name) > NAME_MAX or any(ord(ch) < 32 for ch in name):
        raise ApiError(400, f"name: at most {NAME_MAX} printable characters")
    return name


def conversation_list(request: HttpRequest) -> HttpResponse:
    """The list page's filters as query parameters, one page at a time with next/previous links."""
    query = ListQuery.from_params(request.GET)
    problems = query.errors + _unknown_choices(request)
    if problems:
        raise ApiError(400, "; ".join(problems), problems=problems)
    qs = conversations_filter(query).select_related("source", "latest_revision", "route_version__route")
    paginator = Paginator(qs, query.per)
    if query.page > paginator.num_pages:
        raise ApiError(404, f"page {query.page} does not exist: there are {paginator.num_pages} page(s)")
    page = paginator.page(query.page)
    rows = list(page.object_list)
    verdicts = verdict_summaries(rows)

    def link(number: int) -> str:
        return request.build_absolute_uri(f"{request.path}?{query.query_string(page=number)}")

    return json_response(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "next": link(page.next_page_number()) if page.has_next() else None,
            "previous": link(page.previous_page_number()) if page.has_previous() else None,
            "results": [conversation_summary(request, c, verdicts[c.pk]) for c in rows],
        }
    )


def _unknown_choices(request: HttpRequest) -> list[str]:
    """ListQuery quietly drops values it does not know (right for a page's links); an API client
    is told instead."""
    choices = {
        "status": STATUSES,
        "verdict": VERDICTS,
        "source": SOURCE_KINDS,
        "sort": tuple(SORTS),
        "per": tuple(str(n) for n in PAGE_SIZES),
    }
    problems = [
        f"{key}: {request.GET[key]!r} is not one of {', '.join(allowed)}"
        for key, allowed in choices.items()
        if request.GET.get(key) and request.GET[key] not in allowed
    ]
    page = request.GET.get("page")
    if page and not (page.isdigit() and int(page) >= 1):
        problems.append(f"page: {page[:60]!r} is not a page number")
    problems += [f"{name[:60]!r} is not a parameter of this list" for name in request.GET if name not in LIST_PARAMS]
    target = request.GET.get("target", "").strip()
    if target and target not in TARGET_NAMES and not Verdict.objects.filter(target=target).exists():
        problems.append(
            f"target: {target[:60]!r} is neither a built-in target ({', '.join(TARGET_NAMES)}) "
            "nor a route label of any stored verdict"
        )
    return problems


def conversation_get(request: HttpRequest, pk: int) -> HttpResponse:
    """One conversation; `?sender=` judges its latest revision as that client would send it
    (checked now, not stored)."""
    conversation = conversation_or_404(pk)
    sender = request.GET.get("sender")
    if sender is None or sender == "":
        return json_response(conversation_detail(request, conversation))
    if sender not in SENDERS:
        raise ApiError(400, f"sender: {sender!r} is not one of {', '.join(SENDERS)}")
    latest = conversation.latest_revision
    verdicts = [v.to_dict() for v in sender_verdicts(latest, [], sender)] if latest is not None else []
    return json_response(conversation_detail(request, conversation, verdicts=verdicts))


def revision_document(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """A revision as a document: in its source's own format (as=source), or as an OpenAI or an
    Anthropic request. A directory (OpenHands) comes back as JSON {name, files: {path: text}}."""
    as_ = _choice(request.GET, "as", DOCUMENT_FORMATS) or "source"
    revision = revision_or_404(conversation_or_404(pk), number)
    try:
        doc = repairs.revision_document(revision, None if as_ == "source" else as_)
    except FormatError as exc:
        raise ApiError(422, f"revision {number} cannot be written as {as_}: {exc}") from None
    headers = {"X_Revision": str(revision.number), "X_Format": as_}
    if doc.is_dir:
        return json_response(
            {
                "name": doc.name,
                "files": {name: data.decode("utf-8", "replace") for name, data in sorted(doc.files.items())},
            },
            **headers,
        )
    file_name, data = doc.single
    content_type = "application/x-ndjson" if file_name.endswith(".jsonl") else "application/json"
    response = HttpResponse(data, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{_header_safe(file_name)}"'
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _header_safe(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable() and ch not in '"\\') or "document.json"


# --- shared lookups ------------------------------------------------------------------------------


def conversation_or_404(pk: int) -> Conversation:
    conversation = (
        Conversation.objects.live()
        .select_related("source", "latest_revision", "route_version__route")
        .filter(pk=pk)
        .first()
    )
    if conversation is None:
        raise ApiError(404, f"no conversation {pk}")
    return conversation


def revision_or_404(conversation: Conversation, number: int) -> Revision:
    revision = conversation.revisions.select_related("original").filter(number=number).first()
    if revision is None:
        raise ApiError(404, f"conversation {conversation.pk} has no revision {number}")
    return revision


def _choice(params, key: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(key) or None
    if value is not None and value not in allowed:
        raise ApiError(400, f"{key}: {value!r} is not one of {', '.join(allowed)}")
    return value
