"""Writing a history back over the transcript it was read from.

Append-only in spirit (docs/formats.md s.2 "Invariants for writing back"): a line whose record did
not change is copied byte for byte; a changed record keeps its key order; new blocks become new
records spliced into the path (so a resume that walks one chain sees them); a record left without
blocks is dropped and what pointed at it points at its nearest surviving ancestor.

The history's blocks name the line they were read from, and the writer reads the original again
(turns.py) to know which records the history is made of: those on the path and those a turn took
in from side branches. Two things may re-parent result records of a turn whose records sit on
side branches (rechain.py): a new result for one of its calls (placed so one walk from the leaf
reaches both the call and the result; the turn's other results stay where they are), and the
warnings repair of `parallel-results-off-chain`, which sets `history.meta[RECHAIN]`: every such
turn is then laid out as one chain. The messages themselves do not change.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

from ...errors import FormatError
from ...model import Block, History
from ..document import Document
from .blocks import block_wire, record_blocks
from .newrecord import Maker, New, stamp_of
from .read import NAME
from .rechain import Element, rechain
from .render import Plan, render
from .transcript import TURN_TYPES, Record, Transcript, parse
from .turns import Reading, Turn, read_turns

# Set by the repair of `parallel-results-off-chain`: re-parent every turn's off-chain results.
RECHAIN = "claude_code_rechain"
# Keys that name another record's uuid: a removed record must not stay named by any of them.
POINTER_KEYS = ("parentUuid", "leafUuid", "logicalParentUuid", "sourceToolAssistantUUID", "messageId")


def write(history: History, original: Document | None) -> Document:
    if history.format != NAME or original is None:
        raise FormatError(
            "a Claude Code transcript can only be written back over the transcript "
            "it was read from (a new session file from another format is not "
            "supported)"
        )
    t = parse(original)
    reading = read_turns(t)
    included = {line: t.by_line[line] for line in reading.included}
    plan = Plan()
    placed, news = _place_blocks(history, included)
    _plan_content(plan, t, included, placed)
    sequence = _sequence(reading, plan, news, rechain_all=history.meta.get(RECHAIN) is True)
    _plan_links(plan, t, reading, sequence)
    _plan_pointers(plan, t)
    first = next((r.line for r in reading.path if r.line not in plan.dropped), None)
    return Document(name=original.name, files={t.file: render(plan, t, original, first)}, is_dir=False)


def _place_blocks(
    history: History, included: dict[int, Record]
) -> tuple[dict[int, list[Block]], list[tuple[int | None, New]]]:
    """Blocks per original line, and new blocks with the line of the block before them. A block
    pointing at a line the history was not read from is treated as new. (The file name is not
    compared: an upload and its stored original may carry different names.) A new block between
    two blocks of one record (text a repair moved before the call of its own record) is written
    inside that record: a record of its own would come after the whole record, so after the call."""
    placed: dict[int, list[Block]] = {}
    news: list[tuple[int | None, New]] = []
    anchor: int | None = None
    for message in history.messages:
        if message.role not in TURN_TYPES:
            raise FormatError(f"a Claude Code transcript has no {message.role!r} messages", path=str(message.source))
        lines = [b.source.line if b.source.line in included else None for b in message.blocks]
        within: int | None = None  # the line of the message's last block read from the file
        for k, block in enumerate(message.blocks):
            line = lines[k]
            if line is not None:
                placed.setdefault(line, []).append(block)
                anchor = within = line
            elif within is not None and within == next((n for n in lines[k + 1 :] if n is not None), None):
                placed[within].append(block)
            else:
                news.append((anchor, New(block=block, message=message)))
    return placed, news


def _plan_content(plan: Plan, t: Transcript, included: dict[int, Record], placed: dict[int, list[Block]]) -> None:
    for line, record in included.items():
        before = record_blocks(record, t.file)
        after = placed.get(line, [])
        if [b.to_dict() for b in after] == [b.to_dict() for b in before]:
            continue
        if not after and before:
            plan.dropped.add(line)
            continue
        plan.content[line] = _content(record, before, after)


def _content(record: Record, before: list[Block], after: list[Block]) -> Any:
    """The new message.content of a changed record, reusing original items that did not change
    so their key order and unknown keys survive."""
    raw = record.obj["message"].get("content")
    if (
        isinstance(raw, str)
        and len(after) == 1
        and after[0].type == "text"
        and after[0].source.path == "$.message.content"
    ):
        return after[0].text
    originals = {b.source.path: (b, raw[j]) for j, b in enumerate(before)} if isinstance(raw, list) else {}
    content = []
    for block in after:
        found = originals.get(block.source.path)
        if found and found[0].to_dict() == block.to_dict():
            content.append(found[1])
        elif found and isinstance(found[1], dict):
            wire = block_wire(block)
            merged = {k: wire[k] for k in found[1] if k in wire}
            merged.update({k: v for k, v in wire.items() if k not in merged})
            content.append(merged)
        else:
            content.append(block_wire(block))
    return content


# --- the new chain -----------------------------------------------------------------------------


def _sequence(reading: Reading, plan: Plan, news: list[tuple[int | None, New]], *, rechain_all: bool) -> list[Element]:
    """The new path: its kept records in order, each new record right after its anchor, and the
    turns to re-chain laid out as one chain."""
    path = reading.path
    position = {r.line: k for k, r in enumerate(path)}
    turn_of: dict[int, Turn] = {r.line: turn for turn in reading.turns for r in turn.assistant + turn.results}
    after: dict[int | None, list[New]] = defaultdict(list)
    turn_news: dict[int, list[New]] = defaultdict(list)
    for anchor, new in news:
        turn = turn_of.get(anchor) if anchor is not None else None
        if turn is not None and turn.off_path and new.block.type == "tool_result":
            turn_news[id(turn)].append(new)
        elif anchor is not None and anchor not in position:
            after[_bottom(cast(Turn, turn), position)].append(new)  # an off-path record of a turn
        else:
            after[anchor].append(new)

    segments: dict[int, tuple[int, list[Element]]] = {}
    for turn in reading.turns:
        if not turn.off_path:
            continue
        extra = turn_news.get(id(turn), [])
        if not extra and not rechain_all:
            continue
        members = turn.assistant + turn.results
        on_path = [position[r.line] for r in members if r.line in position]
        span = path[min(on_path) : max(on_path) + 1]
        untouched = not any(r.line in plan.dropped for r in members + span)
        chain = rechain(turn, path, position, extra, whole=rechain_all) if untouched else None
        if chain is None:
            after[_bottom(turn, position)].extend(extra)
            continue
        segments[min(on_path)] = (max(on_path), chain)

    sequence: list[Element] = list(after.get(None, []))
    k = 0
    while k < len(path):
        if k in segments:
            end, chain = segments[k]
            for element in chain:
                sequence.append(element)
                if isinstance(element, Record):
                    sequence.extend(after.get(element.line, []))
            k = end + 1
            continue
        record = path[k]
        if record.line not in plan.dropped:
            sequence.append(record)
        sequence.extend(after.get(record.line, []))
        k += 1
    return sequence


def _bottom(turn: Turn, position: dict[int, int]) -> int:
    """The line of the turn's last record on the path: where what follows the turn goes on from."""
    return max((r for r in turn.assistant + turn.results if r.line in position), key=lambda r: position[r.line]).line


