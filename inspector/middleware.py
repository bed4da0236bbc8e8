"""Request limits that must hold before Django reads a body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class BodyLimitMiddleware:
    """413 for a request whose body is larger than UPLOAD_MAX_BYTES in total, before any of it is
    read: Django's DATA_UPLOAD_MAX_MEMORY_SIZE leaves files out, and the CSRF check would parse a
    multipart body (writing its files to disk) before the upload view could look at their sizes.
    First in the chain for that reason. A body sent without a length is bounded where it is read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or ""
        limit = settings.UPLOAD_MAX_BYTES
        if declared.isdigit() and int(declared) > limit:
            reason = f"the body is {int(declared):,} bytes, larger than the limit of {limit:,} bytes"
            if request.path.startswith("/api/"):  # the API's own error shape
                return JsonResponse({"status": 413, "reason": reason, "limit": limit}, status=413)
            return HttpResponse(
                f"{reason} (UPLOAD_MAX_BYTES); nothing was read or stored.\n",
                status=413,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
