"""Background jobs in the admin: the list, and each job's page, its live progress (htmx polling)
with cancel and, for an export, the zip."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from conversations import jobs
from conversations.admin.common import ReadOnlyAdmin
from conversations.models import Job, JobItem


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
