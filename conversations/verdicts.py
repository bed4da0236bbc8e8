"""The prediction engine, Django side: which target a stored conversation is judged against, and
the verdicts stored with its revisions.

At ingest a conversation is checked against its own target (its model's provider, else
settings.DEFAULT_TARGET) and the verdict stored with the revision; other targets and routes are
checked on demand and cached under the same (revision, target) key. A verdict stored with an older
RULES_VERSION is stale: `manage.py recheck` (and any page that reads it) checks again.
"""

from __future__ import annotations

from typing import Any

import yaml
from django.conf import settings
from django.db import transaction

from conversations.history import check as core
from conversations.history import explain as core_explain
from conversations.history import failures, routes, senders, targets, wire
from conversations.history import status as core_status
from conversations.history.findings import Finding as CoreFinding
from conversations.history.findings import Verdict as CoreVerdict
from conversations.history.model import History
from conversations.models import Conversation, Finding, Revision, Status, Verdict

TARGETS = targets.TARGET_NAMES
RULES_VERSION = core.RULES_VERSION


def own_target(history: History) -> targets.Target:
    return targets.target_for_model(history.model, default=settings.DEFAULT_TARGET)


def own_verdict(history: History, sender: str | None = None) -> CoreVerdict:
    """The verdict of the conversation's own target (pure: safe in an ingest worker process), on
    the replayed request wherever the replay covers it (check's default: held to litellm's own
    output by tests/core/test_replay.py, without importing litellm), by the format's own sender
    unless `sender` names another; with the note "model unknown: judged as ..." when the target
    is DEFAULT_TARGET's, and the failure the log records."""
    target, unknown = targets.own_target(history.model, default=settings.DEFAULT_TARGET)
    verdict = core.check(history, target=target, sender=sender)
    if unknown:
        verdict.notes.insert(0, unknown)
    verdict.logged_failure = failures.logged_failure(history)
    return verdict


@transaction.atomic(savepoint=False)
def verdicts_store(revision: Revision, verdict: CoreVerdict, *, own: bool = False) -> Verdict:
    """Store (or replace) the verdict of `verdict.target` on `revision`, with its findings."""
    Verdict.objects.filter(revision=revision, target=verdict.target).delete()
    Finding.objects.filter(revision=revision, target=verdict.target).delete()
    (row,) = verdicts_insert([(revision, verdict)], own=own)
    if own:
        Revision.objects.filter(pk=revision.pk).update(rules_version=RULES_VERSION)
    return row


def verdicts_insert(
    rows: list[tuple[Revision, CoreVerdict]], *, own: bool = False, route_version_id: int | None = None
) -> list[Verdict]:
    """Store verdicts that have none to replace (revisions created in this transaction with
    rules_version set, as revisions_write creates them): two statements for any number.
    `route_version_id`: the rows are a route's deployments, each revision's in the order litellm
    tries them."""
    verdicts = []
    positions: dict[int, int] = {}  # where each revision's deployments are in the order tried
    for revision, verdict in rows:
        position = positions[id(revision)] = positions.get(id(revision), -1) + 1
        errors = verdict.errors  # not the ones the log proves answered
        warnings = [f for f in verdict.findings if f.severity == "warning"]
        # The badge names the first rule that matters: the first error, else the first warning.
        first = (errors or warnings or [None])[0]
        verdicts.append(
            Verdict(
                revision=revision,
                target=verdict.target,
                provider=verdict.provider,
                accepted=verdict.accepted,
                errors=len(errors),
                warnings=len(warnings),
                first_rule=first.rule if first else "",
                own_target=own,
                rules_version=RULES_VERSION,
                input_tokens=verdict.input_tokens,
                risks=len(core_status.risks(verdict)),
                route_version_id=route_version_id,
                position=position if route_version_id is not None else None,
                sender=verdict.sender,
                notes=list(verdict.notes),
                logged_failure=verdict.logged_failure,
            )
        )
    # A statement at most a thousand rows: PostgreSQL takes 65,535 parameters a statement.
    stored = Verdict.objects.bulk_create(verdicts, batch_size=1000)
    Finding.objects.bulk_create(
        (
            Finding(
                revision=revision,
                target=verdict.target,
                provider=verdict.provider,
                rule=f.rule,
                severity=f.severity,
                message_index=f.message_index,
                wire_index=f.wire_index,
                content_index=f.content_index,
                provider_error=f.provider_error or "",
                explanation=f.explanation,
                fix=f.fix,
                guess=f.guess or "",
                answered=f.answered,
            )
            for revision, verdict in rows
            for f in verdict.findings
        ),
        batch_size=1000,
    )
    return stored


