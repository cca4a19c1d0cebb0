"""Login limits with django-axes, counted in Django's cache (`CACHE_URL`: Redis when several processes serve).

Three counters of failed password logins, each in a fixed window of `SANDGATE_LOGIN_WINDOW_SECONDS` that
starts at its first failure; a login is refused, without checking the password, while any is at its limit:

| rule | counts failures of | limit | stops |
|---|---|---|---|
| `account_address` | one username from one address | `SANDGATE_LOGIN_FAILURES` (5) | guessing one password |
| `address` | one address, every username | `SANDGATE_LOGIN_ADDRESS_FAILURES` (20) | password spraying |
| `account` | one username, every address | `SANDGATE_LOGIN_ACCOUNT_FAILURES` (20) | distributed guessing |

A refused attempt is not counted, so one address adds at most `SANDGATE_LOGIN_FAILURES` failures to an
account's counter, and the account limit is above that (checked below): no single address can lock an
account out everywhere. The price is that enough addresses together can (4 with the defaults); see
docs/security.md. A successful login clears only its own `account_address` counter: logging into one's own
account must not reset what an address has sprayed at others.

axes gives the backend that refuses, the signals, the middleware that answers and `axes_reset_*` commands;
`LoginLimitHandler` is its cache handler with a limit per rule (axes has one limit for all) and keys that
cannot collide (axes hashes the bare values, so the username "10.0.0.1" would share the address's key).
The rule that locks is audited once (`auth.login_locked`). With the cache unreachable (Redis down), logins
are checked by their password alone rather than fail; that is logged.
"""

from __future__ import annotations

import hashlib
import logging

from axes.backends import AxesStandaloneBackend
from axes.handlers.cache import AxesCacheHandler
from axes.helpers import get_cache
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import HttpResponse
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

LOCKED_MESSAGE = (
    "Too many failed logins. Please wait {minutes} minutes and try again, "
    "or ask an administrator to reset your password."
)


def client_ip(request) -> str:
    """The address limits count by (AXES_CLIENT_IP_CALLABLE): the peer, as the audit log records it."""
    return request.META.get("REMOTE_ADDR", "")


def locked_message() -> str:
    return LOCKED_MESSAGE.format(minutes=max(1, settings.SANDGATE_LOGIN_WINDOW_SECONDS // 60))


def _check_limits() -> None:
    if settings.SANDGATE_LOGIN_ACCOUNT_FAILURES <= settings.SANDGATE_LOGIN_FAILURES:
        raise ImproperlyConfigured(
            "SANDGATE_LOGIN_ACCOUNT_FAILURES must be above SANDGATE_LOGIN_FAILURES: otherwise one address "
            "could lock an account out from everywhere."
        )


def _key(rule: str, *parts: str) -> str:
    # Addresses hold no newline, so "username\naddress" splits one way only.
    return f"login-limit:{rule}:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _counters(request, credentials: dict | None) -> list[tuple[str, str, int]]:
    """(rule, cache key, limit) of every counter this attempt is counted in."""
    _check_limits()
    address = client_ip(request)
    username = str((credentials or {}).get("username") or "").strip().lower()
    counters = [("address", _key("address", address), settings.SANDGATE_LOGIN_ADDRESS_FAILURES)]
    if username:
        counters += [
            ("account_address", _key("account_address", username, address), settings.SANDGATE_LOGIN_FAILURES),
            ("account", _key("account", username), settings.SANDGATE_LOGIN_ACCOUNT_FAILURES),
        ]
    return counters


class LoginLimitHandler(AxesCacheHandler):
    """axes' cache handler with one limit per rule (see the module's docstring)."""

    def __init__(self):
        pass  # axes keeps the cache it found at start-up; `cache` below follows CACHES when it changes

    @property
    def cache(self):
        return get_cache()

    def get_failures(self, request, credentials: dict | None = None) -> int:
        return max(self.cache.get(key, 0) for _, key, _ in _counters(request, credentials))

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        try:
            return any(self.cache.get(key, 0) >= limit for _, key, limit in _counters(request, credentials))
        except RedisError:
            logger.exception("login limit not applied: the cache is unreachable")
            return False

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is None or getattr(request, "axes_locked_out", False):
            return  # nothing to count by, or refused unchecked by the backend: not a guess, not counted
        try:
            counted = [
                (rule, self._count(key), limit) for rule, key, limit in _counters(request, credentials)
            ]
        except RedisError:
            logger.exception("login limit not applied: the cache is unreachable")
            return
        if not any(failures >= limit for _, failures, limit in counted):
            return
        request.axes_locked_out = True
        request.axes_credentials = credentials
        username = str(credentials.get("username") or "")[:150]
        for rule, failures, limit in counted:
            if failures == limit:  # this failure reached it: audited once per window
                _audit_locked(request, username=username, rule=rule, failures=failures)
        user_locked_out.send("axes", request=request, username=username, ip_address=client_ip(request))

    def user_logged_in(self, sender, request, user, **kwargs):
        if request is None:
            return
        username = user.get_username().strip().lower()
        try:
            self.cache.delete(_key("account_address", username, client_ip(request)))
        except RedisError:
            logger.exception("login limit not reset: the cache is unreachable")

    def user_logged_out(self, sender, request, user, **kwargs):
        pass

    def reset_attempts(self, *, ip_address=None, username=None, ip_or_username=False) -> int:
        """For `axes_reset_ip` / `axes_reset_username`: clear the counters naming that address or username."""
        keys = []
        if ip_address:
            keys.append(_key("address", ip_address))
        if username:
            keys.append(_key("account", username.strip().lower()))
        if ip_address and username:
            keys.append(_key("account_address", username.strip().lower(), ip_address))
        return sum(bool(self.cache.delete(key)) for key in keys)

    def _count(self, key: str) -> int:
        window = settings.SANDGATE_LOGIN_WINDOW_SECONDS
        if self.cache.add(key, 1, timeout=window):
            return 1
        try:
            return self.cache.incr(key)
        except ValueError:  # expired between add and incr: a new window starts
            self.cache.set(key, 1, timeout=window)
            return 1


def _audit_locked(request, *, username: str, rule: str, failures: int) -> None:
    from audit.models import AuditEvent
    from audit.services import audit_log

    audit_log(
        action=AuditEvent.Action.LOGIN_LOCKED,
        actor=AnonymousUser(),
        details={
            "username": username,
            "rule": rule,
            "failures": failures,
            "window_seconds": settings.SANDGATE_LOGIN_WINDOW_SECONDS,
        },
        http_request=request,
    )


class LoginLimitBackend(AxesStandaloneBackend):
    """axes' backend (refuses while a limit is reached); a call without a request has nothing to count by."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login form again, with its message (LoginLimitFormMixin), as 429."""
    if original_response is None:
        return HttpResponse(locked_message(), status=429, content_type="text/plain; charset=utf-8")
    original_response.status_code = 429
    return original_response


class LoginLimitFormMixin:
    """Says "too many failed logins" instead of "wrong password" when a limit refused or was reached."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "axes_locked_out", False):
                raise ValidationError(locked_message(), code="login_locked") from None
            raise


class LoginForm(LoginLimitFormMixin, AuthenticationForm):
    """The analysts' `/login/` form."""


class AdminLoginForm(LoginLimitFormMixin, AdminAuthenticationForm):
    """The reviewer console's (`/admin/`) login form."""
