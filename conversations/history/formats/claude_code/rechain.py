"""One chain for a turn whose records sit on side branches, by re-parenting result records only.

A resume that walks `parentUuid` back from the leaf (Claude Code's own, at least up to the versions
of anthropics/claude-code#31330) sees only one branch of a parallel turn. The fix the issue's
community settled on re-parents the orphaned result records into the chain rather than inventing
results: e.g. T1, T2 (on T1), R2 (on T2), R1 (on T1), next (on R1) becomes R1 on R2, and one walk
from the leaf then passes T1, T2, R2, R1.

Assistant records and everything else keep their parent (the one exception to "existing lines
stay byte-identical" is a result record's `parentUuid`). So the records of the turn fall into
blocks held together by those fixed links, each headed by a result record (free to take any
parent) or by the turn's first record (whose parent comes before the turn). The chain is: the
first block, the other blocks by the line of their head, new result records, and last the block
that ends in the record the path goes on from (when that is the first block, the chain ends in the
new result records, which the record after the turn is parented on). A turn that fixed links do not
allow to lay out that way (two calls on one parent, say) is left as it is.
"""

from __future__ import annotations

from collections import defaultdict

from .newrecord import New
from .transcript import Record
from .turns import Turn

Element = Record | New


def rechain(
    turn: Turn, path: list[Record], position: dict[int, int], news: list[New], *, whole: bool
) -> list[Element] | None:
    """The turn's path segment as one chain holding its calls, `news` (new result records, just
    before its last block) and, when `whole`, its results off the path too (else they stay where
    they are: a new result is placed without fixing what the warning's repair fixes); None when
    only result records moving cannot do it."""
    members = turn.assistant + [r for r in turn.results if whole or r.line in position]
    on_path = [position[r.line] for r in members if r.line in position]
    if not on_path:
        return None
    start, end = min(on_path), max(on_path)
    segment = path[start : end + 1]
    elements = segment + [r for r in members if r.line not in position]
    free = {r.line for r in turn.results}
    present = {r.uuid for r in elements}
    follows: dict[str | None, list[Record]] = defaultdict(list)
    heads: list[Record] = []
    for record in elements:
        if record.line in free:
            heads.append(record)
        elif record.parent in present and record is not segment[0]:
            follows[record.parent].append(record)
        elif record is not segment[0]:
            return None  # a fixed record hanging from outside the turn: no result move reaches it
    if any(len(children) > 1 for children in follows.values()):
        return None

    def block(head: Record) -> list[Record]:
        run = [head]
        while follows.get(run[-1].uuid):
            run.append(follows[run[-1].uuid][0])
        return run

    first = block(segment[0])
    others = [block(head) for head in heads if head is not segment[0]]
    if len(first) + sum(len(b) for b in others) != len(elements):
        return None
    bottom = segment[-1]
    if first[-1] is bottom:
        # The path goes on from the turn's first block: no result record can come after it, but a
        # new one can (the record after the turn is then parented on it, as for any new record),
        # and the turn's other blocks can come before that.
        if not news:
            return list(first) if not others else None
        return [*first, *(r for run in sorted(others, key=lambda b: b[0].line) for r in run), *news]
    last = next((b for b in others if b[-1] is bottom), None)
    if last is None:
        return None
    middle = sorted((b for b in others if b is not last), key=lambda b: b[0].line)
    chain: list[Element] = list(first)
    for run in middle:
        chain.extend(run)
    chain.extend(news)
    chain.extend(last)
    return chain
