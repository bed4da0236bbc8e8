"""Many documents (a folder of logs) or many records (a litellm JSONL) are written a table at a
time, not a conversation at a time, with every guarantee of the one-by-one write: each document
stored whole or not at all, a batch the database refuses written one document at a time, the
same place twice stored once, the verdicts, search entries and audit events of each."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.history.formats.document import Document
from conversations.ingest import Candidate, ingest_candidates, ingest_document
from conversations.models import AuditEvent, Conversation, Route, RouteRule, Source, Verdict
from conversations.routing import route_version_save
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db

OPENAI = FIXTURES / "formats" / "openai-request.json"
LITELLM = FIXTURES / "formats" / "litellm-standard-logging-failure.json"


def folder_of_logs(tmp_path, count: int, name: str = "logs"):
    """`count` OpenAI requests, each asking its own question (the folder's name in it)."""
    folder = tmp_path / name
    folder.mkdir()
    body = json.loads(OPENAI.read_text())
    question = next(m for m in body["messages"] if m["role"] == "user")
    for k in range(count):
        question["content"] = f"Question {k} of {name}?"
        (folder / f"request-{k:03d}.json").write_text(json.dumps(body))
    return folder


def ingest_folder(folder, jobs: int = 1):
    return list(ingest_candidates([Candidate(p) for p in sorted(folder.iterdir())], jobs=jobs))


def statements(run) -> int:
    with CaptureQueriesContext(connection) as queries:
        run()
    return len(queries.captured_queries)


def test_a_folder_of_new_logs_is_written_a_table_at_a_time_not_a_file_at_a_time(tmp_path):
    few, many = folder_of_logs(tmp_path, 2, "few"), folder_of_logs(tmp_path, 10, "many")
    statements(lambda: ingest_folder(folder_of_logs(tmp_path, 2, "warm-up")))  # the route table's first read

    # One look-up a file (are these bytes stored already?); the writes do not grow with the files.
    assert statements(lambda: ingest_folder(many)) - statements(lambda: ingest_folder(few)) == 8 * 1

    for path in sorted(many.iterdir()):
        conversation = Conversation.objects.get(source__location=str(path.resolve()))
        revision = conversation.latest_revision
        assert (revision.number, revision.reason) == (1, "ingested")
        assert revision.original.files.get().data == path.read_bytes()  # byte for byte
        assert revision.verdicts.get(own_target=True).target
        assert conversation.search_entry.text
        assert f"Question {int(path.stem[-3:])} of many?" in conversation.search_entry.text
        event = AuditEvent.objects.get(action="ingest", detail__source=f"path:{path.resolve()}")
        assert event.detail["conversations"] == [conversation.pk]


def test_the_same_file_twice_in_one_batch_is_stored_once(tmp_path):
    path = folder_of_logs(tmp_path, 1) / "request-000.json"

    outcomes = list(ingest_candidates([Candidate(path), Candidate(path), Candidate(path), Candidate(path)]))

    assert [o.status for _, o in outcomes] == ["ingested", "unchanged", "unchanged", "unchanged"]
    assert Conversation.objects.count() == 1 and Source.objects.count() == 1


def refuse_batches() -> None:
    """A database fault only a batch meets: a second source row before the first has its
    conversation (the one-by-one write never leaves a source without one)."""
    orphan = (
        "EXISTS (SELECT 1 FROM conversations_source s WHERE NOT EXISTS "
        "(SELECT 1 FROM conversations_conversation c WHERE c.source_id = s.id))"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_batches() RETURNS trigger AS $$ BEGIN "
                f"IF {orphan} THEN RAISE EXCEPTION 'a batch refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_batches BEFORE INSERT ON conversations_source "
                "FOR EACH ROW EXECUTE FUNCTION refuse_batches()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_batches BEFORE INSERT ON conversations_source WHEN {orphan} "
                "BEGIN SELECT RAISE(ABORT, 'a batch refused'); END"
            )


def test_a_batch_the_database_refuses_is_written_one_document_at_a_time_and_nothing_half(tmp_path):
    folder = folder_of_logs(tmp_path, 5)
    refuse_batches()

    outcomes = ingest_folder(folder)

    assert [o.status for _, o in outcomes] == ["ingested"] * 5
    assert Source.objects.count() == Conversation.objects.count() == 5  # no source left without its conversation
    assert all(c.latest_revision.verdicts.filter(own_target=True).exists() for c in Conversation.objects.all())
    assert AuditEvent.objects.filter(action="ingest").count() == 5


def test_a_folder_prepared_by_worker_processes_is_stored_the_same_way(tmp_path):
    folder = folder_of_logs(tmp_path, 6)

    outcomes = ingest_folder(folder, jobs=2)

    assert [o.status for _, o in outcomes] == ["ingested"] * 6
    assert [o.path for _, o in outcomes] == [str(p) for p in sorted(folder.iterdir())]
    assert Conversation.objects.count() == 6
    again = ingest_folder(folder, jobs=2)
    assert [o.status for _, o in again] == ["unchanged"] * 6


def litellm_jsonl(count: int) -> Document:
    """`count` logged calls, one a line, each its own conversation."""
    record = json.loads(LITELLM.read_text())
    lines = []
    for k in range(count):
        record["id"] = f"call-{k}"
        record["messages"][-1]["content"] = f"Step {k}: go on."
        lines.append(json.dumps(record))
    return Document.from_bytes("calls.jsonl", ("\n".join(lines) + "\n").encode())


def test_a_jsonl_of_many_calls_is_written_a_table_at_a_time(tmp_path):
    ingest_document(litellm_jsonl(1), kind=Source.Kind.UPLOAD, location="warm-up.jsonl")
    outcomes = {}

    def run(count: int) -> None:
        outcomes[count] = ingest_document(litellm_jsonl(count), kind=Source.Kind.UPLOAD, location=f"{count}.jsonl")

    assert statements(lambda: run(12)) == statements(lambda: run(3))
    added = outcomes[12].added
    assert outcomes[12].status == "ingested" and len(added) == 12
    conversations = Conversation.objects.filter(pk__in=added).order_by("pk")
    assert [c.latest_revision.record for c in conversations] == list(range(1, 13))
    assert [c.external_id for c in conversations] == [f"call-{k}" for k in range(12)]
    assert all(c.latest_revision.verdicts.filter(own_target=True).exists() for c in conversations)
    assert "Step 11: go on." in conversations.last().search_entry.text
    assert AuditEvent.objects.get(action="ingest", detail__source="upload:12.jsonl").detail["conversations"] == added


def test_each_conversation_of_a_batch_on_a_route_has_its_deployments_in_the_route_s_order(tmp_path, settings):
    settings.INSPECTOR_DEFAULT_ROUTE = None
    route = Route.objects.create(name="three")
    route_version_save(
        route,
        {
            "model_list": [
                {"model_name": "main", "litellm_params": {"model": "anthropic/claude-3-5-sonnet-20241022"}},
                {"model_name": "main", "litellm_params": {"model": "openai/gpt-4o"}},
                {
                    "model_name": "main",
                    "litellm_params": {"model": "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0"},
                },
            ]
        },
    )
    RouteRule.objects.create(route=route, model_group="main")

    ingest_folder(folder_of_logs(tmp_path, 3))

    for conversation in Conversation.objects.all():
        deployments = Verdict.objects.filter(revision=conversation.latest_revision, route_version__isnull=False)
        assert sorted(deployments.values_list("position", flat=True)) == [0, 1, 2]
