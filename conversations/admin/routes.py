"""Routes: the litellm configs conversations are judged through, and the rules that map
conversations onto them. An admin's route wins over a file of INSPECTOR_ROUTE_CONFIGS of the same
name; each saved content is a new version (credentials taken out), and a new version re-checks the
conversations it concerns in one background job."""

from __future__ import annotations

import re

import yaml
from django import forms
from django.contrib import admin, messages

from conversations import tasks
from conversations.history import routes
from conversations.models import Route, RouteRule, RouteVersion
from conversations.routing import config_parse, route_version_save


class RouteForm(forms.ModelForm):
    config = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "spellcheck": "false"}),
        help_text="The litellm proxy config (YAML, as litellm reads it). Keys, secrets and os.environ/ "
        "references are taken out before it is kept.",
    )

    class Meta:
        model = Route
        fields = ("name",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.current if self.instance.pk else None
        if current is not None:
            self.fields["config"].initial = yaml.safe_dump(current.config, sort_keys=False)

    def clean_config(self) -> dict:
        try:
            return config_parse(self.cleaned_data["config"])
        except routes.RouteError as exc:
            raise forms.ValidationError(str(exc)) from None


class VersionInline(admin.TabularInline):
    model = RouteVersion
    fields = ("number", "created_at", "removed", "conversations_count")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-number",)

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="conversations on it")
    def conversations_count(self, version: RouteVersion) -> int:
        return version.conversations.count()


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    form = RouteForm
    list_display = ("name", "origin", "path", "current")
    readonly_fields = ("origin", "path")
    inlines = [VersionInline]

    def save_model(self, request, obj: Route, form, change):
        obj.origin = Route.Origin.ADMIN  # an admin's content wins over a file of the same name
        super().save_model(request, obj, form, change)
        version = route_version_save(obj, form.cleaned_data["config"])
        if version is None:
            return
        started = tasks.route_rechecks_start(user=request.user)
        removed = f"; taken out: {', '.join(version.removed)}" if version.removed else ""
        messages.info(
            request,
            f"{obj.name} v{version.number} kept{removed}; re-checking {started} conversation(s) in the background",
        )


class RouteRuleForm(forms.ModelForm):
    class Meta:
        model = RouteRule
        fields = ("position", "source_kind", "location_glob", "model_regex", "route", "model_group")

    def clean_model_regex(self) -> str:
        pattern = self.cleaned_data["model_regex"]
        try:
            re.compile(pattern)
        except re.error as exc:
            raise forms.ValidationError(f"not a regular expression: {exc}") from None
        return pattern

    def clean(self):
        data = super().clean()
        route, group = data.get("route"), data.get("model_group")
        if route is not None and group and route.current is not None:
            groups = routes.groups_of(route.current.config)
            if group not in groups:
                self.add_error(
                    "model_group", f"{route.name} has no group {group!r}; its groups: {', '.join(sorted(groups))}"
                )
        return data


@admin.register(RouteRule)
class RouteRuleAdmin(admin.ModelAdmin):
    form = RouteRuleForm
    list_display = ("position", "source_kind", "location_glob", "model_regex", "route", "model_group")
    list_editable = ("position",)
    list_display_links = ("route",)
