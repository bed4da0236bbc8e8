"""POST /api/conversations/<id>/repair: repair the latest revision for a target, or for every
deployment of a litellm route; a dry run answers with the edits and the verdicts before and
after and stores nothing, otherwise the repaired history becomes a new revision (through
conversations.repairs, as the pages and the bulk jobs do)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from conversations.api.auth import ApiError, require_repairer
from conversations.api.http import json_body, json_response
from conversations.api.views import conversation_or_404
from conversations.history.errors import HistoryError
from conversations.history.repair import RepairResult
from conversations.history.routes import RouteError, load_config, route_deployments
from conversations.history.senders import SENDERS
from conversations.history.targets import TARGET_NAMES
from conversations.models import Route
from conversations.repairs import Conflict, repair_apply, repair_preview
from conversations.verdicts import route_config

# A repair request is a target name or a pasted router config: small.
BODY_MAX = 1024 * 1024
KEYS = {"target", "route", "dry_run", "include_warnings", "revision", "sender"}


@dataclass
class RepairAsk:
    target: str | None
    route: tuple[str, str] | None  # (config YAML text, model group), checked
    dry_run: bool
    include_warnings: bool
    expected: int | None
    sender: str | None = None  # the client whose request is judged (issue 17); default the format's


def conversation_repair(request: HttpRequest, pk: int) -> HttpResponse:
    require_repairer(request.user)
    conversation = conversation_or_404(pk)
    ask = repair_ask(json_body(request, BODY_MAX))
    latest = conversation.latest_revision
    if latest is None:
        raise ApiError(409, f"conversation {pk} has no revision to repair")
    expected = ask.expected or latest.number
    if ask.target is None and ask.route is None and conversation.route_version is not None:
        # By default the conversation's own route: the repair targets what makes it stuck.
        ask.route = (yaml.safe_dump(conversation.route_version.config), conversation.model_group)
    options = {
        "target": ask.target,
        "config_text": ask.route[0] if ask.route else None,
        "model_group": ask.route[1] if ask.route else None,
        "include_warnings": ask.include_warnings,
        "sender": ask.sender,
    }
    try:
        if ask.dry_run:
            if expected != latest.number:
                raise Conflict(conversation, expected, latest)
            revision, result = None, repair_preview(latest, **options)
        else:
            revision, result = repair_apply(conversation, user=request.user, expected=expected, **options)
    except Conflict as exc:
        raise ApiError(409, str(exc), revision=exc.latest.number if exc.latest else None) from None
    except PermissionDenied as exc:
        raise ApiError(403, str(exc)) from None
    except HistoryError as exc:
        raise ApiError(400, str(exc)) from None
    body = repair_dict(result, dry_run=ask.dry_run, revision=revision.number if revision else latest.number)
    if revision is None:
        return json_response(body)
    body["url"] = request.build_absolute_uri(reverse("api:revision", args=[pk, revision.number]))
    return json_response(body, status=201, Location=body["url"])


def repair_ask(body: dict) -> RepairAsk:
    """The request body, checked: ApiError 400 naming what is wrong."""
    unknown = sorted(set(body) - KEYS)
    if unknown:
        raise ApiError(400, f"unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(KEYS))}")
    if body.get("target") is not None and body.get("route") is not None:
        raise ApiError(400, "give `target` or `route`, not both")
    target = body.get("target")
    if target is not None and target not in TARGET_NAMES:
        raise ApiError(400, f"target: {target!r} is not one of {', '.join(TARGET_NAMES)}")
    route = _route(body["route"]) if body.get("route") is not None else None
    sender = body.get("sender")
    if sender is not None and sender not in SENDERS:
        raise ApiError(400, f"sender: {sender!r} is not one of {', '.join(SENDERS)}")
    expected = body.get("revision")
    if expected is not None and (not isinstance(expected, int) or isinstance(expected, bool) or expected < 1):
        raise ApiError(400, "revision: expected a revision number")
    return RepairAsk(
        target=target,
        route=route,
        dry_run=_flag(body, "dry_run"),
        include_warnings=_flag(body, "include_warnings"),
        expected=expected,
        sender=sender,
    )


def _route(value: Any) -> tuple[str, str]:
    """(config YAML text, model group): a pasted config, or a route kept in the database by name."""
    if isinstance(value, dict) and isinstance(value.get("name"), str) and isinstance(value.get("model_group"), str):
        return _stored_route(value["name"], value["model_group"])
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("config"), str)
        or not isinstance(value.get("model_group"), str)
    ):
        raise ApiError(
            400,
            'route: expected {"name": <a route>, "model_group": <name>} or '
            '{"config": <litellm config, YAML text>, "model_group": <name>}',
        )
    try:
        # Parsed first, as the pages parse a pasted config: routes.load_config also reads a path,
        # and an API client must not point it at the server's files. Only a YAML mapping goes on.
        config = route_config(value["config"])
    except RouteError as exc:
        raise ApiError(400, f"route.config: {exc}") from None
    try:
        route_deployments(load_config(config), value["model_group"])
    except HistoryError as exc:
        raise ApiError(400, f"route: {exc}") from None
    return value["config"], value["model_group"]


def _stored_route(name: str, group: str) -> tuple[str, str]:
    route = Route.objects.filter(name=name).select_related("current").first()
    if route is None or route.current is None:
        known = ", ".join(Route.objects.exclude(current=None).values_list("name", flat=True)) or "none"
        raise ApiError(400, f"route.name: no route {name!r}; routes: {known}")
    try:
        route_deployments(route.current.config, group)
    except HistoryError as exc:
        raise ApiError(400, f"route: {exc}") from None
    return yaml.safe_dump(route.current.config), group


def _flag(body: dict, key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"{key}: expected true or false")
    return value


def repair_dict(result: RepairResult, *, dry_run: bool, revision: int) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "changed": result.changed,
        "revision": revision,
        "url": None,
        "edits": [e.to_dict() for e in result.edits],
        "before": [v.to_dict() for v in result.before],
        "after": [v.to_dict() for v in result.after],
    }
