"""Sets the audit context (request id, client address, user agent, source) for each request."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.client_address import client_address
from cases.audit.context import audit_context
from cases.models.audit import AuditSource

_REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"


def _source_for(path: str) -> str:
    if path.startswith("/api/"):
        return AuditSource.API
    if path.startswith("/admin/"):
        return AuditSource.ADMIN
    return AuditSource.WEB


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # A proxy's request id is kept so a log line can be followed across systems.
        request_id = request.META.get(_REQUEST_ID_HEADER, "")[:64] or uuid.uuid4().hex
        with audit_context(
            source=_source_for(request.path),
            request_id=request_id,
            # Behind our proxies, the client's address rather than the proxy's (TRUSTED_PROXY_COUNT).
            ip_address=client_address(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        ):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