def _plan_links(plan: Plan, t: Transcript, reading: Reading, sequence: list[Element]) -> None:
    """Parent every element of the new chain on the one before it; build the new records."""
    maker = Maker(t)
    root_parent = reading.path[0].parent
    template = next((e for e in sequence if isinstance(e, Record)), reading.path[0])
    previous: Element | None = None
    anchor_line: int | None = None
    # New records after the leaf go after every user or assistant line of the file (a copy of the
    # leaf written twice, a subagent's inline records), so the newest record is theirs.
    last = max((k for k, e in enumerate(sequence) if isinstance(e, Record)), default=-1)
    last_turn_line = max((r.line for r in t.records if r.is_turn), default=None)
    for k, element in enumerate(sequence):
        parent = root_parent if previous is None else previous.uuid
        if k == last + 1 and last >= 0:
            anchor_line = last_turn_line
        if isinstance(element, Record):
            template = element
            anchor_line = element.line
            if element.parent != parent:
                plan.patch(element.line, "parentUuid", parent)
        else:
            stamp = stamp_of(previous.obj) if previous is not None else None
            element.obj = maker.record(element, parent, template, stamp)
            plan.inserted_after.setdefault(anchor_line, []).append(element.obj)
        previous = element


def _plan_pointers(plan: Plan, t: Transcript) -> None:
    """Nothing may keep naming a dropped record: point at its nearest surviving ancestor."""
    dropped = {t.by_line[line].uuid for line in plan.dropped}
    if not dropped:
        return

    def survivor(uid: str) -> str | None:
        seen = set()
        while uid in dropped and uid not in seen:
            seen.add(uid)
            parent = t.by_uuid[uid].parent
            if parent is None:
                return None
            uid = parent
        return uid

    for record in t.records:
        if record.line in plan.dropped or (record.uuid in dropped):
            continue
        for key in POINTER_KEYS:
            value = record.obj.get(key)
            if value in dropped and key not in plan.patches.get(record.line, {}):
                plan.patch(record.line, key, survivor(cast(str, value)))  # in dropped: a turn's uuid
