"""What a repair may do to a history, at random, for the property tests of what is computed from
the changes (shared chunks, token counts): a copy with messages inserted, removed, edited in
place and swapped, and for each of its messages the index of the original it is a copy of."""

import random

from conversations.history.model import Block, History, Message
from conversations.history.repair.work import clone


def changed_at_random(history: History, rng: random.Random, most: int = 4) -> tuple[History, list[int | None]]:
    copy = clone(history)
    messages, origins = copy.messages, list(range(len(copy.messages)))
    for _ in range(rng.randint(1, most)):
        at = rng.randrange(len(messages))
        op = rng.choice(["insert", "remove", "edit", "swap"])
        if op == "insert":
            messages.insert(at, Message(role="user", blocks=[Block.text_block(f"new {rng.random()}")]))
            origins.insert(at, None)
        elif op == "remove" and len(messages) > 1:
            del messages[at], origins[at]
        elif op == "edit":  # changed in place: the origin still names the message it was
            messages[at].blocks.append(Block.text_block("edited " * rng.randint(1, 50)))
        else:
            other = rng.randrange(len(messages))
            messages[at], messages[other] = messages[other], messages[at]
            origins[at], origins[other] = origins[other], origins[at]
    return copy, origins
