"""What the admin's areas share: a link to the inspector's page, read-only admins, short paths."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html


def inspector_link(conversation_id: int | None) -> str:
    if conversation_id is None:
        return "—"
    return format_html('<a href="{}">inspect</a>', reverse("conversations:detail", args=[conversation_id]))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that the product writes (ingest, repairs, jobs): viewed here, never edited."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def short(location: str, keep: int = 60) -> str:
    return location if len(location) <= keep else "…" + location[-keep + 1 :]
