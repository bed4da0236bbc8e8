"""Bulk jobs, in process: items, leases, the actions, cancel, reports. Workers are job_work calls
with their own names; tests/test_jobs_worker.py runs real worker processes."""

import gc
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import jobs, tasks
from conversations.ingest import ingest_path
from conversations.models import AuditEvent, Conversation, Job, JobItem, Revision
from tests.claude_sessions import empty_last_response
from tests.support import StepClock, broken, broken_body, healthy_body, ingest_uploads

pytestmark = pytest.mark.django_db


def revisions_of(conversation: Conversation) -> int:
    return Revision.objects.filter(conversation=conversation).count()


# --- creating and claiming ------------------------------------------------------------------------


def test_a_job_has_one_item_per_conversation_recording_its_latest_revision(repairer):
    conversations = broken(3)
    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=repairer, options={"reason": "r"})
    assert job.total == 3 and job.status == Job.Status.QUEUED
    recorded = dict(job.items.values_list("conversation_id", "expected_revision_id"))
    assert recorded == {c.pk: c.latest_revision_id for c in conversations}
    assert AuditEvent.objects.filter(action="job-queue", detail__job=job.pk).count() == 1


def test_two_workers_claim_disjoint_items():
    broken(5)
    job = jobs.job_create(Job.Kind.DRY_RUN, Conversation.objects.all())
    first = jobs.items_claim(job.pk, worker="a", limit=3)
    second = jobs.items_claim(job.pk, worker="b", limit=3)
    assert len(first) == 3 and len(second) == 2
    assert not set(first) & set(second)
    assert jobs.items_claim(job.pk, worker="c") == []
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.started_at is not None


def expire(ids: list[int]) -> None:
    JobItem.objects.filter(pk__in=ids).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_an_expired_lease_is_claimed_again_by_another_worker_one_item_at_a_time():
    broken(2)
    job = jobs.job_create(Job.Kind.DRY_RUN, Conversation.objects.all())
    taken = jobs.items_claim(job.pk, worker="dead")
    assert len(taken) == 2
    assert jobs.items_claim(job.pk, worker="alive") == []  # the leases are still live
    expire(taken)
    assert jobs.items_claim(job.pk, worker="alive") == taken[:1]
    assert jobs.items_claim(job.pk, worker="alive") == taken[1:]
    assert list(JobItem.objects.filter(pk__in=taken).values_list("attempts", flat=True)) == [2, 2]


def test_a_conversation_that_kills_its_workers_uses_up_its_own_attempts_not_its_batchs():
    broken(3)
    job = jobs.job_create(Job.Kind.DRY_RUN, Conversation.objects.all())
    poison, *others = jobs.items_claim(job.pk, worker="dead-1")  # dies applying the first of three
    expire([poison, *others])
    for n in (2, 3):  # taken again alone, it kills two more workers
        assert jobs.items_claim(job.pk, worker=f"dead-{n}") == [poison]
        expire([poison])

    assert jobs.job_work(job.pk, worker="alive") == 2
    given_up = JobItem.objects.get(pk=poison)
    assert given_up.status == JobItem.Status.FAILED and "gave up after 3 attempts" in given_up.reason
    assert set(JobItem.objects.filter(pk__in=others).values_list("status", "attempts")) == {(JobItem.Status.DONE, 2)}


