"""A Claude Code subagent's page names its parent and the call that started it; a session's page
links each Task/Agent call to the subagent it started (conversations.subagents makes the links)."""

from __future__ import annotations

from typing import Any

from conversations.models import Conversation


def family_dict(conversation: Conversation, meta: dict[str, Any]) -> dict[str, Any]:
    """{"parent": {"id", "url", "title", "tool_use_id", "tool", "message_index"} | None,
    "subagents": [{"id", "url", "title", "tool_use_id"}], "agent_type": str | None}."""
    subagent = meta.get("subagent") if isinstance(meta.get("subagent"), dict) else {}
    return {
        "parent": _parent(conversation),
        "subagents": [
            {"id": c.pk, "url": c.get_absolute_url(), "title": str(c), "tool_use_id": c.parent_tool_use_id or None}
            for c in conversation.subagents.live().order_by("pk")
        ],
        "agent_type": subagent.get("agent_type"),
    }


def _parent(conversation: Conversation) -> dict[str, Any] | None:
    if conversation.parent_id is None:
        return None
    parent = Conversation.objects.live().filter(pk=conversation.parent_id).select_related("latest_revision").first()
    if parent is None:
        return None
    found: dict[str, Any] = {
        "id": parent.pk,
        "url": parent.get_absolute_url(),
        "title": str(parent),
        "tool_use_id": conversation.parent_tool_use_id or None,
        "tool": None,
        "message_index": None,
        "call_url": parent.get_absolute_url(),
    }
    if conversation.parent_tool_use_id and parent.latest_revision is not None:
        calls = (parent.latest_revision.head().get("meta") or {}).get("subagent_calls") or []
        call = next((c for c in calls if c.get("tool_use_id") == conversation.parent_tool_use_id), None)
        if call is not None:
            found["tool"] = call.get("tool")
            found["message_index"] = call.get("message_index")
            if isinstance(found["message_index"], int):
                found["call_url"] = f"{parent.get_absolute_url()}?at={found['message_index']}"
    return found


def link_calls(messages: list[dict], subagents: list[dict]) -> None:
    """Each call that started a subagent links to the subagent's page."""
    by_call = {s["tool_use_id"]: s for s in subagents if s["tool_use_id"]}
    if not by_call:
        return
    for message in messages:
        for block in message["blocks"]:
            if block["type"] == "tool_use" and block.get("id") in by_call:
                started = by_call[block["id"]]
                block["subagent"] = {"id": started["id"], "url": started["url"], "title": started["title"]}
