"""Adding a revision to a conversation: the one write every change goes through (re-ingest aside:
ingest.py creates its revisions itself while it holds the document's transaction).

Optimistic concurrency: the caller says which revision it read (`expected`); if the latest is
another one by the time we write, nothing is written and Conflict says who got there first.
"""

from __future__ import annotations

from django.db import transaction

from conversations.history.check import RULES_VERSION
from conversations.history.findings import Verdict as CoreVerdict
from conversations.history.model import History
from conversations.ingest import conversation_summarize
from conversations.models import AuditEvent, Conversation, Revision, chunks_store, history_dump


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
            f"Nothing was written; reload to see the latest revision and try again.")


@transaction.atomic
def revision_add(conversation: Conversation, history: History, *, user, reason: str, expected: int | None,
                 action: str, detail: dict | None = None, verdicts: list[CoreVerdict] = (),
                 locked: bool = False) -> Revision:
    """A new immutable revision holding `history`, after revision number `expected`, with its own
    target's verdict: taken from `verdicts` when the caller already judged `history` for that
    target (a repair's verdicts after it), else checked here.

    The row lock on the conversation serializes concurrent writers; the second one sees a latest
    revision other than the one it expected and gets Conflict. locked=True: the caller took that
    lock in its transaction and read `conversation` under it (a bulk job's item), so it is not
    read again."""
    callers = conversation
    if not locked:
        conversation = (Conversation.objects.select_for_update(of=("self",)).select_related("latest_revision")
                        .get(pk=conversation.pk))
    latest = conversation.latest_revision
    if expected is not None and (latest is None or latest.number != expected):
        raise Conflict(callers, expected, latest)
    dumped = history_dump(history)
    revision = Revision.objects.create(
        conversation=conversation, number=(latest.number + 1) if latest else 1, parent=latest,
        head_data=dumped.head, chunks=chunks_store(dumped.chunks), message_count=dumped.message_count,
        content_hash=dumped.content_hash, original_id=latest.original_id if latest else None,
        record=latest.record if latest else None, redactions=latest.redactions if latest else [],
        rules_version=RULES_VERSION,  # its own verdict is stored below, in this transaction
        author=user if getattr(user, "is_authenticated", False) else None, reason=reason[:500])
    revision._history = history
    changed = conversation_summarize(conversation, history)
    conversation.latest_revision = revision
    conversation.save(update_fields=[*changed, "latest_revision", "updated_at"])
    AuditEvent.objects.create(
        actor=revision.author, action=action, conversation=conversation, revision=revision,
        detail={"from_revision": latest.number if latest else None, "to_revision": revision.number,
                **(detail or {})})
    _store_own_verdict(revision, verdicts)
    callers.latest_revision = revision
    return revision


def _store_own_verdict(revision: Revision, known: list[CoreVerdict]) -> None:
    from conversations.checks import own_target, own_verdict, verdicts_store

    label = own_target(revision.history).label
    verdict = next((v for v in known if v.target == label), None) or own_verdict(revision.history)
    verdicts_store(revision, verdict, own=True, new_revision=True)


def revision_restore(conversation: Conversation, number: int, *, user, expected: int) -> Revision:
    """Make an earlier revision's history the latest again (as a new revision: nothing is lost)."""
    from conversations.repairs import require_repairer

    require_repairer(user)
    old = conversation.revisions.get(number=number)
    return revision_add(conversation, old.history, user=user, reason=f"restored revision {number}",
                        expected=expected, action="restore", detail={"restored": number})
