"""What the model saw live: the path from the newest leaf, each turn made whole, and why every other
record is left out.

The path is the `parentUuid` chain from the newest user or assistant record back to its root.
Claude Code 2.x does not keep one response's parallel tool calls on that chain
(docs/formats.md s.2, corrected): each tool_use record is chained on the one before, but each
result record hangs on ITS OWN tool_use record and the conversation goes on from the last result
written, so the other results (and sometimes tool_use records) sit on side branches. A turn is
therefore rebuilt around the path:

- the assistant records of one response (one `message.id`): those on the path, and those off it
  that share its `message.id`, in file order;
- the records answering its calls: tool_result records on the path before the next response,
  and, for a call the path does not answer, the earliest record off the path that does (by
  `tool_use_id`, or by `sourceToolAssistantUUID` naming a record of the turn); a second result
  for one call is left out as a duplicate;
- the other user records of the path up to the next response.

Everything else is left out with its reason (leftoff.py); nothing disappears silently. Each index
is built once and each record looked at a bounded number of times: linear in the file.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from ...leftoff import LeftOff
from .transcript import Record, Transcript


@dataclass
class Turn:
    """One response and what answers it. `assistant` is empty for the user records before the first
    response. `path` holds the turn's response and result records that lie on the path, in path
    order; `pulled` the result records taken from off the path."""

    assistant: list[Record] = field(default_factory=list)
    user: list[Record] = field(default_factory=list)  # the path's user records up to the next response
    results: list[Record] = field(default_factory=list)
    others: list[Record] = field(default_factory=list)
    path: list[Record] = field(default_factory=list)
    pulled: list[Record] = field(default_factory=list)

    @property
    def mid(self) -> str | None:
        return self.assistant[0].message_id if self.assistant else None

    def calls(self) -> list[tuple[str, str]]:
        """(id, name) of the turn's tool calls, in block order."""
        return [call for record in self.assistant for call in record.tool_uses()]

    @property
    def off_path(self) -> bool:
        """Whether any record of the turn lies off the path (a side branch the turn took in)."""
        return len(self.path) < len(self.assistant) + len(self.results)


@dataclass
class Stop:
    """Why the walk from the leaf stopped before a root: a parent never written, or a loop."""

    line: int
    missing: str | None = None  # the uuid never written; None for a loop


@dataclass
class Reading:
    transcript: Transcript
    path: list[Record]
    turns: list[Turn]
    subagent: bool
    left_off: list[LeftOff]
    chain_breaks: list[int]
    included: set[int]  # lines of the records the history is made of
    stop: Stop | None = None


def read_turns(t: Transcript) -> Reading:
    turns_all = [r for r in t.unique if r.is_turn]
    main = [r for r in turns_all if not r.sidechain]
    # A subagent's own file holds only sidechain records, each naming its agent: then they are its
    # conversation. (Told by its records, whatever the file is called.)
    subagent = not main or all(isinstance(r.obj.get("agentId"), str) for r in turns_all)
    leaf = (turns_all if subagent else main)[-1]
    path, stop = walk(leaf, t)
    turns = _path_turns(path)
    builder = _Builder(t, path, subagent)
    for turn in turns:
        builder.complete(turn)
    breaks = {r.line for r in t.unique if r.parent is not None and r.parent not in t.by_uuid}
    if stop is not None and stop.missing is None:
        breaks.add(stop.line)
    return Reading(
        transcript=t,
        path=path,
        turns=turns,
        subagent=subagent,
        left_off=builder.left_off(stop),
        chain_breaks=sorted(breaks),
        included=builder.included,
        stop=stop,
    )


def walk(leaf: Record, t: Transcript) -> tuple[list[Record], Stop | None]:
    """The chain from its root to `leaf`, and why it stopped short of a root, if it did."""
    chain = [leaf]
    seen = {leaf.uuid}
    current = leaf
    stop = None
    while current.parent is not None:
        parent = t.by_uuid.get(current.parent)
        if parent is None:
            stop = Stop(line=current.line, missing=current.parent)
            break
        if parent.uuid in seen:
            stop = Stop(line=current.line)
            break
        chain.append(parent)
        seen.add(parent.uuid)
        current = parent
    chain.reverse()
    return chain, stop


