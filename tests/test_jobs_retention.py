"""`manage.py recheck` (stale verdicts, as a job) and `manage.py prune` (the retention period)."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.history.formats.document import Document
from conversations.ingest import ingest_document
from conversations.models import AuditEvent, Chunk, Conversation, IngestJob, Job, Original, Revision, Source, Verdict
from conversations.revisions import revision_add
from conversations.verdicts import RULES_VERSION
from tests.support import broken, broken_body, ingest_uploads

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - timedelta(days=200)


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def make_stale(conversation: Conversation, **verdict_changes) -> None:
    Revision.objects.filter(pk=conversation.latest_revision_id).update(rules_version="2020.1")
    Verdict.objects.filter(revision_id=conversation.latest_revision_id).update(
        rules_version="2020.1", **verdict_changes
    )


# --- recheck -----------------------------------------------------------------------------------------


def test_recheck_now_checks_only_the_conversations_checked_with_other_rules():
    fresh, stale = broken(2)
    make_stale(stale)

    out = run("recheck", "--now")

    assert "re-checked 1 conversation(s)" in out
    job = Job.objects.get()
    assert job.kind == Job.Kind.RECHECK and list(job.items.values_list("conversation_id", flat=True)) == [stale.pk]
    assert Revision.objects.get(pk=stale.latest_revision_id).rules_version == RULES_VERSION
    assert Verdict.objects.get(revision_id=stale.latest_revision_id, own_target=True).rules_version == RULES_VERSION
    assert "nothing to re-check" in run("recheck")


def test_recheck_refreshes_the_other_targets_already_checked_too():
    from conversations.verdicts import revision_verdicts

    (conversation,) = broken(1)
    revision_verdicts(conversation.latest_revision, ["anthropic"])
    make_stale(conversation)

    run("recheck", "--now")

    verdicts = set(
        Verdict.objects.filter(revision_id=conversation.latest_revision_id).values_list(
            "target", "own_target", "rules_version"
        )
    )
    assert verdicts == {("openai", True, RULES_VERSION), ("anthropic", False, RULES_VERSION)}


def test_recheck_audits_a_verdict_that_changed_with_its_job():
    (conversation,) = broken(1)
    make_stale(conversation, accepted=True, errors=0)  # what an older, more lenient rule said

    run("recheck", "--now")

    job = Job.objects.get()
    event = AuditEvent.objects.get(action="recheck")
    assert event.conversation == conversation
    assert event.detail == {"job": job.pk, "before": "accepted", "after": "rejected"}


def test_recheck_queues_a_job_for_a_worker(django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    (conversation,) = broken(1)
    make_stale(conversation)
    with django_capture_on_commit_callbacks(execute=True):
        out = run("recheck")
    job = Job.objects.get()
    assert f"queued job {job.pk}: re-check 1 conversation(s)" in out
    assert job.status == Job.Status.QUEUED
    assert DBTaskResult.objects.filter(task_path="conversations.tasks.job_run").count() == 1


# --- prune ----------------------------------------------------------------------------------------


def test_prune_removes_conversations_deleted_before_the_retention_period(settings):
    settings.RETENTION_DAYS = 90
    old, recent, live = broken(3)
    Conversation.objects.filter(pk=old.pk).update(deleted_at=LONG_AGO)
    Conversation.objects.filter(pk=recent.pk).update(deleted_at=timezone.now() - timedelta(days=10))
    old_chunks = list(old.latest_revision.chunks)

    out = run("prune")

    assert "removed 1 deleted conversations, 1 revisions" in out
    assert set(Conversation.objects.values_list("pk", flat=True)) == {recent.pk, live.pk}
    assert not Revision.objects.filter(conversation_id=old.pk).exists()
    assert not Chunk.objects.filter(sha256__in=old_chunks).exists()
    assert Original.objects.count() == 2
    event = AuditEvent.objects.get(action="prune")
    assert event.detail["conversations"] == 1 and event.detail["conversation_ids"] == [old.pk]


def test_prune_removes_superseded_revisions_but_never_the_latest():
    (conversation,) = broken(1)
    (alone,) = ingest_uploads([broken_body(5)], prefix="alone")
    second = revision_add(
        conversation, conversation.latest_revision.history, user=None, reason="r2", expected=1, action="restore"
    )
    third = revision_add(conversation, second.history, user=None, reason="r3", expected=2, action="restore")
    Revision.objects.update(created_at=LONG_AGO)

    run("prune")

    assert list(Revision.objects.filter(conversation=conversation).values_list("number", flat=True)) == [3]
    assert Conversation.objects.get(pk=conversation.pk).latest_revision == third
    assert Revision.objects.filter(conversation=alone).count() == 1  # old, but its latest
    # The chunks the pruned revisions shared with the latest one stay: the history still reads.
    assert [m.role for m in Revision.objects.get(pk=third.pk).history.messages] == ["user", "assistant", "user"]


def test_a_revision_is_kept_for_the_retention_period_after_it_was_superseded():
    (conversation,) = broken(1)
    Revision.objects.update(created_at=LONG_AGO)
    revision_add(
        conversation, conversation.latest_revision.history, user=None, reason="today", expected=1, action="restore"
    )

    run("prune")

    assert Revision.objects.filter(conversation=conversation).count() == 2


def test_prune_keeps_chunks_another_conversation_still_uses():
    # The same log uploaded twice, from two places: two conversations, one set of chunks.
    data = json.dumps(broken_body(1)).encode()
    deleted, kept = (
        Conversation.objects.get(
            pk=ingest_document(Document.from_bytes("log.json", data), kind=Source.Kind.UPLOAD, location=where).added[0]
        )
        for where in ("first upload", "second upload")
    )
    assert deleted.latest_revision.chunks == kept.latest_revision.chunks
    Conversation.objects.filter(pk=deleted.pk).update(deleted_at=LONG_AGO)

    run("prune")

    assert len(Revision.objects.get(pk=kept.latest_revision_id).history.messages) == 3


def test_prune_dry_run_removes_nothing():
    (conversation,) = broken(1)
    Conversation.objects.filter(pk=conversation.pk).update(deleted_at=LONG_AGO)
    out = run("prune", "--dry-run")
    assert "would remove 1 deleted conversations" in out
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert not AuditEvent.objects.filter(action="prune").exists()


def test_prune_removes_finished_jobs_past_the_period():
    from conversations import jobs

    broken(1)
    job = jobs.job_create(Job.Kind.DRY_RUN, Conversation.objects.all())
    jobs.job_work(job.pk)
    kept = jobs.job_create(Job.Kind.DRY_RUN, Conversation.objects.all())
    Job.objects.filter(pk=job.pk).update(finished_at=LONG_AGO)

    run("prune", "--days", "30")

    assert list(Job.objects.values_list("pk", flat=True)) == [kept.pk]


def test_prune_removes_background_ingests_that_ended_before_the_period_but_not_running_ones():
    ended = IngestJob.objects.create(name="big.jsonl", source_kind="upload", status=IngestJob.Status.DONE)
    IngestJob.objects.filter(pk=ended.pk).update(finished_at=LONG_AGO)
    running = IngestJob.objects.create(name="bigger.jsonl", source_kind="upload", status=IngestJob.Status.RUNNING)

    run("prune", "--days", "30")

    assert list(IngestJob.objects.values_list("pk", flat=True)) == [running.pk]
