"""repair_history: repair one conversation log for a target (or a litellm route) and write the
repaired log, in the log's own format. A stable contract for users' scripts (issue 6):

    python manage.py repair_history PATH [--format F] (--target T | --router-config FILE
        --model-group G) [--conversation NAME] [--out FILE] [--json] [--include-warnings] [--litellm]

A document of several conversations (an OpenHands output.jsonl, a litellm JSONL, a folder of
OpenHands conversation folders) needs --conversation NAME, one of the names check_history gives
("line 7", an instance_id, a sub-folder's name).

Each round is judged on the replay of litellm's transformation (no litellm imported) wherever it
covers the history; --litellm builds every request with litellm itself (the same result).

Before anything is written, the output is read back with our reader and compared with the repaired
history (conversations.history.readback); the `after` verdicts and the exit status are those of
that read-back.

Exit 2: it could not run (unreadable input, bad option, a result the format cannot hold, an output
that would read back differently: "the output would read back differently: message N: ...");
1: findings remain that no repair covers (the result is still rejected); 0: accepted, or nothing
needed repair (then the output is the input, byte for byte).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand

from conversations.history import formats
from conversations.history.errors import FormatError, HistoryError
from conversations.history.formats import FORMAT_NAMES, Document
from conversations.history.model import History
from conversations.history.readback import readback, refusal
from conversations.history.repair import RepairResult, judge_for, repair
from conversations.history.targets import TARGET_NAMES
from conversations.writeback import fill_directory


class CouldNotRun(Exception):
    """Exit 2, with the reason on stderr."""


class Command(BaseCommand):
    help = (
        "Repair a conversation log so a provider (or every deployment of a litellm route) "
        "accepts it, and write the repaired log in its own format (a litellm log: the OpenAI "
        "request). Run it on a stuck conversation before resuming it. Needs no database."
    )
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="PATH", help="a log file or an OpenHands session directory")
        parser.add_argument("--format", choices=FORMAT_NAMES, help="force a format instead of detecting it")
        parser.add_argument("--target", help=f"the provider to repair for: {', '.join(TARGET_NAMES)}")
        parser.add_argument("--router-config", metavar="FILE", help="a litellm Router/proxy config (YAML)")
        parser.add_argument("--model-group", metavar="G", help="the model group of --router-config to repair for")
        parser.add_argument(
            "--conversation",
            metavar="NAME",
            help="which conversation of a document that holds several (its name as check_history --json gives it)",
        )
        parser.add_argument(
            "--out",
            metavar="FILE",
            help="where to write the repaired log (a directory for an OpenHands session); default: stdout",
        )
        parser.add_argument("--json", action="store_true", help="print only a JSON report on stdout (needs --out)")
        parser.add_argument(
            "--include-warnings", action="store_true", help="also repair what is accepted but harmful (warnings)"
        )
        parser.add_argument(
            "--litellm",
            action="store_true",
            help="build each request with litellm's own transformation instead of the replay held to its "
            "output (slower to start; the same result)",
        )

    def handle(self, *args, **options):
        try:
            code = self._run(options)
        except CouldNotRun as exc:
            self.stderr.write(f"repair_history: {exc}")
            sys.exit(2)
        if code:
            sys.exit(code)

    # -- the steps
    def _run(self, options: dict) -> int:
        target, route, label = _route_or_target(options)
        if options["json"] and not options["out"]:
            raise CouldNotRun("--json needs --out: stdout then holds the report, not the log")
        path, wanted = _folder_of(Path(options["path"]), options["conversation"])
        doc, history, several = _read(path, options["format"], wanted)
        if doc.is_dir and not options["out"]:
            raise CouldNotRun(f"{path} is an OpenHands session directory: give --out DIR")
        try:
            result = repair(
                history,
                target=target,
                route=route,
                include_warnings=options["include_warnings"],
                build_request=True if options.get("litellm") else None,
            )
        except HistoryError as exc:
            raise CouldNotRun(str(exc)) from None
        output = _output(result, doc, several)
        if output is not doc:
            # What is written is judged as it reads back, and nothing is written that reads back
            # otherwise than the repair made it.
            back, difference = readback(result.history, output)
            if difference is not None or back is None:
                raise CouldNotRun(refusal(difference or "it cannot be read"))
            result.after = judge_for(
                back, target=target, route=route, build_request=True if options.get("litellm") else None
            )
        if options["out"]:
            _write(Path(options["out"]), output, source=path)
        else:
            _write_stdout(output)
        if options["json"]:
            self.stdout.write(json.dumps(_report(options["path"], label, result), ensure_ascii=False))
        self.stderr.write(_summary(result, label))
        return 0 if result.accepted else 1


def _route_or_target(options: dict) -> tuple[str | None, tuple | None, str]:
    target, config, group = options["target"], options["router_config"], options["model_group"]
    if target and (config or group):
        raise CouldNotRun("give either --target or --router-config with --model-group, not both")
    if bool(config) != bool(group):
        raise CouldNotRun("--router-config and --model-group go together")
    if not target and not config:
        raise CouldNotRun("give --target T, or --router-config FILE with --model-group G")
    if target:
        if target not in TARGET_NAMES:
            raise CouldNotRun(f"unknown target {target!r}; known targets: {', '.join(TARGET_NAMES)}")
        return target, None, target
    if not Path(config).is_file():
        raise CouldNotRun(f"{config}: no such router config file")
    return None, (Path(config), group), group


def _folder_of(path: Path, wanted: str | None) -> tuple[Path, str | None]:
    """In a folder of OpenHands conversation folders, the one --conversation names (then read as
    a folder of its own); any other path as it is."""
    folders = formats.conversation_folders(path)
    if folders is None:
        return path, wanted
    return folders[_chosen(path, [folder.name for folder in folders], wanted, "conversation folders")], None


def _chosen(path: Path, names: list[str], wanted: str | None, what: str) -> int:
    """The index of the conversation --conversation names among `names`; else why not."""
    choices = "; ".join(repr(n) for n in names[:20]) + ("; ..." if len(names) > 20 else "")
    if wanted is None:
        raise CouldNotRun(
            f"{path} holds {len(names)} {what}; repair_history repairs one at a time: "
            f"give --conversation NAME, one of {choices}"
        )
    if wanted not in names:
        raise CouldNotRun(f"{path} has no conversation {wanted!r}; its conversations: {choices}")
    return names.index(wanted)


def _read(path: Path, format: str | None, wanted: str | None) -> tuple[Document, History, bool]:
    """The document, the conversation to repair, and whether the document holds several."""
    try:
        doc = formats.load_path(path)
    except HistoryError as exc:
        raise CouldNotRun(str(exc)) from None
    except OSError as exc:
        raise CouldNotRun(f"{path}: {exc.strerror or exc}") from None
    each = formats.read_each(doc, format)
    if len(each) == 1:
        if isinstance(each[0], HistoryError):
            raise CouldNotRun(str(each[0]))
        if wanted is not None and wanted != formats.conversation_name(each[0]):
            raise CouldNotRun(f"{path} holds one conversation; --conversation {wanted!r} names none of it")
        return doc, each[0], False
    return doc, _pick(path, each, wanted), True


def _pick(path: Path, each: list[History | FormatError], wanted: str | None) -> History:
    names = [f"line {h.line}" if isinstance(h, FormatError) else formats.conversation_name(h) for h in each]
    chosen = each[_chosen(path, names, wanted, "conversations")]
    if isinstance(chosen, FormatError):
        raise CouldNotRun(str(chosen))
    return chosen


def _output(result: RepairResult, doc: Document, several: bool = False) -> Document:
    """The repaired log in its own format; the input itself when nothing changed (for one
    conversation of several, its request: the input is not that conversation alone)."""
    if not result.changed and not several:
        return doc
    try:
        return formats.write(result.history, None if several else doc)
    except HistoryError as exc:
        raise CouldNotRun(f"the repaired history cannot be written in its format: {exc}") from None


def _write(out: Path, doc: Document, *, source: Path) -> None:
    try:
        if doc.is_dir:
            _write_dir(out, doc, source)
        else:
            _write_file(out, doc.single[1])
    except OSError as exc:
        raise CouldNotRun(f"{out}: cannot write: {exc.strerror or exc}") from None


def _write_file(out: Path, data: bytes) -> None:
    # Through a temporary file: --out may name the input itself, and a crash must not cut it.
    folder = out.parent if str(out.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_dir(out: Path, doc: Document, source: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CouldNotRun(f"{out}: the output directory must not exist yet (or be empty)")
    out.mkdir(parents=True, exist_ok=True)
    fill_directory(out, source, doc)


def _write_stdout(doc: Document) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(doc.single[1])
    sys.stdout.buffer.flush()


def _report(path: str, label: str, result: RepairResult) -> dict:
    return {
        "path": path,
        "target": label,
        "edits": [e.to_dict() for e in result.edits],
        "before": [v.to_dict() for v in result.before],
        "after": [v.to_dict() for v in result.after],
    }


def _summary(result: RepairResult, label: str) -> str:
    verdicts = ", ".join(f"{v.target}: {'accepted' if v.accepted else 'rejected'}" for v in result.after)
    if not result.changed:
        return f"nothing repaired for {label} ({verdicts})"
    return f"{len(result.edits)} edit(s) for {label} ({verdicts})"
