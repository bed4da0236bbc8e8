"""The repair flow in the browser: preview a repair, apply it (and write it back), restore an
earlier revision, write one back, download one, and resume the conversation with its model.

The domain functions in conversations.repairs and conversations.revisions do the work and the
auditing; these views only read the form, ask them, and show what came back. Reading (the
preview, a download) needs a login; every write is a POST and needs the repairer role.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from conversations import jobs, repairs, tasks
from conversations.history.errors import HistoryError
from conversations.history.findings import Verdict as CoreVerdict
from conversations.history.repair import RepairResult
from conversations.history.targets import provider_of
from conversations.models import Conversation, Revision
from conversations.resume import ResumeError
from conversations.revisions import Conflict, revision_restore
from conversations.roles import require_repairer
from conversations.verdicts import route_config, too_large_for_a_request
from conversations.views.common import conversation_for, render_page
from conversations.views.page import conversation_dict, revision_dict
from conversations.views.verdicts import finding_dict, target_names, verdict_dict
from conversations.writeback import WriteBackError

ROUTE_CONFIG_MAX = 100_000
GROUP_MAX = 255
MODEL_MAX = 255
CONTINUATION_MAX = 20_000
# A success message lists the edits; a repair of a long conversation may make hundreds.
EDITS_LISTED_MAX = 12
# ?as= of a download: the source's own format, or a request for either API.
DOWNLOADS = {"source": None, "openai": "openai", "anthropic": "anthropic"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


# --- what the person asked for ----------------------------------------------------------------


@dataclass(frozen=True)
class RepairAsk:
    """A repair for a target (None: the conversation's own) or for a route (a pasted litellm
    proxy config and the model group the client asked for)."""

    target: str | None = None
    config: str = ""
    group: str = ""
    include_warnings: bool = False

    @property
    def is_route(self) -> bool:
        return bool(self.config.strip() or self.group)

    @property
    def label(self) -> str:
        if self.is_route:
            return f"route {self.group}"
        return self.target or "its own target"

    def problem(self) -> str | None:
        """Why this cannot be asked, in words for the form; None when it can."""
        if self.is_route and self.target:
            return "Repair for a target or for a route, not both."
        if self.is_route and not (self.config.strip() and self.group):
            return "Paste a proxy config and name the model group the client asked for."
        if self.target and self.target not in target_names():
            return f"Unknown target {self.target[:40]!r}; known targets: {', '.join(target_names())}."
        return None

    def domain_kwargs(self) -> dict:
        """The keyword arguments repair_preview and repair_apply take. The config goes as a parsed
        dict, never as text: the routes module reads a one-line string naming an existing file as
        a path, and a paste must not read the server's files (verdicts.route_config)."""
        if self.is_route:
            return {
                "config_text": route_config(self.config),
                "model_group": self.group,
                "include_warnings": self.include_warnings,
            }
        return {"target": self.target, "include_warnings": self.include_warnings}


def ask_from(data: QueryDict, *, route: bool) -> RepairAsk:
    """The ask in a query string or a form. A route only from a POST (`route=True`): proxy
    configs carry keys, which do not belong in URLs and server logs."""
    return RepairAsk(
        target=data.get("target", "").strip() or None,
        config=data.get("config", "")[:ROUTE_CONFIG_MAX] if route else "",
        group=data.get("group", "").strip()[:GROUP_MAX] if route else "",
        include_warnings=data.get("include_warnings", "") in ("1", "on", "true"),
    )


def expected_from(data: QueryDict) -> int | None:
    """The revision number the form was built on (optimistic concurrency), None when missing."""
    try:
        number = int(data.get("expected", ""))
    except ValueError:
        return None
    return number if number > 0 else None


# --- the preview, as the page shows it ----------------------------------------------------------


def preview_dict(revision: Revision, ask: RepairAsk) -> dict:
    """What the repair would change in `revision` and the verdicts before and after. Raises
    HistoryError (a bad route, an unknown target) with words for the page."""
    result = repairs.repair_preview(revision, **ask.domain_kwargs())
    return preview_shown(repairs.preview_record(revision, result), ask)


