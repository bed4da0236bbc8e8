"""What a session says about itself beside its messages: title, tokens, subagents, compactions,
API errors, CLI version. Each a small function of the Reading (or the Transcript).

Record shapes verified against claude-code-log 1.7.0 (`claude_code_log/models.py`,
`converter.py`): `custom-title` records carry `customTitle`, `ai-title` records `aiTitle` (the last
one wins), `summary` records `summary` + `leafUuid`; a `system` record of subtype
`compact_boundary` carries `compactMetadata` (`trigger`, `preTokens`); a Task/Agent result record
names its subagent in `toolUseResult.agentId`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from ...model import Usage
from .transcript import Record, Transcript
from .turns import Reading

TITLE_LENGTH = 120
SUBAGENT_TOOLS = ("Task", "Agent")
# Elements Claude Code puts into user records around what a person typed (slash commands, their
# output, the IDE's selection, reminders): not the prompt. command-message and command-args go
# with command-name in a slash command's record.
_NOT_TYPED = re.compile(
    r"<(command-name|command-message|command-args|local-command-stdout|local-command-stderr|"
    r"ide_selection|ide_opened_file|system-reminder)>.*?</\1>",
    re.S,
)
_AGENT_FILE = re.compile(r"agent-([0-9A-Za-z]+)\.jsonl$")


# --- title -------------------------------------------------------------------------------------


def title(reading: Reading) -> str | None:
    """First found: the last custom title, the summary of a record on the path, the last AI title,
    the first prompt a person typed in the file (cut to TITLE_LENGTH); else None."""
    records = reading.transcript.unique
    custom = _last_text(records, "custom-title", "customTitle")
    if custom:
        return custom
    on_path = {r.uuid for r in reading.path}
    for record in reversed(records):
        if record.type == "summary" and record.obj.get("leafUuid") in on_path:
            summary = _clean(record.obj.get("summary"))
            if summary:
                return summary
    ai = _last_text(records, "ai-title", "aiTitle")
    if ai:
        return ai
    # In file order, not the path's: after a compaction the path starts at its summary.
    for record in records:
        if record.sidechain and not reading.subagent:
            continue
        prompt = typed_prompt(record)
        if prompt:
            return prompt[:TITLE_LENGTH].rstrip()
    return None


def _last_text(records: list[Record], rtype: str, key: str) -> str | None:
    for record in reversed(records):
        if record.type == rtype:
            text = _clean(record.obj.get(key))
            if text:
                return text
    return None


def _clean(value: Any) -> str | None:
    return " ".join(value.split()) if isinstance(value, str) else None


def typed_prompt(record: Record) -> str | None:
    """What a person typed in this user record, or None for a record of results, a hidden
    injection, an interrupt notice, a compaction summary, or only command and IDE elements."""
    if record.type != "user" or record.obj.get("isMeta") or record.obj.get("isCompactSummary"):
        return None
    content = record.content
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        if any(isinstance(item, dict) and item.get("type") == "tool_result" for item in content):
            return None
        text = "\n".join(
            item["text"]
            for item in content
            if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str)
        )
    else:
        return None
    if "[Request interrupted" in text:
        return None
    text = _NOT_TYPED.sub("", text)
    kept = [line for line in text.split("\n") if not line.lstrip().startswith("Caveat:")]
    return _clean("\n".join(kept)) or None


# --- tokens ------------------------------------------------------------------------------------


def usage_of(raw: Any) -> Usage | None:
    return Usage.from_wire(raw)


def final_record(records: list[Record]) -> Record:
    """The record of a response that carries its final usage: Claude Code repeats the usage on
    each block's record, the last one (stop_reason set) with the whole output count."""
    best = records[-1]
    best_out = -1
    for record in records:
        raw = record.obj["message"].get("usage")
        out = raw.get("output_tokens") if isinstance(raw, dict) else None
        if isinstance(out, int) and not isinstance(out, bool) and out >= best_out:
            best, best_out = record, out
    return best