@transaction.atomic(savepoint=False)
def route_verdicts_store(conversation: Conversation, revision: Revision, routed: Any) -> None:
    """Store the verdicts of the route's deployments (routing.Routed; None: it takes no route) for
    `revision`, replacing those of any earlier route, and the route on the conversation."""
    old = list(revision.verdicts.filter(route_version__isnull=False).values_list("target", flat=True))
    if old:
        Finding.objects.filter(revision=revision, target__in=old).delete()
        Verdict.objects.filter(revision=revision, target__in=old).delete()
    if routed is not None:
        verdicts_insert([(revision, v) for v in routed.verdicts], route_version_id=routed.version_id)
    conversation.route_version_id = routed.version_id if routed else None
    conversation.model_group = routed.model_group if routed else ""
    conversation.save(update_fields=["route_version", "model_group"])


def status_refresh(conversation_ids: list[int]) -> None:
    """Store each conversation's status (history.status) from the verdicts stored for its latest
    revision: its route's deployments when it has a route, else every target it was checked
    against under the current rules; and the request failure its log records, until a repair
    follows it. Three statements for any number of conversations."""
    conversations = list(
        Conversation.objects.filter(pk__in=conversation_ids).values(
            "pk", "latest_revision_id", "route_version_id", "latest_revision__reason"
        )
    )
    by_revision = {c["latest_revision_id"]: c for c in conversations if c["latest_revision_id"]}
    judged: dict[int, list[core_status.Judged]] = {c["pk"]: [] for c in conversations}
    failed: set[int] = set()
    rows = Verdict.objects.filter(revision__in=list(by_revision), rules_version=RULES_VERSION)
    fields = ("revision_id", "route_version_id", "accepted", "risks", "own_target", "logged_failure")
    for row in rows.order_by("position", "id").values(*fields):
        conversation = by_revision[row["revision_id"]]
        ingested = is_ingested(conversation["latest_revision__reason"] or "")
        if row["own_target"] and ingested and core_status.failure_unresolved(row["logged_failure"]):
            failed.add(conversation["pk"])
        if conversation["route_version_id"] and row["route_version_id"] != conversation["route_version_id"]:
            continue  # the own target and other targets say nothing once the route is known
        judged[conversation["pk"]].append(core_status.Judged(row["accepted"], row["risks"]))
    grouped: dict[int, list[int]] = {}
    for pk, verdicts in judged.items():
        status = core_status.status_of(verdicts, failure_unresolved=pk in failed)
        grouped.setdefault(Status.named(status).value, []).append(pk)
    for value, pks in grouped.items():
        Conversation.objects.filter(pk__in=pks).exclude(status=value).update(status=value)


# The reasons ingest gives the revisions it makes: a revision with another (a repair, a restore)
# follows whatever failure the log records.
INGESTED = "ingested"
REINGESTED = "re-ingested: the source changed"


def is_ingested(reason: str) -> bool:
    return reason in (INGESTED, REINGESTED)


def own_verdicts_stored(revisions: list[Revision]) -> dict[int, CoreVerdict]:
    """The own target's current verdicts stored for these revisions, as the check returned them
    (findings in order, and the token count when it counted one), by revision id; two queries for
    any number. A revision missing here was never checked under the current rules."""
    rows = {
        v.revision_id: v
        for v in Verdict.objects.filter(revision__in=revisions, own_target=True, rules_version=RULES_VERSION)
    }
    found: dict[int, list] = {revision_id: [] for revision_id in rows}
    for f in Finding.objects.filter(revision__in=list(rows)).order_by("id"):
        if f.target == rows[f.revision_id].target:
            found[f.revision_id].append(
                CoreFinding(
                    rule=f.rule,
                    severity=f.severity,
                    message_index=f.message_index,
                    wire_index=f.wire_index,
                    provider_error=f.provider_error or None,
                    explanation=f.explanation,
                    fix=f.fix,
                    content_index=f.content_index,
                    guess=f.guess or None,
                    answered=f.answered,
                )
            )
    return {
        revision_id: CoreVerdict(
            target=row.target,
            provider=row.provider,
            findings=found[revision_id],
            input_tokens=row.input_tokens,
            sender=row.sender,
            notes=list(row.notes or []),
            logged_failure=row.logged_failure,
        )
        for revision_id, row in rows.items()
    }


