"""Write an OpenHands V1 conversation back in place, as the SDK itself appends to it.

An openhands-sdk conversation folder may be open in an agent-server that holds it by path, so it
is never swapped for a new folder: the files that change are written where they are, under the
SDK's own lock (an exclusive flock on events/.eventlog.lock, 30 s at most, as EventLog.append
takes it), in the order the SDK writes them:

  1. new event files (each through a temporary dotfile, which the SDK's scan skips, linked into
     place so an existing name is never overwritten);
  2. existing event files whose parent_id changed, replaced atomically;
  3. base_state.json, replaced atomically (its leaf_event_id is what makes the new branch live);
  4. the length marker: the old one deleted first, then the new one written
     (EventLog._advance_length_marker), so an interruption leaves no stale marker.

Refused while the conversation runs (execution_status "running": the SDK is appending), when the
folder changed since it was read, or when the lock stays held. A failure part-way puts back what
was replaced and removes what was added. Replaced files are kept in
<folder>/.inspector-backup-<time>/ (a dot-folder: neither the SDK nor our ingest reads it).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from conversations.history.errors import FormatError
from conversations.history.formats.document import Document, document_hash, load_path, read_regular
from conversations.history.formats.v1_layout import BASE_STATE, EVENT_FILE, LOCK_FILE, MARKER, is_sidecar

from .durable import fsync_dir
from .errors import ChangedOnDisk, WriteBackError, WriteBackResult

# EventLog.LOCK_TIMEOUT_SECONDS, and filelock's polling interval.
LOCK_TIMEOUT = 30.0
POLL = 0.05
SDK_MODE = 0o600  # atomic_write_text's mode, for a folder with no file to copy a mode from


class ConversationRunning(WriteBackError):
    """The SDK is running the conversation: it appends events and saves its state meanwhile."""


class LockHeld(WriteBackError):
    """The SDK's event-log lock stayed held past the timeout."""


@dataclass
class _Changes:
    new: dict[str, bytes] = field(default_factory=dict)  # event files
    replaced: dict[str, bytes] = field(default_factory=dict)  # event files and base_state.json
    markers_gone: list[str] = field(default_factory=list)
    markers_new: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new or self.replaced or self.markers_gone or self.markers_new)


def write_in_place(
    target: Path, doc: Document, expected_hash: str, *, lock_timeout: float = LOCK_TIMEOUT
) -> WriteBackResult:
    """Apply `doc` (the V1 writer's whole folder) to the folder at `target`, in place."""
    _refuse_running(target)
    with event_log_lock(target, timeout=lock_timeout):
        _refuse_running(target)  # again: it may have started while we waited
        on_disk = load_path(target)
        if not _unchanged(on_disk, expected_hash):
            raise ChangedOnDisk(
                f"{target} changed on disk since it was read; nothing was written. "
                "Ingest it again and repair the new revision."
            )
        changes = _changes(on_disk, doc)
        if changes.empty:
            return WriteBackResult(path=target, backup=None)
        return _apply(target, changes)


def _unchanged(on_disk: Document, expected_hash: str) -> bool:
    """Whether the folder is still the one that was read. The lock file may have been created
    since (by the SDK's first append, or by taking the lock here): its presence changes nothing."""
    if document_hash(on_disk) == expected_hash:
        return True
    files = {name: data for name, data in on_disk.files.items() if name != LOCK_FILE}
    return document_hash(Document(name=on_disk.name, files=files, is_dir=True)) == expected_hash


def _refuse_running(target: Path) -> None:
    try:
        # Never followed if a symlink, never waited on if a FIFO.
        state = json.loads(read_regular(target / BASE_STATE))
    except (OSError, ValueError, FormatError) as exc:
        raise WriteBackError(f"{target}: cannot read {BASE_STATE}: {exc}") from None
    if isinstance(state, dict) and state.get("execution_status") == "running":
        raise ConversationRunning(
            f"{target}: the conversation is running (execution_status is 'running'), so OpenHands is "
            "writing to it; nothing was written. Pause or stop it, then write back."
        )


