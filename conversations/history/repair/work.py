"""The working copy a repair edits, and the bookkeeping that turns its changes into edits a
person can read.

Strategies change `work.history` (a copy: the caller's history is never touched) and call
`work.note(...)` for every change. Messages keep their identity while they are moved, so an edit
can always name a message by its index in the history the repair started from; a message a
strategy creates is named by the original message it follows.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import fields, replace
from operator import attrgetter

from ..edits import Edit, source_of
from ..findings import Finding
from ..model import Block, History, Message, SourceRef
from ..targets import Target

# Writers that place a block by the record it was read from (SourceRef line): moving such a block
# means writing it as a new record, so a moved block becomes a new block with the same content.
# Every other writer follows the order of the history.
PLACED_BY_RECORD = ("claude-code",)
# Formats whose writer gives the results of an assistant message back in the order of its calls,
# wherever they were added (OpenHands V0: ConversationMemory sends them so; Claude Code: its reader
# takes a turn's result records in the order of the calls they answer): a result a repair adds
# goes at its call's place among them, not after them.
RESULTS_IN_CALL_ORDER = ("openhands", "claude-code")
# Formats whose tool results live in the next user message (Anthropic style); the others keep
# them as role "tool" messages right after the assistant message (OpenAI style).
ANTHROPIC_STYLE = ("anthropic", "claude-code")


def style_of(history: History) -> str:
    """'anthropic' (results first in the next user message) or 'openai' (tool messages)."""
    if history.format in ANTHROPIC_STYLE:
        return "anthropic"
    if any(m.role == "tool" for m in history.messages):
        return "openai"
    if history.format in ("openai", "litellm-log", "openhands", "openhands-v1"):
        return "openai"
    holds_results = any(b.type == "tool_result" for m in history.messages if m.role == "user" for b in m.blocks)
    return "anthropic" if holds_results else "openai"


# --- copying -----------------------------------------------------------------------------------
# copy.deepcopy of a 10,000-message history takes most of a second. These copies make new
# dataclasses, lists and `extra` dicts (what strategies change) and share what no strategy changes
# in place: SourceRefs (replaced, never edited), tool inputs, media payloads, parameter values.

# Every field's value, in the constructor's order: a copy is the constructor called with them.
_block_values = attrgetter(*(f.name for f in fields(Block)))
_message_values = attrgetter(*(f.name for f in fields(Message)))


def _block(b: Block) -> Block:
    c = Block(*_block_values(b))
    c.extra = dict(b.extra)
    if b.cache_control is not None:
        c.cache_control = copy.copy(b.cache_control)
    if isinstance(b.content, list):
        c.content = [_block(x) for x in b.content]
    return c


def _message(m: Message) -> Message:
    c = Message(*_message_values(m))
    c.blocks = [_block(b) for b in m.blocks]
    c.extra = dict(m.extra)
    if m.cache_control is not None:
        c.cache_control = copy.copy(m.cache_control)
    if m.usage is not None:
        c.usage = copy.copy(m.usage)
    return c


def clone(history: History) -> History:
    c = copy.copy(history)
    c.messages = [_message(m) for m in history.messages]
    c.system = [
        replace(p, blocks=[_block(b) for b in p.blocks], extra=dict(p.extra), cache_control=copy.copy(p.cache_control))
        for p in history.system
    ]
    c.tools = [replace(t, extra=dict(t.extra), cache_control=copy.copy(t.cache_control)) for t in history.tools]
    c.request = dict(history.request)
    c.meta = dict(history.meta)
    if history.usage is not None:
        c.usage = copy.copy(history.usage)
    return c


# --- the working copy ------------------------------------------------------------------------------


class Work:
    def __init__(self, history: History, targets: Iterable[Target] = ()):
        self.history = clone(history)
        self.targets = list(targets)
        self.style = style_of(self.history)
        self.edits: list[Edit] = []
        # id(message) -> (message, index in the original, or the index of the original message a
        # new one follows, -1 before the first). The message is held so its id is never reused.
        self._where: dict[int, tuple[Message, int, bool]] = {
            id(m): (m, i, False) for i, m in enumerate(self.history.messages)
        }
        self.snapshot: list[Message] = list(self.history.messages)
        # JSONL lines name a message only when its messages come from several lines (a litellm
        # log's request is one line).
        self._by_line = len({m.source.line for m in self.history.messages}) > 1
        # source_of reads every block of a message; an edit per tool call would read them again
        # for each call (quadratic). Keyed by the message and its block list as it is now.
        self._sources: dict[tuple[int, int, int], str] = {}

    # -- rounds
    def begin_round(self) -> None:
        """The history the findings of this round were made on: `at` resolves their indexes."""
        self.snapshot = list(self.history.messages)

    def at(self, index: int | None) -> Message | None:
        if index is None or not 0 <= index < len(self.snapshot):
            return None
        return self.snapshot[index]

    def messages_of(self, findings: Iterable[Finding]) -> list[Message]:
        """The messages the findings name (those still in the history), in history order."""
        wanted = {id(m) for m in (self.at(f.message_index) for f in findings) if m is not None}
        return [m for m in self.history.messages if id(m) in wanted]

    # -- naming messages in edits
    def index(self, message: Message) -> int | None:
        """The message's index in the original history, or for a new message the index of the
        original message it follows (None before the first)."""
        found = self._where.get(id(message))
        if found is None:
            return None
        return found[1] if found[1] >= 0 else None

    def origins(self) -> list[int | None]:
        """For each message of the history now, the index of the original it is a copy of (None
        for a message the repair made)."""
        found = [self._where.get(id(m)) for m in self.history.messages]
        return [f[1] if f is not None and not f[2] else None for f in found]

    def name(self, message: Message) -> str:
        """How an edit names the message: "message 5 (event 15, the finish action)" (its index in
        the original history, and the records or events it was read from), or where a new one is."""
        found = self._where.get(id(message))
        if found is None:
            return "a new message"
        _, index, new = found
        if not new:
            key = (id(message), id(message.blocks), len(message.blocks))
            where = self._sources.get(key)
            if where is None:
                where = self._sources[key] = source_of(message, lines=self._by_line)
            return f"message {index} ({where})" if where else f"message {index}"
        return "a new message at the start" if index < 0 else f"the new message after message {index}"

    def note(self, op: str, message: Message | None, description: str) -> None:
        self.edits.append(
            Edit(op=op, message_index=self.index(message) if message is not None else None, description=description)
        )

    # -- making things
    def new_message(
        self,
        role: str,
        blocks: list[Block],
        *,
        after: Message | None,
        content_form: str = "blocks",
        name: str | None = None,
    ) -> Message:
        """A message the repair adds, placed (by the caller) right after `after`."""
        message = Message(role=role, blocks=blocks, content_form=content_form, name=name, source=SourceRef())
        anchor = -1
        if after is not None:
            found = self._where.get(id(after))
            anchor = found[1] if found is not None else -1
        self._where[id(message)] = (message, anchor, True)
        return message

    @property
    def keeps_place(self) -> bool:
        """Whether the format's writer follows the history's order (else it places blocks by the
        record they were read from)."""
        return self.history.format not in PLACED_BY_RECORD

    def moved(self, block: Block) -> Block:
        """The block to put at its new place: itself, or for writers that place blocks by their
        source record, a new block with the same content (the old record then goes)."""
        if self.keeps_place:
            return block
        c = _block(block)
        c.source = SourceRef()
        return c

    @property
    def results_in_call_order(self) -> bool:
        return self.history.format in RESULTS_IN_CALL_ORDER

    # -- facts strategies share
    def positions(self) -> dict[int, int]:
        """id(message) -> its current index."""
        return {id(m): i for i, m in enumerate(self.history.messages)}

    def max_breakpoints(self) -> int:
        """The fewest cache breakpoints any target of this repair allows (4 when none says)."""
        limits = [t.max_cache_breakpoints for t in self.targets if t.max_cache_breakpoints]
        return min(limits) if limits else 4
