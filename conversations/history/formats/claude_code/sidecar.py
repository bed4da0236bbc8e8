"""A subagent's sidecar: Claude Code 2.1 writes `agent-<id>.meta.json` beside each subagent's log
(`{"agentType": "general-purpose", "description": "...", "worktreePath": "..."}`). It is the
subagent's metadata, not a log: its description is the subagent's title, its agentType is shown on
its page."""

from __future__ import annotations

import json
import re

from ...model import History

SUFFIX = ".meta.json"
_LOG = re.compile(r"^(agent-[0-9A-Za-z_-]+)\.jsonl$")
# Keys of the sidecar kept in meta["subagent"], under our names.
_KEPT = {"description": "description", "agentType": "agent_type", "worktreePath": "worktree_path"}


def sidecar_name(log_name: str) -> str | None:
    """The sidecar's file name for a subagent log's (`agent-<id>.jsonl`), else None."""
    found = _LOG.match(log_name)
    return found[1] + SUFFIX if found else None


def apply_sidecar(history: History, data: bytes, name: str = SUFFIX) -> None:
    """Put the sidecar's facts into a subagent's history: meta["subagent"] gains `description`,
    `agent_type` and `worktree_path` (those it has), and the description becomes the title. A
    sidecar that is not a JSON object is named in meta["subagent"]["sidecar_error"] and otherwise
    ignored: the log itself is still read. A history that is no subagent's is left alone."""
    subagent = history.meta.get("subagent")
    if not isinstance(subagent, dict):
        return
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:
        subagent["sidecar_error"] = f"{name}: invalid JSON ({exc})"
        return
    if not isinstance(obj, dict):
        subagent["sidecar_error"] = f"{name}: expected a JSON object, found {type(obj).__name__}"
        return
    for key, ours in _KEPT.items():
        value = obj.get(key)
        if isinstance(value, str) and value.strip():
            subagent[ours] = " ".join(value.split()) if ours == "description" else value
    if subagent.get("description"):
        history.title = subagent["description"]
