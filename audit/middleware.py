"""Remembers the current HTTP request so audit events written anywhere below it get its IP and user agent.

Services take no HTTP request (they also run in workers and the shell); a context variable carries it
to `audit_log` without threading it through every call.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.http import HttpRequest

current_http_request: ContextVar[HttpRequest | None] = ContextVar("audit_http_request", default=None)


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_http_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_http_request.reset(token)
