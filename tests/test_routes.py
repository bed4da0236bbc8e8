"""Routes known once, and which conversations are stuck.

The seed case, told by its own proxy config: with the config kept as a route and the default route
naming its model group, each seed conversation is judged by the Bedrock deployment and by the
Anthropic fallback, in the order litellm tries them, with no config pasted anywhere; the list, the
API and the admin say which conversations are stuck, at risk, healthy or unchecked."""

import json
import shutil

import pytest
import yaml

from conversations.api.auth import api_token_create
from conversations.jobs import job_work_for
from conversations.models import Conversation, Job, Route, RouteRule, RouteVersion, Status, Verdict
from conversations.routing import route_files_sync, route_version_save
from conversations.tasks import route_rechecks_start
from tests.support import FIXTURES, SEED, ingested

pytestmark = pytest.mark.django_db

PROXY_CONFIG = FIXTURES / "seed" / "proxy-config.yaml"
GROUP = "claude-3-5-sonnet-20241022"
BEDROCK = f"{GROUP} via bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0"
FALLBACK = "anthropic/claude-3-5-sonnet-20241022 via anthropic/claude-3-5-sonnet-20241022"
HEALTHY_OPENAI = FIXTURES / "formats" / "openai-request.json"


@pytest.fixture
def seed_route(settings, tmp_path):
    """The seed's proxy config as a route file, and the default route naming its group."""
    config = tmp_path / "proxy-config.yaml"
    shutil.copyfile(PROXY_CONFIG, config)
    settings.INSPECTOR_ROUTE_CONFIGS = [str(config)]
    settings.INSPECTOR_DEFAULT_ROUTE = ("proxy-config", GROUP)
    return config


def deployment_verdicts(conversation: Conversation) -> list[tuple[str, bool]]:
    rows = Verdict.objects.filter(revision=conversation.latest_revision, route_version__isnull=False)
    return list(rows.order_by("position").values_list("target", "accepted"))


def test_each_seed_conversation_is_judged_by_the_bedrock_deployment_then_its_fallback(seed_route):
    conversations = {path.stem: ingested(path) for path in SEED}

    for conversation in conversations.values():
        assert conversation.route_version.route.name == "proxy-config"
        assert conversation.model_group == GROUP
        assert [target for target, _ in deployment_verdicts(conversation)] == [BEDROCK, FALLBACK]
    cache_on_tool = conversations["openhands-6852-cache-on-tool-message"]
    still_failing = conversations["openhands-6852-cache-removed-still-failing"]
    # Bedrock refuses explicit prompt caching on this account; the fallback answers, until it does not.
    assert deployment_verdicts(cache_on_tool)[0] == (BEDROCK, False)
    for conversation in (cache_on_tool, still_failing):
        assert conversation.status in (Status.STUCK, Status.AT_RISK)


def test_the_page_shows_every_deployment_without_a_config_pasted(client, viewer, seed_route):
    conversation = ingested(SEED[0])
    client.force_login(viewer)

    html = client.get(conversation.get_absolute_url()).content.decode()

    assert "route <b>proxy-config</b> v1" in html
    assert html.index(BEDROCK) < html.index(FALLBACK)
    assert "deployment 1 of its route" in html and "deployment 2 of its route" in html


def test_the_api_names_the_route_the_status_and_each_deployment_in_order(client, viewer, seed_route):
    conversation = ingested(SEED[0])
    _, token = api_token_create(viewer)

    body = client.get(f"/api/conversations/{conversation.pk}", headers={"Authorization": f"Bearer {token}"}).json()

    assert body["route"] == {"name": "proxy-config", "version": 1, "model_group": GROUP}
    assert body["status"] == Status(conversation.status).key
    deployments = [v for v in body["verdicts"] if "deployment" in v]
    assert [(v["deployment"], v["target"]) for v in deployments] == [(0, BEDROCK), (1, FALLBACK)]


