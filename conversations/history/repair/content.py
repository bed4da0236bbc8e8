"""Empty content, trailing whitespace and oversized images."""

from __future__ import annotations

from typing import cast

from ..findings import Finding
from ..model import Block, Message
from .registry import strategy
from .work import Work

# Anthropic's documented image limits (docs/provider-rules.md s.1 "Size limits"): 5 MB decoded per
# image through the API, at most 100 images per request.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGES = 100


def _blank(block: Block) -> bool:
    return block.type == "text" and not (block.text or "").strip()


def _is_final_assistant(messages: list[Message], message: Message) -> bool:
    return bool(messages) and messages[-1] is message and message.role == "assistant"


@strategy("remove-empty-blocks")
def remove_empty_blocks(work: Work, findings: list[Finding]) -> None:
    """Drop empty or whitespace-only text blocks (in messages, tool results and the system
    prompt). A cache marker such a block carried moves onto the block before it; a message left
    with nothing is removed (except a final assistant message, which may be empty)."""
    history = work.history
    for part in history.system:
        kept = _without_blank(part.blocks)
        if len(kept) != len(part.blocks) and kept:
            work.note(
                "remove-empty-block",
                None,
                f"removed {len(part.blocks) - len(kept)} empty text block(s) from the system prompt",
            )
            part.blocks = kept
    out = []
    messages = history.messages
    named = {id(m) for m in work.messages_of(findings)}
    for message in messages:
        kept = _without_blank(message.blocks)
        nested = _clean_results(kept)
        if len(kept) == len(message.blocks) and not nested:
            out.append(message)
            continue
        removed = len(message.blocks) - len(kept) + nested
        if kept and not any(b.sent for b in kept):
            # Only what the agent never sends is left (an OpenHands finish call): the message is
            # sent as its empty text, so it goes whole, or stays as it is when nothing asks.
            if _is_final_assistant(messages, message) and id(message) not in named:
                out.append(message)
                continue
            work.note("remove-message", message, f"removed {work.name(message)}: {_only_empty_text(kept)}")
            continue
        if not kept and not _is_final_assistant(messages, message):
            work.note("remove-message", message, f"removed {work.name(message)}: it held only empty text")
            continue
        message.blocks = kept
        work.note("remove-empty-block", message, f"removed {removed} empty text block(s) from {work.name(message)}")
        out.append(message)
    history.messages = out


def _only_empty_text(unsent: list[Block]) -> str:
    calls = ", ".join(f"{b.name} call {b.id}" for b in unsent if b.type == "tool_use")
    return "it held only empty text" + (f" (and its {calls}, which is never sent to the model)" if calls else "")


def _without_blank(blocks: list[Block]) -> list[Block]:
    kept: list[Block] = []
    for block in blocks:
        if not _blank(block):
            kept.append(block)
            continue
        # The breakpoint stays where it was in the prefix: on the block before.
        if block.cache_control is not None and kept and kept[-1].cache_control is None:
            kept[-1].cache_control = block.cache_control
    return kept


def _clean_results(blocks: list[Block]) -> int:
    """Empty text blocks inside tool results (the provider checks those too); how many went."""
    removed = 0
    for block in blocks:
        if block.type == "tool_result" and isinstance(block.content, list):
            kept = _without_blank(block.content)
            removed += len(block.content) - len(kept)
            block.content = kept
    return removed


@strategy("remove-empty-messages")
def remove_empty_messages(work: Work, findings: list[Finding]) -> None:
    """Drop messages with no content (a stored empty reply, an empty turn), except a final
    assistant message, which the provider allows to be empty."""
    messages = work.history.messages
    out = []
    for message in messages:
        if all(_blank(b) or not b.sent for b in message.blocks) and not _is_final_assistant(messages, message):
            work.note("remove-message", message, f"removed {work.name(message)}: it had no content")
            continue
        out.append(message)
    work.history.messages = out


@strategy("strip-trailing-whitespace")
def strip_trailing_whitespace(work: Work, findings: list[Finding]) -> None:
    """Strip the trailing whitespace of a final assistant message's text."""
    messages = work.history.messages
    if not messages or messages[-1].role != "assistant":
        return
    last = messages[-1]
    texts = [b for b in last.blocks if b.type == "text"]
    if not texts or not texts[-1].text or texts[-1].text == texts[-1].text.rstrip():
        return
    block = texts[-1]
    block.text = cast(str, block.text).rstrip()  # a non-empty text: checked above
    if not block.text:
        last.blocks = [b for b in last.blocks if b is not block]
    work.note("strip-trailing-whitespace", last, f"stripped the trailing whitespace from the text of {work.name(last)}")


@strategy("shrink-images")
def shrink_images(work: Work, findings: list[Finding]) -> None:
    """Replace images over the provider's limits with a short text saying what was there: the
    images named by the findings, base64 images over 5 MB, and the oldest images beyond 100. (No
    image library is bundled to downscale them; the image stays in the earlier revision.)"""
    named = {
        (id(m), f.content_index)
        for f in findings
        for m in [work.at(f.message_index)]
        if m is not None and f.content_index is not None
    }
    images = [(m, j) for m in work.history.messages for j, b in enumerate(m.blocks) if b.type == "image"]
    surplus = max(0, len(images) - MAX_IMAGES) if any("many" in f.rule for f in findings) else 0
    for n, (message, j) in enumerate(images):
        block = message.blocks[j]
        size = _decoded_size(block)
        why = None
        if size is not None and size > MAX_IMAGE_BYTES:
            why = f"{size:,} bytes, over the 5 MB limit"
        elif (id(message), j) in named:
            why = "over the provider's limits"
        elif n < surplus:
            why = f"more than {MAX_IMAGES} images in the request"
        if why is None:
            continue
        kind = (block.media or {}).get("media_type") or "image"
        message.blocks[j] = Block.text_block(f"[{kind} removed: {why}]")
        work.note("remove-image", message, f"replaced image {j} of {work.name(message)} by a note ({why})")


def _decoded_size(block: Block) -> int | None:
    media = block.media or {}
    data = media.get("data")
    if media.get("type") != "base64" or not isinstance(data, str):
        return None
    return len(data) * 3 // 4 - data[-2:].count("=")
