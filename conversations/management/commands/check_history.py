"""check_history: predict which provider would reject a conversation log, with the provider's own
error. A stable contract for users' scripts (issue 4): options, exit codes and --json shape stay.

    python manage.py check_history PATH... [--format F] [--target T]... [--sender S]
                                   [--router-config FILE --model-group G] [--json] [--litellm]

Each verdict judges the request the conversation's client sends next (issue 17): a log that ends
on a reply it received goes on with a user turn. `--sender` names that client (litellm,
claude-code, openhands, direct; default the format's); a sender that applies to no target of a
path is an error for that path. Each finding says the request parameter it rests on when the log
does not record it (`guess`), and the later reply that proves the log's provider answered it
(`answered`, not counted against `accepted`); each conversation gives the failure its log records
(`logged_failure`).

A path that holds several conversations (a litellm JSONL, an OpenHands output.jsonl, a folder of
OpenHands conversation folders) gives one object per conversation, named by `conversation`; a
record that cannot be read is an object with `error` (exit 2) while the others are judged.

Exit 2: could not judge (unreadable input, unknown target, bad option; reasons on stderr);
else 1: some verdict rejects; else 0. Needs no database and no environment, and by default no
litellm: the request is the replay of litellm's transformation (wire.simulate), held to litellm's
own output by tests; --litellm builds it with litellm itself (the same verdicts, seconds slower).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from conversations.history import failures, formats, senders
from conversations.history.check import check
from conversations.history.errors import HistoryError
from conversations.history.findings import Verdict
from conversations.history.model import History
from conversations.history.routes import check_route, load_config, route_deployments
from conversations.history.status import failure_unresolved, judged_each, status_of
from conversations.history.targets import TARGET_NAMES, Target, own_target, resolve

EXIT_REJECTED = 1
EXIT_CANNOT_JUDGE = 2


class Command(BaseCommand):
    help = (
        "Predict which provider would reject a conversation log, with the error it would "
        "answer, the message at fault and the repair that fixes it. Run it before resuming a "
        "stuck conversation, or on a route (--router-config) to see every deployment a call "
        "could reach. Exit 0: all accepted; 1: some rejected; 2: could not judge."
    )
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--format", choices=formats.FORMAT_NAMES, help="force a format instead of detecting it")
        parser.add_argument(
            "--target",
            action="append",
            default=[],
            metavar="T",
            help=f"a provider target, repeatable: {', '.join(TARGET_NAMES)} "
            "(default: the conversation's own, from its model)",
        )
        parser.add_argument(
            "--router-config",
            metavar="FILE",
            help="a litellm Router/proxy config (YAML); judge every deployment of --model-group and its fallbacks",
        )
        parser.add_argument("--model-group", metavar="G", help="the model group a call names")
        parser.add_argument(
            "--sender",
            choices=senders.SENDERS,
            help="the client that sends the request (default: the format's own; with --router-config, "
            "the client in front of the proxy)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print only a JSON list (one object per path) on stdout"
        )
        parser.add_argument(
            "--litellm",
            action="store_true",
            help="build each request with litellm's own transformation instead of the replay held to its "
            "output (slower to start; the same verdicts)",
        )

    def handle(
        self,
        *args,
        paths,
        format,
        target,
        router_config,
        model_group,
        json: bool,
        litellm: bool = False,
        sender: str | None = None,
        **options,
    ):
        # litellm logs its own repairs ("Potential consecutive user/tool blocks...") as warnings;
        # stderr is for the reasons this command could not judge.
        logging.getLogger("LiteLLM").setLevel(logging.ERROR)
        try:
            targets = [resolve(name) for name in target]
            route = self._route(router_config, model_group)
            default = settings.DEFAULT_TARGET
            resolve(default)
        except (HistoryError, OSError) as exc:
            self._fail(str(exc))
        results: list[dict[str, Any]] = []
        cannot_judge = False
        build_request = True if litellm else None
        for path in paths:
            for result in self._judge(path, format, targets, route, default, build_request, sender):
                cannot_judge |= "error" in result
                results.append(result)
        if json:
            self.stdout.write(_dumps([_public(r) for r in results]))
        else:
            for result in results:
                self.stdout.write(_report(result))
        if cannot_judge:
            sys.exit(EXIT_CANNOT_JUDGE)
        if any(not v.accepted for r in results for v in r.get("verdicts", [])):
            sys.exit(EXIT_REJECTED)

    def _route(self, config_path: str | None, group: str | None) -> tuple[dict, str] | None:
        if bool(config_path) != bool(group):
            raise CommandError("--router-config and --model-group go together", returncode=EXIT_CANNOT_JUDGE)
        if not config_path:
            return None
        if not Path(config_path).is_file():
            raise CommandError(f"{config_path}: no such file", returncode=EXIT_CANNOT_JUDGE)
        config = load_config(Path(config_path))
        route_deployments(config, group)  # an unknown group is a bad option: fail before reading
        return config, group

    def _judge(
        self,
        path: str,
        format: str | None,
        targets: list[Target],
        route: tuple[dict, str] | None,
        default: str,
        build_request: bool | None = None,
        sender: str | None = None,
        named: str | None = None,
    ):
        folders = formats.conversation_folders(path)
        if folders is not None:  # a folder of conversation folders: each judged, named by its folder
            for folder in folders:
                yield from self._judge(str(folder), format, targets, route, default, build_request, sender, folder.name)
            return
        try:
            doc = formats.load_path(path)
        except HistoryError as exc:
            self.stderr.write(f"{path}: {exc}")
            yield {"path": path, "format": format or "unknown", "messages": 0, "error": str(exc)}
            return
        each = formats.read_each(doc, format=format)
        several = len(each) > 1 or named is not None
        kind = format or next((h.format for h in each if isinstance(h, History)), "unknown")
        for history in each:
            if isinstance(history, HistoryError):
                # One record that cannot be read (a bad output.jsonl line): the others are judged.
                self.stderr.write(f"{path}: {history}")
                failed: dict[str, Any] = {"path": path, "format": kind, "messages": 0, "error": str(history)}
                if several:
                    failed["conversation"] = f"line {history.line}" if history.line else ""
                yield failed
                continue
            result: dict[str, Any] = {"path": path, "format": history.format, "messages": len(history.messages)}
            if several:
                result["conversation"] = named or formats.conversation_name(history)
            try:
                result["verdicts"], deciding = self._verdicts(history, targets, route, default, build_request, sender)
                result["logged_failure"] = failures.logged_failure(history)
                result["status"] = status_of(
                    judged_each(deciding), failure_unresolved=failure_unresolved(result["logged_failure"])
                )
            except HistoryError as exc:
                self.stderr.write(f"{path}: {exc}")
                result["error"] = str(exc)
            else:
                verdicts = result["verdicts"]
                if sender and verdicts and not any(v.applicable for v in verdicts):
                    reason = verdicts[0].notes[0] if verdicts[0].notes else f"{sender}: not applicable"
                    self.stderr.write(f"{path}: {reason}")
                    result["error"] = reason
            yield result

    @staticmethod
    def _verdicts(
        history: History,
        targets: list[Target],
        route,
        default: str,
        build_request: bool | None = None,
        sender: str | None = None,
    ) -> tuple[list[Verdict], list[Verdict]]:
        """The verdicts, and those the status is decided by: the route's deployments when a route
        is given, else every target judged."""
        own, unknown = own_target(history.model, default=default)
        chosen = [_same_model(t, own) for t in targets]
        if not chosen and route is None:
            chosen = [own]
        verdicts = [check(history, target=t, build_request=build_request, sender=sender) for t in chosen]
        for verdict in verdicts:
            if unknown and verdict.target == own.label and not targets:
                verdict.notes.insert(0, unknown)
        if route is None:
            return verdicts, verdicts
        deployments = check_route(history, route[0], route[1], build_request=build_request, sender=sender)
        return verdicts + deployments, deployments

    def _fail(self, reason: str) -> None:
        self.stderr.write(reason)
        sys.exit(EXIT_CANNOT_JUDGE)


def _same_model(target: Target, own: Target) -> Target:
    """--target anthropic on a conversation that ran on an Anthropic model judges that model."""
    return own if own.name == target.name else target


def _public(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: result[k] for k in ("path", "conversation", "format", "messages") if k in result}
    if "error" in result:
        out["error"] = result["error"]
    if "verdicts" in result:
        out["verdicts"] = [v.to_dict() for v in result["verdicts"]]
        out["logged_failure"] = result.get("logged_failure")
    elif "error" not in result:
        out["verdicts"] = []
    if "status" in result:
        out["status"] = result["status"]
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _at(timestamp: str | None) -> str:
    return f", {timestamp[:10]}" if timestamp else ""


def _report(result: dict[str, Any]) -> str:
    named = f" [{result['conversation']}]" if result.get("conversation") else ""
    head = f"{result['path']}{named} ({result['format']}, {result['messages']} messages)"
    if "error" in result and "verdicts" not in result:
        return f"{head}\n  could not read: {result['error']}\n"
    lines = [head]
    failure = result.get("logged_failure")
    if failure:
        lines.append(f"  the log records a failure{_at(failure['at'])}: {failure['error']}")
        why = failure["explained_by"] and (
            f"explained by {failure['explained_by']['rule']} at message {failure['explained_by']['message_index']}"
        )
        lines.append(f"    {why or failure['why_unexplained']}" + ("; recovered" if failure["recovered"] else ""))
    for verdict in result.get("verdicts", []):
        if not verdict.applicable:
            lines.append(f"  {verdict.target}: {'; '.join(verdict.notes)} (sent by {verdict.sender})")
            continue
        notes = "".join(f"; {n}" for n in verdict.notes)
        lines.append(
            f"  {verdict.target}: {'accepted' if verdict.accepted else 'REJECTED'} (sent by {verdict.sender}{notes})"
        )
        for f in verdict.findings:
            where = "the request" if f.message_index is None else f"message {f.message_index}"
            wire = "" if f.wire_index is None else f" (sent as messages.{f.wire_index})"
            lines.append(f"    {f.severity} {f.rule} at {where}{wire}: {f.explanation}")
            if f.answered:
                lines.append(
                    f"      answered then (message {f.answered['message_index']}{_at(f.answered['timestamp'])})"
                )
            if f.provider_error:
                lines.append(f"      provider would answer: {f.provider_error}")
            if f.fix != "none":
                lines.append(f"      fix: {f.fix}")
    return "\n".join(lines) + "\n"
