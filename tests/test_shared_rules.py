"""One home for each rule. Where copies of a decision used to disagree, the copy that won, shown
on every surface that now asks the one function:

- a conversation's verdict, on the list page, in the API and in the admin: its own target's,
  unless a target is named (Conversation.objects.with_verdict, models.verdict_status);
- whether a conversation can be written back, on the repair page, in writeback_apply, on a
  resume, in the bulk job and on the admin's confirmation page (repairs.writeback_refusal);
- a pasted route config, on the page and in the API (verdicts.route_config);
- a revision as a document, downloaded from the page or read from the API
  (repairs.revision_document).
"""

import json
import re

import pytest

from conversations import jobs, repairs
from conversations.api.auth import api_token_create
from conversations.history.routes import RouteError
from conversations.models import Conversation, Job, JobItem, Verdict
from conversations.verdicts import RULES_VERSION, route_config
from conversations.writeback import WriteBackError
from tests.support import FIXTURES, broken_body, ingested

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/conversations/conversation/"
OPENAI = FIXTURES / "formats" / "openai-request.json"
UNANSWERED = FIXTURES / "samples" / "unanswered-tool-call.json"


@pytest.fixture
def token(admin_user):
    return {"Authorization": f"Bearer {api_token_create(admin_user)[1]}"}


def test_a_conversations_verdict_is_its_own_targets_on_the_list_the_api_and_the_admin(client, admin_user, token):
    """The list page and the API used to filter on any target's verdict, the admin on the own
    target's. The own target's wins: it is what ingest checks, while another target's verdict
    exists only once someone asked for it on the page. Naming a target filters on that one."""
    fine = ingested(OPENAI)  # OpenAI, its own target, accepts it
    Verdict.objects.create(  # someone asked the page about Anthropic, which rejects it
        revision=fine.latest_revision, target="anthropic", accepted=False, errors=1, rules_version=RULES_VERSION
    )
    client.force_login(admin_user)

    def shown(verdict: str, **target: str) -> dict[str, bool]:
        params = {"verdict": verdict, **target}
        page = [row["id"] for row in client.get("/", params).context["rows"]]
        api = [row["id"] for row in client.get("/api/conversations", params, headers=token).json()["results"]]
        admin = [c.pk for c in client.get(CHANGELIST, params).context["cl"].result_list] if not target else None
        return {"page": fine.pk in page, "api": fine.pk in api, **({"admin": fine.pk in admin} if not target else {})}

    assert shown("accepted") == {"page": True, "api": True, "admin": True}
    assert shown("rejected") == {"page": False, "api": False, "admin": False}
    assert shown("rejected", target="anthropic") == {"page": True, "api": True}
    assert shown("accepted", target="anthropic") == {"page": False, "api": False}


def test_a_file_holding_several_conversations_is_never_written_back(client, repairer, settings, tmp_path):
    """Only the bulk job refused a file that holds several conversations (writing one back would
    overwrite the others); the page, writeback_apply and a resume's append did not. Now all of
    them ask repairs.writeback_refusal, whose other rules are writeback_apply's."""
    settings.WRITE_BACK_ROOTS = [tmp_path]
    path = tmp_path / "shared.json"
    path.write_text(json.dumps(broken_body(1)))
    conversation = ingested(path)
    Conversation.objects.create(source=conversation.source, locator="another", format="openai")
    before = path.read_bytes()
    client.force_login(repairer)

    page = client.get(f"/conversations/{conversation.pk}/repair/").content.decode()
    assert "Apply and write back" not in page and "the file holds several conversations" in page
    with pytest.raises(WriteBackError, match="several conversations"):
        repairs.writeback_apply(conversation, conversation.latest_revision, user=repairer)
    job = jobs.job_create(Job.Kind.WRITE_BACK, Conversation.objects.filter(pk=conversation.pk), user=repairer)
    jobs.job_work(job.pk)
    item = job.items.get()
    assert item.status == JobItem.Status.SKIPPED and "several conversations" in item.reason
    assert path.read_bytes() == before


def test_the_admin_says_which_conversations_a_write_back_will_leave_alone(client, admin_user, settings, tmp_path):
    settings.WRITE_BACK_ROOTS = [tmp_path]
    upload = ingested(UNANSWERED)  # read from the fixtures: outside the write-back roots
    client.force_login(admin_user)

    page = client.post(
        CHANGELIST, {"action": "write_back_action", "_selected_action": [upload.pk], "index": "0"}
    ).content.decode()

    assert "not written back</strong>: " in page and "is not under an allowed write-back root" in page


@pytest.mark.parametrize(
    "config, words",
    [
        ("model_list: [", "The config is not YAML at line 1, column 14."),
        ("- a list", "The config is not a litellm proxy config (no model_list)."),
    ],
)
def test_a_pasted_route_config_is_refused_in_the_same_words_on_the_page_and_in_the_api(client, repairer, config, words):
    """The API answered "route.config: not YAML: <the parser's own report>" and "expected a
    litellm config"; the pages' words win: where the YAML breaks, and what a config must be."""
    conversation = ingested(UNANSWERED)
    client.force_login(repairer)
    headers = {"Authorization": f"Bearer {api_token_create(repairer)[1]}"}

    with pytest.raises(RouteError, match=re.escape(words)):
        route_config(config)
    page = client.post(f"/conversations/{conversation.pk}/route/", {"config": config, "group": "claude"})
    api = client.post(
        f"/api/conversations/{conversation.pk}/repair",
        {"route": {"config": config, "model_group": "claude"}},
        content_type="application/json",
        headers=headers,
    )

    assert page.status_code == api.status_code == 400
    assert words in page.content.decode()
    assert api.json()["reason"] == f"route.config: {words}"


@pytest.mark.parametrize("as_", ["source", "openai", "anthropic"])
def test_a_revision_downloads_from_the_page_as_the_api_serves_it(client, admin_user, token, as_):
    conversation = ingested(UNANSWERED)
    client.force_login(admin_user)
    url = f"/conversations/{conversation.pk}/revisions/1/download/"

    page = client.get(url, {"as": as_})
    api = client.get(f"/api/conversations/{conversation.pk}/revisions/1", {"as": as_}, headers=token)

    assert page.status_code == api.status_code == 200
    assert page.content == api.content
