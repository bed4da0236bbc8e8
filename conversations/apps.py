from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversation Inspector"

    def ready(self) -> None:
        # The API tokens' admin lives in its own module (admin.py is the pages' admin).
        from conversations import admin_api  # noqa: F401