@contextmanager
def event_log_lock(folder: Path, *, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """The SDK's lock on the event log: an exclusive flock on events/.eventlog.lock (created as
    filelock creates it, never followed if it is a symlink)."""
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise WriteBackError(f"{path}: cannot open the conversation's lock: {exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise WriteBackError(f"{path}: cannot lock: {exc.strerror or exc}") from None
            if time.monotonic() >= deadline:
                raise LockHeld(
                    f"{folder}: OpenHands held the conversation's lock ({LOCK_FILE}) for more than "
                    f"{timeout:g} s; nothing was written. Try again when it is idle."
                )
            time.sleep(POLL)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _changes(on_disk: Document, doc: Document) -> _Changes:
    changes = _Changes()
    for name, data in doc.files.items():
        if MARKER.match(name):
            if name not in on_disk.files:
                changes.markers_new.append(name)
        elif is_sidecar(name):
            continue  # the lock: ours while we hold it
        elif name not in on_disk.files:
            if not EVENT_FILE.match(name):
                raise WriteBackError(f"refusing to add {name!r}: only new event files are written in place")
            changes.new[name] = data
        elif on_disk.files[name] != data:
            changes.replaced[name] = data
    changes.markers_gone = sorted(n for n in doc.removed if MARKER.match(n) and n in on_disk.files)
    return changes


# --- applying, undoable until the end ---------------------------------------------------------------


@dataclass
class _Undo:
    created: list[Path] = field(default_factory=list)
    replaced: list[tuple[Path, Path]] = field(default_factory=list)  # (file, its backup)
    markers_gone: list[Path] = field(default_factory=list)

    def run(self) -> None:
        for path in reversed(self.created):
            _unlink(path)
        for path, backup in reversed(self.replaced):
            _restore(path, backup)
        for path in self.markers_gone:
            if not path.exists():
                _create_empty(path, SDK_MODE)


def _apply(target: Path, changes: _Changes) -> WriteBackResult:
    events = target / "events"
    mode = _event_mode(events)
    backup = _backup_dir(target) if changes.replaced else None
    undo = _Undo()
    try:
        for name, data in sorted(changes.new.items()):
            path = target / name
            _write_new(path, data, mode)
            undo.created.append(path)
        # base_state.json last: until its leaf moves, the SDK still follows the old branch.
        for name in sorted(changes.replaced, key=lambda n: n == BASE_STATE):
            path = target / name
            kept = _keep(path, backup / name)  # type: ignore[operator]  # backup is set when replacing
            _replace(path, changes.replaced[name])
            undo.replaced.append((path, kept))
        for name in changes.markers_gone:
            (target / name).unlink()
            undo.markers_gone.append(target / name)
        for name in changes.markers_new:
            _create_empty(target / name, mode)
            undo.created.append(target / name)
        fsync_dir(events)
        fsync_dir(target)
    except OSError as exc:
        undo.run()
        raise WriteBackError(
            f"{target}: could not write the repaired conversation ({exc.strerror or exc}); what was "
            "written was taken back"
        ) from exc
    except BaseException:
        undo.run()
        raise
    return WriteBackResult(path=target, backup=backup)


def _event_mode(events: Path) -> int:
    """The mode the SDK gave the event files here (0600 by default; a copy may have others)."""
    for entry in os.scandir(events):
        if EVENT_FILE.match(f"events/{entry.name}") and entry.is_file(follow_symlinks=False):
            return stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
    return SDK_MODE


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """A new file, never over an existing one: written and synced under a dot-name (skipped by the
    SDK's scan), then linked into place."""
    tmp = _temp(path, data, mode)
    try:
        os.link(tmp, path)
    finally:
        _unlink(tmp)


def _replace(path: Path, data: bytes) -> None:
    tmp = _temp(path, data, stat.S_IMODE(path.stat().st_mode))
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _temp(path: Path, data: bytes, mode: int) -> Path:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink(Path(name))
        raise
    os.close(fd)
    return Path(name)


def _create_empty(path: Path, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), mode)
    os.close(fd)


def _backup_dir(target: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = target / f".inspector-backup-{stamp}"
    folder.mkdir()
    return folder


def _keep(path: Path, backup: Path) -> Path:
    """The current file under its backup name: a hard link (the old inode itself)."""
    backup.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(path, backup)
    except OSError:
        backup.write_bytes(path.read_bytes())
    return backup


def _restore(path: Path, backup: Path) -> None:
    try:
        tmp = path.with_name(f".{path.name}.restore")
        _unlink(tmp)
        os.link(backup, tmp)
        os.replace(tmp, path)
    except OSError:
        pass  # the backup stays where it is, for a person to put back


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
