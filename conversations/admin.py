"""The admin, for the people who run the inspector: conversations, revisions, findings, sources,
background jobs and the audit log. Every row links to its conversation's inspector page.

Bulk actions on conversations (on a selection, or on everything the current filter matches with
Django's "select all N"), each a confirmation page first and then a background job
(conversations.jobs) whose page shows live progress:

    re-check                 conversations.change_conversation
    dry-run repair           the repairer role (conversations.repairs.can_repair: the repair
    repair                     permission, or staff), as on the pages and in the API
    repair and write back
    export repaired files
    delete (soft)            conversations.delete_conversation

Django's own delete_selected is removed: it would delete rows for good, past the audit log and
the retention period (`manage.py prune` does that, later). Revisions, findings, sources and the
audit log are read-only here: ingest, repairs and jobs write them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from conversations import jobs
from conversations.models import AuditEvent, Conversation, Finding, Job, JobItem, Revision, Source, Verdict


def inspector_link(conversation_id: int | None) -> str:
    if conversation_id is None:
        return "—"
    return format_html('<a href="{}">inspect</a>', reverse("conversations:detail", args=[conversation_id]))


def _own_verdict() -> QuerySet:
    """The verdict of a conversation's latest revision for its own target (one row at most)."""
    return Verdict.objects.filter(revision=OuterRef("latest_revision"), own_target=True)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that the product writes (ingest, repairs, jobs): viewed here, never edited."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- conversation filters ------------------------------------------------------------------------------


class StateFilter(admin.SimpleListFilter):
    """Live conversations unless asked: a soft-deleted one waits for `prune` but is out of sight."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("deleted", "deleted"), ("all", "all")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "display": "live",
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "display": label,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
            }

    def queryset(self, request, queryset):
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "all":
            return queryset
        return queryset.filter(deleted_at__isnull=True)


class VerdictFilter(admin.SimpleListFilter):
    """The own target's verdict on the latest revision."""

    title = "verdict"
    parameter_name = "verdict"

    def lookups(self, request, model_admin):
        return [
            ("rejected", "rejected"),
            ("warnings", "accepted with warnings"),
            ("accepted", "accepted"),
            ("unchecked", "not checked"),
        ]

    def queryset(self, request, queryset):
        own = _own_verdict()
        conditions = {
            "rejected": Exists(own.filter(accepted=False)),
            "warnings": Exists(own.filter(accepted=True, warnings__gt=0)),
            "accepted": Exists(own.filter(accepted=True, warnings=0)),
            "unchecked": ~Exists(own),
        }
        return queryset.filter(conditions[self.value()]) if self.value() in conditions else queryset


class RuleFilter(admin.SimpleListFilter):
    """Conversations whose latest revision has a finding of this rule (for any target checked)."""

    title = "rule"
    parameter_name = "rule"

    def lookups(self, request, model_admin):
        rules = (
            Finding.objects.exclude(severity=Finding.Severity.INFO)
            .order_by("rule")
            .values_list("rule", flat=True)
            .distinct()
        )
        return [(rule, rule) for rule in rules]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(Exists(Finding.objects.filter(revision=OuterRef("latest_revision"), rule=self.value())))


class SourceFilter(admin.SimpleListFilter):
    """By source: the most recently read ones are listed; the source column links to any other."""

    title = "source"
    parameter_name = "source"
    LISTED = 20

    def lookups(self, request, model_admin):
        sources = Source.objects.order_by("-updated_at")[: self.LISTED]
        listed = [(str(s.pk), _short(s.location)) for s in sources]
        chosen = self.value()
        if chosen and chosen.isdigit() and chosen not in {pk for pk, _ in listed}:
            source = Source.objects.filter(pk=chosen).first()
            if source is not None:
                listed.append((chosen, _short(source.location)))
        return listed

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(source_id=value) if value and value.isdigit() else queryset


def _short(location: str, keep: int = 60) -> str:
    return location if len(location) <= keep else "…" + location[-keep + 1 :]


# --- bulk actions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkAction:
    kind: str
    title: str
    explanation: str
    permission: str
    fields: tuple[str, ...] = ()


