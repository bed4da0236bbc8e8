"""The audit log in the admin: who did what, when, filtered by action, actor, date or job."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from conversations.admin.common import ReadOnlyAdmin, inspector_link
from conversations.models import AuditEvent, Job


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
