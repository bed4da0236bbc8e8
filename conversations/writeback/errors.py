"""What a write-back answers: its result, or the reason it refused (nothing was changed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conversations.history.errors import HistoryError


class WriteBackError(HistoryError):
    """Write-back refused or failed; the message says which file and why. Nothing was changed."""


class OutsideRoots(WriteBackError):
    """The path is not under a directory the settings allow writing into."""


class ChangedOnDisk(WriteBackError):
    """The log changed since it was read: writing would lose what was added meanwhile."""


@dataclass(frozen=True, slots=True)
class WriteBackResult:
    path: Path  # what was written (symlinks resolved)
    backup: Path | None  # the previous content, kept beside it (None: nothing was replaced)
