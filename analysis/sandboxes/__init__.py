"""Sandbox backends: `get_sandbox()` returns the one settings.SANDBOX_BACKEND names."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import DatasetMount, Limits, Sandbox, SandboxResult

__all__ = [
    "DatasetMount",
    "Limits",
    "Sandbox",
    "SandboxResult",
    "default_limits",
    "get_sandbox",
    "run_seconds_ceiling",
]


def get_sandbox() -> Sandbox:
    backend = settings.SANDBOX_BACKEND
    if backend == "local":
        from .local import LocalSandbox  # imported here: it loads libc and probes nothing until run()
        from .warm import worker_pool

        return worker_pool() or LocalSandbox()  # the warm pool exists in Celery workers only
    if backend == "e2b":
        from .e2b import E2BSandbox  # imported here: the SDK is only loaded where it is used

        return E2BSandbox()
    raise ImproperlyConfigured(f"Unknown SANDBOX_BACKEND {backend!r}: expected 'local' or 'e2b'.")


def run_seconds_ceiling(limits: Limits, backend: str = "") -> float:
    """The longest a run at `limits` is counted, and so charged, by `backend` (settings.SANDBOX_BACKEND):
    what a run's budget hold is priced at, with the function that prices its charge."""
    backend = backend or settings.SANDBOX_BACKEND
    if backend == "local":
        from .local import run_seconds_ceiling as local_ceiling

        return local_ceiling(limits)
    if backend == "e2b":
        from .e2b import run_seconds_ceiling as e2b_ceiling

        return e2b_ceiling(limits)
    raise ImproperlyConfigured(f"Unknown SANDBOX_BACKEND {backend!r}: expected 'local' or 'e2b'.")


def default_limits() -> Limits:
    """The limits from settings.SANDBOX_LIMITS."""
    return Limits(**settings.SANDBOX_LIMITS)
