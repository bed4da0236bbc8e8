"""API tokens in the admin: add one (shown once, right after it is added: only its hash is kept),
revoke the selected ones."""

from __future__ import annotations

from django.contrib import admin, messages

from conversations.api.auth import api_token_create, api_token_revoke
from conversations.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("hint", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__username", "name", "hint")
    raw_id_fields = ("user",)
    actions = ["revoke_selected"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name")
        return ("user", "name", "hint", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("user", "hint", "created_at", "last_used_at")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        row, token = api_token_create(obj.user, name=obj.name, actor=request.user)
        obj.pk, obj.key_hash, obj.hint = row.pk, row.key_hash, row.hint
        obj._state.adding = False
        self.message_user(
            request,
            f"The token for {row.user}: {token} — copy it now: only its hash is stored, it cannot be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = sum(api_token_revoke(row, actor=request.user) for row in queryset.select_related("user"))
        self.message_user(
            request, f"Revoked {revoked} token(s); {queryset.count() - revoked} already were.", messages.SUCCESS
        )