def test_a_worker_that_lost_its_lease_writes_nothing(repairer):
    (conversation,) = broken(1)
    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=repairer)
    (item_id,) = jobs.items_claim(job.pk, worker="slow")
    JobItem.objects.filter(pk=item_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs.items_claim(job.pk, worker="fast") == [item_id]

    assert jobs.item_run(item_id, worker="slow") is False
    assert revisions_of(conversation) == 1
    assert jobs.item_run(item_id, worker="fast") is True
    assert revisions_of(conversation) == 2


def test_an_item_is_never_applied_twice(repairer):
    (conversation,) = broken(1)
    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=repairer)
    (item_id,) = jobs.items_claim(job.pk, worker="w")
    assert jobs.item_run(item_id, worker="w")
    # Whatever happens to the lease afterwards, a done item is not claimable again...
    JobItem.objects.filter(pk=item_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs.items_claim(job.pk, worker="other") == []
    # ...and a second item on the same conversation finds it changed since it was queued.
    JobItem.objects.filter(pk=item_id).update(status=JobItem.Status.RUNNING, lease_owner="other")
    assert jobs.item_run(item_id, worker="other")
    item = JobItem.objects.get(pk=item_id)
    assert item.status == JobItem.Status.SKIPPED and "changed after the job was queued" in item.reason
    assert revisions_of(conversation) == 2


def test_an_item_whose_worker_died_three_times_is_given_up():
    broken(1)
    job = jobs.job_create(Job.Kind.DRY_RUN, Conversation.objects.all())
    JobItem.objects.filter(job=job).update(
        status=JobItem.Status.RUNNING,
        lease_owner="dead",
        attempts=jobs.MAX_ATTEMPTS,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert jobs.items_claim(job.pk, worker="w") == []
    item = job.items.get()
    assert item.status == JobItem.Status.FAILED and "gave up after 3 attempts" in item.reason


# --- running ------------------------------------------------------------------------------------------


def test_a_repair_job_adds_one_revision_per_broken_conversation_audited_with_the_job(admin_user):
    conversations = broken(3) + ingest_uploads([healthy_body(9)], prefix="healthy")
    job = jobs.job_create(
        Job.Kind.REPAIR, Conversation.objects.all(), user=admin_user, options={"reason": "stuck after the outage"}
    )
    assert jobs.job_work(job.pk) == 4

    job.refresh_from_db()
    assert job.status == Job.Status.DONE and job.finished_at is not None
    progress = jobs.job_progress(job)
    assert (progress.done, progress.changed, progress.failed, progress.skipped) == (4, 3, 0, 0)
    for conversation in conversations[:3]:
        conversation.refresh_from_db()
        latest = conversation.latest_revision
        assert latest.number == 2 and latest.author == admin_user
        assert latest.reason.startswith("repaired for its own target: added a tool_result")
        assert [m.role for m in latest.history.messages] == ["user", "assistant", "tool", "user"]
        item = job.items.get(conversation=conversation)
        assert item.produced_revision == latest
    assert revisions_of(conversations[3]) == 1
    repairs = AuditEvent.objects.filter(action="repair", detail__job=job.pk)
    assert repairs.count() == 3 and {e.actor for e in repairs} == {admin_user}
    assert {e.detail["reason"] for e in repairs} == {"stuck after the outage"}
    assert job.report["by_rule"] and job.report["edits"] == 3


def test_a_repair_counts_the_tokens_of_what_it_changed_from_the_count_ingest_stored(admin_user):
    """A conversation near its model's window is counted exactly at ingest, and the count kept
    with its verdict; a repair's check adds what the repair changed to that count."""
    from conversations.history import tokens
    from conversations.models import Verdict

    body = broken_body(0)
    body["model"] = "gpt-4"  # a window of 8,192 tokens
    body["messages"][0]["content"] = "def f(x):\n    return {k: v for k, v in x.items() if v}\n" * 330
    [conversation] = ingest_uploads([body])
    stored = Verdict.objects.get(revision=conversation.latest_revision, own_target=True)
    assert stored.input_tokens == tokens.exact(conversation.latest_revision.history, "openai/gpt-4") > 6500

    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=admin_user)
    assert jobs.job_work(job.pk) == 1

    conversation.refresh_from_db()
    repaired = Verdict.objects.get(revision=conversation.latest_revision, own_target=True)
    assert conversation.latest_revision.number == 2
    assert repaired.input_tokens == tokens.exact(conversation.latest_revision.history, "openai/gpt-4")
    assert repaired.input_tokens > stored.input_tokens  # the synthetic result is counted


@pytest.mark.parametrize("enabled", [True, False])
def test_a_job_leaves_the_cyclic_collector_as_it_found_it(admin_user, enabled):
    """Paused while a batch runs (its objects are freed by reference counting), back after."""
    broken(3)
    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=admin_user)
    gc.enable() if enabled else gc.disable()
    try:
        assert jobs.job_work(job.pk) == 3
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_a_conversation_changed_after_the_job_was_queued_is_skipped_and_reported(repairer):
    first, second = broken(2)
    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=repairer)
    from conversations.revisions import revision_add

    revision_add(second, second.latest_revision.history, user=None, reason="someone else", expected=1, action="restore")
    jobs.job_work(job.pk)

    item = job.items.get(conversation=second)
    assert item.status == JobItem.Status.SKIPPED
    assert "changed after the job was queued" in item.reason
    assert revisions_of(second) == 2 and revisions_of(first) == 2
    assert list(jobs.job_problems(job)) == [item]


