"""The admin, through Django's test client: lists, filters, the bulk actions (confirmation first,
then a job), the job page, and who may do what."""

import io
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from conversations import jobs
from conversations.models import AuditEvent, Conversation, Job, Revision
from tests.support import broken, healthy_body, ingest_uploads

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/conversations/conversation/"


def staff(django_user_model, name: str, *codenames: str):
    user = django_user_model.objects.create_user(name, password=f"{name}-pass-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def staff_repairer(django_user_model):
    return staff(django_user_model, "fixer", "view_conversation", "repair_conversation")


@pytest.fixture
def staff_viewer(django_user_model):
    return staff(django_user_model, "looker", "view_conversation", "view_job", "view_revision", "view_auditevent")


@pytest.fixture
def data():
    """Three stuck conversations and a healthy one."""
    return {"broken": broken(3), "healthy": ingest_uploads([healthy_body(1)], prefix="healthy")[0]}


def post_action(client, action: str, ids, *, url=CHANGELIST, confirm=False, across=False, **fields):
    payload = {
        "action": action,
        "_selected_action": [str(i) for i in ids],
        "select_across": "1" if across else "0",
        **fields,
    }
    if confirm:
        payload["post"] = "yes"
    else:
        payload["index"] = "0"  # as the changelist's own action bar sends it
    return client.post(url, payload)


# --- lists and filters --------------------------------------------------------------------------------


def test_the_conversation_list_shows_each_verdict_and_links_to_the_inspector(client, admin_user, data):
    client.force_login(admin_user)
    page = client.get(CHANGELIST).content.decode()
    assert page.count("<strong>rejected</strong>") == 3
    assert "openai-tool-response-missing" in page
    for conversation in data["broken"] + [data["healthy"]]:
        assert f'href="/conversations/{conversation.pk}/"' in page


@pytest.mark.parametrize(
    "query, expected",
    [
        ("verdict=rejected", "broken"),
        ("verdict=accepted", "healthy"),
        ("rule=openai-tool-response-missing", "broken"),
        ("provider=openai", "all"),
        ("activity_at__gte=2000-01-01+00%3A00%3A00%2B00%3A00", "all"),
        ("q=task+1", "one"),
    ],
)
def test_the_filters_narrow_the_list(client, admin_user, data, query, expected):
    client.force_login(admin_user)
    response = client.get(f"{CHANGELIST}?{query}")
    shown = {c.pk for c in response.context["cl"].result_list}
    everything = {c.pk for c in data["broken"]} | {data["healthy"].pk}
    wanted = {
        "broken": {c.pk for c in data["broken"]},
        "healthy": {data["healthy"].pk},
        "all": everything,
        "one": {data["broken"][1].pk},
    }[expected]
    assert shown == wanted


def test_the_date_hierarchy_drills_down_by_last_activity(client, admin_user, data):
    client.force_login(admin_user)
    year = data["healthy"].updated_at.year
    page = client.get(CHANGELIST).content.decode()
    assert f"?activity_at__year={year}" in page
    assert len(client.get(f"{CHANGELIST}?activity_at__year={year}").context["cl"].result_list) == 4
    assert len(client.get(f"{CHANGELIST}?activity_at__year={year - 1}").context["cl"].result_list) == 0


def test_deleted_conversations_are_out_of_the_list_unless_asked_for(client, admin_user, data):
    client.force_login(admin_user)
    jobs.job_work(jobs.job_create(Job.Kind.DELETE, Conversation.objects.filter(pk=data["healthy"].pk)).pk)
    live = {c.pk for c in client.get(CHANGELIST).context["cl"].result_list}
    deleted = {c.pk for c in client.get(f"{CHANGELIST}?state=deleted").context["cl"].result_list}
    assert data["healthy"].pk not in live and deleted == {data["healthy"].pk}


def test_the_source_filter_and_column_link_each_other(client, admin_user, data):
    client.force_login(admin_user)
    source = data["broken"][0].source
    page = client.get(CHANGELIST).content.decode()
    assert f"?source={source.pk}" in page
    shown = [c.pk for c in client.get(f"{CHANGELIST}?source={source.pk}").context["cl"].result_list]
    assert shown == [data["broken"][0].pk]


# --- bulk actions --------------------------------------------------------------------------------------


def test_a_bulk_action_shows_a_confirmation_page_first(client, admin_user, data):
    client.force_login(admin_user)
    ids = [c.pk for c in data["broken"][:2]]
    response = post_action(client, "repair_action", ids)
    assert response.status_code == 200
    assert "admin/conversations/conversation/bulk_confirmation.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert "2 conversations" in page and "Yes, queue the job for 2 conversations" in page
    assert not Job.objects.exists()


def test_confirming_queues_a_job_and_opens_its_progress_page(
    client, admin_user, data, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    client.force_login(admin_user)
    ids = [c.pk for c in data["broken"][:2]]
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(client, "repair_action", ids, confirm=True, target="anthropic", reason="outage")
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/conversations/job/{job.pk}/change/"
    assert job.kind == Job.Kind.REPAIR and job.created_by == admin_user
    assert job.options == {"target": "anthropic", "reason": "outage"}
    assert sorted(job.items.values_list("conversation_id", flat=True)) == ids
    assert DBTaskResult.objects.filter(task_path="conversations.tasks.job_run", args_kwargs__args=[job.pk]).exists()


def test_select_all_matching_queues_every_conversation_the_filter_matches(client, admin_user, data):
    client.force_login(admin_user)
    url = f"{CHANGELIST}?verdict=rejected"
    one = [data["broken"][0].pk]  # the changelist sends the ticked boxes of its page along
    confirmation = post_action(client, "dry_run_action", one, url=url, across=True)
    assert "3 conversations" in confirmation.content.decode()
    assert 'name="select_across" value="1"' in confirmation.content.decode()

    post_action(client, "dry_run_action", one, url=url, across=True, confirm=True)
    job = Job.objects.get()
    assert sorted(job.items.values_list("conversation_id", flat=True)) == sorted(c.pk for c in data["broken"])


def test_the_job_page_polls_while_the_job_runs_and_stops_when_it_is_over(client, admin_user, data):
    client.force_login(admin_user)
    post_action(client, "dry_run_action", [c.pk for c in data["broken"]], confirm=True)
    job = Job.objects.get()
    url = f"/admin/conversations/job/{job.pk}/change/"

    page = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in page and "0 / 3" in page and "breadcrumbs" in page
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="job-progress"') and "breadcrumbs" not in fragment

    jobs.job_work(job.pk)
    done = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in done and "3 / 3" in done


def test_the_dry_run_report_shows_what_would_change_by_rule_with_sample_diffs(client, admin_user, data):
    client.force_login(admin_user)
    post_action(client, "dry_run_action", [c.pk for c in Conversation.objects.all()], confirm=True)
    job = Job.objects.get()
    jobs.job_work(job.pk)

    page = client.get(f"/admin/conversations/job/{job.pk}/change/").content.decode()
    assert "3 of 4 conversations would change" in page
    assert "<td>openai-tool-response-missing</td><td>3</td>" in page
    assert page.count("<h3>Sample:") == 3
    assert "+   &quot;role&quot;: &quot;tool&quot;" in page
    assert Revision.objects.count() == 4  # a dry run writes nothing


def test_cancel_from_the_job_page(client, admin_user, data):
    client.force_login(admin_user)
    post_action(client, "repair_action", [c.pk for c in data["broken"]], confirm=True)
    job = Job.objects.get()
    assert "Cancel the job" in client.get(f"/admin/conversations/job/{job.pk}/change/").content.decode()

    fragment = client.post(f"/admin/conversations/job/{job.pk}/cancel/", headers={"HX-Request": "true"})
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.cancelled_by == admin_user
    assert "Cancelled" in fragment.content.decode() and "Cancel the job" not in fragment.content.decode()
    assert jobs.job_work(job.pk) == 0
    assert Revision.objects.count() == 4


def test_delete_confirms_then_soft_deletes_each_conversation_with_an_audit_event(client, admin_user, data):
    client.force_login(admin_user)
    target = data["healthy"]
    page = post_action(client, "delete_action", [target.pk]).content.decode()
    assert "kept until the retention period ends" in page
    post_action(client, "delete_action", [target.pk], confirm=True, reason="duplicate")
    job = Job.objects.get()
    jobs.job_work(job.pk)

    target.refresh_from_db()
    assert target.deleted_at is not None
    event = AuditEvent.objects.get(action="delete")
    assert event.actor == admin_user and event.detail == {"job": job.pk, "reason": "duplicate"}


def test_the_export_job_offers_a_zip_of_the_repaired_files(client, admin_user, data):
    client.force_login(admin_user)
    post_action(client, "export_action", [c.pk for c in data["broken"]], confirm=True)
    job = Job.objects.get()
    jobs.job_work(job.pk)
    assert "Download the zip (3 files)" in client.get(f"/admin/conversations/job/{job.pk}/change/").content.decode()

    response = client.get(f"/admin/conversations/job/{job.pk}/export.zip")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert len(archive.namelist()) == 3
    assert response["Content-Disposition"] == f'attachment; filename="job-{job.pk}-export.zip"'


def test_every_change_a_job_makes_is_audited_with_the_job(client, admin_user, data):
    client.force_login(admin_user)
    post_action(client, "repair_action", [c.pk for c in data["broken"]], confirm=True)
    job = Job.objects.get()
    jobs.job_work(job.pk)

    events = AuditEvent.objects.filter(detail__job=job.pk)
    assert sorted(events.values_list("action", flat=True)) == ["job-finish", "job-queue", "repair", "repair", "repair"]
    page = client.get(f"/admin/conversations/auditevent/?job={job.pk}").content.decode()
    assert page.count(f">job {job.pk}</a></td>") == 5
    for conversation in data["broken"]:
        assert f'href="/conversations/{conversation.pk}/"' in page


# --- permissions ------------------------------------------------------------------------------------


def action_names(response) -> set[str]:
    form = response.context.get("action_form")
    return {value for value, _ in form.fields["action"].choices if value} if form else set()


def test_an_admin_gets_every_bulk_action_and_not_djangos_hard_delete(client, admin_user, data):
    client.force_login(admin_user)
    assert action_names(client.get(CHANGELIST)) == {
        "recheck_action",
        "dry_run_action",
        "repair_action",
        "write_back_action",
        "export_action",
        "delete_action",
        "restore_action",
    }


def test_staff_without_the_change_and_delete_permissions_may_not_recheck_nor_delete(client, staff_viewer, data):
    client.force_login(staff_viewer)
    response = client.get(CHANGELIST)
    # Staff are repairers (conversations.roles.can_repair), nothing more.
    assert response.status_code == 200
    assert action_names(response) == {"dry_run_action", "repair_action", "write_back_action", "export_action"}
    post_action(client, "recheck_action", [data["broken"][0].pk], confirm=True)
    post_action(client, "delete_action", [data["broken"][0].pk], confirm=True)
    assert not Job.objects.exists()


def test_a_staff_repairer_may_repair_but_not_delete_and_follows_the_jobs_it_queued(
    client, staff_repairer, admin_user, data
):
    client.force_login(staff_repairer)
    assert action_names(client.get(CHANGELIST)) == {
        "dry_run_action",
        "repair_action",
        "write_back_action",
        "export_action",
    }
    post_action(client, "delete_action", [data["broken"][0].pk], confirm=True)
    assert not Job.objects.exists()

    post_action(client, "repair_action", [data["broken"][0].pk], confirm=True)
    own = Job.objects.get()
    assert client.get(f"/admin/conversations/job/{own.pk}/change/").status_code == 200
    others = jobs.job_create(Job.Kind.DRY_RUN, Conversation.objects.all(), user=admin_user)
    assert client.get(f"/admin/conversations/job/{others.pk}/change/").status_code == 403
    assert client.post(f"/admin/conversations/job/{others.pk}/cancel/").status_code == 403


def test_a_repairer_who_is_not_staff_cannot_reach_the_admin(client, repairer, data):
    client.force_login(repairer)
    response = post_action(client, "repair_action", [data["broken"][0].pk], confirm=True)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not Job.objects.exists()


@pytest.mark.parametrize("model", ["revision", "finding", "source", "auditevent", "job"])
def test_revisions_findings_sources_jobs_and_the_audit_log_are_read_only(client, admin_user, data, model):
    client.force_login(admin_user)
    assert client.get(f"/admin/conversations/{model}/").status_code == 200
    assert client.get(f"/admin/conversations/{model}/add/").status_code == 403


def test_a_revision_page_shows_it_without_a_way_to_change_it(client, admin_user, data):
    client.force_login(admin_user)
    revision = data["broken"][0].latest_revision
    url = reverse("admin:conversations_revision_change", args=[revision.pk])
    page = client.get(url).content.decode()
    assert 'name="_save"' not in page and f'href="/conversations/{revision.conversation_id}/"' in page
    assert client.post(url, {"reason": "edited"}).status_code == 403
    assert Revision.objects.get(pk=revision.pk).reason == revision.reason


@pytest.mark.parametrize("model", ["revision", "finding"])
def test_each_list_links_its_rows_to_the_inspector_page(client, admin_user, data, model):
    client.force_login(admin_user)
    page = client.get(f"/admin/conversations/{model}/").content.decode()
    assert f'href="/conversations/{data["broken"][0].pk}/"' in page