def _path_turns(path: list[Record]) -> list[Turn]:
    """The path's user and assistant records grouped into turns (the off-path records come later)."""
    turns: list[Turn] = []
    current: Turn | None = None
    for record in path:
        if not record.is_turn:
            continue
        if record.type == "assistant":
            mid = record.message_id
            # A response whose blocks are interleaved with their results (text, call, result,
            # call, result of one message.id) is still one response.
            if current is not None and current.assistant and mid is not None and mid == current.mid:
                current.assistant.append(record)
            else:
                current = Turn(assistant=[record])
                turns.append(current)
            current.path.append(record)
        else:
            if current is None:
                current = Turn()
                turns.append(current)
            current.user.append(record)
    return turns


class _Builder:
    """Completes each turn with its off-path records, and remembers what it left out and why."""

    def __init__(self, t: Transcript, path: list[Record], subagent: bool):
        self.t = t
        self.path = path
        self.subagent = subagent
        self.on_path = {r.line for r in path}
        self.included = {r.line for r in path if r.is_turn}
        # Calls some path record answers, anywhere: their off-path results are never taken in.
        self.path_answered: dict[str, int] = {}
        for record in path:
            for tool_id in record.result_ids():
                self.path_answered.setdefault(tool_id, record.line)
        self.by_mid: dict[str, list[Record]] = defaultdict(list)
        self.results_by_id: dict[str, list[Record]] = defaultdict(list)
        self.results_by_source: dict[str, list[Record]] = defaultdict(list)
        for record in t.unique:
            if not record.is_turn or not self._eligible(record) or record.line in self.on_path:
                continue
            mid = record.message_id
            if mid is not None:
                self.by_mid[mid].append(record)
            ids = record.result_ids()
            for tool_id in dict.fromkeys(ids):
                self.results_by_id[tool_id].append(record)
            source = record.obj.get("sourceToolAssistantUUID")
            if ids and isinstance(source, str):
                self.results_by_source[source].append(record)
        self.duplicate_block: dict[int, int] = {}  # line -> the line whose content it repeats
        self.duplicate_result: dict[int, str] = {}  # line -> detail

    def _eligible(self, record: Record) -> bool:
        """Sidechain records of a main session belong to their subagent, never to a turn."""
        return self.subagent or not record.sidechain

    # -- one turn
    def complete(self, turn: Turn) -> None:
        if turn.assistant:
            self._merge_response(turn)
        order: dict[str, int] = {}
        for k, (tool_id, _) in enumerate(turn.calls()):
            order.setdefault(tool_id, k)
        answered: dict[str, int] = {}
        for record in turn.user:
            ids = [i for i in record.result_ids() if i in order]
            if ids and self._repeats(record, answered):
                continue
            if ids:
                turn.results.append(record)
                turn.path.append(record)
                for tool_id in ids:
                    answered.setdefault(tool_id, record.line)
            else:
                turn.others.append(record)
        for tool_id in order:
            for candidate in self.results_by_id.get(tool_id, ()):
                self._consider(turn, candidate, order, answered)
        for record in list(turn.assistant):
            for candidate in self.results_by_source.get(record.uuid or "", ()):
                self._consider(turn, candidate, order, answered)
        turn.results.sort(key=lambda r: (_call_rank(r, order), r.line))

    def _repeats(self, record: Record, answered: dict[str, int]) -> bool:
        """A path record holding only results for calls an earlier record of the path answered: a
        second result, left out (one result per call)."""
        content = record.content
        ids = record.result_ids()
        if not isinstance(content, list) or len(ids) != len(content) or any(i not in answered for i in ids):
            return False
        kept = ", ".join(str(answered[i]) for i in ids)
        self.duplicate_result[record.line] = f"a second result for {', '.join(ids)} (the one kept is on line {kept})"
        self.included.discard(record.line)
        return True

    def _merge_response(self, turn: Turn) -> None:
        mid = turn.mid
        if mid is None:
            return
        others = [r for r in self.by_mid.get(mid, ()) if r.line not in self.included]
        if not others:
            return
        held = {_key(r.content): r.line for r in turn.assistant}
        for record in others:
            key = _key(record.content)
            if key in held:
                # The same block written again on another branch: one response holds it once.
                self.duplicate_block[record.line] = held[key]
                continue
            held[key] = record.line
            turn.assistant.append(record)
            self.included.add(record.line)
        turn.assistant.sort(key=lambda r: r.line)

    def _consider(self, turn: Turn, candidate: Record, order: dict[str, int], answered: dict[str, int]) -> None:
        """Take an off-path result record into the turn, or note it as a second result."""
        if candidate.line in self.included:
            return
        ids = candidate.result_ids()
        fresh = [i for i in ids if i not in answered and i not in self.path_answered]
        if ids and not fresh:
            kept = [answered.get(i) or self.path_answered.get(i) for i in ids]
            self.duplicate_result[candidate.line] = (
                f"a second result for {', '.join(ids)} (the one kept is on line {', '.join(map(str, kept))})"
            )
            return
        self.duplicate_result.pop(candidate.line, None)
        turn.results.append(candidate)
        turn.pulled.append(candidate)
        self.included.add(candidate.line)
        for tool_id in fresh:
            answered[tool_id] = candidate.line

    # -- what is left out
    def left_off(self, stop: Stop | None) -> list[LeftOff]:
        t = self.t
        boundary = max(
            (r.line for r in self.path if r.type == "system" and r.obj.get("subtype") == "compact_boundary"),
            default=None,
        )
        fate = _Fates(t, self.on_path, self.included)
        items: list[LeftOff] = []
        for record in t.records:
            line = record.line
            if line in self.included:
                continue
            where, rtype = f"line {line}", record.type
            if line in t.duplicate_of:
                items.append(
                    LeftOff(where, "duplicate record", rtype, f"the same record as line {t.duplicate_of[line]}")
                )
            elif line in self.duplicate_block:
                detail = f"the same block of response {record.message_id} as line {self.duplicate_block[line]}"
                items.append(LeftOff(where, "duplicate record", rtype, detail))
            elif record.sidechain and not self.subagent:
                items.append(LeftOff(where, "sidechain", rtype))
            elif not record.is_turn:
                subtype = record.obj.get("subtype")
                items.append(LeftOff(where, "bookkeeping", rtype, subtype if isinstance(subtype, str) else ""))
            elif line in self.duplicate_result:
                items.append(LeftOff(where, "duplicate result", rtype, self.duplicate_result[line]))
            else:
                items.append(self._off_path(record, fate.of(record), stop, boundary))
        return items

    def _off_path(
        self, record: Record, found: tuple[str, int | str | None], stop: Stop | None, boundary: int | None
    ) -> LeftOff:
        where, rtype = f"line {record.line}", record.type
        how, at = found
        if how == "branch":
            return LeftOff(where, "abandoned branch", rtype, f"on a branch off line {at}")
        if how == "missing":
            return LeftOff(
                where, "parent never written", rtype, f"its chain reaches parent {at}, which is not in the file"
            )
        if how == "loop":
            return LeftOff(where, "parent never written", rtype, "its parentUuid chain loops without reaching a root")
        # A chain of its own, from a root the path does not reach.
        if stop is not None:
            why = f"parent {stop.missing} was never written" if stop.missing else "its parentUuid chain loops"
            return LeftOff(
                where, "parent never written", rtype, f"the chain from the leaf stops at line {stop.line}: {why}"
            )
        if boundary is not None and record.line < boundary:
            return LeftOff(where, "compacted", rtype, f"before the compaction on line {boundary}")
        return LeftOff(where, "abandoned branch", rtype, f"on a separate chain from the root on line {at}")


