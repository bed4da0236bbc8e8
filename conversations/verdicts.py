"""The prediction engine, Django side: which target a stored conversation is judged against, and
the verdicts stored with its revisions.

At ingest a conversation is checked against its own target (its model's provider, else
settings.DEFAULT_TARGET) and the verdict stored with the revision; other targets and routes are
checked on demand and cached under the same (revision, target) key. A verdict stored with an older
RULES_VERSION is stale: `manage.py recheck` (and any page that reads it) checks again.
"""

from __future__ import annotations

import yaml
from django.conf import settings
from django.db import transaction

from conversations.history import check as core
from conversations.history import explain as core_explain
from conversations.history import routes, targets, wire
from conversations.history.findings import Finding as CoreFinding
from conversations.history.findings import Verdict as CoreVerdict
from conversations.history.model import History
from conversations.models import Finding, Revision, Verdict

TARGETS = targets.TARGET_NAMES
RULES_VERSION = core.RULES_VERSION


def own_target(history: History) -> targets.Target:
    return targets.target_for_model(history.model, default=settings.DEFAULT_TARGET)


def own_verdict(history: History) -> CoreVerdict:
    """The verdict of the conversation's own target (pure: safe in an ingest worker process), on
    the replayed request wherever the replay covers it (check's default: held to litellm's own
    output by tests/core/test_replay.py, without importing litellm)."""
    return core.check(history, target=own_target(history))


@transaction.atomic(savepoint=False)
def verdicts_store(revision: Revision, verdict: CoreVerdict, *, own: bool = False) -> Verdict:
    """Store (or replace) the verdict of `verdict.target` on `revision`, with its findings."""
    Verdict.objects.filter(revision=revision, target=verdict.target).delete()
    Finding.objects.filter(revision=revision, target=verdict.target).delete()
    (row,) = verdicts_insert([(revision, verdict)], own=own)
    if own:
        Revision.objects.filter(pk=revision.pk).update(rules_version=RULES_VERSION)
    return row


def verdicts_insert(rows: list[tuple[Revision, CoreVerdict]], *, own: bool = False) -> list[Verdict]:
    """Store verdicts that have none to replace (revisions created in this transaction with
    rules_version set, as revisions_write creates them): two statements for any number."""
    verdicts = []
    for revision, verdict in rows:
        errors = [f for f in verdict.findings if f.severity == "error"]
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
            )
        )
    stored = Verdict.objects.bulk_create(verdicts)
    Finding.objects.bulk_create(
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
        )
        for revision, verdict in rows
        for f in verdict.findings
    )
    return stored


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
                )
            )
    return {
        revision_id: CoreVerdict(
            target=row.target, provider=row.provider, findings=found[revision_id], input_tokens=row.input_tokens
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
        return [verdicts_store(revision, core.check(history, target=own_target(history)), own=True)]
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
    return result


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
    explanation = core_explain.explain(
        revision.history, error_text, config=config_text or None, group=model_group or None, compare=too_large is None
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
