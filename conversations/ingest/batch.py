"""Storing many prepared documents at once: a folder of logs, or a litellm JSONL of thousands of
records, each its own conversation.

`store` writes one document with about fifteen statements, whatever its size; a folder of small
logs spent most of its time in those round trips (issue 18: 200 files of 160 KB at 4-5 MB/s,
15 statements each). Here the documents new to the database (no source at their place yet: a
first ingest) are written together, one statement a table for the whole batch, in a savepoint of
their own: all of them or none. Every other document (a file that changed, a place taken
meanwhile by another process, a document whose records share a locator), and every document of a
batch the database refused, goes through `store` one at a time, so a document fails alone and
never its batch, and nothing is written in part.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import DatabaseError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from conversations.history.check import RULES_VERSION
from conversations.history.findings import Verdict as CoreVerdict
from conversations.history.formats.document import Document, document_hash
from conversations.ingest import (
    Outcome,
    Prepared,
    PreparedConversation,
    held_audit,
    store,
    summary_apply,
    unchanged,
)
from conversations.models import AuditEvent, Conversation, Original, OriginalFile, Revision, SearchText, Source
from conversations.storage import chunks_store
from conversations.subagents import link_subagents
from conversations.verdicts import INGESTED, verdicts_insert

# Rows a statement inserts at most: PostgreSQL takes up to 65,535 parameters a statement, and a
# conversation's row has about 25 columns.
ROWS_A_STATEMENT = 1000

Item = tuple[Prepared, str, str]  # (prepared document, source kind, location)


def store_many(items: list[Item], *, user=None) -> list[Outcome]:
    """Store prepared documents, each at its (kind, location): the outcome of each, in order, as
    `store_checked` gives them one at a time. Call it inside a transaction (a batch's commit)."""
    outcomes: list[Outcome | None] = [None] * len(items)
    fresh = _fresh(items)
    if fresh:
        try:
            with transaction.atomic():
                stored = _store_fresh([items[k] for k in fresh], user=user)
        except DatabaseError:
            stored = []  # e.g. a place another process took meanwhile: each document on its own below
        for k, outcome in zip(fresh, stored, strict=False):
            outcomes[k] = outcome
    for k, (prepared, kind, location) in enumerate(items):
        if outcomes[k] is None:
            outcomes[k] = store_checked(prepared, kind=kind, location=location, user=user)
    return [outcome for outcome in outcomes if outcome is not None]


def store_checked(prepared: Prepared, *, kind: str, location: str, user=None) -> Outcome:
    """Store one prepared document, unless its bytes are stored already (then its outcome says
    so, and an attempt to bring back a deleted conversation is audited)."""
    known = unchanged(kind, location, prepared.raw_hash)
    if known is not None:
        if known.held:
            held_audit(known, kind=kind, location=location, user=user)
        return known
    return store(prepared, kind=kind, location=location, user=user)


def _fresh(items: list[Item]) -> list[int]:
    """The documents the batch write takes: at a place no source holds yet, the first of the batch
    at its place, and with one conversation per locator (two records sharing one make revisions
    of a single conversation: `store` does that)."""
    taken = set(
        Source.objects.filter(location__in={location for _, _, location in items}).values_list("kind", "location")
    )
    fresh = []
    for k, (prepared, kind, location) in enumerate(items):
        locators = [c.locator for c in prepared.conversations]
        if (kind, location) not in taken and len(set(locators)) == len(locators):
            fresh.append(k)
        taken.add((kind, location))
    return fresh


def _store_fresh(items: list[Item], *, user) -> list[Outcome]:
    actor = user if getattr(user, "is_authenticated", False) else None
    sources = Source.objects.bulk_create(
        [
            Source(
                kind=kind,
                location=location,
                format=prepared.format,
                # A document with unreadable records is read again next time, never unchanged.
                content_hash="" if prepared.failures else prepared.raw_hash,
                size=prepared.clean.size,
            )
            for prepared, kind, location in items
        ],
        batch_size=ROWS_A_STATEMENT,
    )
    originals = _originals([prepared for prepared, _, _ in items])
    owners: list[tuple[int, PreparedConversation]] = []
    conversations: list[Conversation] = []
    for k, source in enumerate(sources):
        for item in items[k][0].conversations:
            conversation = Conversation(source=source, locator=item.locator)
            summary_apply(conversation, item.summary)
            conversations.append(conversation)
            owners.append((k, item))
    Conversation.objects.bulk_create(conversations, batch_size=ROWS_A_STATEMENT)
    SearchText.objects.bulk_create(
        [
            SearchText(conversation_id=conversation.pk, text=item.summary["search_text"])
            for conversation, (_, item) in zip(conversations, owners, strict=True)
            if item.summary.get("search_text") is not None
        ],
        batch_size=ROWS_A_STATEMENT,
    )
    chunks_store([chunk for _, item in owners for chunk in item.dumped.chunks])
    revisions = Revision.objects.bulk_create(
        [
            Revision(
                conversation=conversation,
                number=1,
                **item.dumped.revision_fields(),
                **({"rules_version": RULES_VERSION} if item.verdict is not None else {}),
                original=originals[k],
                record=item.record,
                redactions=items[k][0].redactions,
                author=actor,
                reason=INGESTED,
            )
            for conversation, (k, item) in zip(conversations, owners, strict=True)
        ],
        batch_size=ROWS_A_STATEMENT,
    )
    now = timezone.now()
    for conversation, revision in zip(conversations, revisions, strict=True):
        conversation.latest_revision = revision
        conversation.updated_at = now
    # Every conversation of these sources is one made above, with its first revision: one
    # statement for them all (an UPDATE a row cost a JSONL of 5,000 calls half a millisecond each).
    Conversation.objects.filter(source__in=sources).update(
        latest_revision=Subquery(Revision.objects.filter(conversation=OuterRef("pk"), number=1).values("pk")[:1]),
        updated_at=now,
    )
    _verdicts_store(revisions, [item for _, item in owners])
    added: list[list[int]] = [[] for _ in items]
    for conversation, (k, _) in zip(conversations, owners, strict=True):
        added[k].append(conversation.pk)
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor=actor,
                action="ingest",
                detail={
                    "source": f"{kind}:{location}",
                    "conversations": added[k],
                    "redacted": len(prepared.redactions),
                },
            )
            for k, (prepared, kind, location) in enumerate(items)
        ],
        batch_size=ROWS_A_STATEMENT,
    )
    for conversation, (_, item) in zip(conversations, owners, strict=True):
        if item.links:
            link_subagents(conversation, item.links)
    return [
        Outcome(location, "ingested", added=added[k], failures=list(prepared.failures))
        for k, (prepared, _, location) in enumerate(items)
    ]


