"""Building a long history without the cyclic garbage collector's pauses.

Decoding a long history allocates millions of dicts, lists and model objects: enough to start
full collections of the whole process heap again and again (importing litellm alone adds some
370,000 objects to walk, unless a serving process froze them at start). On a 200,000-message
history that was two thirds of the time Revision.history took. JSON data and the model objects
built from it hold no reference cycles, so reference counting frees all of it anyway.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def without_gc_pauses(build: Callable[[], T]) -> T:
    """build(), with the cyclic garbage collector off while it runs (and on again after, if it was)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return build()
    finally:
        if enabled:
            gc.enable()
