"""What a serving process does before its first request (runserver, wsgi, asgi), and not before
every command: the commands that only read files must run on a fresh checkout with no environment
set, and must not pay for litellm (a check replays its transformation without it)."""

import gc
import logging
import os

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections

from conversations import routing, tasks
from conversations.history import targets

logger = logging.getLogger(__name__)


def require_secret_key(settings) -> None:
    if not settings.DEBUG and not settings.SECRET_KEY_CONFIGURED:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Refusing to serve with DEBUG off and a throwaway key: "
            "set SECRET_KEY in the environment (for example: export SECRET_KEY=$(python -c "
            "'import secrets; print(secrets.token_urlsafe(50))')), or use `make run` for a local "
            "instance with DEBUG on."
        )


def warm_up() -> None:
    """Load what checks read (litellm's model map, read without litellm) and import litellm
    (2-3 s, ~370,000 objects) now rather than in the first request that needs it: checks replay
    litellm's transformation without it, but the wire view page, a deployment the replay does not
    cover and exact token counting near the window ask litellm itself. Then move everything
    imported so far out of the garbage collector's sight: without gc.freeze() a full collection
    walks litellm's objects and pauses a request for 300-700 ms (measured on the 5,000-message
    page). Commands never call this: a check from the command line imports no litellm."""
    targets.resolve("anthropic")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # lazy: litellm, for serving processes only

    litellm.suppress_debug_info = True
    gc.freeze()


def routes_read() -> None:
    """Read the route files of INSPECTOR_ROUTE_CONFIGS now, and re-check in the background what a
    changed one concerns: a serving process that never ingests still starts from them. A database
    not migrated yet is said in the log, not fatal (`migrate` runs after a deploy's first start)."""
    try:
        routing.route_files_sync()
        tasks.route_rechecks_start()
    except DatabaseError as exc:
        logger.warning("routes not read at start: %s", exc)
    finally:
        # A server that loads the app before it forks (gunicorn --preload) must not hand this
        # connection to its workers: they would share one socket and read each other's rows.
        connections.close_all()