def usage(reading: Reading) -> Usage | None:
    """The sum over the requests the file records: each response (message.id) counted once, on
    every branch (a rewound request was still paid for); a main session's sidechain records are
    its inline subagents' requests, counted there."""
    responses: dict[str, list[Record]] = defaultdict(list)
    for record in reading.transcript.unique:
        if record.type != "assistant" or (record.sidechain and not reading.subagent):
            continue
        responses[record.message_id or f"line {record.line}"].append(record)
    total = Usage()
    counted = False
    for records in responses.values():
        found = usage_of(final_record(records).obj["message"].get("usage"))
        if found is None:
            continue
        counted = True
        for name in Usage.__slots__:
            value = getattr(found, name)
            if value is not None:
                setattr(total, name, (getattr(total, name) or 0) + value)
    return total if counted else None


# --- subagents ---------------------------------------------------------------------------------


def subagent(reading: Reading) -> dict[str, str | None] | None:
    """For a subagent's own file: its agentId and its parent's sessionId (from the records; the
    file name `agent-<id>.jsonl` when no record names it)."""
    if not reading.subagent:
        return None
    t = reading.transcript
    agent = next((r.obj["agentId"] for r in t.unique if isinstance(r.obj.get("agentId"), str)), None)
    if agent is None:
        named = _AGENT_FILE.search(t.file)
        agent = named[1] if named else None
    session = reading.path[-1].obj.get("sessionId")
    return {"agent_id": agent, "session_id": session if isinstance(session, str) else None}


def subagent_calls(reading: Reading, index_of: dict[int, int]) -> list[dict[str, Any]]:
    """Each Task/Agent call whose result names the subagent it started."""
    calls: list[dict[str, Any]] = []
    for turn in reading.turns:
        answers = {tool_id: record for record in turn.results for tool_id in record.result_ids()}
        for record in turn.assistant:
            for item in record.content if isinstance(record.content, list) else ():
                if (
                    not isinstance(item, dict)
                    or item.get("type") != "tool_use"
                    or item.get("name") not in SUBAGENT_TOOLS
                ):
                    continue
                answer = answers.get(str(item.get("id")))
                result = answer.obj.get("toolUseResult") if answer is not None else None
                agent = result.get("agentId") if isinstance(result, dict) else None
                if not isinstance(agent, str):
                    continue
                given = item.get("input")
                description = given.get("description") if isinstance(given, dict) else None
                calls.append(
                    {
                        "tool_use_id": item["id"],
                        "agent_id": agent,
                        "tool": item["name"],
                        "message_index": index_of.get(record.line),
                        "description": description if isinstance(description, str) else None,
                    }
                )
    return calls


def sidechains(t: Transcript) -> list[dict[str, Any]]:
    """Inline subagent conversations of a main session (1.0.x), one entry per sidechain root."""
    root_of: dict[str, str] = {}

    def root(record: Record) -> str:
        walked: list[str] = []
        seen: set[str] = set()
        current = record
        while True:
            uid = current.uuid or ""
            if uid in root_of:
                found = root_of[uid]
                break
            walked.append(uid)
            seen.add(uid)
            parent = t.by_uuid.get(current.parent) if current.parent else None
            if parent is None or not parent.sidechain or parent.uuid in seen:
                found = uid
                break
            current = parent
        for uid in walked:
            root_of[uid] = found
        return found

    groups: dict[str, dict[str, Any]] = {}
    for record in t.unique:
        if record.sidechain and record.uuid:
            top = root(record)
            group = groups.setdefault(top, {"root": top, "records": 0, "first_line": record.line})
            group["records"] += 1
    return sorted(groups.values(), key=lambda g: g["first_line"])


# --- events --------------------------------------------------------------------------------------


def version(t: Transcript) -> str | None:
    """The CLI version of the newest record that names one."""
    for record in reversed(t.records):
        value = record.obj.get("version")
        if isinstance(value, str) and value:
            return value
    return None


