"""How a revision's history is written: a head (system prompt, tools, metadata) and its messages
cut into chunks of about CHUNK_SIZE, each compressed JSON (conversations.compression) addressed by
the sha256 of its text and shared between the revisions that hold it; and the few raw-SQL writes
the bulk paths need (rows_update, the search texts' upsert).

It sits above the models: it imports them, and they import nothing from here (a Revision reads its
own chunks back through conversations.compression). Used by ingest, revisions and the bulk jobs.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from django.db import connection, models

from conversations.compression import json_bytes, pack
from conversations.history.model import History, Message
from conversations.models import Chunk, Revision, SearchText

# Messages a chunk holds at most (revisions stored before chunk_sizes existed hold
# models.LEGACY_CHUNK_SIZE messages in each chunk but the last).
CHUNK_SIZE = 50


@dataclass
class DumpedHistory:
    head: bytes
    chunks: list[tuple[str, bytes]]  # (sha256, data) of the chunks to store: all but those shared
    hashes: list[str]  # every chunk's sha256, in order
    sizes: list[int]  # the messages in each
    content_hash: str  # over the head and the chunks' hashes: two chunkings of one history differ
    message_count: int

    def revision_fields(self) -> dict:
        return {
            "head_data": self.head,
            "chunks": self.hashes,
            "chunk_sizes": self.sizes,
            "message_count": self.message_count,
            "content_hash": self.content_hash,
        }


def history_dump(
    history: History, *, base: Revision | None = None, origins: list[int | None] | None = None
) -> DumpedHistory:
    """Serialize a history chunk by chunk (never the whole JSON text at once) and hash it.

    With `base`, the revision a repair started from (its history read), and `origins`, for each
    message the index in that history of the message it is a copy of (RepairResult.origins): the
    base's chunks whose messages all come back unchanged and in order are shared, not serialized
    again. A repair that answers one tool call writes one new chunk."""
    digest = hashlib.sha256()
    head = dataclasses.replace(history, messages=[]).to_dict()  # the messages go in the chunks
    del head["messages"]
    head_text = json_bytes(head)
    digest.update(head_text)
    chunks, hashes, sizes = [], [], []
    for sha, start, stop in _chunk_runs(history.messages, base, origins):
        if sha is None:
            text = json_bytes([m.to_dict() for m in history.messages[start:stop]])
            sha = hashlib.sha256(text).hexdigest()
            chunks.append((sha, pack(text)))
        digest.update(sha.encode())
        hashes.append(sha)
        sizes.append(stop - start)
    return DumpedHistory(pack(head_text), chunks, hashes, sizes, digest.hexdigest(), len(history.messages))


def _chunk_runs(
    messages: list[Message], base: Revision | None, origins: list[int | None] | None
) -> list[tuple[str | None, int, int]]:
    """How to cut `messages` into chunks, as (sha256 of a base chunk holding exactly these
    messages, or None for a new chunk; start; stop). A base chunk of fewer than CHUNK_SIZE / 2
    messages is not shared but written again with its new neighbours, so that repeated small
    changes (a reply added at each resume) do not leave a trail of tiny chunks."""
    shared: dict[int, tuple[str, int]] = {}
    if base is not None and origins is not None:
        old = base.history.messages
        at = {origin: p for p, origin in enumerate(origins) if origin is not None}
        for sha, (first, end) in zip(base.chunks, base.chunk_spans(), strict=False):
            p = at.get(first)
            size = end - first
            if size < CHUNK_SIZE // 2 or p is None or p + size > len(messages):
                continue
            if all(origins[p + k] == first + k and messages[p + k] == old[first + k] for k in range(size)):
                shared[p] = (sha, p + size)
    runs: list[tuple[str | None, int, int]] = []
    p = fresh = 0
    while p < len(messages):
        if p in shared:
            runs += _new_chunks(fresh, p)
            sha, stop = shared[p]
            runs.append((sha, p, stop))
            p = fresh = stop
        else:
            p += 1
    return runs + _new_chunks(fresh, len(messages))


def _new_chunks(start: int, stop: int) -> list[tuple[None, int, int]]:
    """Messages start..stop-1 cut into chunks of CHUNK_SIZE, a short rest (under half of it)
    joining the last of them: a repair that adds one message to a full chunk writes one chunk of
    51, not one of 50 and one of 1."""
    cuts = list(range(start, stop, CHUNK_SIZE)) + [stop]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < CHUNK_SIZE // 2:
        del cuts[-2]
    return [(None, first, end) for first, end in zip(cuts, cuts[1:], strict=False)]


def dumped_same(revision: Revision, dumped: DumpedHistory) -> bool:
    """Whether `dumped` holds the history `revision` stores, however each is cut into chunks."""
    if revision.content_hash == dumped.content_hash:
        return True
    if revision.message_count != dumped.message_count or revision.chunk_sizes == dumped.sizes:
        return False
    return history_dump(revision.history).content_hash == dumped.content_hash


def chunks_store(chunks: list[tuple[str, bytes]]) -> None:
    """Store the chunks not stored yet (the same chunk may come twice)."""
    Chunk.objects.bulk_create(
        [Chunk(sha256=sha, data=data) for sha, data in dict(chunks).items()], ignore_conflicts=True
    )


def chunks_prefetch(revisions: list[Revision]) -> None:
    """Read the chunks of several revisions in one query (a bulk job's batch), kept compressed on
    each revision until its history is read."""
    rows = dict(
        Chunk.objects.filter(sha256__in={sha for r in revisions for sha in r.chunks}).values_list("sha256", "data")
    )
    for revision in revisions:
        revision._chunk_data = {sha: rows[sha] for sha in revision.chunks if sha in rows}


def rows_update(objs: list[models.Model], fields: list[str]) -> None:
    """Save `fields` of several rows of one model in one round trip (psycopg pipelines an
    executemany). Django's bulk_update writes one CASE per field and row, which cost a bulk job
    about a millisecond of CPU per row. Like bulk_update, it calls no save() and sets no auto_now
    field: the caller sets every value."""
    if not objs:
        return
    meta = type(objs[0])._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(f'{quote(f.column)} = %s' for f in columns)} "
        f"WHERE {quote(meta.pk.column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            sql, [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns] + [obj.pk] for obj in objs]
        )


# --- the search texts (conversations.search) ---------------------------------------------------------


def search_text_store(conversation_id: int, text: str, *, new: bool = False) -> None:
    """Keep a conversation's search text (`new`: the conversation has none yet)."""
    if new:
        SearchText.objects.create(conversation_id=conversation_id, text=text)
    else:
        search_texts_store([(conversation_id, text)])


def search_texts_store(texts: list[tuple[int, str]]) -> None:
    """Keep several conversations' search texts, given as (conversation id, text). One statement,
    which rewrites a row (and its index entry) only when its text changed: a repair seldom changes
    what search sees."""
    if not texts:
        return
    table = connection.ops.quote_name(SearchText._meta.db_table)
    rows = ", ".join(["(%s, %s)"] * len(texts))
    with connection.cursor() as cursor:
        # PostgreSQL and SQLite (3.24+) both take this upsert.
        cursor.execute(
            f"INSERT INTO {table} (conversation_id, text) VALUES {rows} "
            f"ON CONFLICT (conversation_id) DO UPDATE SET text = excluded.text "
            f"WHERE {table}.text <> excluded.text",
            [v for pair in texts for v in pair],
        )
