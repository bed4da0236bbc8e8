"""The background tasks, through the django-tasks API: the database backend by default (`make run`
starts `manage.py db_worker` beside the web server), RQ when TASKS_BACKEND=rq.

A task only says "work on job N": the work, its progress, leases and cancellation are the job's
items (conversations.jobs), so any number of these tasks may run on one job at once, and one
that dies takes nothing with it.
"""

from django_tasks import task

from conversations import jobs


@task()
def job_run(job_id: int) -> int:
    """Apply the job's items for up to a minute (then a fresh task takes over); returns how many
    this run applied."""
    return jobs.job_work(job_id, seconds=jobs.RUN_SECONDS)


# No priority: the RQ backend does not take one. The database backend runs a task that is due
# after a delay before the ones queued without one, which is what a watchdog needs anyway.
@task()
def job_watch(job_id: int) -> str:
    """Resume the job if no worker holds a live lease on it; come back later while it runs."""
    return jobs.job_watch(job_id)
