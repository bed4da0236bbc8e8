"""Write a repaired history back where it came from, never leaving a half-written log behind.

Filesystem only (no ORM): the Django side decides who may write and records it; this module makes
sure that what lands on disk is either the old log or the new one, with the old one kept beside
it as a backup, and that nothing is written over a log that changed since it was read (an agent
may still be appending to it).

    result = write_back(path, new_doc, expected_hash=source.content_hash, roots=settings.WRITE_BACK_ROOTS)

A file is written to a temporary file in the same folder, fsynced, and renamed over the original
(the original is first hard-linked, or copied, to `<name>.bak-<timestamp>`). An OpenHands session
directory is written as a new directory beside it and swapped in: one atomic exchange
(renameat2 RENAME_EXCHANGE) where Linux offers it, else two renames (old to backup, new in place).
An OpenHands V1 conversation folder is written in place instead, under the SDK's own lock
(writeback/inplace.py): an agent-server may hold it open by path.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import stat
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from conversations.history import formats
from conversations.history.errors import FormatError
from conversations.history.formats.document import Document, document_hash, is_session_file, load_path, read_regular
from conversations.history.formats.v1_layout import is_v1_dir
from conversations.history.model import History
from conversations.history.readback import readback_difference, refusal

from .durable import fsync_dir
from .errors import ChangedOnDisk, OutsideRoots, WriteBackError, WriteBackResult
from .inplace import LOCK_TIMEOUT, write_in_place

# Formats whose logs are records of requests, not stores: their corrected form is a new request
# offered for download, never an edit of the log (docs/formats.md §4).
NEVER_REWRITTEN = formats.REQUEST_ONLY


# --- hashing -------------------------------------------------------------------------------------


def disk_hash(path: str | os.PathLike) -> str:
    """The hash ingest stores for a log on disk (formats.document.document_hash over what
    load_path reads): pass it back as `expected_hash`."""
    return document_hash(load_path(path))


def _matches(path: Path, expected_hash: str) -> bool:
    """Whether the log on disk is still the one that was read. A file may be named by the sha256
    of its bytes or by its document hash (what ingest stores); a directory by its document hash."""
    if path.is_dir():
        return document_hash(load_path(path)) == expected_hash
    data = read_regular(path)  # a FIFO or a device put at the path is refused, never waited on
    if hashlib.sha256(data).hexdigest() == expected_hash:
        return True
    return document_hash(Document(name=str(path), files={path.name: data})) == expected_hash


def _ensure_unchanged(path: Path, expected_hash: str) -> None:
    try:
        same = _matches(path, expected_hash)
    except (OSError, FormatError) as exc:
        raise WriteBackError(f"{path}: cannot read it to compare with what was read: {exc}") from None
    if not same:
        raise ChangedOnDisk(
            f"{path} changed on disk since it was read; nothing was written. "
            "Ingest it again and repair the new revision."
        )


# --- where writing is allowed ----------------------------------------------------------------------


def allowed_path(path: str | os.PathLike, roots: list[Path] | list[str]) -> Path:
    """The real path (symlinks resolved) when it lies under one of `roots` (also resolved), else
    OutsideRoots. A symlink inside a root that points outside it is outside."""
    if not roots:
        raise OutsideRoots(f"{path}: writing back is disabled (no write-back roots are configured)")
    try:
        real = Path(path).resolve(strict=True)
    except FileNotFoundError:
        raise WriteBackError(f"{path}: no such file or directory") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise WriteBackError(f"{path}: cannot resolve the path: {exc}") from None
    for root in roots:
        top = Path(root).resolve()
        # The root itself is not writable as a whole: its backup and staging copy would land
        # outside it.
        if real != top and real.is_relative_to(top):
            return real
    shown = ", ".join(str(r) for r in roots)
    raise OutsideRoots(f"{path} (really {real}) is not under an allowed write-back root ({shown})")


# --- the entry points ------------------------------------------------------------------------------


def write_back(
    path: str | os.PathLike,
    new_doc: Document,
    *,
    expected_hash: str,
    roots: list[Path] | list[str],
    lock_timeout: float | None = None,
    history: History | None = None,
) -> WriteBackResult:
    """Replace the log at `path` with `new_doc`, atomically, keeping the old one as a backup.

    Refused (nothing written) when the path is outside `roots`, when the log on disk no longer has
    `expected_hash`, when the document's kind (file or directory) does not match the path, or,
    given the `history` it was written from, when it would read back otherwise (readback.py).
    An OpenHands V1 folder is written in place, under its lock (`lock_timeout`: the SDK's 30 s
    by default), and refused while the conversation runs."""
    real = allowed_path(path, roots)
    if real.is_dir() != new_doc.is_dir:
        kind = "a directory" if real.is_dir() else "a file"
        raise WriteBackError(f"{real} is {kind}; the repaired document is not")
    if history is not None:
        difference = readback_difference(history, new_doc)
        if difference is not None:
            raise WriteBackError(f"{real}: {refusal(difference)}; nothing was written")
    if real.is_dir() and is_v1_dir(real):
        return write_in_place(real, new_doc, expected_hash, lock_timeout=lock_timeout or LOCK_TIMEOUT)
    _ensure_unchanged(real, expected_hash)
    if real.is_dir():
        return _write_directory(real, new_doc, expected_hash)
    _, data = new_doc.single
    return _write_file(real, data, expected_hash)


def append_reply(
    path: str | os.PathLike,
    original: Document,
    history_with_reply: History,
    *,
    expected_hash: str,
    roots: list[Path] | list[str],
) -> WriteBackResult:
    """Write a history that gained a resumed reply (and the continuation before it) back to its
    source, in the source's own format: the format writers keep every existing record and turn
    the new messages into new records (a Claude Code record parented on the last one, an OpenHands
    MessageAction with the next id), so this is an append in effect, done as an atomic rewrite."""
    if history_with_reply.format in NEVER_REWRITTEN:
        raise WriteBackError(
            f"{path}: a {history_with_reply.format} is a record of requests and is "
            "never rewritten; download the repaired request instead"
        )
    try:
        new_doc = formats.write(history_with_reply, original)
    except FormatError as exc:
        raise WriteBackError(f"{path}: the reply cannot be written in this format: {exc}") from None
    return write_back(path, new_doc, expected_hash=expected_hash, roots=roots, history=history_with_reply)


# --- one file --------------------------------------------------------------------------------------


def _write_file(target: Path, data: bytes, expected_hash: str) -> WriteBackResult:
    folder = target.parent
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    backup: Path | None = None
    backed_up = False
    try:
        try:
            _write_all(fd, data)
            os.fchmod(fd, stat.S_IMODE(target.stat().st_mode))
            os.fsync(fd)
        finally:
            os.close(fd)
        backup = _backup_path(target)
        _keep_copy(target, backup)
        backed_up = True
        # Checked again right before the swap: an agent may have appended while we wrote.
        _ensure_unchanged(target, expected_hash)
        os.replace(tmp, target)
    except WriteBackError:
        _discard(tmp)
        if backup is not None:
            _discard(backup)
        raise
    except OSError as exc:
        _discard(tmp)
        if backup is not None and not backed_up:
            _discard(backup)  # a copy cut short (the disk filled up) is no backup
        raise WriteBackError(
            f"{target}: could not write the repaired file ({_reason(exc)}); the original is unchanged"
        ) from exc
    except BaseException:
        _discard(tmp)
        raise
    fsync_dir(folder)
    return WriteBackResult(path=target, backup=backup)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _keep_copy(target: Path, backup: Path) -> None:
    """The current file under the backup name: a hard link (instant, and exactly the old inode),
    or a copy where links are not possible."""
    try:
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)
        with open(backup, "rb+") as handle:
            os.fsync(handle.fileno())


# --- an OpenHands session directory ------------------------------------------------------------------


def _write_directory(target: Path, doc: Document, expected_hash: str) -> WriteBackResult:
    parent = target.parent
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.new-"))
    swapped = False
    try:
        fill_directory(staging, target, doc)
        os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
        _ensure_unchanged(target, expected_hash)
        backup = _backup_path(target)
        if _exchange(staging, target):
            # `staging` now holds the old session: it becomes the backup.
            swapped = True
            try:
                os.rename(staging, backup)
            except OSError:
                backup = staging  # the old session stays, under its staging name
        else:
            os.rename(target, backup)
            try:
                os.rename(staging, target)
            except OSError as exc:
                try:
                    os.rename(backup, target)
                except OSError:
                    swapped = True  # nothing to clean up: both copies must stay where they are
                    raise WriteBackError(
                        f"{target}: could not move the repaired session in ({_reason(exc)}) nor the "
                        f"original back: the original is at {backup}, the repaired one at "
                        f"{staging}"
                    ) from exc
                raise
            swapped = True
    except WriteBackError:
        if not swapped:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    except OSError as exc:
        if not swapped:
            shutil.rmtree(staging, ignore_errors=True)
        raise WriteBackError(
            f"{target}: could not write the repaired session ({_reason(exc)}); the original is unchanged"
        ) from exc
    except BaseException:
        if not swapped:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(parent)
    return WriteBackResult(path=target, backup=backup)


def fill_directory(staging: Path, old: Path, doc: Document) -> None:
    """The new session: the document's files, plus the old directory's files that no format
    writer owns (agent_state.pkl, init.json, conversation_stats.pkl...). Files the document
    removes (stale event_cache pages) and session files it no longer lists stay behind."""
    for rel, data in doc.files.items():
        _write_new(staging / _safe_relative(rel), data)
    for child in sorted(old.rglob("*")):
        rel = child.relative_to(old).as_posix()
        if child.is_dir() and not child.is_symlink():
            continue
        if is_session_file(rel) or rel in doc.files or rel in doc.removed:
            continue
        destination = staging / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(child, destination, follow_symlinks=False)
        if not destination.is_symlink():
            with open(destination, "rb+") as handle:
                os.fsync(handle.fileno())
    for folder in sorted(
        {p for p in staging.rglob("*") if p.is_dir() and not p.is_symlink()} | {staging},
        key=lambda p: len(p.parts),
        reverse=True,
    ):
        fsync_dir(folder)


def _safe_relative(rel: str) -> Path:
    path = Path(rel)
    if path.is_absolute() or ".." in path.parts:
        raise WriteBackError(f"refusing a document file name that leaves its directory: {rel!r}")
    return path


def _write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


# Linux renameat2(2) flags and the "current directory" descriptor.
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM}


def _renameat2(a: bytes, b: bytes, flags: int) -> int:
    """renameat2 from libc: 0, or the errno. ENOSYS when the C library has no such function."""
    if sys.platform != "linux":
        return errno.ENOSYS
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return errno.ENOSYS
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if function(_AT_FDCWD, a, _AT_FDCWD, b, flags) == 0:
        return 0
    return ctypes.get_errno()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step. False when the system cannot (another OS, an old kernel
    or C library, a filesystem without it): the caller then falls back to two renames."""
    error = _renameat2(os.fsencode(a), os.fsencode(b), _RENAME_EXCHANGE)
    if error == 0:
        return True
    if error in _UNSUPPORTED:
        return False
    raise OSError(error, os.strerror(error), str(b))


# --- small helpers ----------------------------------------------------------------------------------


def _backup_path(target: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    candidate = target.with_name(f"{target.name}.bak-{stamp}")
    n = 1
    while os.path.lexists(candidate):
        candidate = target.with_name(f"{target.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
