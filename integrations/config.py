"""The integration's settings, from the environment: the one module of `integrations` that reads
it (a constructor's own argument wins over it). The README's table in "Catching stuck
conversations" lists the four; tests/test_docs.py checks it lists every one read here."""

from __future__ import annotations

import os


def inspector_url() -> str:
    """INSPECTOR_URL: the inspector's base URL, e.g. http://inspector.internal:8000 ("" when unset:
    the callback then records nothing)."""
    return os.environ.get("INSPECTOR_URL", "")


def inspector_token() -> str:
    """INSPECTOR_TOKEN: an API token (`manage.py create_api_token USER`)."""
    return os.environ.get("INSPECTOR_TOKEN", "")


def sample_rate() -> float:
    """INSPECTOR_SAMPLE_RATE: the share of successful calls to record too (default 0: failures
    only). A value that is not a number is refused, naming the variable; the callback checks the
    range."""
    raw = os.environ.get("INSPECTOR_SAMPLE_RATE", "")
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        raise ValueError(f"INSPECTOR_SAMPLE_RATE={raw!r}: expected a number from 0 to 1") from None


def guard_mode() -> str:
    """INSPECTOR_GUARD_MODE: the proxy guard's mode (default report); the guard checks it is one."""
    return os.environ.get("INSPECTOR_GUARD_MODE") or "report"
