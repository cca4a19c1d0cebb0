"""Login rate limit: after too many failed logins for one username from one IP, refuse for a while.

Counted in Django's cache (`CACHE_URL`; Redis when several web processes serve), keyed by a hash of the
lower-cased username and the client IP, in a fixed window that starts at the first failure. The backend
enforces it for every password login (the analysts' `/login/`, the admin's, anything else that calls
`authenticate`); the forms check it first so a locked-out person reads a clear message instead of
"wrong password", and the password is not even checked. The lockout itself is audited once per window.
With the cache unreachable (Redis down), logins go on without the limit rather than fail; that is logged.
"""

from __future__ import annotations

import functools
import hashlib
import logging

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

LOCKED_MESSAGE = (
    "Too many failed logins for this username from your address. "
    "Please wait {minutes} minutes and try again, or ask an administrator to reset your password."
)


def _key(*, username: str, ip: str) -> str:
    digest = hashlib.sha256(f"{username.strip().lower()}\n{ip}".encode()).hexdigest()
    return f"login-failures:{digest}"


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


def _unless_cache_down(default):
    """With the cache down, a login is checked by its password alone, not refused with a 500."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except RedisError:
                logger.exception("login limit not applied: the cache is unreachable")
                return default

        return wrapper

    return decorate


@_unless_cache_down(default=False)
def login_locked(*, username: str, request) -> bool:
    failures = cache.get(_key(username=username, ip=_client_ip(request)), 0)
    return failures >= settings.SANDGATE_LOGIN_FAILURES


@_unless_cache_down(default=0)
def login_failure_record(*, username: str, request) -> int:
    """Count one failure; the one that reaches the limit writes the `auth.login_locked` audit event."""
    from audit.models import AuditEvent
    from audit.services import audit_log

    key = _key(username=username, ip=_client_ip(request))
    cache.add(key, 0, timeout=settings.SANDGATE_LOGIN_WINDOW_SECONDS)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr: a new window starts
        cache.set(key, 1, timeout=settings.SANDGATE_LOGIN_WINDOW_SECONDS)
        failures = 1
    if failures == settings.SANDGATE_LOGIN_FAILURES:
        audit_log(
            action=AuditEvent.Action.LOGIN_LOCKED,
            actor=AnonymousUser(),
            details={
                "username": username[:150],
                "failures": failures,
                "window_seconds": settings.SANDGATE_LOGIN_WINDOW_SECONDS,
            },
            http_request=request,
        )
    return failures


@_unless_cache_down(default=None)
def login_failures_clear(*, username: str, request) -> None:
    cache.delete(_key(username=username, ip=_client_ip(request)))


class LoginLimitBackend(ModelBackend):
    """Django's model backend, refusing (PermissionDenied) while the username+IP is locked out."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        name = username if username is not None else kwargs.get(self._username_field(), "")
        if name and login_locked(username=name, request=request):
            raise PermissionDenied(locked_message())
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if name and user is None:
            login_failure_record(username=name, request=request)
        elif name:
            login_failures_clear(username=name, request=request)
        return user

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD


def locked_message() -> str:
    return LOCKED_MESSAGE.format(minutes=max(1, settings.SANDGATE_LOGIN_WINDOW_SECONDS // 60))


class LoginLimitFormMixin:
    """Says "too many attempts" (before checking the password) instead of "wrong password"."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if username and login_locked(username=username, request=self.request):
            raise ValidationError(locked_message(), code="login_locked")
        try:
            return super().clean()
        except ValidationError:
            if username and login_locked(username=username, request=self.request):
                raise ValidationError(locked_message(), code="login_locked") from None
            raise


class LoginForm(LoginLimitFormMixin, AuthenticationForm):
    """The analysts' `/login/` form."""


class AdminLoginForm(LoginLimitFormMixin, AdminAuthenticationForm):
    """The reviewer console's (`/admin/`) login form."""
