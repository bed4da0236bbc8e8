"""Adding a revision to a conversation: the one write every change goes through (re-ingest aside:
ingest.py creates its revisions itself while it holds the document's transaction).

Optimistic concurrency: the caller says which revision it read (`expected`); if the latest is
another one by the time we write, nothing is written and Conflict says who got there first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.history import routes
from conversations.history.check import RULES_VERSION
from conversations.history.findings import Verdict as CoreVerdict
from conversations.history.model import History
from conversations.ingest import history_summary, summary_apply
from conversations.models import AuditEvent, Conversation, Revision, RouteVersion
from conversations.roles import require_repairer
from conversations.storage import DumpedHistory, chunks_store, history_dump, rows_update, search_texts_store
from conversations.verdicts import own_target, own_verdict, status_refresh, verdicts_insert


class Conflict(Exception):
    """The conversation changed since the caller read it."""

    def __init__(self, conversation: Conversation, expected: int | None, latest: Revision | None):
        self.conversation = conversation
        self.expected = expected
        self.latest = latest
        who = f" by {latest.author}" if latest is not None and latest.author else ""
        super().__init__(
            f"Conversation {conversation.pk} changed since you opened it: revision "
            f"{latest.number if latest else '?'} was added{who} ({latest.reason if latest else ''}). "
            f"Nothing was written; reload to see the latest revision and try again."
        )


@dataclass
class Addition:
    """One revision to add: what revisions_write stores for it. `conversation` was read under its
    row lock in the current transaction (its latest revision is the new one's parent)."""

    conversation: Conversation
    history: History
    action: str
    reason: str
    user: Any = None
    detail: dict | None = None
    # The repair's verdicts after it, when the caller judged `history` already.
    verdicts: Sequence[CoreVerdict] = ()
    # The revision `history` was computed from, and for each of its messages the index of the
    # base message it copies (a repair's): history_dump shares the base's unchanged chunks.
    base: Revision | None = None
    origins: list[int | None] | None = None


def revision_add(
    conversation: Conversation,
    history: History,
    *,
    user,
    reason: str,
    expected: int | None,
    action: str,
    detail: dict | None = None,
    verdicts: Sequence[CoreVerdict] = (),
    locked: bool = False,
    base: Revision | None = None,
    origins: list[int | None] | None = None,
) -> Revision:
    """A new immutable revision holding `history`, after revision number `expected`, with its own
    target's verdict: taken from `verdicts` when the caller already judged `history` for that
    target (a repair's verdicts after it), else checked here. `base` and `origins` as Addition's."""
    return addition_store(
        Addition(
            conversation,
            history,
            action=action,
            reason=reason,
            user=user,
            detail=detail,
            verdicts=verdicts,
            base=base,
            origins=origins,
        ),
        expected=expected,
        locked=locked,
    )


@transaction.atomic
def addition_store(addition: Addition, *, expected: int | None, locked: bool = False) -> Revision:
    """Store one addition after revision number `expected`.

    The row lock on the conversation serializes concurrent writers; the second one sees a latest
    revision other than the one it expected and gets Conflict. locked=True: the caller took that
    lock in its transaction and read the conversation under it (a bulk job's item), so it is not
    read again."""
    callers = addition.conversation
    if not locked:
        addition = replace(
            addition,
            conversation=Conversation.objects.select_for_update(of=("self",))
            .select_related("latest_revision")
            .get(pk=callers.pk),
        )
    latest = addition.conversation.latest_revision
    if expected is not None and (latest is None or latest.number != expected):
        raise Conflict(callers, expected, latest)
    (revision,) = revisions_write([addition])
    callers.latest_revision = revision
    return revision


@transaction.atomic(savepoint=False)
def revisions_write(additions: list[Addition]) -> list[Revision]:
    """A new revision for each addition's conversation (each locked by the caller, and each
    conversation once), with the conversation's summary, its search text, an audit event and the
    own target's verdict: the same eight statements for one addition or for a bulk job's batch."""
    if not additions:
        return []
    dumped = [history_dump(a.history, base=a.base, origins=a.origins) for a in additions]
    chunks_store([chunk for d in dumped for chunk in d.chunks])
    now = timezone.now()
    revisions = Revision.objects.bulk_create([_revision(a, d) for a, d in zip(additions, dumped, strict=False)])
    changed: set[str] = set()
    searched = []
    for addition, revision in zip(additions, revisions, strict=False):
        revision._history = addition.history
        conversation = addition.conversation
        summary = history_summary(addition.history)
        if summary.get("search_text") is not None:
            searched.append((conversation.pk, summary["search_text"]))
        changed.update(summary_apply(conversation, summary))
        conversation.latest_revision = revision
        conversation.updated_at = now
    rows_update([a.conversation for a in additions], [*sorted(changed), "latest_revision", "updated_at"])
    search_texts_store(searched)
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor=revision.author,
                action=a.action,
                conversation=a.conversation,
                revision=revision,
                detail={
                    "from_revision": revision.number - 1 if revision.parent_id else None,
                    "to_revision": revision.number,
                    **(a.detail or {}),
                },
            )
            for a, revision in zip(additions, revisions, strict=False)
        ]
    )
    _own_verdicts_store(additions, revisions)
    _route_verdicts_store(additions, revisions)
    status_refresh([a.conversation.pk for a in additions])
    return revisions


def _revision(addition: Addition, dumped: DumpedHistory) -> Revision:
    latest = addition.conversation.latest_revision
    user = addition.user
    return Revision(
        conversation=addition.conversation,
        number=(latest.number + 1) if latest else 1,
        parent=latest,
        **dumped.revision_fields(),
        original_id=latest.original_id if latest else None,
        record=latest.record if latest else None,
        redactions=latest.redactions if latest else [],
        rules_version=RULES_VERSION,  # its own verdict is stored with it, in this transaction
        author=user if getattr(user, "is_authenticated", False) else None,
        reason=addition.reason[:500],
    )


def _own_verdicts_store(additions: list[Addition], revisions: list[Revision]) -> None:
    rows = []
    for addition, revision in zip(additions, revisions, strict=False):
        label = own_target(addition.history).label
        known = next((v for v in addition.verdicts if v.target == label), None)
        rows.append((revision, known or own_verdict(addition.history)))
    verdicts_insert(rows, own=True)


def _route_verdicts_store(additions: list[Addition], revisions: list[Revision]) -> None:
    """The new revisions of conversations on a route are judged by every deployment it reaches,
    as ingest judged their first."""
    versions = RouteVersion.objects.in_bulk({a.conversation.route_version_id for a in additions} - {None})
    for addition, revision in zip(additions, revisions, strict=False):
        version = versions.get(addition.conversation.route_version_id)
        if version is None:
            continue
        try:
            verdicts = routes.check_route(addition.history, version.config, addition.conversation.model_group)
        except routes.RouteError:
            continue  # the group left the route: ingest or a re-check finds its new route
        verdicts_insert([(revision, v) for v in verdicts], route_version_id=version.pk)


def revision_restore(conversation: Conversation, number: int, *, user, expected: int) -> Revision:
    """Make an earlier revision's history the latest again (as a new revision: nothing is lost)."""
    require_repairer(user)
    old = conversation.revisions.get(number=number)
    return revision_add(
        conversation,
        old.history,
        user=user,
        reason=f"restored revision {number}",
        expected=expected,
        action="restore",
        detail={"restored": number},
    )
