"""JSON out, always valid: NaN and ±Infinity (Python's json reads them from a log, and the stored
original keeps them) are shown as null, since no JSON reader takes them back.

The common case pays nothing: json.dumps with allow_nan=False either succeeds or says there is
such a number, and only then is the value copied with null in its place."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None, walked without recursion."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, (dict, list, tuple)):
        return value
    root = _copy_shallow(value)
    stack: list[tuple[Any, Any]] = [(value, root)]  # (a container, its copy)
    while stack:
        original, copy = stack.pop()
        items = original.items() if isinstance(original, dict) else enumerate(original)
        for key, item in items:
            if isinstance(item, float) and not math.isfinite(item):
                copy[key] = None
            elif isinstance(item, (dict, list, tuple)):
                child = _copy_shallow(item)
                copy[key] = child
                stack.append((item, child))
    return root


def _copy_shallow(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else list(value)


def dumps(value: Any, **kwargs: Any) -> str:
    """json.dumps, with null for a NaN or an infinity."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:
        return json.dumps(finite(value), allow_nan=False, **kwargs)
