"""What a serving process does before its first request (runserver, wsgi, asgi), and not before
every command: the commands that only read files must run on a fresh checkout with no environment
set, and must not pay for litellm when they never check anything."""

import gc

from django.core.exceptions import ImproperlyConfigured


def require_secret_key(settings) -> None:
    if not settings.DEBUG and not settings.SECRET_KEY_CONFIGURED:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Refusing to serve with DEBUG off and a throwaway key: "
            "set SECRET_KEY in the environment (for example: export SECRET_KEY=$(python -c "
            "'import secrets; print(secrets.token_urlsafe(50))')), or use `make run` for a local "
            "instance with DEBUG on."
        )


def warm_up() -> None:
    """Import litellm (2-3 s, ~370,000 objects) now rather than in the first request that checks
    a conversation, then move everything imported so far out of the garbage collector's sight:
    without gc.freeze() a full collection walks litellm's objects and pauses a request for
    300-700 ms (measured on the 5,000-message page)."""
    from conversations.history import targets

    targets.resolve("anthropic")
    gc.freeze()
