"""How revisions store a history: chunks of messages shared between revisions, so a repair that
answers one tool call of a long conversation writes one new chunk, and every revision reads back
the history it was given."""

import hashlib
import json
import zlib
from dataclasses import replace

import pytest

from conversations import repairs
from conversations.compression import ZSTD_MAGIC, json_bytes, pack, unpack
from conversations.history.formats.document import Document
from conversations.history.model import Block, Message
from conversations.ingest import ingest_document
from conversations.models import Chunk, Conversation, Revision, Source
from conversations.storage import CHUNK_SIZE, chunks_store, dumped_same, history_dump
from tests.support import changed_at_random

pytestmark = pytest.mark.django_db


def agent_body(turns: int, unanswered: int | None = None) -> dict:
    """An agent's OpenAI request: a task, then `turns` tool calls each answered by a tool message
    (but call number `unanswered`), then a nudge from the user."""
    messages = [{"role": "user", "content": "fix the failing test"}]
    for n in range(turns):
        messages.append(
            {
                "role": "assistant",
                "content": f"step {n}",
                "tool_calls": [
                    {
                        "id": f"call_{n}",
                        "type": "function",
                        "function": {"name": "bash", "arguments": json.dumps({"cmd": f"pytest -k case_{n}"})},
                    }
                ],
            }
        )
        if n != unanswered:
            messages.append({"role": "tool", "tool_call_id": f"call_{n}", "content": f"case_{n}: passed"})
    messages.append({"role": "user", "content": "are you still there?"})
    return {"model": "gpt-4o", "messages": messages}


def ingested(body: dict) -> Conversation:
    outcome = ingest_document(
        Document.from_bytes("agent.json", json.dumps(body).encode()), kind=Source.Kind.UPLOAD, location="agent.json"
    )
    assert outcome.status == "ingested", outcome.error
    return Conversation.objects.get(pk=outcome.added[0])


def stored(revision: Revision) -> Revision:
    """The revision as another process reads it: from the database, nothing cached."""
    return Revision.objects.get(pk=revision.pk)


def test_a_repair_stores_only_the_chunk_holding_what_it_changed(repairer):
    # 1 + 2 * 90 - 1 + 1 = 181 messages; the unanswered call is message 121, in the third chunk.
    conversation = ingested(agent_body(90, unanswered=60))
    first = conversation.latest_revision
    assert first.chunk_sizes == [50, 50, 50, 31]

    revision, result = repairs.repair_apply(conversation, user=repairer, expected=1)

    assert result.accepted and [e.op for e in result.edits] == ["add-tool-result"]
    assert revision.chunks[:2] == first.chunks[:2] and revision.chunks[-1] == first.chunks[-1]
    assert revision.chunk_sizes == [50, 50, 51, 31]  # one new chunk
    assert revision.chunks[2] not in first.chunks
    assert stored(revision).history.to_dict() == result.history.to_dict()


def test_every_range_of_messages_reads_across_chunks_of_any_size(repairer):
    conversation = ingested(agent_body(90, unanswered=60))
    revision, result = repairs.repair_apply(conversation, user=repairer, expected=1)
    expected = [m.to_dict() for m in result.history.messages]

    for start, stop in [(0, 10), (45, 55), (99, 152), (149, 151), (150, 182), (170, 500), (0, 182)]:
        got = [m.to_dict() for m in stored(revision).messages(start, stop)]
        assert got == expected[start:stop], (start, stop)


def test_a_revision_stored_before_chunk_sizes_reads_its_hundred_message_chunks(repairer):
    template = ingested(agent_body(120)).latest_revision
    history = template.history
    dicts = [m.to_dict() for m in history.messages]
    hashes = []
    for start in range(0, len(dicts), 100):  # as revisions were stored before: 100 a chunk, zlib
        text = json_bytes(dicts[start : start + 100])
        hashes.append(hashlib.sha256(text).hexdigest())
        Chunk.objects.get_or_create(sha256=hashes[-1], defaults={"data": zlib.compress(text)})
    legacy = Revision.objects.create(
        conversation=template.conversation,
        number=2,
        head_data=zlib.compress(unpack(template.head_data)),
        chunks=hashes,
        message_count=len(dicts),
        content_hash="legacy",
        reason="stored by an earlier version",
    )

    assert legacy.chunk_spans() == [(0, 100), (100, 200), (200, 242)]
    assert [m.to_dict() for m in stored(legacy).history.messages] == dicts
    assert [m.to_dict() for m in stored(legacy).messages(95, 205)] == dicts[95:205]


