"""The repair page's preview of a history of more than 2,000 tool calls (issue 16 part 2): queued
as a background job over that one conversation, polled by the page's own htmx partial, and once
the job is done shown exactly as the preview computed inside a request would be."""

import json

import pytest
from django.core.management import call_command

from conversations.models import Job, JobItem
from conversations.views.repairs import RepairAsk, preview_dict
from tests.support import ingested

pytestmark = pytest.mark.django_db(transaction=True)


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0.1", verbosity=0)


@pytest.fixture
def many_calls(tmp_path):
    calls = [{"id": f"c{k}", "type": "function", "function": {"name": "ls", "arguments": "{}"}} for k in range(2_001)]
    path = tmp_path / "many.json"
    path.write_text(
        json.dumps(
            {
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": "go"}, {"role": "assistant", "tool_calls": calls}],
            }
        )
    )
    return ingested(path)


def test_a_preview_of_more_than_2000_tool_calls_runs_as_a_job_and_then_shows_the_same_preview(
    client, repairer, many_calls
):
    client.force_login(repairer)
    url = f"/conversations/{many_calls.pk}/repair/"

    first = client.get(url, {"target": "anthropic"})
    polled = client.get(url, {"target": "anthropic"}, headers={"HX-Request": "true"})

    job = Job.objects.get()
    assert job.kind == Job.Kind.PREVIEW and job.options == {"target": "anthropic", "include_warnings": False}
    assert [i.conversation_id for i in JobItem.objects.filter(job=job)] == [many_calls.pk]
    assert first.status_code == polled.status_code == 200
    assert first.context["preview"] is None and first.context["preview_job"]["job"] == job.pk
    page = first.content.decode()
    assert "Previewing in the background" in page and "2,001 tool calls" in page
    assert f'hx-get="{url}?target=anthropic"' in page
    # The polling answers the page's partial and queues nothing more.
    assert "<html" not in polled.content.decode() and "Previewing in the background" in polled.content.decode()

    run_worker()
    done = client.get(url, {"target": "anthropic"}, headers={"HX-Request": "true"})

    assert Job.objects.get().status == Job.Status.DONE and Job.objects.count() == 1
    assert done.context["preview_job"] is None and done.context["problem"] is None
    expected = preview_dict(many_calls.latest_revision, RepairAsk(target="anthropic"))
    assert json.loads(json.dumps(done.context["preview"])) == json.loads(json.dumps(expected))
    assert done.context["preview"]["changed"]
    html = done.content.decode()
    assert 'hx-trigger="load delay:1s"' not in html and "Apply as revision 2" in html


def test_each_ask_has_its_own_preview_job_and_a_new_revision_a_new_one(client, viewer, many_calls):
    client.force_login(viewer)
    url = f"/conversations/{many_calls.pk}/repair/"

    client.get(url, {"target": "anthropic"})
    client.get(url, {"target": "openai", "include_warnings": "1"})
    client.get(url, {"target": "openai", "include_warnings": "1"})

    assert sorted((j.options["target"], j.options["include_warnings"]) for j in Job.objects.all()) == [
        ("anthropic", False),
        ("openai", True),
    ]


def test_a_route_preview_of_such_a_history_is_refused_not_computed(client, viewer, many_calls):
    client.force_login(viewer)

    response = client.post(
        f"/conversations/{many_calls.pk}/repair/",
        {"action": "preview", "config": "model_list: []", "group": "gpt-4o"},
    )

    assert response.status_code == 400 and "preview it for a target" in response.context["problem"]
    assert not Job.objects.exists()
