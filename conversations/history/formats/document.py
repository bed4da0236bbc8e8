"""A Document is what a reader reads and a writer writes: one file, or a directory of files
(an OpenHands session). It holds bytes, never paths to reopen, so the same reader serves a file on
disk, an upload and an API body, and what was read is exactly what is stored as the original."""

from __future__ import annotations

import codecs
import errno
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..errors import FormatError, NotAConversation
from . import v1_layout

# json.loads recurses once per nesting level and stops at the interpreter's recursion limit with
# a RecursionError, which we turn into a clear error. A value that parses can still be too deep for
# what comes after (copy.deepcopy takes three frames a level), so readers refuse anything deeper
# than MAX_DEPTH. Agent logs nest a few dozen levels at most.
MAX_DEPTH = 200


# Pretty-printers indent a level by 2 or 4 spaces or a tab. A wider indentation is not a layout to
# copy: json.dumps repeats the indent on every line once per level, so the 30,000 spaces that open
# one line of a 64 KB file would make every line of the written file that long (gigabytes).
MAX_INDENT = 8
_INDENTED = re.compile(r"\n([ \t]+)\S")


class TooDeep(ValueError):
    """A JSON value nested deeper than MAX_DEPTH (a ValueError, like any JSON that is refused)."""


def loads(text: str | bytes) -> Any:
    """json.loads, refusing values nested deeper than MAX_DEPTH with TooDeep."""
    value = json.loads(text)
    # No deeper than its count of opening brackets: most records (a JSONL line) skip the walk.
    if isinstance(text, bytes):
        opening = text.count(b"[") + text.count(b"{")
    else:
        opening = text.count("[") + text.count("{")
    if opening > MAX_DEPTH and too_deep(value):
        raise TooDeep(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests more than `limit` containers deep: one level at a time, without
    recursion (a few percent of the parse time)."""
    level = [value] if isinstance(value, (dict, list)) else []
    for _ in range(limit):
        if not level:
            return False
        deeper: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            deeper.extend([c for c in children if isinstance(c, (dict, list))])
        level = deeper
    return bool(level)


def json_indent(text: str) -> int | str | None:
    """json.dumps's `indent` that reproduces the layout of `text`: None for JSON on one line, a tab,
    or 1 to MAX_INDENT spaces; an indentation no formatter writes gets the default of 2."""
    match = _INDENTED.search(text)
    if not match:
        return None
    if match[1].startswith("\t"):
        return "\t"
    width = len(match[1])
    return width if width <= MAX_INDENT else 2


@dataclass
class Document:
    """name: the path or upload name the user gave. files: relative name -> bytes (a single file
    has one entry, under its base name). is_dir: the name is a directory. removed: for a written
    document, files of the original that must go (stale OpenHands event_cache pages). skipped:
    entries of a folder left out unread (a symlink), with the reason."""

    name: str
    files: dict[str, bytes]
    is_dir: bool = False
    removed: set[str] = field(default_factory=set)
    # Entries of a folder left out unread: relative name -> reason ("symlink").
    skipped: dict[str, str] = field(default_factory=dict)
    _parsed: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Document:
        return cls(name=name, files={os.path.basename(name) or name: data})

    @property
    def single(self) -> tuple[str, bytes]:
        """The one file of a single-file document."""
        if self.is_dir or len(self.files) != 1:
            raise FormatError("expected a single file, got a directory", file=self.name)
        return next(iter(self.files.items()))

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.files.values())

    def text(self, name: str | None = None) -> str:
        name = name or self.single[0]
        return decode(self.files[name], name)

    def json(self, name: str | None = None) -> Any:
        """The parsed JSON of one file, parsed once and cached (detection then reading)."""
        name = name or self.single[0]
        if name not in self._parsed:
            self._parsed[name] = parse_json(self.text(name), name)
        return self._parsed[name]

    def jsonl(self, name: str | None = None) -> list[tuple[int, Any]]:
        """(line number, parsed object) for every non-blank line; a broken line is an error that
        names it, never a skipped line."""
        name = name or self.single[0]
        key = "jsonl:" + name
        if key not in self._parsed:
            rows = []
            for number, line in enumerate(self.text(name).split("\n"), start=1):
                if line.strip():
                    rows.append((number, parse_json(line, name, line=number)))
            self._parsed[key] = rows
        return cast("list[tuple[int, Any]]", self._parsed[key])

    def jsonl_each(self, name: str | None = None) -> list[tuple[int, Any]]:
        """(line number, parsed object or the FormatError naming that line) for every non-blank
        line: for documents whose lines are conversations of their own, where a broken line fails
        alone. Not cached."""
        name = name or self.single[0]
        rows: list[tuple[int, Any]] = []
        for number, line in enumerate(self.text(name).split("\n"), start=1):
            if line.strip():
                try:
                    rows.append((number, parse_json(line, name, line=number)))
                except FormatError as exc:
                    rows.append((number, exc))
        return rows

    def looks_like_jsonl(self) -> bool:
        """More than one top-level JSON value, one per line."""
        if self.is_dir:
            return False
        text = self.text()
        first = text.lstrip()[:1]
        if first != "{":
            return False
        stripped = text.strip()
        return (
            "\n" in stripped
            and stripped.split("\n", 1)[0].rstrip().endswith("}")
            and _parses(stripped.split("\n", 1)[0])
        )

    def forget_parsed(self) -> None:
        """Drop cached parse trees (the history holds what it needs) to keep memory flat."""
        self._parsed.clear()


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def decode(data: bytes, name: str) -> str:
    if not data.strip():
        # A log folder holds empty files (a session never written to): no conversation, no failure.
        raise NotAConversation("the file is empty", file=name)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise FormatError(f"not valid UTF-16 text (byte {exc.start})", file=name) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FormatError(
            f"not UTF-8 text: invalid byte at offset {exc.start} (is this a binary file?)", file=name, line=line
        ) from None


def parse_json(text: str, name: str, line: int | None = None) -> Any:
    if "\x00" in text:
        raise FormatError("contains NUL bytes: not a JSON log", file=name, line=line)
    try:
        value = loads(text)
    except (RecursionError, TooDeep):
        raise FormatError(f"JSON nested too deeply (deeper than {MAX_DEPTH} levels)", file=name, line=line) from None
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        what = "truncated JSON" if exc.pos >= len(text.rstrip()) else "invalid JSON"
        raise FormatError(f"{what}: {exc.msg} (column {exc.colno})", file=name, line=where) from None
    except ValueError as exc:  # an integer literal longer than Python's int_max_str_digits
        raise FormatError(f"invalid JSON: {exc}", file=name, line=line) from None
    return value


# --- loading from disk -------------------------------------------------------------------------


def document_hash(doc: Document) -> str:
    """sha256 over the document's files (name, length, bytes; in name order). Ingest stores it as
    the source's content hash, and write-back compares it with the files on disk to refuse
    overwriting a log that changed since it was read."""
    digest = hashlib.sha256()
    for name in sorted(doc.files):
        data = doc.files[name]
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def is_session_file(rel: str) -> bool:
    """Whether a file of an OpenHands session directory is part of the conversation (what
    load_path reads and a writer owns). agent_state.pkl and friends are derived state; the events
    are authoritative."""
    return rel.startswith(("events/", "event_cache/")) or rel == "metadata.json"


def load_path(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Document:
    """Read a file, or an OpenHands session directory, into a Document.

    The path itself is resolved once (the operator chose it, symlink or not); inside a folder a
    symlink is never followed: it is left out and named in the document's `skipped`. Only regular
    files are read (a FIFO, a device or a socket is refused naming it, never waited on), and the
    size limit holds while reading: never more than max_bytes + 1 bytes are read."""
    given = Path(path)
    try:
        p = given.resolve(strict=True)
    except FileNotFoundError:
        raise FormatError("no such file or directory", file=str(given)) from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise FormatError(f"cannot resolve the path: {exc}", file=str(given)) from None
    if p.is_dir() and v1_layout.is_v1_dir(p):
        return _load_v1_dir(p, max_bytes, name=str(given))
    if p.is_dir():
        return _load_v0_dir(p, max_bytes, name=str(given))
    data = read_regular(p, max_bytes, name=str(given))
    if max_bytes is not None and len(data) > max_bytes:
        raise FormatError(f"larger than the limit of {max_bytes:,} bytes", file=str(given))
    return Document(name=str(given), files={given.name: data})


def _load_v0_dir(folder: Path, max_bytes: int | None, *, name: str) -> Document:
    """An OpenHands V0 session: its session files, walked without following a symlink."""
    files: dict[str, bytes] = {}
    skipped: dict[str, str] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(folder):  # never descends into a symlinked folder
        here = Path(dirpath)
        for entry in sorted(dirnames + filenames):
            child = here / entry
            rel = child.relative_to(folder).as_posix()
            if child.is_symlink():
                if is_session_file(rel) or rel in ("events", "event_cache"):
                    skipped[rel] = "symlink"  # one the walk would have read: named
                continue
            if entry in dirnames or not is_session_file(rel):
                continue
            limit = None if max_bytes is None else max_bytes - total
            data = read_regular(child, limit)
            total += len(data)
            if max_bytes is not None and total > max_bytes:
                raise FormatError(f"larger than the limit of {max_bytes:,} bytes", file=name)
            files[rel] = data
    return Document(name=name, files=dict(sorted(files.items())), is_dir=True, skipped=skipped)


def is_openhands_dir(path: str | os.PathLike[str]) -> bool:
    """An OpenHands conversation folder, V0 (events/<n>.json) or V1 (base_state.json and
    events/event-<n>-<id>.json): one document, never walked into."""
    events = Path(path) / "events"
    if v1_layout.is_v1_dir(path):
        return True
    return events.is_dir() and any(c.name.removesuffix(".json").isdigit() for c in events.iterdir())


def conversation_folders(path: str | os.PathLike[str]) -> list[Path] | None:
    """The conversations of a folder of OpenHands conversation folders (V0 or V1, as the SDK keeps
    them side by side), by name; None when `path` is not such a folder. Symlinks are not followed;
    other files in it are not conversations."""
    folder = Path(path)
    if not folder.is_dir() or is_openhands_dir(folder):
        return None
    found = sorted(
        (child for child in folder.iterdir() if not child.is_symlink() and child.is_dir() and is_openhands_dir(child)),
        key=lambda child: child.name,
    )
    return found or None


def _load_v1_dir(folder: Path, max_bytes: int | None, *, name: str) -> Document:
    """An OpenHands V1 conversation folder: base_state.json and the files directly in events/.
    The SDK's dotfiles there (its lock, its length marker) are kept by name as empty entries and
    never read; symlinks and anything but regular files are never followed or read."""
    files: dict[str, bytes] = {}
    skipped: dict[str, str] = {}
    total = 0
    names = [v1_layout.BASE_STATE] + sorted(f"{v1_layout.EVENTS_DIR}/{n}" for n in os.listdir(folder / "events"))
    for rel in names:
        if v1_layout.is_sidecar(rel):
            files[rel] = b""
            continue
        try:
            mode = os.lstat(folder / rel).st_mode
        except OSError:
            continue  # gone since the listing: the SDK may be writing
        if stat.S_ISLNK(mode):
            skipped[rel] = "symlink"
            continue
        limit = None if max_bytes is None else max_bytes - total
        data = read_regular(folder / rel, limit)
        total += len(data)
        if max_bytes is not None and total > max_bytes:
            raise FormatError(f"larger than the limit of {max_bytes:,} bytes", file=name)
        files[rel] = data
    return Document(name=name, files=files, is_dir=True, skipped=skipped)


def read_regular(path: Path, limit: int | None = None, *, name: str | None = None) -> bytes:
    """A regular file's bytes, never more than limit + 1 (enough to see it is over the limit).
    Opened without following a symlink and without blocking (a FIFO with no writer would wait
    forever), then refused unless it is a regular file: a FIFO, /dev/zero or a socket is a
    FormatError naming it, whatever its st_size says."""
    shown = name or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FormatError("a symlink: never followed inside a folder", file=shown) from None
        if exc.errno == errno.ENXIO:  # a socket
            raise FormatError("not a regular file (a socket): not read", file=shown) from None
        raise FormatError(f"cannot read: {exc.strerror}", file=shown) from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FormatError(f"not a regular file ({_kind(mode)}): not read", file=shown)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        left = None if limit is None else limit + 1
        while left is None or left > 0:
            chunk = handle.read(1 << 20 if left is None else min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            if left is not None:
                left -= len(chunk)
        return b"".join(chunks)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "a special file"
