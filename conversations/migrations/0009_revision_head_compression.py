# The head is compressed with Zstandard now (zlib before): the help text only, no change in the database.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0008_revision_chunk_sizes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="revision",
            name="head_data",
            field=models.BinaryField(help_text="compressed JSON of the history without its messages"),
        ),
    ]
