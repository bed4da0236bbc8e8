"""Revisions, findings and sources in the admin: read-only (ingest, repairs and jobs write them),
each row linking to its conversation's inspector page."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from conversations.admin.common import ReadOnlyAdmin, inspector_link
from conversations.models import Finding, Revision, Source


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
