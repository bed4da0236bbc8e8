"""Checks made before serving requests (runserver, wsgi, asgi), not before every command: the
commands that only read files must run on a fresh checkout with no environment set."""

from django.core.exceptions import ImproperlyConfigured


def require_secret_key(settings) -> None:
    if not settings.DEBUG and not settings.SECRET_KEY_CONFIGURED:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Refusing to serve with DEBUG off and a throwaway key: "
            "set SECRET_KEY in the environment (for example: export SECRET_KEY=$(python -c "
            "'import secrets; print(secrets.token_urlsafe(50))')), or use `make run` for a local "
            "instance with DEBUG on.")