BULK_ACTIONS = {
    Job.Kind.RECHECK: BulkAction(
        Job.Kind.RECHECK,
        "Re-check conversations",
        "Each conversation's latest revision is checked again with the current rules; the stored "
        "verdicts are replaced. Nothing in the conversations changes.",
        "recheck",
    ),
    Job.Kind.DRY_RUN: BulkAction(
        Job.Kind.DRY_RUN,
        "Dry-run repair",
        "Computes what a repair would change, without writing anything: how many conversations "
        "would change, the rules repaired, and a few sample diffs.",
        "repair",
        ("target", "include_warnings"),
    ),
    Job.Kind.REPAIR: BulkAction(
        Job.Kind.REPAIR,
        "Repair conversations",
        "Each conversation that needs it gets a new revision with the repaired history; the earlier "
        "revisions stay and can be restored. A conversation that changes after the job is queued is "
        "skipped and reported.",
        "repair",
        ("target", "include_warnings", "reason"),
    ),
    Job.Kind.WRITE_BACK: BulkAction(
        Job.Kind.WRITE_BACK,
        "Repair and write back",
        "As Repair, and the repaired history is also written back to its file, in its own format, "
        "atomically with a backup beside it; only under the write-back roots the settings allow, "
        "and never over a file that changed since it was read. Uploads and litellm logs are skipped.",
        "repair",
        ("target", "include_warnings", "reason"),
    ),
    Job.Kind.EXPORT: BulkAction(
        Job.Kind.EXPORT,
        "Export repaired files",
        "A zip of each conversation's repaired history in its own format (a litellm log as the "
        "OpenAI request it carried). Nothing is stored as a revision.",
        "repair",
        ("target", "include_warnings"),
    ),
    Job.Kind.DELETE: BulkAction(
        Job.Kind.DELETE,
        "Delete conversations",
        "The conversations are hidden from every page and list. They and their revisions are kept "
        "until the retention period ends, then `manage.py prune` removes them.",
        "soft_delete",
        ("reason",),
    ),
}


