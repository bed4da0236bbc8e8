"""API authentication: bearer tokens only (never the session), per user, revocable, made by the
admin or `create_api_token`; 401 without a good token, 403 without the role an action needs."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from conversations.api.auth import api_token_create, api_token_revoke
from conversations.models import ApiToken, AuditEvent
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db

LIST = "/api/conversations"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_call_without_a_token_is_refused_with_a_reason(client):
    response = client.get(LIST)

    assert response.status_code == 401
    assert response.json()["reason"].startswith("no token")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer ci_not-a-real-token", "Token abc", "Bearer", "Basic dXNlcjpwYXNz"])
def test_a_wrong_or_malformed_token_is_refused(client, viewer, header):
    api_token_create(viewer)

    response = client.get(LIST, headers={"Authorization": header})

    assert response.status_code == 401
    assert response.json()["reason"]


def test_a_logged_in_browser_session_does_not_authenticate_the_api(client, admin_user):
    client.force_login(admin_user)

    response = client.get(LIST)

    assert response.status_code == 401


def test_a_valid_token_authenticates_and_records_when_it_was_used(client, viewer):
    row, token = api_token_create(viewer, name="platform")
    assert row.last_used_at is None

    response = client.get(LIST, headers=bearer(token))

    assert response.status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_only_a_hash_of_the_token_is_stored(viewer):
    row, token = api_token_create(viewer)

    stored = ApiToken.objects.filter(pk=row.pk).values().get()
    assert token not in {str(v) for v in stored.values()}
    assert stored["key_hash"] == ApiToken.hash_of(token)
    assert token.startswith(stored["hint"])


def test_a_revoked_token_is_refused(client, viewer):
    row, token = api_token_create(viewer)
    assert api_token_revoke(row) is True

    response = client.get(LIST, headers=bearer(token))

    assert response.status_code == 401
    assert "revoked" in response.json()["reason"]
    assert api_token_revoke(row) is False  # twice is a no-op
    assert AuditEvent.objects.filter(action="api_token_revoke").count() == 1


def test_a_disabled_users_token_may_do_nothing(client, viewer):
    _, token = api_token_create(viewer)
    viewer.is_active = False
    viewer.save()

    listing = client.get(LIST, headers=bearer(token))
    posting = client.post(
        LIST,
        b'{"messages": [{"role": "user", "content": "hi"}]}',
        content_type="application/json",
        headers=bearer(token),
    )

    assert (listing.status_code, posting.status_code) == (403, 403)
    assert "disabled" in posting.json()["reason"]


def test_tokens_belong_to_their_user(client, viewer, repairer):
    _, viewer_token = api_token_create(viewer)
    _, repairer_token = api_token_create(repairer)
    posted = client.post(
        LIST,
        (FIXTURES / "samples" / "unanswered-tool-call.json").read_bytes(),
        content_type="application/json",
        headers=bearer(viewer_token),
    )
    pk = posted.json()["id"]

    refused = client.post(
        f"/api/conversations/{pk}/repair",
        {"target": "anthropic", "dry_run": True},
        content_type="application/json",
        headers=bearer(viewer_token),
    )
    allowed = client.post(
        f"/api/conversations/{pk}/repair",
        {"target": "anthropic", "dry_run": True},
        content_type="application/json",
        headers=bearer(repairer_token),
    )

    assert refused.status_code == 403
    assert "repair_conversation" in refused.json()["reason"]
    assert allowed.status_code == 200


def test_staff_may_repair_without_the_permission(client, django_user_model):
    staff = django_user_model.objects.create_user("staffer", password="staff-pass-1", is_staff=True)
    _, token = api_token_create(staff)
    pk = client.post(
        LIST,
        (FIXTURES / "samples" / "unanswered-tool-call.json").read_bytes(),
        content_type="application/json",
        headers=bearer(token),
    ).json()["id"]

    response = client.post(
        f"/api/conversations/{pk}/repair",
        {"target": "anthropic", "dry_run": True},
        content_type="application/json",
        headers=bearer(token),
    )

    assert response.status_code == 200


def test_the_api_needs_no_csrf_token(viewer):
    from django.test import Client

    _, token = api_token_create(viewer)
    strict = Client(enforce_csrf_checks=True)

    response = strict.post(
        LIST,
        (FIXTURES / "formats" / "openai-request.json").read_bytes(),
        content_type="application/json",
        headers=bearer(token),
    )

    assert response.status_code == 201


def test_unknown_api_urls_answer_json_not_the_login_page(client):
    response = client.get("/api/nothing-here")

    assert response.status_code == 404
    assert "openapi.json" in response.json()["reason"]


def test_a_trailing_slash_gets_a_hint(client):
    response = client.get("/api/conversations/")

    assert response.status_code == 404
    assert "no trailing slash" in response.json()["reason"]


def test_a_method_the_endpoint_does_not_take_is_405(client, viewer):
    _, token = api_token_create(viewer)

    response = client.delete(LIST, headers=bearer(token))

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


# --- making tokens ---------------------------------------------------------------------------------


def test_create_api_token_prints_a_working_token(client, viewer):
    out, err = io.StringIO(), io.StringIO()

    call_command("create_api_token", "viewer", "--name", "ci", stdout=out, stderr=err)

    token = out.getvalue().strip()
    assert client.get(LIST, headers=bearer(token)).status_code == 200
    assert ApiToken.objects.get().name == "ci"
    assert "viewer" in err.getvalue()
    assert AuditEvent.objects.filter(action="api_token_create").exists()


def test_create_api_token_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("create_api_token", "ghost", stdout=io.StringIO())


def test_the_admin_shows_a_new_token_once_and_it_works(client, admin_user, viewer):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:conversations_apitoken_add"), {"user": viewer.pk, "name": "from the admin"}, follow=True
    )

    shown = [str(m) for m in response.context["messages"]]
    token = next(word for m in shown for word in m.split() if word.startswith(ApiToken.PREFIX))
    row = ApiToken.objects.get()
    assert row.user == viewer and row.key_hash == ApiToken.hash_of(token)
    client.logout()
    assert client.get(LIST, headers=bearer(token)).status_code == 200


def test_the_admin_revokes_selected_tokens(client, admin_user, viewer):
    row, token = api_token_create(viewer)
    client.force_login(admin_user)

    client.post(
        reverse("admin:conversations_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [row.pk]},
        follow=True,
    )

    client.logout()
    assert client.get(LIST, headers=bearer(token)).status_code == 401
