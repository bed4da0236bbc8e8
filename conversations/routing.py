"""Routes known once: the litellm configs a conversation's next request goes through, kept in the
database, and the verdicts of every deployment they reach.

A route comes from a file of INSPECTOR_ROUTE_CONFIGS (named by its stem, read at start and again
whenever its content changes) or from the admin (which wins over a file of the same name). Each
content is a RouteVersion, kept without credentials. Which route a conversation takes is decided
by the pure core (history.routes.route_for) from a RouteTable, a snapshot of the database that
crosses into ingest's worker processes. A new version re-checks the conversations it may concern,
in one background job per version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet

from conversations.history import routes
from conversations.history.findings import Verdict as CoreVerdict
from conversations.history.model import History
from conversations.models import Conversation, Job, Route, RouteRule, RouteVersion
from conversations.verdicts import route_config

logger = logging.getLogger(__name__)


# --- a snapshot the pure core decides with ---------------------------------------------------------


@dataclass(frozen=True)
class Routed:
    """A conversation's route and the verdicts of its deployments, in the order litellm tries them."""

    version_id: int
    route: str
    model_group: str
    why: str
    verdicts: list[CoreVerdict]


@dataclass(frozen=True)
class RouteTable:
    rules: tuple[routes.RouteRule, ...] = ()
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    default: tuple[str, str] | None = None

    def judge(self, history: History, *, kind: str, location: str) -> Routed | None:
        """The conversation's route and its deployments' verdicts; None when it takes none (it is
        judged by its own target). Pure: runs in ingest's worker processes."""
        if not self.configs:
            return None
        choice = routes.route_for(
            history,
            source_kind=kind,
            location=location,
            rules=list(self.rules),
            configs=self.configs,
            default=self.default,
        )
        if choice is None:
            return None
        try:
            verdicts = routes.check_route(history, self.configs[choice.route], choice.model_group)
        except routes.RouteError as exc:
            # A rule naming a group the route lacks: judged by its own target, and said in the log.
            logger.warning("route %s: %s", choice.route, exc)
            return None
        return Routed(self.versions[choice.route], choice.route, choice.model_group, choice.why, verdicts)


EMPTY = RouteTable()


def route_table(*, sync: bool = True) -> RouteTable:
    """The routes as they are now (their files read again first when they changed, unless the
    caller just did)."""
    if sync:
        route_files_sync()
    versions = RouteVersion.objects.filter(route__current=F("pk")).select_related("route")
    configs = {v.route.name: v.config for v in sorted(versions, key=lambda v: v.route.name)}
    rules = tuple(
        routes.RouteRule(
            route=r.route.name,
            model_group=r.model_group,
            source_kind=r.source_kind,
            location_glob=r.location_glob,
            model_regex=r.model_regex,
        )
        for r in RouteRule.objects.select_related("route")
    )
    return RouteTable(
        rules=rules,
        configs=configs,
        versions={v.route.name: v.pk for v in versions},
        default=settings.INSPECTOR_DEFAULT_ROUTE,
    )


_CACHED: tuple[tuple[Any, ...], RouteTable] | None = None


def route_table_cached() -> RouteTable:
    """route_table(), read again only when a version or a rule was added or changed since (two
    small queries): what a bulk job asks for each item."""
    global _CACHED
    route_files_sync()
    key = (
        tuple(Route.objects.order_by("pk").values_list("pk", "current_id")),
        tuple(
            RouteRule.objects.order_by("pk").values_list(
                "pk", "position", "route_id", "model_group", "source_kind", "location_glob", "model_regex"
            )
        ),
        settings.INSPECTOR_DEFAULT_ROUTE,
    )
    if _CACHED is None or _CACHED[0] != key:
        _CACHED = (key, route_table(sync=False))
    return _CACHED[1]


# --- versions: from files and from the admin --------------------------------------------------------


def config_parse(text: str) -> dict[str, Any]:
    """A route config from YAML text, every deployment named and modelled; routes.RouteError says
    what is wrong, in words for the person (verdicts.route_config is the one parser)."""
    config = routes.load_config(route_config(text))
    routes.deployments(config)
    return config


@transaction.atomic
def route_version_save(route: Route, config: dict[str, Any]) -> RouteVersion | None:
    """Keep `config` (without its credentials) as the route's new current version; None when it is
    the content the route has. tasks.route_rechecks_start() then re-checks what it concerns."""
    clean, removed = routes.without_credentials(config)
    digest = hashlib.sha256(json.dumps(clean, sort_keys=True, default=str).encode()).hexdigest()
    current = route.current
    if current is not None and current.digest == digest:
        return None
    number = (current.number + 1) if current is not None else 1
    version = RouteVersion.objects.create(route=route, number=number, config=clean, removed=removed, digest=digest)
    route.current = version
    route.save(update_fields=["current"])
    return version


# File signatures seen by this process (path -> (mtime_ns, size)): a file is read again only when
# its signature changes, so a route lookup costs a stat per file.
_SEEN: dict[str, tuple[int, int]] = {}


def route_files_sync() -> None:
    """Read the files of INSPECTOR_ROUTE_CONFIGS whose content may have changed. A file that is
    unreadable or not a config is logged with the parser's message and leaves its route as it was."""
    for raw in settings.INSPECTOR_ROUTE_CONFIGS:
        path = Path(raw)
        try:
            stat = path.stat()
        except OSError as exc:
            _warn_once(str(path), (0, 0), f"route config {path}: {exc.strerror}")
            continue
        signature = (stat.st_mtime_ns, stat.st_size)
        if (
            _SEEN.get(str(path)) == signature
            and Route.objects.filter(name=path.stem[:100]).exclude(current=None).exists()
        ):
            continue  # read already (the route is checked too: another database may be in use)
        try:
            config = config_parse(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, routes.RouteError) as exc:
            _warn_once(str(path), signature, f"route config {path}: {exc}")
            continue
        route, _ = Route.objects.get_or_create(
            name=path.stem[:100], defaults={"origin": Route.Origin.FILE, "path": str(path)}
        )
        if route.origin == Route.Origin.FILE:
            route_version_save(route, config)
        _SEEN[str(path)] = signature


def _warn_once(path: str, signature: tuple[int, int], message: str) -> None:
    if _SEEN.get(path) != signature:
        logger.warning(message)
        _SEEN[path] = signature


# --- re-checking what a new version concerns ---------------------------------------------------------


def versions_unchecked() -> list[RouteVersion]:
    """The current versions no re-check job was started for yet (one job per version, ever)."""
    started = set(
        Job.objects.filter(kind=Job.Kind.RECHECK, options__has_key="route_version").values_list(
            "options__route_version", flat=True
        )
    )
    current = RouteVersion.objects.filter(route__current=F("pk")).select_related("route").order_by("pk")
    return [v for v in current if v.pk not in started]


def rules_recheck_scope(kinds: set[str]) -> QuerySet[Conversation]:
    """The live conversations a changed mapping rule may concern: those of the source kinds the
    rule named before and after the change ("" for any kind, hence all of them). Where the
    location glob and the model pattern match is the pure core's to decide, in the re-check."""
    live = Conversation.objects.live()
    return live if "" in kinds else live.filter(source__kind__in=kinds)


def recheck_scope(version: RouteVersion) -> QuerySet[Conversation]:
    """The live conversations a new version may concern: those on its route and, for a route's
    first version, those that take no route yet (a rule or the default route may now give them
    this one)."""
    concerned = Conversation.objects.live().filter(route_version__route=version.route)
    if version.number == 1:
        concerned = concerned | Conversation.objects.live().filter(route_version__isnull=True)
    return concerned