def _originals(prepared: list[Prepared]) -> list[Original]:
    """The stored original of each document (content addressed: one row for the same bytes)."""
    digests = [p.clean_hash or document_hash(p.clean) for p in prepared]
    known = {o.sha256: o for o in Original.objects.filter(sha256__in=set(digests))}
    docs: dict[str, Document] = {}
    for digest, p in zip(digests, prepared, strict=True):
        if digest not in known:
            docs.setdefault(digest, p.clean)
    new = Original.objects.bulk_create(
        [Original(sha256=digest, name=doc.name, is_dir=doc.is_dir, size=doc.size) for digest, doc in docs.items()],
        batch_size=ROWS_A_STATEMENT,
    )
    OriginalFile.objects.bulk_create(
        # A few at a time: they hold the documents' bytes.
        (
            OriginalFile(original=original, name=name, data=data)
            for original in new
            for name, data in docs[original.sha256].files.items()
        ),
        batch_size=20,
    )
    known.update((original.sha256, original) for original in new)
    return [known[digest] for digest in digests]


def _verdicts_store(revisions: list[Revision], items: list[PreparedConversation]) -> None:
    """The own target's verdicts of every revision in one insert, and each route's deployments'."""
    verdicts_insert(
        [(revision, item.verdict) for revision, item in zip(revisions, items, strict=True) if item.verdict is not None],
        own=True,
    )
    routed: dict[int | None, list[tuple[Revision, CoreVerdict]]] = defaultdict(list)
    for revision, item in zip(revisions, items, strict=True):
        if item.routed is not None:
            routed[item.routed.version_id].extend((revision, v) for v in item.routed.verdicts)
    for version_id, rows in routed.items():
        verdicts_insert(rows, route_version_id=version_id)
