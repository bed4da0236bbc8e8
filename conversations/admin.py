from django.contrib import admin

from conversations.models import AuditEvent, Conversation, Revision, Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("location", "kind", "format", "size", "updated_at")
    list_filter = ("kind", "format")
    search_fields = ("location",)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "format", "model", "provider", "message_count", "tool_call_count", "updated_at")
    list_filter = ("format", "provider")
    search_fields = ("title", "external_id", "model")
    date_hierarchy = "updated_at"
    raw_id_fields = ("source", "latest_revision")


@admin.register(Revision)
class RevisionAdmin(admin.ModelAdmin):
    list_display = ("conversation", "number", "reason", "author", "created_at")
    exclude = ("head_data", "chunks")
    raw_id_fields = ("conversation", "parent", "original")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "action", "actor", "conversation")
    list_filter = ("action",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
