"""Bearer-token authentication for the API, and the roles each action needs.

Never the session: a browser's login cookie does not authenticate an API call, so a page can
never be tricked into one (and the API needs no CSRF token).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from conversations.models import ApiToken, AuditEvent
from conversations.roles import can_repair

# last_used_at is for people reviewing tokens, not an audit trail: one write a minute is enough
# and keeps a busy platform's calls from writing a row each.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiError(Exception):
    """An answer other than success, with the reason the client is shown."""

    def __init__(self, status: int, reason: str, **extra):
        self.status = status
        self.reason = reason
        self.extra = extra
        super().__init__(reason)


@transaction.atomic
def api_token_create(user, *, name: str = "", actor=None) -> tuple[ApiToken, str]:
    """A new token for `user`: the stored row and the token, which only the caller sees.
    Used by the admin and by `create_api_token`."""
    token_row = ApiToken(user=user, name=name[:100])
    token = token_row.token_set()
    token_row.save()
    AuditEvent.objects.create(
        actor=actor,
        action="api_token_create",
        detail={"token": token_row.hint, "user": user.get_username(), "name": token_row.name},
    )
    return token_row, token


@transaction.atomic
def api_token_revoke(token_row: ApiToken, *, actor=None) -> bool:
    """Revoke a token (its next call gets 401). False when it already was."""
    if token_row.revoked_at is not None:
        return False
    token_row.revoked_at = timezone.now()
    token_row.save(update_fields=["revoked_at"])
    AuditEvent.objects.create(
        actor=actor, action="api_token_revoke", detail={"token": token_row.hint, "user": token_row.user.get_username()}
    )
    return True


def bearer_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if not header:
        raise ApiError(401, "no token: send the header `Authorization: Bearer <token>`")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "malformed Authorization header: expected `Bearer <token>`")
    return token


def token_authenticate(request: HttpRequest):
    """The user the request's bearer token belongs to; ApiError 401 for a missing, unknown or
    revoked token, 403 for a token whose user is disabled."""
    token = bearer_token(request)
    row = ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash_of(token)).first()
    if row is None:
        raise ApiError(401, "unknown token")
    if row.revoked_at is not None:
        raise ApiError(401, "this token was revoked")
    if not row.user.is_active:
        raise ApiError(403, "the token's user is disabled")
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user


# --- roles: viewer (any active user), repairer (the permission), admin (staff) ---------------------


def require_repairer(user) -> None:
    """The repairer role (conversations.roles), refused as the API's 403."""
    if not can_repair(user):
        raise ApiError(403, "repairing needs the repairer role (permission conversations.repair_conversation)")