def preview_shown(record: dict, ask: RepairAsk) -> dict:
    """A preview record (repairs.preview_record: computed now, or stored by a preview job) as the
    page shows it."""
    before = [CoreVerdict.from_dict(v) for v in record["before"]]
    after = [CoreVerdict.from_dict(v) for v in record["after"]]
    pairs = [{"before": verdict_dict(b), "after": verdict_dict(a)} for b, a in zip(before, after, strict=False)]
    counted = ("error", "warning") if ask.include_warnings else ("error",)
    # RepairResult.remaining() without the target each finding belongs to; the page names it.
    remaining = [{**finding_dict(f), "target": v.target} for v in after for f in v.findings if f.severity in counted]
    return {
        "for": ask.label,
        "changed": record["changed"],
        "accepted": record["accepted"],
        "edits": record["edits"],
        "verdicts": pairs,
        "remaining": remaining,
        "diff": record["diff"],
        "written": record["written"],
    }


def writable(conversation: Conversation) -> bool:
    """Whether "Repair and write back" can be offered (repairs.writeback_refusal: the rule
    writeback_apply and conversation_resume apply)."""
    return repairs.writeback_refusal(conversation) is None


def resume_model(model: str | None) -> str:
    """The model the resume form proposes: the conversation's own, named so litellm can route it
    (a bare retired name like `claude-3-5-sonnet-20241022` is no longer in litellm's model map and
    is refused as "LLM Provider NOT provided"; `anthropic/claude-3-5-sonnet-20241022` routes)."""
    model = (model or "").removeprefix("litellm_proxy/")
    if not model or "/" in model:
        return model
    provider, bare = provider_of(model)
    return f"{provider}/{bare}" if provider else model


def repair_context(conversation: Conversation, can_repair: bool, ask: RepairAsk, user=None, **extra) -> dict:
    latest = conversation.latest_revision
    refusal = repairs.writeback_refusal(conversation)
    context = {
        "c": conversation_dict(conversation),
        "r": revision_dict(latest),
        "can_repair": can_repair,
        "ask": ask,
        "targets": target_names(),
        "writable": refusal is None,
        "writeback_refusal": refusal,
        "resume_model": resume_model(conversation.model),
        "preview": None,
        "problem": None,
        "conflict": None,
        "resume": None,
        "restore": None,
        "preview_job": None,
        **extra,
    }
    if context["restore"] is None and context["problem"] is None:
        problem = ask.problem()
        if problem is None and too_large_for_a_request(conversation.tool_call_count, latest.message_count):
            problem = _preview_in_background(context, conversation, ask, user)
        elif problem is None:
            try:
                context["preview"] = preview_dict(latest, ask)
            except HistoryError as exc:
                problem = str(exc)
        context["problem"] = problem
    return context


def _preview_in_background(context: dict, conversation: Conversation, ask: RepairAsk, user) -> str | None:
    """A history too large to preview inside a request: its preview job (queued now, or the one
    already queued or done for this ask) shown as progress, or once done as the preview itself."""
    if ask.is_route:
        why = too_large_for_a_request(conversation.tool_call_count, conversation.latest_revision.message_count)
        return (
            f"{why} A preview for a route is not computed for it: preview it for a target (computed in the "
            "background), or run a dry-run repair from the admin's conversation list."
        )
    job = tasks.preview_start(conversation, jobs.preview_options(ask.target, ask.include_warnings), user=user)
    state = jobs.preview_state(job)
    if state["record"] is not None:
        context["preview"] = preview_shown(state["record"], ask)
        return None
    if state["problem"] is None:
        context["preview_job"] = {**state, "poll": _preview_url(conversation, ask)}
    return state["problem"]


def _preview_url(conversation: Conversation, ask: RepairAsk) -> str:
    params = {
        k: v for k, v in (("target", ask.target or ""), ("include_warnings", "1" if ask.include_warnings else "")) if v
    }
    url = reverse("conversations:repair", args=[conversation.pk])
    return f"{url}?{urlencode(params)}" if params else url