def test_a_conversation_that_names_its_model_takes_no_default_route(seed_route):
    conversation = ingested(HEALTHY_OPENAI)

    assert conversation.route_version is None and deployment_verdicts(conversation) == []
    assert conversation.status == Status.HEALTHY


def test_a_route_keeps_no_credentials(settings, tmp_path):
    config = tmp_path / "prod.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: main\n"
        "    litellm_params:\n"
        "      model: anthropic/claude-3-5-sonnet-20241022\n"
        "      api_key: sk-ant-api03-" + "x" * 40 + "\n"
        "      api_base: os.environ/ANTHROPIC_BASE\n"
        "  - model_name: main\n"
        "    litellm_params:\n"
        "      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0\n"
        "      aws_secret_access_key: os.environ/AWS_SECRET\n"
        "      aws_region_name: us-west-2\n"
    )
    settings.INSPECTOR_ROUTE_CONFIGS = [str(config)]

    route_files_sync()

    version = Route.objects.get(name="prod").current
    kept = json.dumps(version.config)
    assert "sk-ant" not in kept and "os.environ" not in kept and "aws_secret_access_key" not in kept
    assert "us-west-2" in kept and version.config["model_list"][1]["litellm_params"]["model"].startswith("bedrock/")
    assert sorted(version.removed) == [
        "model_list[0].litellm_params.api_base",
        "model_list[0].litellm_params.api_key",
        "model_list[1].litellm_params.aws_secret_access_key",
    ]


def test_a_changed_file_is_a_new_version_and_the_same_content_is_not(seed_route):
    route_files_sync()
    route_files_sync()
    assert RouteVersion.objects.filter(route__name="proxy-config").count() == 1

    config = yaml.safe_load(seed_route.read_text())
    config["model_list"][0]["model_info"]["supports_prompt_caching"] = True
    seed_route.write_text(yaml.safe_dump(config))
    route_files_sync()

    route = Route.objects.get(name="proxy-config")
    assert route.current.number == 2 and route.versions.count() == 2


def test_an_admin_route_of_the_same_name_wins_over_the_file(seed_route):
    route = Route.objects.create(name="proxy-config", origin=Route.Origin.ADMIN)
    route_version_save(route, {"model_list": [{"model_name": GROUP, "litellm_params": {"model": "openai/gpt-4o"}}]})

    route_files_sync()

    route.refresh_from_db()
    assert (
        route.versions.count() == 1
        and route.current.config["model_list"][0]["litellm_params"]["model"] == "openai/gpt-4o"
    )


def test_an_admin_enters_a_route_in_yaml_its_keys_are_taken_out_and_a_bad_one_is_refused(client, admin_user):
    client.force_login(admin_user)
    config = PROXY_CONFIG.read_text().replace(
        "aws_region_name: us-west-2", "aws_region_name: us-west-2\n      aws_secret_access_key: AKIAsecretvalue1234"
    )

    versions = {"versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": 0}  # the versions inline, read-only
    refused = client.post("/admin/conversations/route/add/", {"name": "prod", "config": "model_list: 3", **versions})
    kept = client.post("/admin/conversations/route/add/", {"name": "prod", "config": config, **versions})

    assert refused.status_code == 200 and "model_list" in refused.content.decode()
    assert kept.status_code == 302
    route = Route.objects.get(name="prod")
    assert route.origin == Route.Origin.ADMIN and route.current.number == 1
    assert "AKIA" not in json.dumps(route.current.config)
    assert route.current.removed == ["model_list[0].litellm_params.aws_secret_access_key"]


