"""The judge for Claude Code transcripts: claude-code-log 1.7.0's own typed reader, run in its venv
(.oracles/claude-code-log, Python 3.12; built by `make oracles`).

    .oracles/claude-code-log/bin/python tests/oracles/claude_code_log.py SESSION.jsonl [SESSION.jsonl...]

Each line goes through the dispatch `claude_code_log.converter.load_transcript` uses: the record
types it models are validated by `claude_code_log.factories.create_transcript_entry` (its pydantic
models), the types it drops on purpose (SILENT_SKIP_TYPES) are counted as skipped, other records
with uuid and sessionId become its pass-through entries. Then `load_transcript` itself runs on the
file (its output, which it prints, captured), for the count of entries it keeps.

Prints one JSON object for one file (a list of them for several, each judged in turn):
{"records": typed entries read, "by_type": {type: n}, "skipped": [{"line", "type"}], "errors":
[{"line", "type", "error"}], "tool_use_ids": [...], "tool_result_ids": [...], "unanswered":
[tool_use ids no tool_result answers], "loader": {"entries": n, "output": "..."}}.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections import Counter
from pathlib import Path

# This file is called claude_code_log.py too: its folder must not shadow the package it judges with.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from claude_code_log.converter import SILENT_SKIP_TYPES, load_transcript  # noqa: E402
from claude_code_log.factories import create_transcript_entry  # noqa: E402
from claude_code_log.models import (  # noqa: E402
    AssistantTranscriptEntry,
    ToolResultContent,
    ToolUseContent,
    UserTranscriptEntry,
)

# The types load_transcript validates with its models (converter.py, claude-code-log 1.7.0).
MODELLED = ("user", "assistant", "summary", "ai-title", "system", "queue-operation", "attachment")


def judge(path: Path) -> dict:
    by_type: Counter[str] = Counter()
    skipped: list[dict] = []
    errors: list[dict] = []
    uses: list[str] = []
    results: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            errors.append({"line": number, "type": None, "error": f"JSON: {exc}"})
            continue
        rtype = data.get("type") if isinstance(data, dict) else None
        if not isinstance(data, dict):
            errors.append({"line": number, "type": None, "error": "not a JSON object"})
            continue
        if rtype not in MODELLED and (rtype in SILENT_SKIP_TYPES or not (data.get("uuid") and data.get("sessionId"))):
            skipped.append({"line": number, "type": rtype})
            continue
        try:
            entry = create_transcript_entry(data)
        except Exception as exc:  # pydantic's ValidationError is a ValueError; anything else is too
            errors.append({"line": number, "type": rtype, "error": str(exc)[:2000]})
            continue
        by_type[str(rtype)] += 1
        content = getattr(getattr(entry, "message", None), "content", None)
        if isinstance(entry, AssistantTranscriptEntry) and isinstance(content, list):
            uses.extend(item.id for item in content if isinstance(item, ToolUseContent))
        if isinstance(entry, UserTranscriptEntry) and isinstance(content, list):
            results.extend(item.tool_use_id for item in content if isinstance(item, ToolResultContent))
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        kept = load_transcript(path, silent=True)
    return {
        "records": sum(by_type.values()),
        "by_type": dict(by_type),
        "skipped": skipped,
        "errors": errors,
        "tool_use_ids": uses,
        "tool_result_ids": results,
        "unanswered": [i for i in uses if i not in set(results)],
        "loader": {"entries": len(kept), "output": output.getvalue()[-4000:]},
    }


if __name__ == "__main__":
    reports = [judge(Path(arg)) for arg in sys.argv[1:]]
    print(json.dumps(reports[0] if len(reports) == 1 else reports))
