"""Who may do what: every page, admin page, admin action and API endpoint, for each role.

The tables below are the spec. The URL names are enumerated from the resolvers, so a view added
later without a row here fails `test_every_url_has_a_row` instead of escaping the matrix.

Roles: anon (not logged in), viewer (any logged-in user), repairer (the repair permission),
admin (staff superuser). API callers: no token, wrong token, revoked token, viewer token,
repairer token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from conversations.api.auth import api_token_create, api_token_revoke
from conversations.ingest import ingest_path
from conversations.models import Conversation, Route, RouteRule
from conversations.routing import route_version_save
from tests.support import FIXTURES

UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"
ROLES = ("anon", "viewer", "repairer", "admin")
LOGIN = "login"  # a 302 to the login page (the pages' or the admin's)


@dataclass(frozen=True)
class Row:
    """One request and the status each role gets. kwargs use {pk}; data is the POST body."""

    name: str
    method: str
    statuses: tuple  # anon, viewer, repairer, admin
    kwargs: tuple = ()
    data: tuple = ()
    query: str = ""


def row(name, method, anon, viewer, repairer, admin_, *, kwargs=(), data=(), query=""):
    return Row(name, method, (anon, viewer, repairer, admin_), tuple(kwargs), tuple(data), query)


PK = (("pk", "{pk}"),)
REV = (("pk", "{pk}"), ("number", 1))

# --- the pages (conversations.urls) -------------------------------------------------------------------
#   name                   method  anon   viewer repairer admin
PAGES = [
    row("list", "GET", LOGIN, 200, 200, 200),
    row("upload", "POST", LOGIN, 302, 302, 302),  # no file: back to the list, with a message
    row("detail", "GET", LOGIN, 200, 200, 200, kwargs=PK),
    row("detail-json", "GET", LOGIN, 200, 200, 200, kwargs=PK),
    row("raw", "GET", LOGIN, 200, 200, 200, kwargs=PK + (("index", 0),)),
    row("wire", "GET", LOGIN, 200, 200, 200, kwargs=PK + (("target", "anthropic"),)),
    row("diff", "GET", LOGIN, 200, 200, 200, kwargs=PK),
    row("route", "POST", LOGIN, 400, 400, 400, kwargs=PK),  # empty form: told what to paste
    row("explain", "POST", LOGIN, 400, 400, 400, kwargs=PK),
    row("repair", "GET", LOGIN, 200, 200, 200, kwargs=PK, query="?target=anthropic"),
    row(
        "repair",
        "POST",
        LOGIN,
        403,
        302,
        302,
        kwargs=PK,
        data=(("action", "apply"), ("target", "anthropic"), ("expected", 1)),
    ),
    row("resume", "POST", LOGIN, 403, 400, 400, kwargs=PK),  # 400: the form lacks `expected`
    row("restore", "POST", LOGIN, 403, 400, 400, kwargs=REV),
    row("writeback", "POST", LOGIN, 403, 302, 302, kwargs=REV),  # outside the roots: refused, with a message
    row("download", "GET", LOGIN, 200, 200, 200, kwargs=REV),
]

# --- the admin of the conversations app ---------------------------------------------------------------
ADMIN_MODELS = ("conversation", "revision", "finding", "source", "job", "auditevent", "apitoken", "route", "routerule")
ADMIN_ONLY = (LOGIN, LOGIN, LOGIN, 200)  # staff only; everyone else is sent to the admin's login


def admin_rows() -> list[Row]:
    rows = []
    for model in ADMIN_MODELS:
        rows.append(Row(f"admin:conversations_{model}_changelist", "GET", ADMIN_ONLY))
        rows.append(Row(f"admin:conversations_{model}_change", "GET", ADMIN_ONLY, (("object_id", f"{{{model}}}"),)))
        rows.append(Row(f"admin:conversations_{model}_history", "GET", ADMIN_ONLY, (("object_id", f"{{{model}}}"),)))
    # Read-only models: the add and delete pages are refused even to an admin.
    for model, add, delete in [
        ("conversation", 403, 403),
        ("revision", 403, 403),
        ("finding", 403, 403),
        ("source", 403, 403),
        ("job", 403, 403),
        ("auditevent", 403, 403),
        ("apitoken", 200, 200),
        ("route", 200, 200),
        ("routerule", 200, 200),
    ]:
        rows.append(Row(f"admin:conversations_{model}_add", "GET", (LOGIN, LOGIN, LOGIN, add)))
        rows.append(
            Row(
                f"admin:conversations_{model}_delete",
                "GET",
                (LOGIN, LOGIN, LOGIN, delete),
                (("object_id", f"{{{model}}}"),),
            )
        )
    rows.append(Row("admin:conversations_job_cancel", "POST", (LOGIN, LOGIN, LOGIN, 302), (("job_id", "{job}"),)))
    rows.append(
        Row(
            "admin:conversations_job_export",
            "GET",
            (LOGIN, LOGIN, LOGIN, 404),  # a recheck has no zip
            (("job_id", "{job}"),),
        )
    )
    return rows


ADMIN = admin_rows()
# Each bulk action: a POST to the changelist; an admin gets the confirmation page, nobody else gets in.
ACTIONS = ["recheck_action", "dry_run_action", "repair_action", "write_back_action", "export_action", "delete_action"]
# Done at once, no confirmation: the admin is sent back to the list (302), nobody else gets in.
IMMEDIATE_ACTIONS = ["restore_action"]

# --- the API (conversations.api.urls) -------------------------------------------------------------------
API_CALLERS = ("none", "wrong", "revoked", "viewer", "repairer")
#   name            method  none wrong revoked viewer repairer
API = [
    ("conversations", "GET", 401, 401, 401, 200, 200),
    ("conversations", "POST", 401, 401, 401, 201, 201),
    ("conversation", "GET", 401, 401, 401, 200, 200),
    ("revision", "GET", 401, 401, 401, 200, 200),
    ("repair", "POST", 401, 401, 401, 403, 201),
    ("ingest-job", "GET", 401, 401, 401, 404, 200),  # only its owner (here the repairer) sees it
    ("openapi", "GET", 200, 200, 200, 200, 200),  # the schema is public
]


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The conversation, one row of every admin model, the cast and their tokens, made once per
    module inside a transaction that is rolled back at the end (each test nests in it and rolls
    back its own writes): ingesting once instead of per case keeps the matrix fast."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import transaction

    from conversations.jobs import job_create
    from conversations.models import AuditEvent, Finding, IngestJob, Job

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            users = get_user_model().objects
            cast = {
                "viewer": users.create_user("matrix-viewer", password="x-pass-1"),
                "repairer": users.create_user("matrix-repairer", password="x-pass-1"),
                "admin": users.create_superuser("matrix-admin", password="x-pass-1"),
            }
            cast["repairer"].user_permissions.add(Permission.objects.get(codename="repair_conversation"))
            outcome = ingest_path(UNANSWERED)
            assert outcome.status == "ingested", outcome.error
            conversation = Conversation.objects.get(pk=outcome.added[0])
            job = job_create(Job.Kind.RECHECK, Conversation.objects.filter(pk=conversation.pk), user=cast["admin"])
            token_row, _ = api_token_create(cast["admin"], name="matrix")
            route = Route.objects.create(name="matrix")
            route_version_save(
                route, {"model_list": [{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o"}}]}
            )
            rule = RouteRule.objects.create(route=route, model_group="g")
            ingest_job = IngestJob.objects.create(name="big.json", source_kind="api", created_by=cast["repairer"])
            revoked_row, revoked = api_token_create(cast["repairer"])
            api_token_revoke(revoked_row)
            tokens = {
                "none": None,
                "wrong": "ci_not-a-real-token-000000000000",
                "revoked": revoked,
                "viewer": api_token_create(cast["viewer"])[1],
                "repairer": api_token_create(cast["repairer"])[1],
            }
            objects = {
                "pk": conversation.pk,
                "conversation": conversation.pk,
                "revision": conversation.latest_revision_id,
                "finding": Finding.objects.first().pk,
                "source": conversation.source_id,
                "job": job.pk,
                "auditevent": AuditEvent.objects.first().pk,
                "apitoken": token_row.pk,
                "route": route.pk,
                "routerule": rule.pk,
                "ingestjob": ingest_job.pk,
            }
            yield {"objects": objects, "cast": cast, "tokens": tokens}
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def objects(world, db):
    return world["objects"]


@pytest.fixture
def tokens(world, db):
    return world["tokens"]


@pytest.fixture
def client_as(world, db):
    def make(role: str, **options) -> Client:
        client = Client(**options)
        if role != "anon":
            client.force_login(world["cast"][role])
        return client

    return make


def url_of(r: Row, objects: dict) -> str:
    kwargs = {k: (v.format(**objects) if isinstance(v, str) else v) for k, v in r.kwargs}
    kwargs = {k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in kwargs.items()}
    return reverse(r.name, kwargs=kwargs) + r.query


def assert_status(response, expected, url):
    if expected == LOGIN:
        assert response.status_code == 302, (url, response.status_code)
        assert "login" in response["Location"], (url, response["Location"])
    else:
        assert response.status_code == expected, (url, response.status_code, response.content[:300])


# --- completeness: no URL escapes the matrix ----------------------------------------------------------


def _names(resolver: URLResolver, namespace: str) -> set[str]:
    return {f"{namespace}:{p.name}" for p in resolver.url_patterns if isinstance(p, URLPattern) and p.name}


def test_every_page_and_api_url_has_a_row():
    root = get_resolver()
    pages = next(p for p in root.url_patterns if isinstance(p, URLResolver) and p.namespace == "conversations")
    api = next(p for p in root.url_patterns if isinstance(p, URLResolver) and p.namespace == "api")
    assert _names(pages, "conversations") == {f"conversations:{r.name}" for r in PAGES}
    assert _names(api, "api") == {f"api:{name}" for name, *_ in API}


def test_every_admin_url_of_the_app_has_a_row():
    named = set()
    for pattern in admin.site.get_urls():
        if isinstance(pattern, URLResolver):
            named |= {
                f"admin:{p.name}"
                for p in pattern.url_patterns
                if isinstance(p, URLPattern) and p.name and p.name.startswith("conversations_")
            }
    assert named == {r.name for r in ADMIN}


def test_every_admin_action_has_a_row(rf, admin_user):
    request = rf.get("/admin/conversations/conversation/")
    request.user = admin_user
    model_admin = admin.site._registry[Conversation]
    assert set(model_admin.get_actions(request)) == set(ACTIONS) | set(IMMEDIATE_ACTIONS)


# --- the pages -----------------------------------------------------------------------------------------


CASES = [
    pytest.param(r, role, status, id=f"{r.method}-{r.name}-{role}")
    for r in PAGES
    for role, status in zip(ROLES, r.statuses, strict=False)
]


@pytest.mark.django_db
@pytest.mark.parametrize("r,role,expected", CASES)
def test_page(r, role, expected, objects, client_as):
    r = Row(f"conversations:{r.name}", r.method, r.statuses, r.kwargs, r.data, r.query)
    url = url_of(r, objects)
    client = client_as(role)
    data = {k: str(v) for k, v in r.data}
    response = client.get(url) if r.method == "GET" else client.post(url, data)
    assert_status(response, expected, url)


POSTS = sorted({r.name for r in PAGES if r.method == "POST"})


@pytest.mark.django_db
@pytest.mark.parametrize("name", POSTS)
def test_every_page_post_without_a_csrf_token_is_refused(name, objects, client_as):
    r = next(r for r in PAGES if r.name == name and r.method == "POST")
    url = url_of(Row(f"conversations:{name}", "POST", r.statuses, r.kwargs, r.data), objects)
    client = client_as("admin", enforce_csrf_checks=True)
    response = client.post(url, {k: str(v) for k, v in r.data})
    assert response.status_code == 403
    assert b"CSRF" in response.content


@pytest.mark.django_db
def test_admin_action_without_a_csrf_token_is_refused(objects, client_as):
    client = client_as("admin", enforce_csrf_checks=True)
    response = client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "recheck_action", "_selected_action": [objects["pk"]]},
    )
    assert response.status_code == 403


# --- the admin -----------------------------------------------------------------------------------------


ADMIN_CASES = [
    pytest.param(r, role, status, id=f"{r.method}-{r.name.split(':')[1]}-{role}")
    for r in ADMIN
    for role, status in zip(ROLES, r.statuses, strict=False)
]


@pytest.mark.django_db
@pytest.mark.parametrize("r,role,expected", ADMIN_CASES)
def test_admin_page(r, role, expected, objects, client_as):
    url = url_of(r, objects)
    client = client_as(role)
    response = client.get(url) if r.method == "GET" else client.post(url)
    assert_status(response, expected, url)


@pytest.mark.django_db
@pytest.mark.parametrize("role,expected", list(zip(ROLES, ADMIN_ONLY, strict=False)))
@pytest.mark.parametrize("action", ACTIONS)
def test_admin_action(action, role, expected, objects, client_as):
    from conversations.models import Job

    jobs = Job.objects.count()
    url = reverse("admin:conversations_conversation_changelist")
    response = client_as(role).post(url, {"action": action, "_selected_action": [objects["pk"]]})
    assert_status(response, expected, url)
    assert Job.objects.count() == jobs  # the first POST only asks for confirmation; nothing starts


@pytest.mark.django_db
@pytest.mark.parametrize("role,expected", list(zip(ROLES, (LOGIN, LOGIN, LOGIN, 302), strict=False)))
@pytest.mark.parametrize("action", IMMEDIATE_ACTIONS)
def test_admin_immediate_action(action, role, expected, objects, client_as):
    from conversations.models import Conversation

    Conversation.objects.filter(pk=objects["pk"]).update(deleted_at="2026-01-01T00:00:00Z")
    url = reverse("admin:conversations_conversation_changelist") + "?state=deleted"
    response = client_as(role).post(url, {"action": action, "_selected_action": [objects["pk"]], "index": "0"})
    assert_status(response, expected, url)
    restored = Conversation.objects.filter(pk=objects["pk"], deleted_at__isnull=True).exists()
    assert restored == (role == "admin")


# --- the API -------------------------------------------------------------------------------------------


API_CASES = [
    pytest.param(name, method, caller, status, id=f"{method}-{name}-{caller}")
    for name, method, *statuses in API
    for caller, status in zip(API_CALLERS, statuses, strict=False)
]


def api_request(client: Client, name: str, method: str, objects: dict, token: str | None):
    kwargs = {
        "conversations": {},
        "openapi": {},
        "conversation": {"pk": objects["pk"]},
        "revision": {"pk": objects["pk"], "number": 1},
        "repair": {"pk": objects["pk"]},
        "ingest-job": {"pk": objects["ingestjob"]},
    }[name]
    url = reverse(f"api:{name}", kwargs=kwargs)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if method == "GET":
        return client.get(url, **headers)
    body = (
        UNANSWERED.read_bytes().replace(b"toolu_", b"toolu_api_")
        if name == "conversations"
        else json.dumps({"target": "anthropic", "revision": 1}).encode()
    )
    return client.post(url, body, content_type="application/json", **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("name,method,caller,expected", API_CASES)
def test_api(name, method, caller, expected, objects, tokens):
    response = api_request(Client(), name, method, objects, tokens[caller])
    assert response.status_code == expected, response.content[:300]
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")


API_AUTHED = sorted({(name, method) for name, method, *_ in API if name != "openapi"})


@pytest.mark.django_db
@pytest.mark.parametrize("name,method", API_AUTHED)
def test_the_api_never_accepts_a_session_cookie(name, method, objects, client_as):
    """A logged-in admin's browser session is not an API credential: no token, 401."""
    response = api_request(client_as("admin"), name, method, objects, None)
    assert response.status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("name,method", [(n, m) for n, m in API_AUTHED if m == "POST"])
def test_the_api_needs_no_csrf_token_with_a_bearer_token(name, method, objects, tokens):
    response = api_request(Client(enforce_csrf_checks=True), name, method, objects, tokens["repairer"])
    assert response.status_code in (200, 201)