def _conversation(request: HttpRequest, pk: int) -> tuple[Conversation, bool]:
    conversation, can_repair = conversation_for(request, pk)
    if conversation.latest_revision_id is None:
        raise Http404("this conversation has no revision")
    return conversation, can_repair


def _done(request: HttpRequest, url: str) -> HttpResponse:
    """Where a successful write lands: a redirect, or for htmx a full navigation to it."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# --- views ------------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def conversation_repair(request: HttpRequest, pk: int) -> HttpResponse:
    """GET (or POST with action=preview, for a route): the preview, read-only, for any viewer.
    POST: apply it as a new revision, and write it back when asked."""
    conversation, can_repair = _conversation(request, pk)
    if request.method != "POST" or request.POST.get("action") == "preview":
        ask = ask_from(request.POST if request.method == "POST" else request.GET, route=request.method == "POST")
        context = repair_context(conversation, can_repair, ask, request.user)
        return render_page(
            request, "conversations/repair.html", context, "repair", status=400 if context["problem"] else 200
        )
    return _apply(request, conversation)


def _apply(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    require_repairer(request.user)
    ask = ask_from(request.POST, route=True)
    expected = expected_from(request.POST)
    problem = ask.problem()
    if problem is None and expected is None:
        problem = "The form did not say which revision it repairs: reload the page."
    if problem is None:
        try:
            revision, result = repairs.repair_apply(
                conversation, user=request.user, expected=expected, **ask.domain_kwargs()
            )
        except Conflict as exc:
            # Nothing was written; show the repair again, computed on the revision that got there first.
            fresh, _ = _conversation(request, conversation.pk)
            context = repair_context(fresh, True, ask, request.user, conflict=str(exc))
            return render_page(request, "conversations/repair.html", context, "repair", status=409)
        except HistoryError as exc:
            problem = str(exc)
    if problem is not None:
        context = repair_context(conversation, True, ask, request.user, problem=problem)
        return render_page(request, "conversations/repair.html", context, "repair", status=400)
    url = conversation.get_absolute_url()
    if revision is None:
        messages.info(request, f"Nothing to repair for {ask.label}: revision {expected} is unchanged.")
        return _done(request, url)
    messages.success(request, applied_message(revision, ask, result))
    if request.POST.get("writeback"):
        _write_back(request, conversation, revision)
    return _done(request, url)


def applied_message(revision: Revision, ask: RepairAsk, result: RepairResult) -> str:
    edits = [e.description for e in result.edits]
    listed = "; ".join(edits[:EDITS_LISTED_MAX])
    if len(edits) > EDITS_LISTED_MAX:
        listed += f"; and {len(edits) - EDITS_LISTED_MAX} more (see the diff with revision {revision.number - 1})"
    outcome = (
        "accepted now" if result.accepted else f"still rejected: {len(result.remaining())} finding(s) no repair covers"
    )
    return (
        f"Repaired for {ask.label} as revision {revision.number} ({outcome}). "
        f"{len(edits)} edit{'s' if len(edits) != 1 else ''}: {listed}."
    )


def _write_back(request: HttpRequest, conversation: Conversation, revision: Revision) -> bool:
    """Write `revision` back and say where, or say why not (the revision stays stored)."""
    try:
        written = repairs.writeback_apply(conversation, revision, user=request.user)
    except (WriteBackError, OSError) as exc:
        messages.error(request, f"Revision {revision.number} is stored but was not written back: {exc}")
        return False
    backup = f"; the previous version is kept at {written.backup}" if written.backup else ""
    messages.success(request, f"Revision {revision.number} written back to {written.path}{backup}.")
    return True


@require_POST
def revision_writeback(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Write the latest revision back to its source (after a restore, or a repair applied
    without it). An earlier revision is restored first, so the page and the disk agree."""
    conversation, _ = _conversation(request, pk)
    require_repairer(request.user)
    revision = get_object_or_404(conversation.revisions, number=number)
    if revision.pk != conversation.latest_revision_id:
        latest = conversation.latest_revision.number
        messages.error(
            request,
            f"Revision {number} is not the latest (revision {latest} is): restore it first, then write it back.",
        )
    else:
        _write_back(request, conversation, revision)
    return redirect(conversation.get_absolute_url())


