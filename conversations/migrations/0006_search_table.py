"""The search text moves to a table of its own (conversations.models.SearchText): updating a
32 KB text's GIN entry cost ~10 ms, and on the conversation's row every new revision paid it."""

import importlib

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

AddIndexOnPostgreSQL = importlib.import_module("conversations.migrations.0002_conversation_search").AddIndexOnPostgreSQL


class RemoveIndexOnPostgreSQL(migrations.RemoveIndex):
    """The old GIN index exists only on PostgreSQL (0002 created it there alone)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


COPY = (
    "INSERT INTO conversations_searchtext (conversation_id, text) "
    "SELECT id, search_text FROM conversations_conversation"
)
COPY_BACK = (
    "UPDATE conversations_conversation SET search_text = (SELECT text FROM conversations_searchtext "
    "WHERE conversation_id = conversations_conversation.id)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0005_postgres_storage"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchText",
            fields=[
                (
                    "conversation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search_entry",
                        serialize=False,
                        to="conversations.conversation",
                    ),
                ),
                ("text", models.TextField(blank=True, default="")),
            ],
        ),
        migrations.RunSQL(COPY, COPY_BACK, elidable=True),
        RemoveIndexOnPostgreSQL(model_name="conversation", name="conversations_search_gin"),
        migrations.RemoveField(model_name="conversation", name="search_text"),
        AddIndexOnPostgreSQL(
            model_name="searchtext",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.search.SearchVector("text", config="simple"),
                name="conversations_searchtext_gin",
            ),
        ),
    ]