def test_a_deleted_conversation_is_skipped(repairer):
    first, second = broken(2)
    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=repairer)
    Conversation.objects.filter(pk=second.pk).update(deleted_at=timezone.now())
    jobs.job_work(job.pk)
    assert job.items.get(conversation=second).reason == "the conversation was deleted"


def test_cancel_stops_the_job_between_two_items(repairer):
    conversations = broken(4)
    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=repairer)
    claimed = jobs.items_claim(job.pk, worker="w", limit=4)
    assert jobs.item_run(claimed[0], worker="w")

    assert jobs.job_cancel(job, user=None)
    assert jobs.item_run(claimed[1], worker="w") is False
    assert jobs.job_work(job.pk) == 0

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert [revisions_of(c) for c in conversations] == [2, 1, 1, 1]
    progress = jobs.job_progress(job)
    assert (progress.done, progress.cancelled) == (1, 3)
    assert jobs.job_cancel(job, user=None) is False  # already over
    assert AuditEvent.objects.filter(action="job-cancel", detail__job=job.pk).exists()


def test_the_watchdog_resumes_a_job_whose_worker_died(django_capture_on_commit_callbacks, repairer):
    conversations = broken(3)
    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=repairer, lease_seconds=30)
    jobs.items_claim(job.pk, worker="dead", limit=2)
    assert tasks.job_watch.call(job.pk) == "waiting"  # a live lease: somebody is on it

    JobItem.objects.filter(job=job).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.job_watch.call(job.pk) == "resumed"
    job.refresh_from_db()
    assert job.status == Job.Status.DONE
    assert [revisions_of(c) for c in conversations] == [2, 2, 2]
    assert tasks.job_watch.call(job.pk) == "finished"


