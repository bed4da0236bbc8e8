"""What every API view shares: token authentication first, method dispatch, JSON answers, and
ApiError turned into a JSON error body with its reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt

from conversations.api.auth import ApiError, token_authenticate
from conversations.history.finite import finite

View = Callable[..., HttpResponse]


def json_response(data: Any, status: int = 200, **headers: str) -> JsonResponse:
    params = {"ensure_ascii": False, "allow_nan": False}
    try:
        response = JsonResponse(data, status=status, safe=False, encoder=DjangoJSONEncoder, json_dumps_params=params)
    except UnicodeEncodeError:  # a lone surrogate from a log: JSON's own escape, \ud800
        response = JsonResponse(
            finite(data), status=status, safe=False, encoder=DjangoJSONEncoder, json_dumps_params={"ensure_ascii": True}
        )
    except ValueError:  # a NaN or an infinity from a log: null, as JSON has it
        response = json_response(finite(data), status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def error_response(error: ApiError) -> JsonResponse:
    response = json_response({"status": error.status, "reason": error.reason, **error.extra}, status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="conversation-inspector"'
    return response


def endpoint(**handlers: View) -> View:
    """One URL's view: authenticate the bearer token (never the session), then call the handler
    for the method (GET=..., POST=...). CSRF does not apply: a cross-site page cannot add the
    Authorization header."""
    allowed = ", ".join(sorted(handlers))

    @csrf_exempt
    @login_not_required
    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            handler = handlers.get(request.method or "")
            if handler is None:
                response = error_response(ApiError(405, f"{request.method} is not allowed here; use {allowed}"))
                response["Allow"] = allowed
                return response
            request.user = token_authenticate(request)
            return handler(request, *args, **kwargs)
        except ApiError as exc:
            return error_response(exc)

    view.api_handlers = handlers  # read by the schema test: every method has an entry
    return view


@csrf_exempt
@login_not_required
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Unknown URLs under /api/ answer JSON, not the login page or an HTML 404."""
    hint = "see /api/openapi.json"
    if request.path.endswith("/") and _resolves(request.path.rstrip("/")):
        hint = f"did you mean {request.path.rstrip('/')} (no trailing slash)?"
    return error_response(ApiError(404, f"no API endpoint at {request.path}; {hint}"))


def _resolves(path: str) -> bool:
    try:
        return resolve(path).func is not not_found
    except Resolver404:
        return False


def json_body(request: HttpRequest, max_bytes: int) -> dict:
    """The request body as a JSON object; ApiError 413/400 otherwise."""
    data = body_bytes(request, max_bytes)
    if not data.strip():
        return {}
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"the body must be a JSON object, got {type(value).__name__}")
    return value


def body_bytes(request: HttpRequest, max_bytes: int) -> bytes:
    """The raw body, refused with 413 past `max_bytes` before it is all read when the client says
    its length, and after reading max_bytes + 1 bytes when it does not."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(
            413, f"the body is {int(declared):,} bytes, larger than the limit of {max_bytes:,} bytes", limit=max_bytes
        )
    data = request.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, f"the body is larger than the limit of {max_bytes:,} bytes", limit=max_bytes)
    return data
