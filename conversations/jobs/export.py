"""The export job's zip: each item's files, kept compressed on the item when it ran, streamed out
as the archive is built (conversations.admin.jobs serves it)."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator

from conversations.models import Job, JobItem


class _Sink:
    """A write-only file for zipfile that hands out what was written so far: the zip streams
    out as it is built, whatever the number of files (zipfile copes with a file it cannot seek)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def export_stream(job: Job) -> Iterator[bytes]:
    """The export job's zip, built from its items as it is sent."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        items = (
            JobItem.objects.filter(job=job, status=JobItem.Status.DONE, output__isnull=False)
            .order_by("id")
            .only("outcome", "output")
        )
        for item in items.iterator(chunk_size=50):
            data = zlib.decompress(bytes(item.output))
            offset = 0
            for name, size in item.outcome.get("files", []):
                archive.writestr(name, data[offset : offset + size])
                offset += size
            yield sink.take()
    yield sink.take()