@require_POST
def revision_restore_view(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Make revision `number` the latest again, as a new revision (nothing is lost)."""
    conversation, _ = _conversation(request, pk)
    require_repairer(request.user)
    old = get_object_or_404(conversation.revisions.select_related("author"), number=number)
    expected = expected_from(request.POST)
    if expected is None:
        return HttpResponseBadRequest("The form did not say which revision is the latest: reload the page.")
    try:
        revision = revision_restore(conversation, number, user=request.user, expected=expected)
    except Conflict as exc:
        context = repair_context(
            conversation, True, RepairAsk(), request.user, conflict=str(exc), restore=revision_dict(old)
        )
        return render_page(request, "conversations/repair.html", context, "restore", status=409)
    messages.success(request, f"Restored revision {number} as revision {revision.number}.")
    return redirect(conversation.get_absolute_url())


@require_safe
def revision_download(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """A revision as a file: in its source's own format, or as an OpenAI or Anthropic request."""
    conversation, _ = _conversation(request, pk)
    revision = get_object_or_404(conversation.revisions.select_related("conversation__source"), number=number)
    wanted = request.GET.get("as", "source")
    if wanted not in DOWNLOADS:
        return HttpResponseBadRequest(f"as= must be one of {', '.join(DOWNLOADS)}")
    try:
        name, data = repairs.download_document(revision, DOWNLOADS[wanted])
    except HistoryError as exc:
        messages.error(request, f"Revision {number} cannot be downloaded as {wanted}: {exc}")
        return redirect(f"{conversation.get_absolute_url()}?rev={number}")
    name = safe_filename(name)
    response = HttpResponse(data, content_type=mimetypes.guess_type(name)[0] or "application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


def safe_filename(name: str) -> str:
    """A file name for Content-Disposition built from a log's path: letters, digits, dot, dash
    and underscore only (no quotes, separators or control characters), never hidden or empty."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip("._")[:120]
    return cleaned or "conversation.json"


@require_POST
def conversation_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the latest revision to the model with the person's continuation message; the reply
    becomes a new revision, shown as the turn it is. A refusal is shown in the provider's words
    and nothing is written."""
    conversation, _ = _conversation(request, pk)
    require_repairer(request.user)
    # provider_error: the provider's words, verbatim; problem: ours (a stale or broken form).
    resume = {
        "continuation": request.POST.get("continuation", "")[:CONTINUATION_MAX],
        "model": request.POST.get("model", "").strip()[:MODEL_MAX],
        "provider_error": None,
        "problem": None,
    }
    expected = expected_from(request.POST)
    status = 200
    if expected is None:
        resume["problem"], status = "The form did not say which revision it resumes: reload the page.", 400
    else:
        try:
            revision = repairs.conversation_resume(
                conversation,
                user=request.user,
                expected=expected,
                continuation=resume["continuation"],
                model=resume["model"] or None,
            )
        except ResumeError as exc:
            # str(exc) is the provider's message as it sent it; kind None: refused before sending.
            resume["provider_error"] = {"text": str(exc), "kind": exc.kind, "status": exc.status_code}
            status = 502
        except Conflict as exc:
            resume["problem"], status = str(exc), 409
    if status != 200:
        fresh, _ = _conversation(request, pk)
        context = repair_context(fresh, True, RepairAsk(), request.user, resume=resume)
        return render_page(request, "conversations/repair.html", context, "resume", status=status)
    reply_at = revision.message_count - 1
    messages.success(request, f"The model replied: its answer is message #{reply_at} of revision {revision.number}.")
    refused = getattr(revision, "writeback_error", None)  # set by conversation_resume when the append failed
    if refused:
        messages.error(request, f"Revision {revision.number} is stored but was not written back: {refused}")
    elif writable(conversation):
        messages.success(request, f"Revision {revision.number} written back to {conversation.source.location}.")
    return _done(request, f"{conversation.get_absolute_url()}?at={reply_at}")
