import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the first admin with a generated password, printed once. Does nothing when an "
        "admin already exists. `make run` calls it on a fresh database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin already exists; log in with the password printed when it was created.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the first admin. Log in at http://127.0.0.1:8000/accounts/login/ as "
                f"{username} / {password}  (shown once: write it down)"
            )
        )
