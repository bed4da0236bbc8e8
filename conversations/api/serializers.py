"""Rows to JSON, as plain functions. The verdict shape is check_history's contract
(conversations.history.findings.Verdict.to_dict), so a script reads the API and the command alike."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import F
from django.http import HttpRequest
from django.urls import reverse

from conversations.history.formats.openhands_output import run_facts
from conversations.history.model import USAGE_KINDS
from conversations.models import Conversation, Finding, Revision, Status, Verdict


def finding_dict(row: Finding) -> dict[str, Any]:
    """The contract's keys (empty text columns are the contract's nulls)."""
    return {
        "rule": row.rule,
        "severity": row.severity,
        "message_index": row.message_index,
        "wire_index": row.wire_index,
        "provider_error": row.provider_error or None,
        "explanation": row.explanation,
        "fix": row.fix or "none",
        "guess": row.guess or None,
        "answered": row.answered,
    }


# The own target first, then a route's deployments in the order litellm tries them, then the rest.
VERDICT_ORDER = ("-own_target", F("position").asc(nulls_last=True), "target")


def verdict_dicts(revision: Revision | None, targets: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The stored verdicts of a revision with their findings, the conversation's own target first."""
    if revision is None:
        return []
    verdicts = Verdict.objects.filter(revision=revision).order_by(*VERDICT_ORDER)
    findings = Finding.objects.filter(revision=revision).order_by("id")
    if targets is not None:
        verdicts = verdicts.filter(target__in=list(targets))
        findings = findings.filter(target__in=list(targets))
    by_target: dict[str, list[dict]] = {}
    for row in findings:
        by_target.setdefault(row.target, []).append(finding_dict(row))
    return [
        {
            "target": v.target,
            "provider": v.provider,
            "accepted": v.accepted,
            **({"deployment": v.position} if v.route_version_id else {}),
            "findings": by_target.get(v.target, []),
            "sender": v.sender,
            "notes": list(v.notes or []),
            "applicable": True,
        }
        for v in verdicts
    ]


def logged_failure(revision: Revision | None) -> dict[str, Any] | None:
    """The failure the log records, as the own verdict stored it."""
    if revision is None:
        return None
    row = Verdict.objects.filter(revision=revision, own_target=True).only("logged_failure").first()
    return row.logged_failure if row is not None else None


def verdict_summary(row: Verdict) -> dict[str, Any]:
    """A verdict without its findings: what the list's badges show."""
    return {
        "target": row.target,
        "provider": row.provider,
        "status": row.status,
        "accepted": row.accepted,
        "errors": row.errors,
        "warnings": row.warnings,
        "first_rule": row.first_rule or None,
        "own_target": row.own_target,
    }


def verdict_summaries(conversations: list[Conversation]) -> dict[int, list[dict[str, Any]]]:
    """The latest revision's verdict summaries of each conversation, in one query."""
    revision_ids = [c.latest_revision_id for c in conversations if c.latest_revision_id]
    found: dict[int, list[dict]] = {}
    for row in Verdict.objects.filter(revision_id__in=revision_ids).order_by(*VERDICT_ORDER):
        found.setdefault(row.revision_id, []).append(verdict_summary(row))
    return {c.pk: found.get(c.latest_revision_id, []) for c in conversations}


def conversation_summary(
    request: HttpRequest, conversation: Conversation, verdicts: list[dict] | None = None
) -> dict[str, Any]:
    latest = conversation.latest_revision
    return {
        "id": conversation.pk,
        "url": request.build_absolute_uri(reverse("api:conversation", args=[conversation.pk])),
        "page_url": _page_url(request, conversation),
        "title": conversation.title,
        "format": conversation.format,
        "model": conversation.model or None,
        "provider": conversation.provider or None,
        "external_id": conversation.external_id or None,
        "source": {"kind": conversation.source.kind, "location": conversation.source.location},
        "message_count": conversation.message_count,
        "tool_call_count": conversation.tool_call_count,
        "token_count": conversation.token_count,
        "first_at": conversation.first_at,
        "last_at": conversation.last_at,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "revision": latest.number if latest else None,
        "status": Status(conversation.status).key,
        "route": _route(conversation),
        "verdicts": verdicts if verdicts is not None else [],
    }


def _route(conversation: Conversation) -> dict[str, Any] | None:
    """The route its next request takes (None: its own target); its deployments' verdicts are
    the verdicts with a `deployment` position."""
    version = conversation.route_version
    if version is None:
        return None
    return {"name": version.route.name, "version": version.number, "model_group": conversation.model_group}


def _page_url(request: HttpRequest, conversation: Conversation) -> str:
    return request.build_absolute_uri(conversation.get_absolute_url())


def revision_summary(request: HttpRequest, revision: Revision) -> dict[str, Any]:
    return {
        "number": revision.number,
        "parent": revision.parent.number if revision.parent_id else None,
        "reason": revision.reason,
        "author": revision.author.get_username() if revision.author_id else None,
        "created_at": revision.created_at,
        "message_count": revision.message_count,
        "url": request.build_absolute_uri(reverse("api:revision", args=[revision.conversation_id, revision.number])),
    }


def conversation_detail(
    request: HttpRequest, conversation: Conversation, verdicts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`verdicts`: checked for another sender than the format's (?sender=), else the stored ones."""
    latest = conversation.latest_revision
    head = latest.head() if latest else {}
    detail = conversation_summary(
        request, conversation, verdicts=verdicts if verdicts is not None else verdict_dicts(latest)
    )
    detail["error"] = head.get("error")
    detail["logged_failure"] = logged_failure(latest)
    detail["meta"] = head.get("meta") or {}
    # An OpenHands output.jsonl line's run: how it ended and what it cost (None for any other log).
    detail["run"] = run_facts(detail["meta"])
    usage = head.get("usage") or {}
    # Every token the log's requests counted, each kind apart (None: the log does not record it);
    # token_count is their sum.
    detail["usage"] = {name: usage.get(key) for name, key in USAGE_KINDS}
    detail["parent"] = (
        {"id": conversation.parent_id, "tool_use_id": conversation.parent_tool_use_id or None}
        if conversation.parent_id is not None and Conversation.objects.live().filter(pk=conversation.parent_id).exists()
        else None
    )
    detail["subagents"] = [
        {"id": pk, "tool_use_id": tool_use_id or None}
        for pk, tool_use_id in conversation.subagents.live().order_by("pk").values_list("pk", "parent_tool_use_id")
    ]
    revisions = conversation.revisions.select_related("parent", "author").order_by("-number")
    detail["revisions"] = [revision_summary(request, r) for r in revisions]
    return detail
