"""The API's OpenAPI 3.1 description, served at /api/openapi.json. Written by hand next to the
views it describes; tests/test_api_openapi.py checks that every route and method has an entry."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from conversations.history.formats import FORMAT_NAMES
from conversations.search import PAGE_SIZES, SORTS, SOURCE_KINDS, STATUSES, VERDICTS


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _path(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "integer", "minimum": 1},
    }


COMMON_ERRORS = {
    "401": _error("No token, or a wrong or revoked one"),
    "403": _error("The token's user lacks the role the action needs, or is disabled"),
}
NULLABLE_STRING = {"type": ["string", "null"]}
TIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["status", "reason"],
        "properties": {
            "status": {"type": "integer"},
            "reason": {"type": "string"},
            "problems": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Finding": {
        "type": "object",
        "required": ["rule", "severity", "message_index", "wire_index", "provider_error", "explanation", "fix"],
        "properties": {
            "rule": {"type": "string"},
            "severity": {"enum": ["error", "warning", "info"]},
            "message_index": {"type": ["integer", "null"], "description": "0-based, into the history's messages"},
            "wire_index": {"type": ["integer", "null"], "description": "the index the provider's error names"},
            "provider_error": NULLABLE_STRING,
            "explanation": {"type": "string"},
            "fix": {"type": "string", "description": "a repair strategy code"},
            "guess": {
                "type": ["string", "null"],
                "description": "the request parameter the log does not record that the finding rests on "
                "(thinking, max_tokens, tools, system prompt, cache markers, client version): then a warning",
            },
            "answered": {
                "type": ["object", "null"],
                "description": "the later reply in the log that proves a request holding this message was "
                "answered; the finding then does not count against `accepted`",
                "properties": {"message_index": {"type": "integer"}, "timestamp": NULLABLE_STRING},
            },
        },
    },
    "Verdict": {
        "type": "object",
        "required": ["target", "provider", "accepted", "findings"],
        "description": "Exactly what `check_history --json` prints for one target.",
        "properties": {
            "target": {"type": "string"},
            "provider": {"type": "string"},
            "accepted": {"type": "boolean"},
            "findings": {"type": "array", "items": _ref("Finding")},
            "sender": {
                "enum": ["litellm", "claude-code", "openhands", "direct", ""],
                "description": "the client whose request was judged",
            },
            "notes": {"type": "array", "items": {"type": "string"}, "description": '"model unknown: judged as ..."'},
            "applicable": {"type": "boolean", "description": "false: the sender cannot send to this target"},
        },
    },
    "VerdictSummary": {
        "type": "object",
        "properties": {
            "target": {"type": "string"},
            "provider": {"type": "string"},
            "status": {"enum": ["accepted", "warnings", "rejected"]},
            "accepted": {"type": "boolean"},
            "errors": {"type": "integer"},
            "warnings": {"type": "integer"},
            "first_rule": NULLABLE_STRING,
            "own_target": {"type": "boolean"},
        },
    },
    "ConversationSummary": {
        "type": "object",
        "required": ["id", "url", "title", "format", "revision", "verdicts"],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string", "format": "uri"},
            "page_url": {"type": ["string", "null"], "format": "uri"},
            "title": {"type": "string"},
            "format": {"type": "string"},
            "model": NULLABLE_STRING,
            "provider": NULLABLE_STRING,
            "external_id": NULLABLE_STRING,
            "source": {
                "type": "object",
                "properties": {"kind": {"enum": list(SOURCE_KINDS)}, "location": {"type": "string"}},
            },
            "message_count": {"type": "integer"},
            "tool_call_count": {"type": "integer"},
            "token_count": {
                "type": "integer",
                "description": "over the requests the log records: input + cache read + cache write + output",
            },
            "first_at": TIME,
            "last_at": TIME,
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "revision": {"type": ["integer", "null"], "description": "the latest revision's number"},
            "status": {"enum": list(STATUSES), "description": "is it stuck? (README: Routes and status)"},
            "route": {
                "type": ["object", "null"],
                "description": "the route its next request takes; null: its own target",
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "integer"},
                    "model_group": {"type": "string"},
                },
            },
            "verdicts": {"type": "array", "items": _ref("VerdictSummary")},
        },
    },
    "Revision": {
        "type": "object",
        "properties": {
            "number": {"type": "integer"},
            "parent": {"type": ["integer", "null"]},
            "reason": {"type": "string"},
            "author": NULLABLE_STRING,
            "created_at": {"type": "string", "format": "date-time"},
            "message_count": {"type": "integer"},
            "url": {"type": "string", "format": "uri"},
        },
    },
    "ConversationDetail": {
        "allOf": [
            _ref("ConversationSummary"),
            {
                "type": "object",
                "properties": {
                    "verdicts": {
                        "type": "array",
                        "items": _ref("Verdict"),
                        "description": "the latest revision's verdicts, with their findings",
                    },
                    "error": {
                        "type": ["string", "null"],
                        "description": "the error the provider answered, when the log carries it",
                    },
                    "logged_failure": {
                        "type": ["object", "null"],
                        "description": "the failure the log records (check_history --json's logged_failure): "
                        "error, at, request_error, explained_by {rule, message_index} | null, "
                        "why_unexplained, recovered",
                    },
                    "meta": {
                        "type": "object",
                        "description": "what the log says about the call (model_group, model_id, trace_id...)",
                    },
                    "run": {
                        "type": ["object", "null"],
                        "description": "an OpenHands output.jsonl line's run (resolver or evaluation): how it "
                        "ended and what it cost, each null where the line lacks it; null for any other log",
                        "properties": {
                            "kind": {"enum": ["resolver", "evaluation"]},
                            "instance_id": NULLABLE_STRING,
                            "issue_title": NULLABLE_STRING,
                            "success": {"type": ["boolean", "null"]},
                            "error": {"description": "the run's error as the line gives it (a string, or null)"},
                            "accumulated_cost": {"type": ["number", "null"]},
                            "result_explanation": {"description": "the resolver's explanation (a string, or null)"},
                        },
                    },
                    "revisions": {"type": "array", "items": _ref("Revision")},
                    "usage": {
                        "type": "object",
                        "description": "tokens over the requests the log records, each kind apart (null: the log "
                        "does not record it); token_count is their sum",
                        "properties": {
                            k: {"type": ["integer", "null"]} for k in ("input", "cache_read", "cache_write", "output")
                        },
                    },
                    "parent": {
                        "type": ["object", "null"],
                        "description": "a Claude Code subagent's parent session, and the call that started it",
                        "properties": {"id": {"type": "integer"}, "tool_use_id": NULLABLE_STRING},
                    },
                    "subagents": {
                        "type": "array",
                        "description": "the subagents this Claude Code session started",
                        "items": {
                            "type": "object",
                            "properties": {"id": {"type": "integer"}, "tool_use_id": NULLABLE_STRING},
                        },
                    },
                },
            },
        ],
    },
    "Ingested": {
        "type": "object",
        "required": ["id", "status", "verdicts", "url"],
        "properties": {
            "id": {"type": "integer"},
            "status": {"enum": ["ingested", "unchanged"]},
            "url": {"type": "string", "format": "uri"},
            "verdicts": {"type": "array", "items": _ref("Verdict")},
            "conversations": {
                "type": "array",
                "description": "when the log held several conversations",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "url": {"type": "string", "format": "uri"},
                        "verdicts": {"type": "array", "items": _ref("Verdict")},
                    },
                },
            },
        },
    },
    "Page": {
        "type": "object",
        "required": ["count", "page", "pages", "next", "previous", "results"],
        "properties": {
            "count": {"type": "integer"},
            "page": {"type": "integer"},
            "pages": {"type": "integer"},
            "next": {"type": ["string", "null"], "format": "uri"},
            "previous": {"type": ["string", "null"], "format": "uri"},
            "results": {"type": "array", "items": _ref("ConversationSummary")},
        },
    },
    "RepairRequest": {
        "type": "object",
        "description": "Give `target` or `route`, not both.",
        "properties": {
            "target": {
                "type": "string",
                "description": "a provider target (anthropic, bedrock, bedrock-invoke, openai, gemini)",
            },
            "route": {
                "type": "object",
                "required": ["model_group"],
                "description": "repair for every deployment of a litellm route (the group and its fallbacks): "
                "a route kept by name, or a pasted config; by default the conversation's own route",
                "properties": {
                    "name": {"type": "string", "description": "a route kept in the database"},
                    "config": {"type": "string", "description": "a litellm proxy config, YAML text"},
                    "model_group": {"type": "string"},
                },
            },
            "dry_run": {
                "type": "boolean",
                "default": False,
                "description": "answer with the edits and the verdicts before and after, store nothing",
            },
            "include_warnings": {"type": "boolean", "default": False},
            "sender": {
                "enum": ["litellm", "claude-code", "openhands", "direct"],
                "description": "judge the request this client sends (default: the format's own)",
            },
            "revision": {
                "type": "integer",
                "description": "the revision the client read: if another one "
                "was added since, 409 and nothing is stored",
            },
        },
    },
    "RepairResult": {
        "type": "object",
        "required": ["dry_run", "changed", "edits", "before", "after"],
        "properties": {
            "dry_run": {"type": "boolean"},
            "changed": {"type": "boolean"},
            "revision": {
                "type": ["integer", "null"],
                "description": "the new revision (or the one repaired, for a dry run or no change)",
            },
            "url": {"type": ["string", "null"], "format": "uri"},
            "edits": {"type": "array", "items": {"type": "object"}},
            "before": {"type": "array", "items": _ref("Verdict")},
            "after": {"type": "array", "items": _ref("Verdict")},
        },
    },
    "IngestQueued": {
        "type": "object",
        "required": ["job", "status_url"],
        "description": "A body over INGEST_INLINE_MAX_BYTES: stored for a background ingest.",
        "properties": {"job": {"type": "integer"}, "status_url": {"type": "string", "format": "uri"}},
    },
    "IngestJob": {
        "type": "object",
        "required": ["job", "status", "progress", "conversations", "error"],
        "properties": {
            "job": {"type": "integer"},
            "status": {"enum": ["queued", "running", "done", "failed"]},
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "progress": {
                "type": "object",
                "properties": {
                    "percent": {"type": "integer"},
                    "step": {"type": "string"},
                    "seconds": {"type": "number"},
                    "attempts": {"type": "integer"},
                },
            },
            "conversations": {
                "type": "array",
                "description": "once done: the conversations the log holds",
                "items": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "url": {"type": "string", "format": "uri"}},
                },
            },
            "outcome": {"enum": ["ingested", "unchanged", "skipped", "failed", None]},
            "failures": {"type": "array", "items": {"type": "object"}},
            "error": {"type": ["string", "null"], "description": "once failed: why, as an inline post would say"},
            "created_at": TIME,
            "finished_at": TIME,
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/conversations": {
        "post": {
            "operationId": "conversationCreate",
            "summary": "Add a conversation log",
            "description": "The body is a log in any supported format. The same body twice is stored once; "
            "new bytes under the same `name` add a revision.",
            "parameters": [
                _query("format", "force a format instead of detecting it", {"enum": list(FORMAT_NAMES)}),
                _query("name", "the source's label (default: derived from the content)", {"type": "string"}),
                _query("kind", "api (default) or capture (the litellm callback)", {"enum": ["api", "capture"]}),
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {}}, "application/x-ndjson": {"schema": {}}},
            },
            "responses": {
                "201": _json("Stored and checked", _ref("Ingested")),
                "200": _json("Already stored, unchanged", _ref("Ingested")),
                "202": _json("Over INGEST_INLINE_MAX_BYTES: queued for a background ingest", _ref("IngestQueued")),
                "400": _error("Not a readable log (the reason names the file, line and place)"),
                "409": _error("The log holds a deleted conversation (kept, still deleted)"),
                "413": _error("Larger than the inspector's UPLOAD_MAX_BYTES"),
                **COMMON_ERRORS,
            },
        },
        "get": {
            "operationId": "conversationList",
            "summary": "List conversations, filtered, a page at a time",
            "parameters": [
                _query("status", "stuck, at_risk, healthy or unchecked", {"enum": list(STATUSES)}),
                _query("verdict", "by the latest revision's verdict", {"enum": list(VERDICTS)}),
                _query("rule", "conversations with a finding of this rule", {"type": "string"}),
                _query("target", "narrow verdict and rule to one target", {"type": "string"}),
                _query("provider", "", {"type": "string"}),
                _query("model", "", {"type": "string"}),
                _query("source", "where it came from", {"enum": list(SOURCE_KINDS)}),
                _query("since", "last activity on or after", {"type": "string", "format": "date"}),
                _query("until", "last activity on or before", {"type": "string", "format": "date"}),
                _query("q", "full-text search", {"type": "string"}),
                _query("sort", "", {"enum": list(SORTS)}),
                _query("per", "page size", {"enum": [str(n) for n in PAGE_SIZES]}),
                _query("page", "", {"type": "integer", "minimum": 1}),
            ],
            "responses": {
                "200": _json("One page", _ref("Page")),
                "400": _error("A malformed filter value"),
                "404": _error("No such page"),
                **COMMON_ERRORS,
            },
        },
    },
    "/api/conversations/{id}": {
        "get": {
            "operationId": "conversationGet",
            "summary": "A conversation with its findings and revisions",
            "parameters": [
                _path("id", "the conversation"),
                _query(
                    "sender",
                    "judge the latest revision as this client sends it (checked now, not stored)",
                    {"enum": ["litellm", "claude-code", "openhands", "direct"]},
                ),
            ],
            "responses": {
                "200": _json("The conversation", _ref("ConversationDetail")),
                "404": _error("No such conversation"),
                **COMMON_ERRORS,
            },
        },
    },
    "/api/conversations/{id}/revisions/{number}": {
        "get": {
            "operationId": "revisionDocument",
            "summary": "A revision as a document",
            "parameters": [
                _path("id", "the conversation"),
                _path("number", "the revision number"),
                _query(
                    "as",
                    "the source's own format (default), or an OpenAI or Anthropic request",
                    {"enum": ["source", "openai", "anthropic"]},
                ),
            ],
            "responses": {
                "200": {
                    "description": "The document (a directory source comes back as {name, files})",
                    "content": {"application/json": {"schema": {}}, "application/x-ndjson": {"schema": {}}},
                },
                "400": _error("Unknown `as`"),
                "404": _error("No such conversation or revision"),
                "422": _error("The revision cannot be written in that format"),
                **COMMON_ERRORS,
            },
        },
    },
    "/api/conversations/{id}/repair": {
        "post": {
            "operationId": "conversationRepair",
            "summary": "Repair for a target or a route",
            "parameters": [_path("id", "the conversation")],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("RepairRequest")}}},
            "responses": {
                "201": _json("Repaired: a new revision", _ref("RepairResult")),
                "200": _json("A dry run, or nothing to repair", _ref("RepairResult")),
                "400": _error("Bad input: no or unknown target, unreadable route config..."),
                "404": _error("No such conversation"),
                "409": _error("The conversation changed since `revision`"),
                **COMMON_ERRORS,
            },
        },
    },
    "/api/ingest-jobs/{id}": {
        "get": {
            "operationId": "ingestJobGet",
            "summary": "A background ingest's state, and its conversations or error once over",
            "parameters": [_path("id", "the job (from the 202 answer)")],
            "responses": {
                "200": _json("The job", _ref("IngestJob")),
                "404": _error("No such job of this token's user"),
                **COMMON_ERRORS,
            },
        },
    },
    "/api/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This description",
            "security": [],
            "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
        },
    },
}

SCHEMA: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Conversation Inspector API",
        "version": "1",
        "description": "Add agent conversation logs, read what a provider would reject and why, "
        "and repair them. Authenticate with `Authorization: Bearer <token>` "
        "(`manage.py create_api_token USERNAME`, or the admin).",
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "an API token; the session cookie is never accepted",
            }
        },
    },
    "security": [{"bearer": []}],
}


@require_GET
@login_not_required
def schema_view(request: HttpRequest) -> JsonResponse:
    """Public: the description holds no data, and clients fetch it before they have a token."""
    schema = {**SCHEMA, "servers": [{"url": request.build_absolute_uri("/").rstrip("/")}]}
    return JsonResponse(schema, json_dumps_params={"indent": 1})
