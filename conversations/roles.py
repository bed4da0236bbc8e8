"""The repairer role: who may repair, write back, restore and resume. The repair permission
(conversations.repair_conversation), or staff: admins repair too. Viewers are any logged-in user.

The one rule of the pages, the JSON API, the admin's bulk actions and the jobs they queue (a job
acts as the user who queued it, and is refused when that user lost the role since)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

REPAIR_PERMISSION = "conversations.repair_conversation"


def can_repair(user) -> bool:
    return bool(user and user.is_active and (user.is_staff or user.has_perm(REPAIR_PERMISSION)))


def require_repairer(user) -> None:
    """PermissionDenied unless `user` has the repairer role (the API answers it as its own 403)."""
    if not can_repair(user):
        raise PermissionDenied("Repairing, writing back and resuming need the repairer role.")
