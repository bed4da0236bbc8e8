"""OpenHands `output.jsonl`: the file an evaluation run or the resolver writes, one conversation a
line (docs/formats-openhands-v1.md, last section; a real resolver file in
tests/fixtures/real/openhands-resolver-output/).

Each line is named (meta["conversation"], the title): its `instance_id` (evaluation runs), else
`<owner>/<repo>#<number> <title>` from its `issue` (resolver runs), else `line <n>`. Its `history`
holds V0 events (`event_to_dict`: ids, source, tool_call_metadata), read as a trajectory is, or the
older flat events of early resolver runs (no ids, no source, no tool calls): there an action is an
assistant turn saying what it ran, and the observation after it the user turn that answers it.

A bad line fails alone (read_each gives its FormatError, naming the line), the others are read.
Never written back: a record of a finished run is not a store; the repaired conversation is
downloaded as an OpenAI or Anthropic request (formats.write).
"""

from __future__ import annotations

from typing import Any

from ..errors import FormatError
from ..model import Block, History, Message, SourceRef
from . import openhands
from .document import Document, parse_json

NAME = "openhands-output"
WRITABLE = False
# What marks a line as a run's record, besides its `history` list.
RECORD_KEYS = ("instance_id", "issue", "instruction")
# Lines detection looks at for one that parses.
SNIFF_LINES = 5
# The tags old CodeAct prompts wrapped an action's code in: what the model wrote and saw.
CODE_TAGS = {"command": "execute_bash", "code": "execute_ipython"}


def sniff(doc: Document) -> bool:
    if doc.is_dir or len(doc.files) != 1:
        return False
    _, data = doc.single
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] != b"{":
        return False
    try:
        lines = [line for line in doc.text().lstrip("\ufeff").split("\n", SNIFF_LINES) if line.strip()]
    except FormatError:
        return False
    if len(lines) == 1:
        # A document of one line (a JSON request or log): its parse, cached, is the readers' too.
        try:
            return is_record(doc.json())
        except FormatError:
            return False
    for line in lines[:SNIFF_LINES]:
        try:
            value = parse_json(line, doc.name)
        except FormatError:
            continue  # a broken line fails alone, in read_each: the next one says what the file is
        return is_record(value)
    return False


def is_record(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("history"), list) and any(k in value for k in RECORD_KEYS)


def read(doc: Document) -> list[History]:
    """Every conversation, or the first bad line's error (formats.read's all-or-nothing)."""
    out = []
    for item in read_each(doc):
        if isinstance(item, FormatError):
            raise item
        out.append(item)
    return out


def read_each(doc: Document) -> list[History | FormatError]:
    """One history per line, or the FormatError of a line that cannot be read."""
    name, _ = doc.single
    rows = doc.jsonl_each(name)
    if not rows:
        raise FormatError("holds no records: an output.jsonl has one JSON object a line", file=name)
    out: list[History | FormatError] = []
    for line, value in rows:
        if isinstance(value, FormatError):
            out.append(value)
            continue
        try:
            out.append(read_record(value, file=name, line=line))
        except FormatError as exc:
            out.append(exc.located(file=name, line=line))
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            out.append(
                FormatError(f"unexpected structure for {NAME}: {exc.__class__.__name__}: {exc}", file=name, line=line)
            )
    return out


def read_record(record: Any, *, file: str, line: int) -> History:
    if not is_record(record):
        raise FormatError(
            "not an OpenHands run record: expected an object with a `history` list and an "
            "`instance_id`, `issue` or `instruction`",
            file=file,
            line=line,
        )
    items = record["history"]
    if any(isinstance(item, dict) and "id" in item for item in items):
        history = openhands.history_of_events(items, file=file, base="$.history", line=line)
        history.meta.pop("source", None)
    else:
        history = History(format=NAME, messages=_flat_messages(items, file, line))
    history.format = NAME
    history.record = line
    name = conversation_name(record, line)
    history.title = name
    history.external_id = _external_id(record)
    history.model = _model(record) or history.model
    history.meta.update(_run_meta(record, name))
    return history


def conversation_name(record: dict[str, Any], line: int) -> str:
    instance = record.get("instance_id")
    if isinstance(instance, (str, int)) and not isinstance(instance, bool) and str(instance):
        return str(instance)
    issue = record.get("issue")
    if isinstance(issue, dict) and all(issue.get(k) not in (None, "") for k in ("owner", "repo", "number")):
        title = issue.get("title")
        named = f"{issue['owner']}/{issue['repo']}#{issue['number']}"
        return f"{named} {title}" if isinstance(title, str) and title else named
    return f"line {line}"


