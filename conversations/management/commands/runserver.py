from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as StaticRunserver
from django.core.management.base import CommandError

from conversations.startup import require_secret_key


class Command(StaticRunserver):
    """Django's runserver, refusing to serve with DEBUG off and no SECRET_KEY."""

    def inner_run(self, *args, **options):
        require_secret_key(settings)
        return super().inner_run(*args, **options)

    def handle(self, *args, **options):
        try:
            require_secret_key(settings)
        except Exception as exc:
            raise CommandError(str(exc)) from None
        return super().handle(*args, **options)
