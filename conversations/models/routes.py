"""Routes: the litellm configs conversations are judged through (conversations.routing), each
content a version, and the admin's rules that map conversations onto them."""

from __future__ import annotations

from django.db import models

from conversations.models import Source


class Route(models.Model):
    """A litellm proxy or Router config, by name: read from a file of INSPECTOR_ROUTE_CONFIGS (its
    stem) or entered by an admin (which wins over a file of the same name)."""

    class Origin(models.TextChoices):
        FILE = "file", "file"
        ADMIN = "admin", "admin"

    name = models.CharField(max_length=100, unique=True)
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.ADMIN)
    path = models.CharField(max_length=1024, blank=True, help_text="the file it is read from")
    current = models.ForeignKey("RouteVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return self.name


class RouteVersion(models.Model):
    """One content of a route, without credentials (routes.without_credentials); never changed."""

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    config = models.JSONField()
    removed = models.JSONField(default=list, blank=True, help_text="where credentials were taken out")
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["route", "number"], name="unique_route_version")]

    def __str__(self) -> str:
        return f"{self.route} v{self.number}"


class RouteRule(models.Model):
    """An admin's mapping onto a route: the first match (by position) gives route and model group."""

    position = models.PositiveIntegerField(default=0)
    source_kind = models.CharField(max_length=16, choices=Source.Kind.choices, blank=True)
    location_glob = models.CharField(max_length=1024, blank=True)
    model_regex = models.CharField(max_length=255, blank=True)
    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="rules")
    model_group = models.CharField(max_length=255)

    class Meta:
        ordering = ["position", "id"]