def compactions(t: Transcript, positions: dict[int, int]) -> list[dict[str, Any]]:
    """Each compact boundary and compaction summary, with the message it sits at (None off the
    history's path)."""
    found: list[dict[str, Any]] = []
    for record in t.unique:
        boundary = record.type == "system" and record.obj.get("subtype") == "compact_boundary"
        summary = record.type == "user" and record.obj.get("isCompactSummary") is True
        if not boundary and not summary:
            continue
        item: dict[str, Any] = {
            "line": record.line,
            "kind": "boundary" if boundary else "summary",
            "timestamp": _string(record.obj.get("timestamp")),
            "message_index": positions.get(record.line),
        }
        metadata = record.obj.get("compactMetadata")
        if boundary and isinstance(metadata, dict):
            item["trigger"] = _string(metadata.get("trigger"))
            pre = metadata.get("preTokens")
            item["pre_tokens"] = pre if isinstance(pre, int) and not isinstance(pre, bool) else None
        found.append(item)
    return found


def api_errors(t: Transcript, positions: dict[int, int]) -> list[dict[str, Any]]:
    """Each synthetic API-error turn (`isApiErrorMessage`) and each `api_error` notice (a retry)."""
    found: list[dict[str, Any]] = []
    for record in t.unique:
        if record.type == "assistant" and record.obj.get("isApiErrorMessage"):
            text = _content_text(record.content)
        elif record.type == "system" and record.obj.get("subtype") == "api_error":
            text = _error_text(record.obj)
        else:
            continue
        found.append(
            {
                "line": record.line,
                "timestamp": _string(record.obj.get("timestamp")),
                "text": text,
                "message_index": positions.get(record.line),
            }
        )
    return found


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            item["text"]
            for item in content
            if isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str)
        )
    return ""


def _error_text(obj: dict[str, Any]) -> str:
    """An api_error notice in words: its content, else the nested error's status and message
    (`error: {status, message}` or `error: {status, error: {error: {message}}}`), and the retry."""
    if isinstance(obj.get("content"), str) and obj["content"]:
        return str(obj["content"])
    parts: list[str] = []
    error = obj.get("error")
    for _ in range(4):
        if not isinstance(error, dict):
            break
        if isinstance(error.get("status"), int) and not parts:
            parts.append(str(error["status"]))
        if isinstance(error.get("message"), str):
            parts.append(error["message"])
            break
        error = error.get("error")
    attempt, most = obj.get("retryAttempt"), obj.get("maxRetries")
    if isinstance(attempt, int):
        parts.append(f"(retry {attempt}" + (f" of {most})" if isinstance(most, int) else ")"))
    return " ".join(parts) or "API error"


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- for the resume rule -----------------------------------------------------------------------


def off_chain_results(reading: Reading) -> list[dict[str, Any]]:
    """Per response, what a resume that walks one chain loses (rules/resume.py): the results the
    reader took in from off the path (`tool_use_ids`, `tools`, `lines`), and the calls off the path
    whose results are on it (`calls`: the resume would send those results answering no call)."""
    found: list[dict[str, Any]] = []
    on_path = {r.line for r in reading.path}
    for turn in reading.turns:
        answered_on_path = {i for r in turn.results if r.line in on_path for i in r.result_ids()}
        calls = [
            {"tool_use_id": tool_id, "tool": name, "line": record.line}
            for record in turn.assistant
            if record.line not in on_path
            for tool_id, name in record.tool_uses()
            if tool_id in answered_on_path
        ]
        if not turn.pulled and not calls:
            continue
        names = dict(turn.calls())
        ids = [i for record in turn.pulled for i in record.result_ids()]
        item: dict[str, Any] = {
            "tool_use_ids": ids,
            "tools": [names.get(i, "") for i in ids],
            "lines": [record.line for record in turn.pulled],
        }
        if calls:
            item["calls"] = calls
        found.append(item)
    return found