class JobOptionsForm(forms.Form):
    target = forms.ChoiceField(
        required=False, label="Repair for", help_text="the provider the repaired history must satisfy"
    )
    include_warnings = forms.BooleanField(required=False, label="Fix warnings too")
    reason = forms.CharField(
        required=False, max_length=200, label="Reason", help_text="kept with each new revision and in the audit log"
    )

    def __init__(self, *args, action: BulkAction, **kwargs):
        super().__init__(*args, **kwargs)
        from conversations.history.targets import TARGET_NAMES

        self.fields["target"].choices = [("", "each conversation's own target")] + [(t, t) for t in TARGET_NAMES]
        for name in [n for n in self.fields if n not in action.fields]:
            del self.fields[name]

    def options(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if value not in ("", None, False)}


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "title_column",
        "verdict_column",
        "provider",
        "model",
        "format",
        "message_count",
        "revision_column",
        "source_column",
        "activity_at",
        "inspect",
    )
    list_display_links = ("title_column",)
    list_filter = (
        StateFilter,
        VerdictFilter,
        RuleFilter,
        "provider",
        "model",
        "format",
        SourceFilter,
        ("activity_at", admin.DateFieldListFilter),
    )
    search_fields = ("title", "external_id", "locator", "model", "source__location")
    date_hierarchy = "activity_at"
    list_select_related = ("source",)
    list_per_page = 100
    show_full_result_count = False
    actions = [
        "recheck_action",
        "dry_run_action",
        "repair_action",
        "write_back_action",
        "export_action",
        "delete_action",
    ]
    readonly_fields = (
        "inspect",
        "title",
        "source",
        "locator",
        "format",
        "external_id",
        "model",
        "provider",
        "first_at",
        "last_at",
        "message_count",
        "tool_call_count",
        "token_count",
        "latest_revision",
        "created_at",
        "updated_at",
        "deleted_at",
    )
    fields = readonly_fields

    def get_queryset(self, request):
        own = _own_verdict()
        return (
            super()
            .get_queryset(request)
            .annotate(
                own_accepted=Subquery(own.values("accepted")[:1]),
                own_warnings=Subquery(own.values("warnings")[:1]),
                own_rule=Subquery(own.values("first_rule")[:1]),
                revision_number=F("latest_revision__number"),
            )
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # deleting is the soft-delete action; rows go only through `prune`

    def has_recheck_permission(self, request) -> bool:
        return request.user.has_perm("conversations.change_conversation")

    def has_repair_permission(self, request) -> bool:
        # The one repairer rule of pages, API and domain (conversations.repairs.can_repair).
        from conversations.repairs import can_repair

        return can_repair(request.user)

    def has_soft_delete_permission(self, request) -> bool:
        return request.user.has_perm("conversations.delete_conversation")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # columns

    @admin.display(description="conversation", ordering="title")
    def title_column(self, obj: Conversation) -> str:
        return str(obj)[:80]

    @admin.display(description="verdict", ordering="own_accepted")
    def verdict_column(self, obj: Conversation) -> str:
        accepted = getattr(obj, "own_accepted", None)
        if accepted is None:
            return "—"
        if not accepted:
            return format_html("<strong>rejected</strong> · {}", obj.own_rule or "?")
        return f"accepted · {obj.own_warnings} warning(s)" if obj.own_warnings else "accepted"

    @admin.display(description="rev", ordering="revision_number")
    def revision_column(self, obj: Conversation):
        return getattr(obj, "revision_number", None) or "—"

    @admin.display(description="source", ordering="source__location")
    def source_column(self, obj: Conversation) -> str:
        url = reverse("admin:conversations_conversation_changelist") + f"?source={obj.source_id}"
        return format_html('<a href="{}" title="{}">{}</a>', url, obj.source.location, _short(obj.source.location, 40))

    @admin.display(description="inspector")
    def inspect(self, obj: Conversation) -> str:
        return inspector_link(obj.pk)

    # actions: each one a confirmation page, then a job

    @admin.action(description="Re-check with the current rules", permissions=["recheck"])
    def recheck_action(self, request, queryset):
        return self._bulk(request, queryset, BULK_ACTIONS[Job.Kind.RECHECK], "recheck_action")

    @admin.action(description="Dry-run repair (a report, nothing changes)", permissions=["repair"])
    def dry_run_action(self, request, queryset):
        return self._bulk(request, queryset, BULK_ACTIONS[Job.Kind.DRY_RUN], "dry_run_action")

    @admin.action(description="Repair", permissions=["repair"])
    def repair_action(self, request, queryset):
        return self._bulk(request, queryset, BULK_ACTIONS[Job.Kind.REPAIR], "repair_action")

    @admin.action(description="Repair and write back to the source files", permissions=["repair"])
    def write_back_action(self, request, queryset):
        return self._bulk(request, queryset, BULK_ACTIONS[Job.Kind.WRITE_BACK], "write_back_action")

    @admin.action(description="Export repaired files (zip)", permissions=["repair"])
    def export_action(self, request, queryset):
        return self._bulk(request, queryset, BULK_ACTIONS[Job.Kind.EXPORT], "export_action")

    @admin.action(description="Delete (soft: kept until pruned)", permissions=["soft_delete"])
    def delete_action(self, request, queryset):
        return self._bulk(request, queryset, BULK_ACTIONS[Job.Kind.DELETE], "delete_action")

    def _bulk(self, request: HttpRequest, queryset: QuerySet, action: BulkAction, name: str) -> HttpResponse:
        """As delete_selected: the first post shows what will happen; the confirmation posts back
        with post=yes (permissions are checked again on that request) and queues the job."""
        if not getattr(self, f"has_{action.permission}_permission")(request):
            raise PermissionDenied
        queryset = queryset.filter(deleted_at__isnull=True)
        select_across = request.POST.get("select_across") == "1"
        if request.POST.get("post") == "yes":
            form = JobOptionsForm(request.POST, action=action)
            if form.is_valid():
                job = jobs.job_start(action.kind, queryset, user=request.user, options=form.options())
                self.message_user(
                    request,
                    f"Queued job {job.pk}: {action.title.lower()}, {job.total} conversation(s).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:conversations_job_change", args=[job.pk]))
        else:
            form = JobOptionsForm(action=action)
        count = queryset.count()
        if not count:
            self.message_user(request, "No live conversation is selected: nothing to do.", messages.WARNING)
            return None
        own = _own_verdict()
        # The changelist only runs an action when at least one box is ticked, even across all.
        selected = [str(pk) for pk in queryset.values_list("pk", flat=True)[: 1 if select_across else None]]
        context = {
            **self.admin_site.each_context(request),
            "title": action.title,
            "opts": self.model._meta,
            "action": action,
            "action_name": name,
            "form": form,
            "count": count,
            "sample": queryset.select_related("source")[:20],
            "rejected": queryset.filter(Exists(own.filter(accepted=False))).count(),
            "unchecked": queryset.filter(~Exists(own)).count(),
            "select_across": select_across,
            "selected": selected,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/conversations/conversation/bulk_confirmation.html", context)


# --- revisions, findings, sources ------------------------------------------------------------------------


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "number", "reason", "author", "message_count", "rules_version", "created_at", "inspect")
    list_filter = (
        ("created_at", admin.DateFieldListFilter),
        ("author", admin.RelatedOnlyFieldListFilter),
        "conversation__provider",
    )
    search_fields = ("reason", "conversation__title", "conversation__external_id", "content_hash")
    date_hierarchy = "created_at"
    list_select_related = ("conversation", "author")
    show_full_result_count = False
    exclude = ("head_data", "chunks")
    readonly_fields = ("inspect",)

    @admin.display(description="inspector")
    def inspect(self, obj: Revision) -> str:
        return inspector_link(obj.conversation_id)


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = (
        "rule",
        "severity",
        "target",
        "provider",
        "conversation_column",
        "revision_number",
        "message_index",
        "fix",
        "inspect",
    )
    list_filter = ("severity", "rule", "provider", "target", ("revision__created_at", admin.DateFieldListFilter))
    search_fields = ("rule", "provider_error", "explanation", "revision__conversation__title")
    date_hierarchy = "revision__created_at"
    list_select_related = ("revision__conversation",)
    show_full_result_count = False
    readonly_fields = ("inspect",)

    @admin.display(description="conversation", ordering="revision__conversation__title")
    def conversation_column(self, obj: Finding) -> str:
        return str(obj.revision.conversation)[:60]

    @admin.display(description="rev", ordering="revision__number")
    def revision_number(self, obj: Finding) -> int:
        return obj.revision.number

    @admin.display(description="inspector")
    def inspect(self, obj: Finding) -> str:
        return inspector_link(obj.revision.conversation_id)


