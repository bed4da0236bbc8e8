from django.core.management.base import BaseCommand

from conversations import jobs, tasks
from conversations.models import Conversation, Job
from conversations.verdicts import RULES_VERSION


def stale_conversations(*, everything: bool = False):
    """Live conversations whose latest revision was checked with other rules than the current
    ones (or never checked). Verdicts record their RULES_VERSION; it is a release string, so
    "other" rather than "older" (a downgrade re-checks too)."""
    live = Conversation.objects.live().filter(latest_revision__isnull=False)
    return live if everything else live.exclude(latest_revision__rules_version=RULES_VERSION)


class Command(BaseCommand):
    help = (
        "Re-check the latest revision of every live conversation checked with rules other than the "
        f"current ones (RULES_VERSION {RULES_VERSION}). Run it after upgrading the inspector. It queues "
        "a background job (a worker runs it: `manage.py db_worker`, which `make run` starts); --now runs "
        "it here and waits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", action="store_true", help="run the job in this process and wait for it")
        parser.add_argument("--all", action="store_true", help="re-check every live conversation, stale or not")

    def handle(self, *args, now: bool, all: bool, **options):
        conversations = stale_conversations(everything=all)
        if not conversations.exists():
            self.stdout.write(f"nothing to re-check: every live conversation was checked with rules {RULES_VERSION}")
            return
        job = jobs.job_create(Job.Kind.RECHECK, conversations, options={"rules_version": RULES_VERSION})
        if not now:
            tasks.job_enqueue(job)
            self.stdout.write(
                f"queued job {job.pk}: re-check {job.total} conversation(s); a worker (`manage.py db_worker`) runs it"
            )
            return
        jobs.job_work(job.pk)
        job.refresh_from_db()
        progress = jobs.job_progress(job)
        for item in jobs.job_problems(job):
            self.stderr.write(f"conversation {item.conversation_id}: {item.status}: {item.reason}")
        self.stdout.write(
            f"re-checked {progress.done} conversation(s) in job {job.pk}: {progress.changed} "
            f"changed verdict, {progress.skipped} skipped, {progress.failed} failed"
        )