def revision_verdicts(revision: Revision, target_names: list[str] | None = None) -> list[Verdict]:
    """Stored verdicts for the given targets (None: the conversation's own), checking the ones
    missing or stale. Raises targets.UnknownTarget for a name that is not a target."""
    own = target_names is None
    if own:
        # The own verdict was stored at ingest: find it without decoding the history.
        row = revision.verdicts.filter(own_target=True, rules_version=RULES_VERSION).first()
        if row is not None:
            return [row]
        history = revision.history
        return [verdicts_store(revision, own_verdict(history), own=True)]
    for name in target_names:
        if name not in TARGETS:
            raise targets.UnknownTarget(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}")
    stored = {v.target: v for v in revision.verdicts.filter(target__in=target_names, rules_version=RULES_VERSION)}
    result = []
    for name in target_names:
        row = stored.get(name)
        if row is None:
            row = verdicts_store(revision, core.check(revision.history, target=targets.resolve(name)))
        result.append(row)
    if len(stored) < len(target_names):
        # A conversation with no route is at risk or stuck by every target it was checked against.
        status_refresh([revision.conversation_id])
    return result


def sender_verdicts(revision: Revision, target_names: list[str], sender: str) -> list[CoreVerdict]:
    """The verdicts of the own target and `target_names` on the request `sender` would send
    (senders.SENDERS; not stored: the stored verdicts are the format's own sender's). Raises
    targets.UnknownTarget or senders.UnknownSender for a name that is neither."""
    senders.check_name(sender)
    history = revision.history
    found = [own_verdict(history, sender=sender)]
    for name in target_names:
        target = targets.resolve(name)
        if target.name != found[0].target:
            found.append(core.check(history, target=target, sender=sender))
    return found


def verdict_findings(revision: Revision, verdict: Verdict) -> list[Finding]:
    return list(revision.findings.filter(target=verdict.target).order_by("id"))


def route_config(text: str) -> dict:
    """A pasted litellm proxy (or Router) config, as a dict; routes.RouteError says what is wrong
    with it, in words for the person. Parsed here and never handed on as text: the routes module
    reads a one-line string that names an existing file as a path, and a paste must not read the
    server's files. The one parser of the page's route check, its repair form and the API."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise routes.RouteError(f"The config is not YAML{where}.") from None
    if not isinstance(config, dict):
        raise routes.RouteError("The config is not a litellm proxy config (no model_list).")
    return config


def route_verdicts(revision: Revision, config_text: str | dict, model_group: str) -> list[CoreVerdict]:
    """One verdict per deployment a call to `model_group` could reach (not stored: a pasted
    config is the viewer's, not the conversation's). Raises routes.RouteError for a bad config."""
    return routes.check_route(revision.history, config_text, model_group)


# A check (a request built and judged) inside a viewer's page request only for histories up to
# these sizes: the preview, the wire view and Explain of a larger one would hold a worker for a
# minute or more. Past them the page says so and points at a background way.
REQUEST_CHECK_CALLS_MAX = 2_000
REQUEST_CHECK_MESSAGES_MAX = 20_000


def too_large_for_a_request(tool_calls: int, messages: int) -> str | None:
    """Why a history is not checked inside a page request, or None when it is."""
    if tool_calls <= REQUEST_CHECK_CALLS_MAX and messages <= REQUEST_CHECK_MESSAGES_MAX:
        return None
    return (
        f"This history has {tool_calls:,} tool calls and {messages:,} messages: more than a page "
        f"checks within a request ({REQUEST_CHECK_CALLS_MAX:,} tool calls or "
        f"{REQUEST_CHECK_MESSAGES_MAX:,} messages)."
    )


def explain_error(
    revision: Revision, error_text: str | None = None, *, config_text: str | None = None, model_group: str | None = None
) -> dict:
    """A provider error (pasted, or the one the log carries) against the prediction; for a
    history too large to check within a request, recognised but not compared."""
    too_large = too_large_for_a_request(revision.conversation.tool_call_count, revision.message_count)
    # Not compared, an error is recognised from its text, the history's model and the log's own
    # error: the head holds those, and a history too large to compare is too large to read here.
    history = revision.history if too_large is None else History.from_dict(revision.head())
    explanation = core_explain.explain(
        history, error_text, config=config_text or None, group=model_group or None, compare=too_large is None
    )
    return explanation.to_dict()


def wire_request(revision: Revision, target_name: str) -> dict:
    """The request as litellm would send it to `target_name`: body, what litellm changed, and
    any error litellm raised while building it."""
    target = targets.resolve(target_name)
    built = wire.build(revision.history, target)
    return {
        "target": target.label,
        "format": built.format,
        "body": built.body,
        "changes": built.changes,
        "error": built.error,
        "exact": built.exact,
    }
