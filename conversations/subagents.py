"""A Claude Code subagent and its parent session, linked.

A subagent's log (`agent-<id>.jsonl`, beside its session in 2.0, under `<session>/subagents/` in
2.1) is a conversation of its own whose external_id is `<sessionId>/agent-<agentId>`; its parent is
the session whose external_id is that sessionId. Whichever of the two is ingested second makes the
link: the subagent's `parent`, and, where the parent's Task/Agent result names the agentId, the
`parent_tool_use_id` of the call that started it.

`links` is what the reader says (history.meta): `subagent` ({"agent_id", "session_id", and from the
sidecar "description", "agent_type"}) for a subagent's log, `subagent_calls` ([{"tool_use_id",
"agent_id", "tool", "message_index", "description"}]) for a session that started subagents.
"""

from __future__ import annotations

from typing import Any

from conversations.models import Conversation

FORMAT = "claude-code"
TITLE_MAX = 500


def subagent_id(session_id: str, agent_id: str) -> str:
    """The external_id the Claude Code reader gives a subagent's conversation."""
    return f"{session_id}/agent-{agent_id}"


def link_subagents(conversation: Conversation, links: dict[str, Any]) -> None:
    """Link a conversation just stored to its parent (it is a subagent) or to its subagents
    already stored (it is a session that started some)."""
    subagent = links.get("subagent")
    if isinstance(subagent, dict):
        _link_to_parent(conversation, subagent)
    elif conversation.external_id:
        _link_children(conversation, links.get("subagent_calls") or [])


def _live(**filters: Any):
    return Conversation.objects.live().filter(format=FORMAT, **filters)


def _link_to_parent(conversation: Conversation, subagent: dict[str, Any]) -> None:
    session = subagent.get("session_id")
    if not isinstance(session, str) or not session:
        return
    # Two files may hold the same session (a copy): the one stored last is the parent.
    parent = _live(external_id=session).exclude(pk=conversation.pk).order_by("-updated_at", "-pk").first()
    if parent is None:
        return
    meta = (parent.latest_revision.head().get("meta") or {}) if parent.latest_revision else {}
    calls = meta.get("subagent_calls")
    call = _call_for(calls or [], subagent.get("agent_id"))
    _set(conversation, parent, call, sidecar_title=bool(subagent.get("description")))


def _link_children(conversation: Conversation, calls: list[dict[str, Any]]) -> None:
    session = conversation.external_id
    for child in _live(agent_of=session).exclude(pk=conversation.pk):
        agent = child.external_id.removeprefix(f"{session}/agent-")
        meta = (child.latest_revision.head().get("meta") or {}) if child.latest_revision else {}
        described = isinstance(meta.get("subagent"), dict) and bool(meta["subagent"].get("description"))
        _set(child, conversation, _call_for(calls, agent), sidecar_title=described)


def _call_for(calls: list[dict[str, Any]], agent_id: Any) -> dict[str, Any] | None:
    return next((c for c in calls if isinstance(c, dict) and c.get("agent_id") == agent_id), None)


def _set(child: Conversation, parent: Conversation, call: dict[str, Any] | None, *, sidecar_title: bool) -> None:
    """The child's parent and starting call; with no sidecar description, its title is the call's
    `description` input (else it keeps its first prompt, as the reader titled it)."""
    fields: dict[str, Any] = {
        "parent_id": parent.pk,
        "parent_tool_use_id": str(call.get("tool_use_id") or "") if call else "",
    }
    described = call.get("description") if call else None
    if not sidecar_title and isinstance(described, str) and described.strip():
        fields["title"] = " ".join(described.split())[:TITLE_MAX]
    changed = [name for name, value in fields.items() if getattr(child, name) != value]
    if not changed:
        return
    for name in changed:
        setattr(child, name, fields[name])
    child.save(update_fields=[*changed, "updated_at"])
