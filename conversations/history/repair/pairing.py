"""Tool pairing: every tool call answered right after it, every result answering a call.

The four pairing codes share one pass over the history (`_pair`), which knows where a provider
wants the results of an assistant message (its "zone"):

  OpenAI style     the run of role "tool" messages right after it (and the leading tool_result
                   blocks of the user message after that run, which litellm merges in);
  Anthropic style  the leading tool_result blocks of the next user message.

For each call without a result in its zone, the pass first looks for its real result further on
(a result logged after a user message typed meanwhile, or split into a later message) and moves it
into the zone; only when there is none does it add a synthetic error result (add-missing) or,
for results that answer nothing, drop them (drop-orphan). Moving beats inventing, which beats
dropping, so every pairing code runs the same pass with more or less permission.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..findings import Finding
from ..model import Block, Message, SourceRef
from .registry import strategy
from .work import Work

SYNTHETIC_RESULT = "The tool call was interrupted before it returned a result."
ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
OPENAI_MAX_ID = 40

Position = tuple[int, int]  # (message index, block index)


@dataclass
class _Zone:
    assistant: int
    last: int  # index of the message new results go after (OpenAI style)
    holder: int | None  # the message whose leading results belong to the zone
    positions: list[Position] = field(default_factory=list)


def _zone(messages: list[Message], a: int, style: str) -> _Zone:
    k = a + 1
    zone = _Zone(assistant=a, last=a, holder=None)
    if style == "openai":
        while k < len(messages) and messages[k].role == "tool":
            zone.positions.extend((k, j) for j, b in enumerate(messages[k].blocks) if b.type == "tool_result")
            zone.last = k
            k += 1
    if k < len(messages) and messages[k].role in ("user", "tool") and (style == "openai" or k == a + 1):
        zone.holder = k
        zone.positions.extend((k, j) for j in range(_leading_count(messages[k].blocks)))
    return zone


def _callers(messages: list[Message]) -> list[int]:
    return [a for a, m in enumerate(messages) if m.role == "assistant" and m.tool_uses()]


@strategy("add-missing-tool-result")
def add_missing_tool_result(work: Work, findings: list[Finding]) -> None:
    """Answer each unanswered tool call: with its real result when it sits further on, else with
    a synthetic error result ("The tool call was interrupted before it returned a result.")."""
    _pair(work, synthesize=True, drop_orphans=False)


@strategy("move-tool-results-first")
def move_tool_results_first(work: Work, findings: list[Finding]) -> None:
    """Put the results first in the message after the tool call (OpenAI style: move the tool
    messages up, before the user message typed while the tool ran)."""
    _pair(work, synthesize=False, drop_orphans=False)


@strategy("merge-split-tool-results")
def merge_split_tool_results(work: Work, findings: list[Finding]) -> None:
    """Gather the results of one assistant turn, split over several messages, into the one
    message that follows it."""
    _pair(work, synthesize=False, drop_orphans=False)


@strategy("drop-orphan-tool-result")
def drop_orphan_tool_result(work: Work, findings: list[Finding]) -> None:
    """Drop results no tool call asks for (after moving the ones that answer a call elsewhere)."""
    _pair(work, synthesize=False, drop_orphans=True)


def _pair(work: Work, *, synthesize: bool, drop_orphans: bool) -> None:
    messages = work.history.messages
    callers = _callers(messages)
    zones = {a: _zone(messages, a, work.style) for a in callers}

    # 1. What each zone already answers.
    claimed: set[Position] = set()
    unanswered: dict[int, list[Block]] = {}
    for a in callers:
        free: dict[str | None, deque[Position]] = defaultdict(deque)  # the zone's results by id
        for p in zones[a].positions:
            free[messages[p[0]].blocks[p[1]].tool_use_id].append(p)
        missing, seen = [], set()
        for use in messages[a].tool_uses():
            if use.id in seen:
                continue  # the same id twice in one message: drop-duplicate-tool-use's business
            seen.add(use.id)
            hits = free.get(use.id)
            if hits:
                claimed.add(hits.popleft())
            else:
                missing.append(use)
        unanswered[a] = missing

    # 2. Real results further on, else synthetic ones.
    by_id: dict[str | None, deque[Position]] = defaultdict(deque)
    for i, message in enumerate(messages):
        if message.role != "assistant":
            for j, block in enumerate(message.blocks):
                if block.type == "tool_result":
                    by_id[block.tool_use_id].append((i, j))
    moves: dict[Position, int] = {}
    added: dict[int, list[tuple[Block, Position | None]]] = defaultdict(list)
    dropped_calls: set[tuple[int, str | None]] = set()
    for a in callers:
        for use in unanswered[a]:
            found = _first_free(by_id.get(use.id), a, claimed, moves)
            if found is not None:
                moves[found] = a
                added[a].append((messages[found[0]].blocks[found[1]], found))
            elif synthesize and _never_ran(work, use):
                dropped_calls.add((a, use.id))
            elif synthesize:
                added[a].append((Block.tool_result(use.id, SYNTHETIC_RESULT, is_error=True, source=SourceRef()), None))

    # 3. What answers nothing.
    dropped: set[Position] = set()
    if drop_orphans:
        dropped = {p for p in _all_results(messages) if p not in claimed and p not in moves}

    if moves or added or dropped or dropped_calls:
        _rebuild(work, zones, moves, added, dropped, dropped_calls)


def _all_results(messages: list[Message]) -> list[Position]:
    return [
        (i, j)
        for i, m in enumerate(messages)
        if m.role != "assistant"
        for j, b in enumerate(m.blocks)
        if b.type == "tool_result"
    ]


def _first_free(
    queue: deque[Position] | None, a: int, claimed: set[Position], moves: dict[Position, int]
) -> Position | None:
    """The first result after message `a` that no zone holds. Callers come in order, so results
    before `a` are of no use to any later caller either and leave the queue for good."""
    while queue:
        position = queue[0]
        if position[0] <= a or position in claimed or position in moves:
            queue.popleft()
            continue
        return queue.popleft()
    return None


def _never_ran(work: Work, use: Block) -> bool:
    """An OpenHands tool call the model asked for but OpenHands never ran (no action event): it
    has no action a result could answer, so OpenHands itself drops such calls on resume."""
    return work.history.format == "openhands" and bool(use.extra.get("no_action"))


def _rebuild(
    work: Work,
    zones: dict[int, _Zone],
    moves: dict[Position, int],
    added: dict[int, list[tuple[Block, Position | None]]],
    dropped: set[Position],
    dropped_calls: set[tuple[int, str | None]],
) -> None:
    messages = work.history.messages
    names = any(m.role == "tool" and m.name for m in messages)
    after: dict[int, list[Message]] = defaultdict(list)  # new or moved messages, by position
    prepend: dict[int, list[Block]] = defaultdict(list)  # blocks for a holder's leading results
    new_holder: dict[int, Message] = {}  # Anthropic style: a new user message
    caller_of: dict[int, int] = {}  # a holder given results -> the message whose calls they answer
    whole: set[int] = set()  # messages moved as they are

    for a, items in added.items():
        zone, caller = zones[a], messages[a]
        uses = {u.id: u for u in reversed(caller.tool_uses())}  # the first call of each id
        place = _call_order_places(messages, zone) if work.results_in_call_order else None
        for block, origin in items:
            source = messages[origin[0]] if origin else None
            placed = work.moved(block) if origin else block
            what = f"tool_result for {block.tool_use_id}"
            if work.style == "openai":
                at = place(block.tool_use_id) if place is not None else zone.last
                anchor = messages[at]
                if origin and source is not None and work.keeps_place and _sole_result(source):
                    whole.add(origin[0])
                    after[at].append(source)
                else:
                    use = uses.get(block.tool_use_id)
                    form = "string" if isinstance(block.content, str) else "blocks"
                    after[at].append(
                        work.new_message(
                            "tool",
                            [placed],
                            after=anchor,
                            content_form=form,
                            name=use.name if names and use is not None else None,
                        )
                    )
                moved_to, added_at, target = (
                    f"up to right after {work.name(anchor)}",
                    f"after {work.name(anchor)}",
                    anchor,
                )
            elif zone.holder is not None:
                holder = messages[zone.holder]
                prepend[zone.holder].append(placed)
                caller_of[zone.holder] = a
                moved_to, added_at, target = (
                    f"to the start of {work.name(holder)}",
                    f"at the start of {work.name(holder)}",
                    holder,
                )
            else:
                if a not in new_holder:
                    new_holder[a] = work.new_message("user", [], after=caller)
                    after[a].append(new_holder[a])
                new_holder[a].blocks.append(placed)
                moved_to, added_at, target = (
                    f"into a new user message after {work.name(caller)}",
                    f"in a new user message after {work.name(caller)}",
                    caller,
                )
            if source is not None and source is target:
                work.note(
                    "move-tool-result",
                    source,
                    f"put the {what} first in {work.name(source)}, before the content that came ahead of it",
                )
            elif source is not None:
                work.note("move-tool-result", source, f"moved the {what} from {work.name(source)} {moved_to}")
            else:
                work.note("add-tool-result", target, f"added a {what} {added_at} (is_error: {SYNTHETIC_RESULT!r})")

    for a, call_id in sorted(dropped_calls):
        work.note(
            "drop-tool-use",
            messages[a],
            f"removed the tool call {call_id} from {work.name(messages[a])}: OpenHands never ran "
            "it (it has no action event), so no result can answer it",
        )
    for i, j in sorted(dropped):
        message = messages[i]
        call_id = message.blocks[j].tool_use_id
        work.note(
            "drop-tool-result",
            message,
            f"dropped the tool_result for {call_id} from {work.name(message)}: no tool call "
            f"{call_id} in the message before it",
        )

    gone = set(moves) | dropped
    calls_out: dict[int, set[str | None]] = defaultdict(set)
    for a, call_id in dropped_calls:
        calls_out[a].add(call_id)
    out: list[Message] = []
    for i, message in enumerate(messages):
        if i not in whole:
            blocks = [b for j, b in enumerate(message.blocks) if (i, j) not in gone]
            if i in calls_out:
                blocks = [b for b in blocks if not (b.type == "tool_use" and b.id in calls_out[i])]
            if i in prepend:
                k = _leading_count(blocks)
                leading = blocks[:k] + prepend[i]
                if work.results_in_call_order:
                    leading = _records_in_call_order(leading, messages[caller_of[i]])
                blocks = leading + blocks[k:]
            if message.blocks and not blocks:
                work.note(
                    "remove-message",
                    message,
                    f"removed {work.name(message)}: nothing was left in it once its tool result was moved or dropped",
                )
            else:
                message.blocks = blocks
                out.append(message)
        out.extend(after.get(i, ()))
    work.history.messages = out


def _call_order_places(messages: list[Message], zone: _Zone) -> Callable[[str | None], int]:
    """Where a result for a call goes, so the zone's tool messages follow the order of the calls
    (as OpenHands sends the results of a response): after the last tool message of the zone that
    answers an earlier call, else right after the assistant message. Built once a zone, each
    answer a binary search: a scan of the zone for each of its calls was quadratic."""
    order = {u.id: n for n, u in enumerate(messages[zone.assistant].tool_uses())}
    # For each tool message of the zone, the earliest call it answers; then, from the right, the
    # least of those at or after it (non-decreasing, so it can be searched).
    places: list[int] = []
    earliest: list[int] = []
    for k in range(zone.assistant + 1, zone.last + 1):
        answered = [order.get(b.tool_use_id, len(order)) for b in messages[k].tool_results()]
        if messages[k].role == "tool" and answered:
            places.append(k)
            earliest.append(min(answered))
    least = earliest[:]
    for n in range(len(least) - 2, -1, -1):
        least[n] = min(least[n], least[n + 1])

    def place(call_id: str | None) -> int:
        # The last tool message answering a call before this one: the last n with least[n] < mine.
        n = bisect_left(least, order.get(call_id, len(order))) - 1
        return places[n] if n >= 0 else zone.assistant

    return place


def _records_in_call_order(results: list[Block], caller: Message) -> list[Block]:
    """Results as a reader that takes them record by record, in the order of the calls each
    record answers first (Claude Code), gives them back: blocks read from one record stay together
    and in their order; a block not read from the file is a record of its own."""
    order = {u.id: n for n, u in reversed(list(enumerate(caller.tool_uses())))}
    records: list[list[Block]] = []
    for block in results:
        line = block.source.line
        if records and line is not None and records[-1][-1].source.line == line:
            records[-1].append(block)
        else:
            records.append([block])

    def rank(record: list[Block]) -> int:
        return min(order.get(b.tool_use_id or "", len(order)) for b in record)

    return [b for record in sorted(records, key=rank) for b in record]


def _sole_result(message: Message) -> bool:
    return message.role == "tool" and len(message.blocks) == 1


def _leading_count(blocks: list[Block]) -> int:
    """How many tool_result blocks open the list."""
    k = 0
    while k < len(blocks) and blocks[k].type == "tool_result":
        k += 1
    return k


# --- ids ----------------------------------------------------------------------------------------


@strategy("drop-duplicate-tool-use")
def drop_duplicate_tool_use(work: Work, findings: list[Finding]) -> None:
    """Remove a tool call that reuses an id already called earlier, and the result answering it
    (its own, in the message after it)."""
    messages = work.history.messages
    first_at: dict[str | None, int] = {}
    gone: set[Position] = set()
    for a in _callers(messages):
        message = messages[a]
        repeats: dict[str | None, int] = defaultdict(int)
        kept: dict[str | None, int] = defaultdict(int)
        for j, block in enumerate(message.blocks):
            if block.type != "tool_use":
                continue
            if block.id in first_at:
                repeats[block.id] += 1
                gone.add((a, j))
                work.note(
                    "drop-tool-use",
                    message,
                    f"removed the second tool call {block.id} from {work.name(message)}: "
                    f"{work.name(messages[first_at[block.id]])} already uses that id",
                )
            else:
                first_at[block.id] = a
            if (a, j) not in gone:
                kept[block.id] += 1
        # Its result: what the zone holds for that id beyond what the calls kept here need.
        for i, j in _zone(messages, a, work.style).positions:
            call_id = messages[i].blocks[j].tool_use_id
            if repeats.get(call_id, 0) == 0:
                continue
            if kept[call_id] > 0:
                kept[call_id] -= 1
                continue
            repeats[call_id] -= 1
            gone.add((i, j))
            work.note(
                "drop-tool-result",
                messages[i],
                f"dropped the tool_result for the removed duplicate call {call_id} from {work.name(messages[i])}",
            )
    _remove_blocks(work, gone, why="it held nothing but a duplicate tool call or its result")


def _remove_blocks(work: Work, gone: set[Position], why: str) -> None:
    if not gone:
        return
    out = []
    for i, message in enumerate(work.history.messages):
        blocks = [b for j, b in enumerate(message.blocks) if (i, j) not in gone]
        if message.blocks and not blocks:
            work.note("remove-message", message, f"removed {work.name(message)}: {why}")
            continue
        message.blocks = blocks
        out.append(message)
    work.history.messages = out


@strategy("rewrite-tool-use-ids")
def rewrite_tool_use_ids(work: Work, findings: list[Finding]) -> None:
    """Rewrite ids a provider refuses (anything but letters, digits, _ and -; and over 40
    characters when a finding is about OpenAI's length limit) in the calls and their results."""
    limit = OPENAI_MAX_ID if any(_about_length(f) for f in findings) else None
    blocks = [b for m in work.history.messages for b in m.blocks]
    taken = {b.id for b in blocks if b.type == "tool_use"} | {b.tool_use_id for b in blocks if b.type == "tool_result"}
    mapping: dict[str, str] = {}
    for message in work.history.messages:
        for block in message.tool_uses():
            old = block.id or ""
            if old in mapping or (ID_PATTERN.match(old) and (limit is None or len(old) <= limit)):
                continue
            new = _new_id(old, limit or 64, taken)
            taken.add(new)
            mapping[old] = new
            work.note(
                "rewrite-tool-use-id",
                message,
                f"rewrote the tool call id {old!r} of {work.name(message)} to {new!r} (and its result's)",
            )
    if not mapping:
        return
    for message in work.history.messages:
        for block in message.blocks:
            if block.type == "tool_use" and block.id in mapping:
                block.id = mapping[block.id]
            elif block.type == "tool_result" and block.tool_use_id in mapping:
                block.tool_use_id = mapping[block.tool_use_id]


def _about_length(finding: Finding) -> bool:
    return "too-long" in finding.rule or "maximum length" in (finding.provider_error or "")


def _new_id(old: str, limit: int, taken: set[str | None]) -> str:
    """Letters, digits, _ and - only, at most `limit` long, unique; a short hash of the old id
    keeps two ids that clean up alike apart."""
    clean = re.sub(r"[^a-zA-Z0-9_-]", "_", old).strip("_") or "toolu"
    digest = hashlib.sha1(old.encode("utf-8", "surrogatepass")).hexdigest()
    candidate = clean if len(clean) <= limit and clean != old else f"{clean[: limit - 9]}_{digest[:8]}"
    n = 1
    while candidate in taken:
        candidate = f"{clean[: limit - 12]}_{digest[:8]}_{n}"
        n += 1
    return candidate


# --- order inside an assistant turn -------------------------------------------------------------------


@strategy("move-text-before-tool-use")
def move_text_before_tool_use(work: Work, findings: list[Finding]) -> None:
    """Put an assistant turn's text (and anything else that is not a tool call) before its tool
    calls, keeping each group in its order."""
    for message in work.history.messages:
        if message.role != "assistant":
            continue
        blocks = message.blocks
        first = next((j for j, b in enumerate(blocks) if b.type == "tool_use"), None)
        if first is None or all(b.type == "tool_use" for b in blocks[first:]):
            continue
        late = [b for b in blocks[first:] if b.type != "tool_use"]
        message.blocks = (
            blocks[:first] + [work.moved(b) for b in late] + [b for b in blocks[first:] if b.type == "tool_use"]
        )
        work.note("move-text-before-tool-use", message, f"put the text of {work.name(message)} before its tool calls")
