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


# Where the admin keeps, for one request, the source kinds the rules it changed named: a change of
# several positions in the list is one re-check, started once the request's saves are done.
_CHANGED_KINDS = "_inspector_rule_kinds"


@admin.register(RouteRule)
class RouteRuleAdmin(admin.ModelAdmin):
    """A changed, added or deleted rule may move conversations to another route (or off one): each
    request that changes rules starts one re-check of the conversations of the kinds they name."""

    form = RouteRuleForm
    list_display = ("position", "source_kind", "location_glob", "model_regex", "route", "model_group")
    list_editable = ("position",)
    list_display_links = ("route",)

    def save_model(self, request, obj: RouteRule, form, change):
        before = RouteRule.objects.filter(pk=obj.pk).values_list("source_kind", flat=True).first()
        super().save_model(request, obj, form, change)
        _changed(request, {obj.source_kind} | ({before} if before is not None else set()))

    def delete_model(self, request, obj: RouteRule):
        _changed(request, {obj.source_kind})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        _changed(request, set(queryset.values_list("source_kind", flat=True)))
        super().delete_queryset(request, queryset)

    def changeform_view(self, request, *args, **kwargs):
        return _then_recheck(request, super().changeform_view(request, *args, **kwargs))

    def changelist_view(self, request, *args, **kwargs):
        return _then_recheck(request, super().changelist_view(request, *args, **kwargs))

    def delete_view(self, request, *args, **kwargs):
        return _then_recheck(request, super().delete_view(request, *args, **kwargs))


def _changed(request, kinds: set[str]) -> None:
    setattr(request, _CHANGED_KINDS, getattr(request, _CHANGED_KINDS, set()) | kinds)


def _then_recheck(request, response):
    kinds = getattr(request, _CHANGED_KINDS, None)
    if kinds:
        delattr(request, _CHANGED_KINDS)
        started = tasks.rule_rechecks_start(kinds, user=request.user)
        messages.info(request, f"route rules changed; re-checking {started} conversation(s) in the background")
    return response