def test_starting_a_job_queues_its_runners_and_watchdog_after_commit(django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    broken(1)
    with django_capture_on_commit_callbacks(execute=True):
        job = tasks.job_start(Job.Kind.DRY_RUN, Conversation.objects.all(), runners=3)
    queued = list(DBTaskResult.objects.order_by("task_path").values_list("task_path", "args_kwargs"))
    # One item is one batch: a single runner, whatever was asked, and the watchdog.
    assert queued == [
        ("conversations.tasks.job_run", {"args": [job.pk], "kwargs": {}}),
        ("conversations.tasks.job_watch", {"args": [job.pk], "kwargs": {}}),
    ]


# --- the actions ---------------------------------------------------------------------------------------


def test_the_dry_run_report_counts_changes_by_rule_with_sample_diffs():
    broken(4)
    ingest_uploads([healthy_body(7)], prefix="healthy")
    job = jobs.job_create(Job.Kind.DRY_RUN, Conversation.objects.all(), options={"target": "anthropic"})
    jobs.job_work(job.pk)

    job.refresh_from_db()
    report = job.report
    assert report["counts"]["changed"] == 4 and report["counts"]["done"] == 5
    assert report["by_rule"] == {"tool-result-missing": 4}
    assert report["still_rejected_by_rule"] == {}
    assert len(report["samples"]) == jobs.SAMPLES
    sample = report["samples"][0]
    assert sample["edits"][0].startswith("added a tool_result for call_0")
    added = [h for h in sample["diff"]["hunks"] if h["b_index"] == 2]
    assert added and any("The tool call was interrupted" in line["text"] for line in added[0]["lines"])
    assert Revision.objects.count() == 5  # nothing written
    assert not AuditEvent.objects.filter(action="repair").exists()


def test_delete_soft_deletes_and_audits_each_conversation(admin_user):
    conversations = broken(2)
    job = jobs.job_create(
        Job.Kind.DELETE, Conversation.objects.all(), user=admin_user, options={"reason": "duplicates"}
    )
    jobs.job_work(job.pk)
    assert Conversation.objects.live().count() == 0
    assert Conversation.objects.count() == 2 and revisions_of(conversations[0]) == 1
    events = AuditEvent.objects.filter(action="delete", detail__job=job.pk)
    assert sorted(e.conversation_id for e in events) == [c.pk for c in conversations]
    assert {e.detail["reason"] for e in events} == {"duplicates"}


def test_export_is_a_zip_of_the_repaired_files_in_their_own_format():
    first, second = broken(2)
    job = jobs.job_create(Job.Kind.EXPORT, Conversation.objects.all())
    jobs.job_work(job.pk)

    archive = zipfile.ZipFile(io.BytesIO(b"".join(jobs.export_stream(job))))
    assert archive.namelist() == [f"{first.pk}-log-0.json", f"{second.pk}-log-1.json"]
    body = json.loads(archive.read(f"{first.pk}-log-0.json"))
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool", "user"]
    assert body["messages"][2]["tool_call_id"] == "call_0"
    assert revisions_of(first) == 1  # an export stores nothing


def test_write_back_replaces_the_file_atomically_and_keeps_a_backup(tmp_path, settings, repairer):
    settings.WRITE_BACK_ROOTS = [tmp_path]
    path = tmp_path / "stuck.json"
    original = json.dumps(broken_body(1)).encode()
    path.write_bytes(original)
    conversation = Conversation.objects.get(pk=ingest_path(path).added[0])
    job = jobs.job_create(Job.Kind.WRITE_BACK, Conversation.objects.all(), user=repairer)
    jobs.job_work(job.pk)

    item = job.items.get()
    assert item.status == JobItem.Status.DONE, item.reason
    written = json.loads(path.read_bytes())
    assert [m["role"] for m in written["messages"]] == ["user", "assistant", "tool", "user"]
    backups = list(tmp_path.glob("stuck.json.bak-*"))
    assert [b.read_bytes() for b in backups] == [original]
    assert item.outcome["written"]["path"] == str(path.resolve())
    # Reading the file again finds nothing new: the source knows what it holds now.
    assert ingest_path(path).status == "unchanged"
    assert AuditEvent.objects.filter(action="write-back", detail__job=job.pk, conversation=conversation).exists()


def test_write_back_outside_the_allowed_roots_fails_and_stores_no_revision(tmp_path, settings, repairer):
    settings.WRITE_BACK_ROOTS = []
    path = tmp_path / "stuck.json"
    path.write_text(json.dumps(broken_body(1)))
    conversation = Conversation.objects.get(pk=ingest_path(path).added[0])
    job = jobs.job_create(Job.Kind.WRITE_BACK, Conversation.objects.all(), user=repairer)
    jobs.job_work(job.pk)

    item = job.items.get()
    assert item.status == JobItem.Status.FAILED and "writing back is off" in item.reason
    assert revisions_of(conversation) == 1  # the repair and the write are one step


def test_write_back_skips_an_upload(repairer):
    broken(1)
    job = jobs.job_create(Job.Kind.WRITE_BACK, Conversation.objects.all(), user=repairer)
    jobs.job_work(job.pk)
    item = job.items.get()
    assert item.status == JobItem.Status.SKIPPED and "export it instead" in item.reason


def test_a_repair_job_whose_author_lost_the_repairer_role_repairs_nothing(repairer):
    (conversation,) = broken(1)
    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=repairer)
    repairer.user_permissions.clear()
    jobs.job_work(job.pk)
    item = job.items.get()
    assert item.status == JobItem.Status.FAILED and "need the repairer role" in item.reason
    assert revisions_of(conversation) == 1


