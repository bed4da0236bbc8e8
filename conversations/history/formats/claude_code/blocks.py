"""Content blocks: a record's `message.content` as canonical Blocks, and back.

Claude Code stores Anthropic content blocks as the API returned them; a shape the canonical model
cannot hold (an unknown block type, a field of the wrong type) is kept whole as an `other` block,
so it is written back as it was.
"""

from __future__ import annotations

from typing import Any

from ...errors import FormatError
from ...model import Block, CacheControl, SourceRef
from .transcript import Record, kind


def record_blocks(record: Record, file: str) -> list[Block]:
    """The content blocks of one user/assistant record, each pointing back at its line."""
    content = record.obj["message"].get("content")
    if content is None:
        return []
    if isinstance(content, str):
        return [Block.text_block(content, source=SourceRef(file=file, line=record.line, path="$.message.content"))]
    if not isinstance(content, list):
        raise FormatError(
            f"message.content must be a string or a list, got {kind(content)}",
            file=file,
            line=record.line,
            path="$.message.content",
        )
    return [
        parse_block(item, SourceRef(file=file, line=record.line, path=f"$.message.content[{j}]"))
        for j, item in enumerate(content)
    ]


# Wire keys each block type names in the canonical model; the rest goes to Block.extra.
_NAMED = {
    "text": ("type", "text", "cache_control"),
    "tool_use": ("type", "id", "name", "input", "cache_control"),
    "tool_result": ("type", "tool_use_id", "content", "is_error", "cache_control"),
    "thinking": ("type", "thinking", "signature", "cache_control"),
    "redacted_thinking": ("type", "data", "cache_control"),
    "image": ("type", "source", "cache_control"),
    "document": ("type", "source", "cache_control"),
}


def parse_block(item: Any, source: SourceRef) -> Block:
    btype = item.get("type") if isinstance(item, dict) else None
    if btype not in _NAMED or not _well_typed(item):
        return Block(type="other", source=source, extra={"raw": item})
    extra = {k: v for k, v in item.items() if k not in _NAMED[btype]}
    block = Block(
        type=btype, source=source, extra=extra, cache_control=CacheControl.from_wire(item.get("cache_control"))
    )
    if btype == "text":
        block.text = item["text"]
    elif btype == "tool_use":
        block.id, block.name, block.input = item.get("id"), item.get("name"), item.get("input")
    elif btype == "tool_result":
        block.tool_use_id = item.get("tool_use_id")
        block.is_error = item.get("is_error")
        content = item.get("content")
        if isinstance(content, list):
            content = [
                parse_block(c, SourceRef(file=source.file, line=source.line, path=f"{source.path}.content[{i}]"))
                for i, c in enumerate(content)
            ]
        block.content = content
    elif btype == "thinking":
        block.text, block.signature = item.get("thinking"), item.get("signature")
    elif btype == "redacted_thinking":
        block.data = item.get("data")
    else:
        block.media = item.get("source")
    return block


def _well_typed(item: dict[str, Any]) -> bool:
    """Shapes the canonical fields can hold; anything else is kept raw as an `other` block."""
    checks = {
        "text": lambda: isinstance(item.get("text"), str),
        "tool_use": lambda: isinstance(item.get("id"), str) and isinstance(item.get("name"), str),
        "tool_result": lambda: (
            isinstance(item.get("tool_use_id"), str)
            and isinstance(item.get("content"), (str, list, type(None)))
            and isinstance(item.get("is_error"), (bool, type(None)))
        ),
        "thinking": lambda: (
            isinstance(item.get("thinking"), (str, type(None))) and isinstance(item.get("signature"), (str, type(None)))
        ),
        "redacted_thinking": lambda: isinstance(item.get("data"), (str, type(None))),
        "image": lambda: isinstance(item.get("source"), (dict, type(None))),
        "document": lambda: isinstance(item.get("source"), (dict, type(None))),
    }
    return checks[item["type"]]()


def block_wire(block: Block) -> Any:
    """A canonical block as Anthropic content JSON (what Claude Code stores)."""
    if block.type == "other":
        return block.extra.get("raw")
    wire: dict[str, Any] = {"type": block.type}
    if block.type == "text":
        wire["text"] = block.text or ""
    elif block.type == "tool_use":
        wire.update(id=block.id, name=block.name, input=block.input if block.input is not None else {})
    elif block.type == "tool_result":
        wire["tool_use_id"] = block.tool_use_id
        if block.content is not None:
            wire["content"] = (
                block.content if isinstance(block.content, str) else [block_wire(b) for b in block.content]
            )
        if block.is_error is not None:
            wire["is_error"] = block.is_error
    elif block.type == "thinking":
        wire.update(thinking=block.text or "", signature=block.signature or "")
    elif block.type == "redacted_thinking":
        wire["data"] = block.data or ""
    elif block.type in ("image", "document"):
        wire["source"] = block.media
    else:
        raise FormatError(f"a {block.type!r} block cannot be written to a Claude Code transcript")
    if block.cache_control is not None:
        wire["cache_control"] = block.cache_control.to_wire()
    wire.update(block.extra)
    return wire
