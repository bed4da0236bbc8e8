"""The hang guard of issue 16: a hostile corpus (tests/hostile_corpus.py, written at test time)
is ingested, then every page, fragment and API answer for each of its conversations is fetched.
Each fetch must finish within 10 s. Not a speed test (figures: bench/hostile.py): a bound on
how long one request any viewer can make may hold a worker; pytest-timeout stops a real hang."""

import time

import pytest

from conversations.api.auth import api_token_create
from conversations.history import formats, targets, wire
from conversations.ingest import ingest_path
from conversations.models import Conversation
from tests.hostile_corpus import CORPUS, EXPLAIN_PASTE
from tests.hostile_corpus import write as write_corpus
from tests.support import FIXTURES

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

FETCH_SECONDS = 10


def timed(fetch, what: str):
    start = time.perf_counter()
    response = fetch()
    seconds = time.perf_counter() - start
    assert response.status_code < 500, f"{what}: {response.status_code}"
    assert seconds < FETCH_SECONDS, f"{what} took {seconds:.1f} s"
    return response


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return {p.name: p for p in write_corpus(tmp_path_factory.mktemp("hostile"))}


@pytest.fixture
def warm(db):
    """litellm's import and first calls (half a minute on a loaded machine) before anything is
    timed: a cost of the process, not of a request."""
    ingest_path(FIXTURES / "samples" / "unanswered-tool-call.json")
    history = formats.read(formats.load_path(FIXTURES / "samples" / "unanswered-tool-call.json"))[0]
    wire.build(history, targets.resolve("anthropic"))  # the path that imports litellm


def test_a_log_nested_deeper_than_any_parser_is_refused(corpus):
    outcome = ingest_path(corpus["deeper-than-any-parser.json"])
    assert outcome.status == "failed" and "deeper-than-any-parser.json" in outcome.error


CASES = [n for n in CORPUS if n != "deeper-than-any-parser.json"]


@pytest.mark.timeout(60, func_only=True)
@pytest.mark.parametrize("name", CASES)
def test_every_page_of_a_hostile_log_answers_within_10_seconds(client, viewer, corpus, warm, name):
    start = time.perf_counter()
    outcome = ingest_path(corpus[name])
    assert outcome.status == "ingested", outcome.error
    assert time.perf_counter() - start < 50, f"ingesting {name}"
    c = Conversation.objects.get(pk=outcome.added[0])
    client.force_login(viewer)
    _, token = api_token_create(viewer)
    api = {"headers": {"Authorization": f"Bearer {token}"}}
    base = f"/conversations/{c.pk}"

    timed(lambda: client.get("/"), "the list")
    timed(lambda: client.get("/api/conversations", **api), "the API list")
    timed(lambda: client.get(f"{base}/"), "the page")
    timed(lambda: client.get(f"{base}/", {"start": 100}, headers={"HX-Request": "true"}), "turns")
    timed(lambda: client.get(f"{base}.json"), "JSON")
    timed(lambda: client.get(f"{base}/messages/0/raw/"), "raw")
    timed(lambda: client.get(f"{base}/wire/anthropic/"), "wire")
    timed(lambda: client.get(f"{base}/diff/"), "diff")
    timed(lambda: client.get(f"{base}/repair/", {"target": "anthropic"}), "preview")
    timed(lambda: client.post(f"{base}/explain/", {"error": EXPLAIN_PASTE}), "explain")
    timed(lambda: client.get(f"{base}/revisions/1/download/"), "download")
    timed(lambda: client.get(f"/api/conversations/{c.pk}", **api), "API detail")
