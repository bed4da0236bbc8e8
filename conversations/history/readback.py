"""Output that reads back the same: before anything is written (repair_history's output, a
write-back, a download in the source's format), the bytes to be written are read back with our own
reader and compared with the history they were written from.

Both sides go through the same redaction an ingest applies (a secret in the history is compared
as the marker the stored copy would hold), then are compared as the model is sent them: the same
messages in the same order, the same roles, block types, texts, tool ids, inputs, results and
`is_error`, the same system prompt and tools. What a writer is free to choose is ignored: where an
element was read from (SourceRef), ids and timestamps it generates, how content was spelled (a
bare string or one text block), and blocks the agent never sends (see model.NOT_SENT).

    problem = readback_difference(history, doc)    # None, or "message 5: block 0 (tool_result): ..."
    back, problem = readback(history, doc)          # and the read-back itself, to judge it
"""

from __future__ import annotations

import json
from typing import Any

from . import formats
from .errors import HistoryError
from .formats.document import Document
from .model import Block, History, Message
from .redact import redact

# Formats with no place for a result's is_error (an OpenAI tool message is its text alone): the
# flag is not compared for them, as no writer could keep it and no model is sent it.
NO_IS_ERROR = frozenset({formats.openai.NAME})


def written_format(history: History) -> str:
    """The format a history is written in by formats.write (a log of finished requests is written
    as the OpenAI request it makes)."""
    return formats.openai.NAME if history.format in formats.REQUEST_ONLY else history.format


def read_back(doc: Document, format: str) -> History:
    """The written document, redacted as an ingest redacts it, read with our reader. Raises
    HistoryError when it cannot be read, or holds other than one conversation."""
    files = {name: redact(data, name)[0] for name, data in doc.files.items()}
    histories = formats.read(Document(name=doc.name, files=files, is_dir=doc.is_dir), format)
    if len(histories) != 1:
        raise HistoryError(f"the written document holds {len(histories)} conversations, not one")
    return histories[0]


def redacted_history(history: History) -> History:
    """The history as a stored copy of it would hold it: its secrets replaced by the marker."""
    # surrogatepass: a lone surrogate a log held ("\\ud800") goes through as it came.
    data = json.dumps(history.to_dict(), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return History.from_dict(json.loads(redact(data, "history.json")[0].decode("utf-8", "surrogatepass")))


def readback_difference(history: History, doc: Document, format: str | None = None) -> str | None:
    """None when `doc` reads back as `history` (in `format`, default the one formats.write wrote
    it in); else the first difference, "message N: <what differs>" (or "system prompt: ...",
    "tools: ...", "the output cannot be read: ...")."""
    return readback(history, doc, format)[1]


def readback(history: History, doc: Document, format: str | None = None) -> tuple[History | None, str | None]:
    """(the document read back, redacted; the first difference from `history`, or None). The read
    back is None when the document cannot be read (the difference says why)."""
    format = format or written_format(history)
    try:
        back = read_back(doc, format)
    except HistoryError as exc:
        return None, f"the output cannot be read: {exc}"
    return back, history_difference(redacted_history(history), back, is_error=format not in NO_IS_ERROR)


def refusal(difference: str) -> str:
    """The words every writer refuses with."""
    return f"the output would read back differently: {difference}"


def history_difference(expected: History, found: History, *, is_error: bool = True) -> str | None:
    """The first difference between two histories as the model is sent them, or None."""
    want, got = _system(expected), _system(found)
    if want != got:
        return f"system prompt: {_first_change(want, got)}"
    want_tools, got_tools = [_tool(t) for t in expected.tools], [_tool(t) for t in found.tools]
    if want_tools != got_tools:
        return f"tools: {_first_change(want_tools, got_tools)}"
    for index, (a, b) in enumerate(zip(expected.messages, found.messages, strict=False)):
        problem = message_difference(a, b, is_error=is_error)
        if problem is not None:
            return f"message {index}: {problem}"
    if len(expected.messages) != len(found.messages):
        wanted, held = len(expected.messages), len(found.messages)
        what = "missing" if held < wanted else "added"
        return f"message {min(wanted, held)}: {what} (the output holds {held} messages, not {wanted})"
    return None


def message_difference(a: Message, b: Message, *, is_error: bool = True) -> str | None:
    if a.role != b.role:
        return f"the role is {b.role}, not {a.role}"
    want, got = a.sent_blocks(), b.sent_blocks()
    for position, (x, y) in enumerate(zip(want, got, strict=False)):
        wanted, found = _block(x, is_error), _block(y, is_error)
        if wanted != found:
            name = next(k for k in wanted.keys() | found.keys() if wanted.get(k) != found.get(k))
            return (
                f"block {position} ({x.type}): its {name} is {_short(found.get(name))}, not {_short(wanted.get(name))}"
            )
    if len(want) != len(got):
        kinds = ", ".join(b.type for b in (want[len(got) :] or got[len(want) :]))
        lost = "lost" if len(got) < len(want) else "gained"
        return f"{lost} {abs(len(want) - len(got))} block(s) ({kinds}): {len(got)} blocks, not {len(want)}"
    return None


def _block(block: Block, is_error: bool = True) -> dict[str, Any]:
    """What the model is sent of a block."""
    found: dict[str, Any] = {"type": block.type}
    if block.type in ("text", "thinking"):
        found["text"] = block.text or ""
    elif block.type == "tool_use":
        found.update(id=block.id, name=block.name, input=block.input if block.input is not None else block.arguments)
    elif block.type == "tool_result":
        found.update(tool_use_id=block.tool_use_id, content=_result(block.content))
        if is_error:
            found["is_error"] = bool(block.is_error)
    elif block.type in ("image", "document"):
        found["media"] = block.media
    elif block.type == "redacted_thinking":
        found["data"] = block.data
    if block.type == "thinking":
        found["signature"] = block.signature
    return found


def _result(content: str | list[Block] | None) -> list[dict[str, Any]]:
    """A result's content as blocks: a bare string is one text block, and nothing is no block."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [_block(b) for b in content if not (b.type == "text" and not b.text)]


def _system(history: History) -> list[str]:
    text = "\n".join(part.text for part in history.system if part.text)
    return [text] if text else []


def _tool(tool: Any) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description or "", "parameters": tool.parameters or {}}


def _first_change(want: list[Any], got: list[Any]) -> str:
    for k, (a, b) in enumerate(zip(want, got, strict=False)):
        if a != b:
            return f"item {k} is {_short(b)}, not {_short(a)}"
    return f"{len(got)} items, not {len(want)}"


def _short(value: Any, most: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = repr(text) if isinstance(value, str) else text
    return text if len(text) <= most else text[: most - 1] + "…"
