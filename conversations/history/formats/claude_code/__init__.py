"""Claude Code session transcripts (`~/.claude/projects/<project>/<session-id>.jsonl`, and a
subagent's `agent-<id>.jsonl`).

One JSON record per line, linked into a tree by `parentUuid`. The conversation is read as the
model saw it live (turns.py): the chain from the newest leaf, with each response's records merged
by `message.id` and its parallel results taken in from the side branches Claude Code 2.x writes
them on; every record left out is listed with its reason in `meta["left_off"]`.

    transcript.py  the records of the file, checked
    turns.py       the path and its turns; what is left out, and why
    read.py        the History (facts.py: title, tokens, subagents, compactions, API errors)
    write.py       writing back (rechain.py: one chain for a parallel turn; newrecord.py, render.py)
"""

from __future__ import annotations

import json

from ...errors import FormatError
from ...model import History
from ..document import Document
from .blocks import block_wire, parse_block, record_blocks
from .read import NAME, history
from .sidecar import apply_sidecar, sidecar_name
from .transcript import RECORD_TYPES, TURN_TYPES, Record, Transcript, parse
from .turns import Reading, read_turns
from .write import RECHAIN, write

WRITABLE = True
SNIFF_LINES = 10
# Types that are a Claude Code session's own bookkeeping (no uuid needed to recognise them).
_BOOKKEEPING = RECORD_TYPES - {"user", "assistant", "system"}

__all__ = [
    "NAME",
    "WRITABLE",
    "RECHAIN",
    "RECORD_TYPES",
    "TURN_TYPES",
    "Record",
    "Transcript",
    "Reading",
    "sniff",
    "read",
    "write",
    "parse",
    "apply_sidecar",
    "sidecar_name",
    "read_turns",
    "record_blocks",
    "parse_block",
    "block_wire",
]


def sniff(doc: Document) -> bool:
    """The first records are Claude Code records: a known `type` with uuid + sessionId (camelCase:
    headless stream-json writes session_id), a summary with leafUuid, or a bookkeeping record of a
    session (a summary-only or snapshot-only file is Claude Code's too, so it is skipped as holding
    no conversation rather than failed as unknown)."""
    if doc.is_dir or len(doc.files) != 1:
        return False
    try:
        text = doc.text()
    except FormatError:
        return False
    lines = [ln for ln in text.split("\n", SNIFF_LINES)[:SNIFF_LINES] if ln.strip()]
    claimed = False
    for line in lines:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            return claimed  # a cut-off last line of the sample, or not JSONL at all
        if not isinstance(obj, dict):
            return False
        rtype = obj.get("type")
        if not isinstance(rtype, str) or rtype not in RECORD_TYPES:
            continue
        if (
            ("uuid" in obj and "sessionId" in obj)
            or (rtype == "summary" and "leafUuid" in obj)
            or (rtype in _BOOKKEEPING and ("sessionId" in obj or "snapshot" in obj))
        ):
            claimed = True
    return claimed


def read(doc: Document) -> list[History]:
    """The one conversation of the file. Raises NotAConversation for a file without any (a
    summary-only session, an empty file)."""
    return [history(read_turns(parse(doc)))]