def test_what_is_stored_now_is_zstandard_and_what_earlier_versions_stored_with_zlib_still_reads():
    revision = ingested(agent_body(30)).latest_revision
    datas = [bytes(revision.head_data)] + [bytes(c.data) for c in Chunk.objects.filter(sha256__in=revision.chunks)]
    assert all(data.startswith(ZSTD_MAGIC) for data in datas)

    text = json_bytes({"format": "openai", "model": "gpt-4o"})
    assert unpack(pack(text)) == unpack(zlib.compress(text)) == text
    with pytest.raises(zlib.error):
        unpack(b"neither zstandard nor zlib")


def test_the_same_history_cut_into_other_chunks_is_the_same_content(repairer):
    conversation = ingested(agent_body(90, unanswered=60))
    revision, result = repairs.repair_apply(conversation, user=repairer, expected=1)
    fresh = history_dump(result.history)  # what a re-ingest of the repaired file would store
    assert fresh.sizes != revision.chunk_sizes and fresh.content_hash != revision.content_hash

    assert dumped_same(stored(revision), fresh)
    assert not dumped_same(stored(conversation.revisions.get(number=1)), fresh)


def test_a_short_chunk_is_written_again_with_what_follows_it():
    """A reply added at each resume shares the full chunks before it and writes the short tail
    again, so that resumes do not leave a trail of one-message chunks."""
    revision = ingested(agent_body(24)).latest_revision  # 50 messages: one full chunk
    for n in range(1, 4):
        base = stored(revision)
        history = base.history
        reply = Message(role="assistant", blocks=[Block.text_block(f"reply {n}")])
        dumped = history_dump(
            replace(history, messages=[*history.messages, reply]),
            base=base,
            origins=[*range(len(history.messages)), None],
        )

        assert dumped.sizes == [CHUNK_SIZE, n] and dumped.hashes[0] == base.chunks[0]
        assert [sha for sha, _ in dumped.chunks] == dumped.hashes[1:]  # only the tail is new
        chunks_store(dumped.chunks)
        revision = Revision.objects.create(
            conversation=base.conversation, number=base.number + 1, reason="resumed", **dumped.revision_fields()
        )


def test_a_resume_shares_every_chunk_before_the_reply(repairer, settings):
    from tests.fakeprovider import FakeProvider

    conversation = ingested(agent_body(90))  # 182 messages, every call answered
    first = conversation.latest_revision
    with FakeProvider(reply="All tests pass now.") as fake:
        settings.RESUME_API_BASE = fake.api_base("anthropic")
        settings.RESUME_API_KEY = "sk-test-not-a-real-key"
        revision = repairs.conversation_resume(
            conversation, user=repairer, expected=1, continuation="Please go on.", model="anthropic/claude-sonnet-4-5"
        )

    assert revision.chunks[:4] == first.chunks and revision.chunk_sizes == [50, 50, 50, 32, 2]
    assert [m.text for m in stored(revision).messages(182, 184)] == ["Please go on.", "All tests pass now."]


def test_whatever_a_change_does_the_stored_chunks_read_back_as_the_changed_history():
    """Chunks are shared only when their messages come back unchanged and in order: random
    insertions, removals, edits in place and swaps, with the origins a repair would give, always
    read back exactly (a wrong share would silently store the old text)."""
    import random

    from conversations.history import formats

    history = formats.read(Document.from_bytes("agent.json", json.dumps(agent_body(150)).encode()), "openai")[0]
    base = Revision(chunks=[], chunk_sizes=[], message_count=len(history.messages))
    first = history_dump(history)
    base.chunks, base.chunk_sizes, base._history = first.hashes, first.sizes, history
    stored = dict(first.chunks)
    rng = random.Random(7)
    for _ in range(60):
        copy, origins = changed_at_random(history, rng)
        messages = copy.messages

        dumped = history_dump(copy, base=base, origins=origins)

        chunks = {**stored, **dict(dumped.chunks)}
        read = [m for sha in dumped.hashes for m in json.loads(unpack(chunks[sha]))]
        assert read == [m.to_dict() for m in messages]
        assert [len(json.loads(unpack(chunks[sha]))) for sha in dumped.hashes] == dumped.sizes
        assert set(dumped.hashes) & set(first.hashes), "some chunk should survive a few small changes"


def test_a_packed_chunk_holds_no_more_memory_than_it_stores():
    """python-zstandard leaves each output at its worst-case allocation; a history's chunks
    held 28 times their size in memory until ingest ended."""
    import tracemalloc

    text = json.dumps([{"role": "tool", "content": "src/app.py:12: total = sum(x)\n" * 40}] * 50).encode()
    tracemalloc.start()
    try:
        chunks = [pack(text) for _ in range(100)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 3 * sum(map(len, chunks)) + 20_000
