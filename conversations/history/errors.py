"""Errors of the pure core. Every one names the file and the place, because the person reading it
has a 50 MB log open in another window and needs to jump to the line."""

from __future__ import annotations


class HistoryError(Exception):
    """Base of the core's errors."""


class FormatError(HistoryError):
    """An input that cannot be read as the format it claims (or any format).

    file: the file (relative to the source root, or the upload name); line: 1-based line of a
    JSONL file (or of a JSON syntax error); event: an OpenHands event id; path: a JSON path.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        event: int | str | None = None,
        path: str | None = None,
    ):
        self.reason = reason
        self.file = file
        self.line = line
        self.event = event
        self.path = path
        super().__init__(str(self))

    def located(
        self, *, file: str | None = None, line: int | None = None, event: int | str | None = None
    ) -> FormatError:
        """The same error (of the same class) with the outer location filled in where it was not
        known yet."""
        return type(self)(
            self.reason,
            file=self.file or file,
            line=self.line or line,
            event=self.event if self.event is not None else event,
            path=self.path,
        )

    def __str__(self) -> str:
        where = [
            p
            for p in (
                self.file,
                self.line and f"line {self.line}",
                self.event is not None and f"event {self.event}",
                self.path,
            )
            if p
        ]
        return ": ".join([*map(str, where), self.reason])


class UnknownFormat(FormatError):
    """Detection found no format that fits."""


class NotAConversation(FormatError):
    """A file that is a normal part of a log folder but holds no conversation: an empty file, a
    Claude Code session of only `summary` or bookkeeping records. Ingest counts it as skipped
    (with this reason), never as failed."""