def test_a_rule_naming_a_group_its_route_lacks_is_refused(client, admin_user, seed_route):
    route_files_sync()
    client.force_login(admin_user)

    response = client.post(
        "/admin/conversations/routerule/add/",
        {"position": 0, "route": Route.objects.get().pk, "model_group": "nope", "model_regex": "(unclosed"},
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "not a regular expression" in str(errors["model_regex"])


def test_a_mapping_rule_routes_the_conversations_it_matches_first_match_wins(settings, seed_route):
    settings.INSPECTOR_DEFAULT_ROUTE = None
    route_files_sync()
    route = Route.objects.get(name="proxy-config")
    RouteRule.objects.create(position=1, route=route, model_group=GROUP, model_regex="^gpt-4o")
    RouteRule.objects.create(position=2, route=route, model_group="anthropic/claude-3-5-sonnet-20241022")

    routed = ingested(HEALTHY_OPENAI)
    fallback_only = ingested(SEED[0])

    assert routed.model_group == GROUP
    assert fallback_only.model_group == "anthropic/claude-3-5-sonnet-20241022"
    assert [t for t, _ in deployment_verdicts(fallback_only)] == [FALLBACK]


def test_a_model_named_litellm_proxy_group_takes_the_route_with_that_group(settings, seed_route, tmp_path):
    settings.INSPECTOR_DEFAULT_ROUTE = None
    body = json.loads(HEALTHY_OPENAI.read_text())
    body["model"] = f"litellm_proxy/{GROUP}"
    path = tmp_path / "through-the-proxy.json"
    path.write_text(json.dumps(body))

    conversation = ingested(path)

    assert conversation.route_version.route.name == "proxy-config" and conversation.model_group == GROUP


def test_a_new_version_rechecks_what_it_concerns_in_one_job_and_never_twice(seed_route):
    conversation = ingested(SEED[0])
    assert route_rechecks_start() == 1  # the first version was never re-checked: its one job
    jobs_before = Job.objects.filter(kind=Job.Kind.RECHECK).count()

    config = yaml.safe_load(seed_route.read_text())
    config["model_list"][0]["model_info"]["supports_prompt_caching"] = True
    seed_route.write_text(yaml.safe_dump(config))
    route_files_sync()
    queued = route_rechecks_start()
    again = route_rechecks_start()

    version = Route.objects.get(name="proxy-config").current
    job = Job.objects.get(kind=Job.Kind.RECHECK, options__route_version=version.pk)
    assert (queued, again) == (1, 0) and job.total == 1
    assert Job.objects.filter(kind=Job.Kind.RECHECK).count() == jobs_before + 1
    assert job.items.get().conversation_id == conversation.pk


def test_the_recheck_job_judges_the_conversation_by_the_new_version(seed_route):
    conversation = ingested(SEED[0])
    direct = "anthropic/claude-3-5-sonnet-20241022"
    seed_route.write_text(yaml.safe_dump({"model_list": [{"model_name": GROUP, "litellm_params": {"model": direct}}]}))
    route_files_sync()
    route_rechecks_start()
    version = Route.objects.get(name="proxy-config").current
    job = Job.objects.get(options__route_version=version.pk)

    job_work_for(job.pk, seconds=30)

    conversation.refresh_from_db()
    assert conversation.route_version == version
    assert deployment_verdicts(conversation) == [(f"{GROUP} via {direct}", True)]
    assert conversation.status in (Status.HEALTHY, Status.AT_RISK)


def test_the_list_counts_each_status_and_shows_stuck_first(client, viewer, seed_route):
    healthy = ingested(HEALTHY_OPENAI)
    risky = ingested(SEED[0])
    client.force_login(viewer)

    response = client.get("/")

    counts = {s["key"]: s["count"] for s in response.context["status_counts"]}
    assert counts[Status(risky.status).key] >= 1 and counts["healthy"] == 1
    ids = [row["id"] for row in response.context["rows"]]
    assert ids.index(risky.pk) < ids.index(healthy.pk)
    only_healthy = client.get("/", {"status": "healthy"}).context["rows"]
    assert [row["id"] for row in only_healthy] == [healthy.pk]


def test_the_api_filters_and_sorts_by_status_and_refuses_an_unknown_one(client, viewer, seed_route):
    healthy = ingested(HEALTHY_OPENAI)
    risky = ingested(SEED[0])
    headers = {"Authorization": f"Bearer {api_token_create(viewer)[1]}"}

    def ids(**params):
        return [r["id"] for r in client.get("/api/conversations", params, headers=headers).json()["results"]]

    assert ids(status="healthy") == [healthy.pk]
    assert ids(sort="status") == [risky.pk, healthy.pk]
    assert ids(sort="-status") == [healthy.pk, risky.pk]
    refused = client.get("/api/conversations", {"status": "fine"}, headers=headers)
    assert refused.status_code == 400 and "status" in refused.json()["reason"]


def test_the_admin_filters_on_status(client, admin_user, seed_route):
    healthy = ingested(HEALTHY_OPENAI)
    ingested(SEED[0])
    client.force_login(admin_user)

    response = client.get("/admin/conversations/conversation/", {"status": "healthy"})

    assert response.status_code == 200
    assert list(response.context["cl"].queryset.values_list("pk", flat=True)) == [healthy.pk]


def test_a_repair_through_the_api_targets_the_conversations_own_route_by_default(client, repairer, seed_route):
    conversation = ingested(SEED[0])
    headers = {"Authorization": f"Bearer {api_token_create(repairer)[1]}"}

    response = client.post(
        f"/api/conversations/{conversation.pk}/repair",
        {"dry_run": True},
        content_type="application/json",
        headers=headers,
    )
    named = client.post(
        f"/api/conversations/{conversation.pk}/repair",
        {"dry_run": True, "route": {"name": "proxy-config", "model_group": GROUP}},
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == named.status_code == 200
    assert [v["target"] for v in response.json()["before"]] == [BEDROCK, FALLBACK]
    assert response.json()["before"] == named.json()["before"]
    unknown = client.post(
        f"/api/conversations/{conversation.pk}/repair",
        {"route": {"name": "nope", "model_group": GROUP}},
        content_type="application/json",
        headers=headers,
    )
    assert unknown.status_code == 400 and "proxy-config" in unknown.json()["reason"]


def test_a_new_mapping_rule_rechecks_and_moves_the_conversations_it_matches(client, admin_user, settings, seed_route):
    settings.INSPECTOR_DEFAULT_ROUTE = None
    route_files_sync()
    conversation = ingested(HEALTHY_OPENAI)
    assert conversation.route_version is None  # no rule yet: judged by its own target
    client.force_login(admin_user)

    response = client.post(
        "/admin/conversations/routerule/add/",
        {"position": 0, "route": Route.objects.get().pk, "model_group": GROUP, "model_regex": "^gpt-4o"},
    )

    assert response.status_code == 302
    job = Job.objects.get(kind=Job.Kind.RECHECK, options__reason="route mapping rules changed")
    assert list(job.items.values_list("conversation_id", flat=True)) == [conversation.pk]
    job_work_for(job.pk, seconds=30)
    conversation.refresh_from_db()
    assert conversation.route_version.route.name == "proxy-config" and conversation.model_group == GROUP
    assert [t for t, _ in deployment_verdicts(conversation)] == [BEDROCK, FALLBACK]


def test_deleting_the_rule_moves_them_back_to_their_own_target(client, admin_user, settings, seed_route):
    settings.INSPECTOR_DEFAULT_ROUTE = None
    route_files_sync()
    rule = RouteRule.objects.create(position=0, route=Route.objects.get(), model_group=GROUP, model_regex="^gpt-4o")
    conversation = ingested(HEALTHY_OPENAI)
    assert conversation.model_group == GROUP
    client.force_login(admin_user)

    response = client.post(f"/admin/conversations/routerule/{rule.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    job = Job.objects.get(kind=Job.Kind.RECHECK, options__reason="route mapping rules changed")
    job_work_for(job.pk, seconds=30)
    conversation.refresh_from_db()
    assert conversation.route_version is None and deployment_verdicts(conversation) == []