def _external_id(record: dict[str, Any]) -> str | None:
    instance = record.get("instance_id")
    if isinstance(instance, (str, int)) and not isinstance(instance, bool) and str(instance):
        return str(instance)
    issue = record.get("issue")
    if isinstance(issue, dict) and all(issue.get(k) not in (None, "") for k in ("owner", "repo", "number")):
        return f"{issue['owner']}/{issue['repo']}#{issue['number']}"
    return None


def _model(record: dict[str, Any]) -> str | None:
    metadata = record.get("metadata")
    config = metadata.get("llm_config") if isinstance(metadata, dict) else None
    model = config.get("model") if isinstance(config, dict) else None
    if isinstance(model, str) and model:
        return model
    return openhands.model_from_events(record["history"])


def _run_meta(record: dict[str, Any], name: str) -> dict[str, Any]:
    """What the run says about itself, for the page: how it ended and what it cost."""
    meta: dict[str, Any] = {"conversation": name, "run": "resolver" if "issue" in record else "evaluation"}
    instance = record.get("instance_id")
    if isinstance(instance, (str, int)) and not isinstance(instance, bool) and str(instance):
        meta["instance_id"] = str(instance)
    for key in ("error", "success"):
        if key in record:
            meta[key] = record[key]
    metrics = record.get("metrics")
    if isinstance(metrics, dict) and isinstance(metrics.get("accumulated_cost"), (int, float)):
        meta["accumulated_cost"] = metrics["accumulated_cost"]
    issue = record.get("issue")
    if isinstance(issue, dict) and isinstance(issue.get("title"), str):
        meta["issue_title"] = issue["title"]
    if "result_explanation" in record:
        meta["result_explanation"] = record["result_explanation"]
    return meta


# The run's facts, by the names the API gives them (run_facts), as _run_meta keeps them in meta.
RUN_FACTS = ("instance_id", "issue_title", "success", "error", "accumulated_cost", "result_explanation")


def run_facts(meta: dict[str, Any]) -> dict[str, Any] | None:
    """What an output.jsonl line says about its run ({"kind": "resolver" | "evaluation", and each
    of RUN_FACTS, None where the line lacks it}); None for a history that is no such line. A line
    stored before `instance_id` was kept in meta has it as its name when it is an evaluation's."""
    kind = meta.get("run")
    if kind not in ("resolver", "evaluation"):
        return None
    facts: dict[str, Any] = {"kind": kind, **{key: meta.get(key) for key in RUN_FACTS}}
    if not isinstance(facts["success"], bool):
        facts["success"] = None  # the line's own value, when it is not a yes or no, stays in meta
    if (
        facts["instance_id"] is None
        and kind == "evaluation"
        and not str(meta.get("conversation", "")).startswith("line ")
    ):
        facts["instance_id"] = meta.get("conversation")
    return facts


# --- the older flat events -------------------------------------------------------------------------


def _flat_messages(items: list[Any], file: str, line: int) -> list[Message]:
    messages = []
    for i, item in enumerate(items):
        ref = SourceRef(file=file, line=line, path=f"$.history[{i}]")
        if not isinstance(item, dict):
            raise FormatError("an event must be a JSON object", file=file, line=line, path=ref.path)
        kind = item.get("action") if "action" in item else item.get("observation")
        if not isinstance(kind, str) or ("action" in item) == ("observation" in item):
            raise FormatError("an event has exactly one of action/observation", file=file, line=line, path=ref.path)
        if "observation" in item:
            role, text, extra = "user", _string(item.get("content"), ref), {"observation": kind}
        elif kind == "message":
            role, text, extra = _flat_role(item), _string(item.get("content"), ref), {"action": kind}
        else:
            role, text, extra = "assistant", _action_text(item, ref), {"action": kind}
        messages.append(
            Message(
                role=role, blocks=[Block.text_block(text, source=ref)], content_form="string", source=ref, extra=extra
            )
        )
    return messages


def _flat_role(item: dict[str, Any]) -> str:
    # No `source` in these events: the user's messages do not wait for a response, the agent's do.
    source = item.get("source")
    if source in ("user", "agent"):
        return "user" if source == "user" else "assistant"
    return "assistant" if item.get("wait_for_response") is True else "user"


def _action_text(item: dict[str, Any], ref: SourceRef) -> str:
    """The thought, then what it ran as old CodeAct wrote it (`<execute_bash>` ...)."""
    parts = [_string(item.get("thought"), ref)]
    for key, tag in CODE_TAGS.items():
        if isinstance(item.get(key), str):
            parts.append(f"<{tag}>\n{item[key]}\n</{tag}>")
    return "\n".join(p for p in parts if p)


def _string(value: Any, ref: SourceRef) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FormatError(f"expected a string, got {type(value).__name__}", file=ref.file, line=ref.line, path=ref.path)
    return value
