from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from conversations.api.auth import api_token_create


class Command(BaseCommand):
    help = (
        "Make a new API token for USERNAME and print it (once: only its hash is stored). Run it "
        "when you set up a platform's litellm callback or a script that calls /api/. Revoke tokens "
        "in the admin. The token alone goes to stdout, so TOKEN=$(manage.py create_api_token bob) works."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for (shown in the admin)")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"no user {username!r}; create the user first (e.g. in the admin)")
        if not user.is_active:
            raise CommandError(f"user {username!r} is disabled: its tokens would be refused")
        row, token = api_token_create(user, name=name)
        self.stdout.write(token)
        self.stderr.write(f"Created token {row.hint}… for {username}; it is not stored: copy it now.")