@admin.register(Source)
class SourceAdmin(ReadOnlyAdmin):
    list_display = ("location", "kind", "format", "size", "conversation_count", "updated_at")
    list_filter = ("kind", "format", ("updated_at", admin.DateFieldListFilter))
    search_fields = ("location",)
    date_hierarchy = "updated_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(conversations_n=Count("conversations"))

    @admin.display(description="conversations", ordering="conversations_n")
    def conversation_count(self, obj: Source) -> str:
        url = reverse("admin:conversations_conversation_changelist") + f"?source={obj.pk}&state=all"
        return format_html('<a href="{}">{}</a>', url, obj.conversations_n)


# --- jobs -------------------------------------------------------------------------------------------------


def _items_count(**filters) -> Coalesce:
    counted = (
        JobItem.objects.filter(job=OuterRef("pk"), **filters)
        .order_by()
        .values("job")
        .annotate(n=Count("id"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(counted), 0)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """The list of jobs; a job's page is its live progress (htmx polling), with cancel."""

    list_display = (
        "__str__",
        "kind",
        "status",
        "progress_column",
        "problems_column",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("kind", "status", ("created_at", admin.DateFieldListFilter))
    date_hierarchy = "created_at"
    list_select_related = ("created_by",)

    def get_queryset(self, request):
        # Correlated counts, computed for the rows of the page only (a JOIN and GROUP BY would
        # count every item of every job first).
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_n=_items_count(status__in=jobs.OPEN),
                problems_n=_items_count(status__in=(JobItem.Status.FAILED, JobItem.Status.SKIPPED)),
            )
        )

    @admin.display(description="progress")
    def progress_column(self, obj: Job) -> str:
        return f"{obj.total - obj.open_n}/{obj.total}"

    @admin.display(description="failed or skipped", ordering="problems_n")
    def problems_column(self, obj: Job) -> int:
        return obj.problems_n

    def has_view_permission(self, request, obj=None):
        # Whoever queued a job may follow it, even without the right to see every job.
        if obj is not None and obj.created_by_id == request.user.pk and request.user.is_staff:
            return True
        return super().has_view_permission(request, obj)

    def has_cancel_permission(self, request, job: Job) -> bool:
        return (job.created_by_id == request.user.pk and request.user.is_staff) or request.user.has_perm(
            "conversations.change_job"
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:job_id>/cancel/", view(require_POST(self.cancel_view)), name="conversations_job_cancel"),
            path("<int:job_id>/export.zip", view(self.export_view), name="conversations_job_export"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The job's progress page; an htmx poll gets only its progress region."""
        job = get_object_or_404(Job.objects.select_related("created_by", "cancelled_by"), pk=object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return self._progress_response(request, job)

    def _progress_response(self, request, job: Job) -> TemplateResponse:
        template = "admin/conversations/job/progress.html"
        if getattr(request, "htmx", False):
            template += "#progress"
        progress = jobs.job_progress(job)
        context = {
            **self.admin_site.each_context(request),
            "title": str(job),
            "opts": self.model._meta,
            "job": job,
            "progress": progress,
            "problems": jobs.job_problems(job),
            "report": job.report,
            "can_cancel": not job.finished and self.has_cancel_permission(request, job),
            "audit_url": reverse("admin:conversations_auditevent_changelist") + f"?job={job.pk}",
        }
        return TemplateResponse(request, template, context)

    def cancel_view(self, request, job_id: int):
        job = get_object_or_404(Job, pk=job_id)
        if not self.has_cancel_permission(request, job):
            raise PermissionDenied
        if jobs.job_cancel(job, user=request.user):
            self.message_user(
                request, f"Job {job.pk} cancelled: the items not yet applied will not be.", messages.SUCCESS
            )
        job.refresh_from_db()
        if getattr(request, "htmx", False):
            return self._progress_response(request, job)
        return HttpResponseRedirect(reverse("admin:conversations_job_change", args=[job.pk]))

    def export_view(self, request, job_id: int):
        job = get_object_or_404(Job, pk=job_id, kind=Job.Kind.EXPORT)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        response = StreamingHttpResponse(jobs.export_stream(job), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-export.zip"'
        return response


# --- the audit log ------------------------------------------------------------------------------------------


class JobFilter(admin.SimpleListFilter):
    """Events of one job (AuditEvent.detail["job"]): the recent jobs, or any ?job=<id>."""

    title = "job"
    parameter_name = "job"

    def lookups(self, request, model_admin):
        listed = [(str(pk), f"job {pk}") for pk in Job.objects.order_by("-pk").values_list("pk", flat=True)[:10]]
        if self.value() and self.value().isdigit() and self.value() not in {pk for pk, _ in listed}:
            listed.append((self.value(), f"job {self.value()}"))
        return listed

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(detail__job=int(value)) if value and value.isdigit() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "action", "actor", "conversation_column", "revision", "job_column", "inspect")
    list_filter = ("action", JobFilter, ("actor", admin.RelatedOnlyFieldListFilter), ("at", admin.DateFieldListFilter))
    search_fields = ("action", "conversation__title", "actor__username")
    date_hierarchy = "at"
    list_select_related = ("actor", "conversation", "revision")
    show_full_result_count = False

    @admin.display(description="conversation", ordering="conversation__title")
    def conversation_column(self, obj: AuditEvent) -> str:
        return str(obj.conversation)[:60] if obj.conversation_id else "—"

    @admin.display(description="job")
    def job_column(self, obj: AuditEvent) -> str:
        job = (obj.detail or {}).get("job")
        if not isinstance(job, int):
            return "—"
        return format_html('<a href="{}">job {}</a>', reverse("admin:conversations_job_change", args=[job]), job)

    @admin.display(description="inspector")
    def inspect(self, obj: AuditEvent) -> str:
        return inspector_link(obj.conversation_id) if obj.conversation_id else "—"
