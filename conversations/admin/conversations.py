"""Conversations in the admin: the list with its filters, and the bulk actions on a selection (or
on everything the current filter matches), each a confirmation page and then a background job."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from conversations import tasks
from conversations.admin.common import inspector_link, short
from conversations.history.status import LABELS as STATUS_LABELS
from conversations.history.status import STATUSES
from conversations.history.targets import TARGET_NAMES
from conversations.ingest import restore_deleted
from conversations.models import (
    VERDICT_STATUSES,
    Conversation,
    Finding,
    Job,
    Source,
    Status,
    Verdict,
    verdict_status,
)
from conversations.repairs import writeback_refusal
from conversations.roles import can_repair


def _own_verdict() -> QuerySet:
    """The verdict of a conversation's latest revision for its own target (one row at most)."""
    return Verdict.objects.filter(revision=OuterRef("latest_revision"), own_target=True)


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


class StatusFilter(admin.SimpleListFilter):
    """Stuck, at risk, healthy, unchecked: the list page's and the API's status filter."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(key, STATUS_LABELS[key]) for key in STATUSES]

    def queryset(self, request, queryset):
        return queryset.filter(status=Status.named(self.value())) if self.value() in STATUSES else queryset


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
        # The list page's filter, the same query (Conversation.objects.with_verdict).
        return queryset.with_verdict(self.value()) if self.value() in VERDICT_STATUSES else queryset


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
        listed = [(str(s.pk), short(s.location)) for s in sources]
        chosen = self.value()
        if chosen and chosen.isdigit() and chosen not in {pk for pk, _ in listed}:
            source = Source.objects.filter(pk=chosen).first()
            if source is not None:
                listed.append((chosen, short(source.location)))
        return listed

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(source_id=value) if value and value.isdigit() else queryset


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
        self.fields["target"].choices = [("", "each conversation's own target")] + [(t, t) for t in TARGET_NAMES]
        for name in [n for n in self.fields if n not in action.fields]:
            del self.fields[name]

    def options(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if value not in ("", None, False)}


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "title_column",
        "status",
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
        StatusFilter,
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
        "restore_action",
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
        "status",
        "route_version",
        "model_group",
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
        # The one repairer rule of pages, API and jobs (conversations.roles).
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
        status = verdict_status(accepted, obj.own_warnings)
        if status == "rejected":
            return format_html("<strong>rejected</strong> · {}", obj.own_rule or "?")
        return f"accepted · {obj.own_warnings} warning(s)" if status == "warnings" else "accepted"

    @admin.display(description="rev", ordering="revision_number")
    def revision_column(self, obj: Conversation):
        return getattr(obj, "revision_number", None) or "—"

    @admin.display(description="source", ordering="source__location")
    def source_column(self, obj: Conversation) -> str:
        url = reverse("admin:conversations_conversation_changelist") + f"?source={obj.source_id}"
        return format_html('<a href="{}" title="{}">{}</a>', url, obj.source.location, short(obj.source.location, 40))

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

    @admin.action(description="Restore (undo delete)", permissions=["soft_delete"])
    def restore_action(self, request, queryset):
        """At once, no job: a restore only clears a date. Live ones in the selection are left be."""
        restored = restore_deleted(queryset, user=request.user)
        if restored:
            self.message_user(request, f"Restored {len(restored)} conversation(s).", messages.SUCCESS)
        else:
            self.message_user(request, "No deleted conversation is selected: nothing to restore.", messages.WARNING)

    def _sample(self, queryset: QuerySet, action: BulkAction) -> list[Conversation]:
        """The first conversations of the selection; for a write-back, each with why it will not be
        written back, if it will not (the rule the job applies: repairs.writeback_refusal)."""
        sample = list(queryset.select_related("source")[:20])
        if action.kind == Job.Kind.WRITE_BACK:
            for conversation in sample:
                conversation.writeback_refusal = writeback_refusal(conversation)
        return sample

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
                job = tasks.job_start(action.kind, queryset, user=request.user, options=form.options())
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
            "sample": self._sample(queryset, action),
            "rejected": queryset.with_verdict("rejected").count(),
            "unchecked": queryset.with_verdict("unchecked").count(),
            "select_across": select_across,
            "selected": selected,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/conversations/conversation/bulk_confirmation.html", context)
