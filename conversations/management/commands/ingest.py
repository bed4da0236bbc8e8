import json
import os
import sys
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from conversations.history.formats import FORMAT_NAMES
from conversations.ingest import DELETED, Outcome, candidates, ingest_candidates
from conversations.tasks import route_rechecks_start


class Command(BaseCommand):
    help = (
        "Load agent conversation logs (files, or directories walked recursively) into the "
        "inspector. Run it on logs you want to browse, check or repair; running it again on the "
        "same files changes nothing, and a changed file adds a revision."
    )
    # The system checks import every URL, view and admin module (half a second on a small
    # machine) to check the pages, which an ingest never serves; `manage.py check` runs them.
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--format", choices=FORMAT_NAMES, help="force a format instead of detecting it")
        parser.add_argument(
            "--jobs",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help="worker processes that read and check files in parallel (default: the number of cores, at most 4)",
        )
        parser.add_argument(
            "--rest",
            type=int,
            default=0,
            metavar="PERCENT",
            help="after each file, rest this share of the time it took (100: about half "
            "a core), for an ingest beside a web server on a small machine; as "
            "JOB_REST_PERCENT for bulk jobs",
        )
        parser.add_argument(
            "--json", action="store_true", help="print only a JSON summary on stdout; progress goes to stderr"
        )

    def handle(self, *args, paths, format, jobs: int, json: bool, rest: int = 0, **options):
        found = list(candidates(paths))
        totals = {"ingested": 0, "unchanged": 0, "skipped": 0, "failed": [], "skipped_files": []}
        console = Console(stderr=True)
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=len(found) < 2,
            transient=True,
        ) as progress:
            task = progress.add_task("ingesting", total=len(found))
            try:
                last = time.monotonic()
                for candidate, outcome in ingest_candidates(found, format=format, jobs=jobs):
                    if rest > 0:
                        time.sleep(rest / 100 * (time.monotonic() - last))
                        last = time.monotonic()
                    progress.update(task, description=candidate.path.name[:40])
                    if outcome is None:
                        self._skip(totals, str(candidate.path), candidate.skip_reason)
                    else:
                        self._count(totals, outcome)
                    progress.advance(task)
            except DatabaseError as exc:
                # Each batch commits as a whole: the one in progress was rolled back, everything
                # committed before it stays, and a rerun skips what is stored.
                totals["failed"].append(
                    {
                        "path": None,
                        "error": (
                            f"the database failed: {exc}".strip() + " (the files in progress were not stored; "
                            "run the same command again to finish: it skips what is stored)"
                        ),
                    }
                )

        # A route config that changed since the conversations stored before were judged: their
        # re-check runs in the background (one job per version).
        route_rechecks_start()
        failed = totals["failed"]
        if json:
            self.stdout.write(_json_dumps(totals))
            if failed and failed[-1]["path"] is None:
                self.stderr.write(failed[-1]["error"])
        else:
            for item in failed:
                self.stderr.write(f"failed: {item['error']}")
            self.stdout.write(
                f"{totals['ingested']} ingested, {totals['unchanged']} unchanged, "
                f"{totals['skipped']} skipped, {len(failed)} failed"
            )
        if failed:
            sys.exit(1)

    @staticmethod
    def _skip(totals: dict, path: str, reason: str | None) -> None:
        totals["skipped"] += 1
        totals["skipped_files"].append({"path": path, "reason": reason or "not a log"})

    @classmethod
    def _count(cls, totals: dict, outcome: Outcome) -> None:
        for item in outcome.skipped_files:  # a symlink inside an OpenHands folder
            cls._skip(totals, item["path"], item["reason"])
        if outcome.status == "failed":
            totals["failed"].append({"path": outcome.path, "error": outcome.error})
            return
        if outcome.status == "skipped":
            cls._skip(totals, outcome.path, outcome.reason)
            return
        for _ in outcome.held:  # a deleted conversation in a document that also holds live ones
            cls._skip(totals, outcome.path, DELETED)
        # "ingested" counts conversations added or changed, not files.
        totals["ingested"] += len(outcome.added)
        totals["unchanged"] += len(outcome.unchanged)
        # A record of a document of several conversations that failed alone (an output.jsonl line).
        for failure in outcome.failures:
            totals["failed"].append({"path": outcome.path, "error": failure["error"], "line": failure["line"]})


def _json_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