def _key(content: object) -> str:
    return json.dumps(content, sort_keys=True, ensure_ascii=False)


def _call_rank(record: Record, order: dict[str, int]) -> int:
    ranks = [order[i] for i in record.result_ids() if i in order]
    return min(ranks) if ranks else len(order)


class _Fates:
    """Where an off-path record's chain leads: to a record of the history (a branch off it), a root,
    a parent never written, or a loop. Memoised, so a long abandoned branch is walked once."""

    def __init__(self, t: Transcript, on_path: set[int], included: set[int]):
        self.t = t
        self.kept = on_path | included
        self.memo: dict[str, tuple[str, int | str | None]] = {}

    def of(self, record: Record) -> tuple[str, int | str | None]:
        walked: list[str] = []
        seen: set[str] = set()
        current = record
        while True:
            uid = current.uuid
            if uid is None:  # a turn record always has one; a bookkeeping record may not
                found: tuple[str, int | str | None] = ("root", current.line)
                break
            if uid in self.memo:
                found = self.memo[uid]
                break
            if current is not record and current.line in self.kept:
                found = ("branch", current.line)
                break
            walked.append(uid)
            seen.add(uid)
            if current.parent is None:
                found = ("root", current.line)
                break
            parent = self.t.by_uuid.get(current.parent)
            if parent is None:
                found = ("missing", current.parent)
                break
            if parent.uuid in seen:
                found = ("loop", None)
                break
            current = parent
        for uid in walked:
            self.memo[uid] = found
        return found
