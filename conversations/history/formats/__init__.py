"""Readers and writers, one module per format, chosen from a registry.

    doc = load_path("session.jsonl")          # or Document.from_bytes(name, data)
    name = detect(doc)                         # "claude-code"
    histories = read(doc)                      # list: a litellm JSONL holds many conversations
    each = read_each(doc)                      # the same, a bad record failing alone (its FormatError)
    new_doc = write(histories[0], doc)         # back in the source's own format

A document may hold several conversations (litellm JSONL records, OpenHands output.jsonl lines):
`conversation_name(history)` names one among them ("line 7", an instance_id), as check_history
and repair_history --conversation do. A module may offer read_each(doc) -> list[History |
FormatError] where one record can fail alone; for the others read_each is read, all or nothing.

A format module has NAME, WRITABLE, sniff(doc) -> bool, read(doc) -> list[History] and, when
writable, write(history, original: Document | None) -> Document. Detection asks each module in
DETECTION_ORDER; the first that claims the document wins, so more specific formats come first.
"""

from __future__ import annotations

from typing import Protocol, cast

from ..errors import FormatError, UnknownFormat
from ..model import History
from . import anthropic, claude_code, litellm_log, openai, openhands, openhands_output, openhands_v1
from .document import Document, conversation_folders, is_openhands_dir, load_path


class Format(Protocol):
    """What a format module offers (a module satisfies it: mypy checks the modules below)."""

    NAME: str
    WRITABLE: bool

    def sniff(self, doc: Document) -> bool: ...

    def read(self, doc: Document) -> list[History]: ...


class WritableFormat(Format, Protocol):
    """A format module with WRITABLE = True."""

    def write(self, history: History, original: Document | None) -> Document: ...


FORMATS: dict[str, Format] = {
    openhands_v1.NAME: openhands_v1,
    openhands.NAME: openhands,
    openhands_output.NAME: openhands_output,
    claude_code.NAME: claude_code,
    litellm_log.NAME: litellm_log,
    anthropic.NAME: anthropic,
    openai.NAME: openai,
}
FORMAT_NAMES = tuple(FORMATS)
# litellm logs carry an OpenAI `messages` list, and Anthropic requests look like OpenAI ones with
# blocks: ask the formats with the most specific markers first.
DETECTION_ORDER: tuple[Format, ...] = (
    openhands_v1,
    openhands,
    openhands_output,
    claude_code,
    litellm_log,
    anthropic,
    openai,
)
# Logs of finished requests or runs, never written back: their repaired form is the OpenAI request.
REQUEST_ONLY = (litellm_log.NAME, openhands_output.NAME)

__all__ = [
    "Document",
    "FormatError",
    "UnknownFormat",
    "FORMATS",
    "FORMAT_NAMES",
    "detect",
    "read",
    "read_each",
    "conversation_name",
    "write",
    "load_path",
    "is_openhands_dir",
    "conversation_folders",
    "module",
]


def module(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormat(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}") from None


def detect(doc: Document) -> str:
    for fmt in DETECTION_ORDER:
        if fmt.sniff(doc):
            return fmt.NAME
    if not doc.is_dir:
        # No format claims it. If it is not even JSON, the parse error (with its line) is the
        # useful answer: "truncated JSON at line 3" beats "unknown format".
        if doc.looks_like_jsonl():
            doc.jsonl()
        else:
            doc.json()
    elif not any(name.startswith("events/") for name in doc.files):
        raise UnknownFormat("a directory without events/<n>.json files: not an OpenHands session", file=doc.name)
    raise UnknownFormat(
        f"not a conversation log in any known format ({', '.join(FORMATS)}); use --format to force one", file=doc.name
    )


def read(doc: Document, format: str | None = None) -> list[History]:
    """Every conversation in the document. Raises FormatError naming the file and the place."""
    fmt = module(format) if format else module(detect(doc))
    try:
        histories = fmt.read(doc)
    except FormatError as exc:
        raise exc.located(file=doc.name if doc.is_dir else doc.single[0]) from None
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        # A reader bug or a shape it did not foresee: still an error that names the file.
        raise FormatError(
            f"unexpected structure for {fmt.NAME}: {exc.__class__.__name__}: {exc}", file=doc.name
        ) from None
    finally:
        doc.forget_parsed()
    return histories


def read_each(doc: Document, format: str | None = None) -> list[History | FormatError]:
    """Every conversation in the document, in order, with a FormatError (naming the file and the
    line) in place of each record that cannot be read: for documents of several conversations,
    where one bad record must not cost the others. A document that cannot be read at all (or a
    format whose records do not fail alone) gives one error."""
    try:
        fmt = module(format) if format else module(detect(doc))
    except FormatError as exc:
        return [exc.located(file=doc.name if doc.is_dir else doc.single[0])]
    each = getattr(fmt, "read_each", None)
    if each is None:
        try:
            return list(read(doc, fmt.NAME))
        except FormatError as exc:
            return [exc]
    try:
        return cast("list[History | FormatError]", each(doc))
    except FormatError as exc:
        return [exc.located(file=doc.name if doc.is_dir else doc.single[0])]
    finally:
        doc.forget_parsed()


def conversation_name(history: History) -> str:
    """The name of a conversation among the several of its document: the reader's own
    (meta["conversation"]: an instance_id, an issue, a sub-folder), else its line or record."""
    name = history.meta.get("conversation")
    if isinstance(name, str) and name:
        return name
    if history.record is not None:
        return f"line {history.record}"
    return history.external_id or ""


def write(history: History, original: Document | None = None, format: str | None = None) -> Document:
    """The history in `format` (default: its own). A litellm log or an OpenHands output.jsonl is
    never rewritten: its corrected form is the OpenAI request the conversation makes."""
    name = format or history.format
    if name in REQUEST_ONLY:
        name = openai.NAME
        original = None
    fmt = module(name)
    if not getattr(fmt, "WRITABLE", False):
        raise FormatError(f"the {name} format cannot be written")
    if original is not None and name != history.format:
        original = None
    return cast(WritableFormat, fmt).write(history, original)  # WRITABLE said so