def test_a_bad_conversation_fails_alone_with_its_reason(repairer):
    first, second = broken(2)
    job = jobs.job_create(Job.Kind.REPAIR, Conversation.objects.all(), user=repairer)
    # A revision whose stored history cannot be read: the one thing a job cannot repair.
    Revision.objects.filter(pk=second.latest_revision_id).update(chunks=["0" * 64])
    jobs.job_work(job.pk)
    progress = jobs.job_progress(job)
    assert (progress.done, progress.failed) == (1, 1)
    assert job.items.get(conversation=second).reason.startswith("internal error: KeyError")


# --- resting between items ------------------------------------------------------------------------


@pytest.mark.parametrize("percent", [0, 100])
def test_a_worker_rests_the_share_of_each_item_it_is_told_to(repairer, settings, monkeypatch, percent):
    import time

    broken(3)
    job = jobs.job_create(Job.Kind.DRY_RUN, Conversation.objects.all(), user=repairer)
    settings.JOB_REST_PERCENT = percent
    rests = []
    monkeypatch.setattr(time, "sleep", rests.append)  # record the rests instead of taking them
    began = time.monotonic()

    jobs.job_work(job.pk)

    assert JobItem.objects.filter(job=job, status=JobItem.Status.DONE).count() == 3
    if percent == 0:
        assert rests == []
    else:
        # A rest after each item, and after the batch's write, each as long as what it follows
        # took: together, no more than the whole run.
        assert len(rests) == 4 and 0 < sum(rests) <= time.monotonic() - began


def test_a_batch_that_outlasts_its_lease_keeps_its_items(repairer, settings):
    """A batch of long conversations may take longer than a lease: past half of it the worker
    renews the lease of the items it has not finished, so no other worker takes them over. Here
    each item takes 25 s of a clock the test moves, against leases of 60 s, and another worker
    tries to claim after each item."""
    broken(3)
    job = jobs.job_create(Job.Kind.DRY_RUN, Conversation.objects.all(), user=repairer, lease_seconds=60)
    settings.JOB_REST_PERCENT = 1  # a rest after each item: where the clock moves
    clock = StepClock(step=25)
    taken = []
    clock.on_sleep.append(lambda: taken.extend(jobs.items_claim(job.pk, worker="another", clock=clock)))

    applied = jobs.job_work(job.pk, worker="slow", clock=clock)

    assert clock.monotonic() > 60  # the batch outlasted the leases it was claimed with
    assert taken == [] and applied == 3
    assert set(job.items.values_list("status", "lease_owner", "attempts")) == {(JobItem.Status.DONE, "slow", 1)}


@pytest.mark.parametrize("kind", [Job.Kind.EXPORT, Job.Kind.WRITE_BACK])
def test_an_export_or_write_back_that_would_read_back_differently_fails_and_writes_nothing(
    kind, tmp_path, settings, repairer
):
    settings.WRITE_BACK_ROOTS = [tmp_path]
    path = tmp_path / "session.jsonl"
    path.write_bytes(empty_last_response())
    conversation = Conversation.objects.get(pk=ingest_path(path).added[0])
    job = jobs.job_create(kind, Conversation.objects.all(), user=repairer)
    jobs.job_work(job.pk)

    item = job.items.get()
    assert item.status == JobItem.Status.FAILED
    assert "the output would read back differently: message 1: missing" in item.reason
    assert path.read_bytes() == empty_last_response() and sorted(p.name for p in tmp_path.iterdir()) == [
        "session.jsonl"
    ]
    assert revisions_of(conversation) == 1
