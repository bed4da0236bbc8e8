"""Retention: what the inspector keeps once it is no longer current, and for how long."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from conversations.models import AuditEvent, Chunk, Conversation, IngestJob, Job, Original, Revision

BATCH = 500


@dataclass
class Pruned:
    cutoff: str
    conversations: int = 0
    revisions: int = 0
    chunks: int = 0
    originals: int = 0
    jobs: int = 0
    conversation_ids: list[int] = field(default_factory=list)


def retention_cutoff(days: int | None = None) -> datetime:
    days = settings.RETENTION_DAYS if days is None else days
    return timezone.now() - timedelta(days=days)


def expired_conversations(cutoff: datetime):
    return Conversation.objects.filter(deleted_at__lt=cutoff)


def superseded_revisions(cutoff: datetime):
    """Revisions of live conversations replaced by a later one before the cutoff: measured from
    when they were superseded, not from when they were made. Never a conversation's latest."""
    later = Revision.objects.filter(
        conversation=OuterRef("conversation"), number__gt=OuterRef("number"), created_at__lt=cutoff
    )
    latest = Conversation.objects.filter(latest_revision=OuterRef("pk"))
    return Revision.objects.filter(Exists(later), ~Exists(latest), conversation__deleted_at__isnull=True)


def finished_jobs(cutoff: datetime):
    return Job.objects.filter(finished_at__lt=cutoff)


def finished_ingest_jobs(cutoff: datetime):
    """Background ingests of large uploads that ended (their staged file went when they did)."""
    return IngestJob.objects.filter(finished_at__lt=cutoff)


def retention_prune(cutoff: datetime, *, actor=None) -> Pruned:
    """Remove what `cutoff` no longer keeps, in batches (each its own transaction), then the chunks
    and originals only those rows used. Audited as one "prune" event."""
    pruned = Pruned(cutoff=cutoff.isoformat())
    chunk_candidates: set[str] = set()
    original_candidates: set[int] = set()

    def note(revisions) -> None:
        for chunks, original in revisions.values_list("chunks", "original_id"):
            chunk_candidates.update(chunks)
            if original is not None:
                original_candidates.add(original)

    while ids := list(expired_conversations(cutoff).values_list("pk", flat=True)[:BATCH]):
        with transaction.atomic():
            note(Revision.objects.filter(conversation_id__in=ids))
            pruned.revisions += Revision.objects.filter(conversation_id__in=ids).count()
            Conversation.objects.filter(pk__in=ids).update(latest_revision=None)
            Conversation.objects.filter(pk__in=ids).delete()
        pruned.conversations += len(ids)
        pruned.conversation_ids.extend(ids)
    while ids := list(superseded_revisions(cutoff).values_list("pk", flat=True)[:BATCH]):
        with transaction.atomic():
            note(Revision.objects.filter(pk__in=ids))
            pruned.revisions += Revision.objects.filter(pk__in=ids).delete()[1].get("conversations.Revision", 0)
    pruned.chunks = _chunks_unused_delete(chunk_candidates)
    pruned.originals = (
        Original.objects.filter(pk__in=original_candidates)
        .exclude(Exists(Revision.objects.filter(original=OuterRef("pk"))))
        .delete()[1]
        .get("conversations.Original", 0)
    )
    pruned.jobs = finished_jobs(cutoff).delete()[1].get("conversations.Job", 0)
    pruned.jobs += finished_ingest_jobs(cutoff).delete()[0]
    detail = asdict(pruned)
    detail["conversation_ids"] = detail["conversation_ids"][:1000]
    AuditEvent.objects.create(actor=actor, action="prune", detail=detail)
    return pruned


def _chunks_unused_delete(candidates: set[str]) -> int:
    """Chunks are shared between revisions: one goes only when no remaining revision lists it."""
    if not candidates:
        return 0
    used: set[str] = set()
    for chunks in Revision.objects.values_list("chunks", flat=True).iterator(chunk_size=2000):
        used.update(h for h in chunks if h in candidates)
    unused = list(candidates - used)
    deleted = 0
    for start in range(0, len(unused), BATCH):
        deleted += Chunk.objects.filter(sha256__in=unused[start : start + BATCH]).delete()[0]
    return deleted


class Command(BaseCommand):
    help = (
        "Remove what the retention period (RETENTION_DAYS, default 90) no longer keeps: conversations "
        "deleted before it, revisions superseded before it, the chunks and originals nothing refers to "
        "any more, and finished jobs. Never the latest revision of a live conversation. Run it daily "
        "(cron or a scheduler); --dry-run shows what it would remove."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="keep this many days instead of RETENTION_DAYS")
        parser.add_argument("--dry-run", action="store_true", help="count, remove nothing")

    def handle(self, *args, days: int | None, dry_run: bool, **options):
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more")
        cutoff = retention_cutoff(days)
        if dry_run:
            jobs = finished_jobs(cutoff).count() + finished_ingest_jobs(cutoff).count()
            self.stdout.write(
                f"would remove {expired_conversations(cutoff).count()} deleted conversations, "
                f"{superseded_revisions(cutoff).count()} superseded revisions and "
                f"{jobs} finished jobs (before {cutoff:%Y-%m-%d %H:%M} UTC), "
                "and the chunks and originals only they used"
            )
            return
        pruned = retention_prune(cutoff)
        self.stdout.write(
            f"removed {pruned.conversations} deleted conversations, {pruned.revisions} revisions, "
            f"{pruned.chunks} chunks, {pruned.originals} originals and {pruned.jobs} jobs "
            f"(before {cutoff:%Y-%m-%d %H:%M} UTC)"
        )
