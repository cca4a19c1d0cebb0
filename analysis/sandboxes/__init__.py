"""Sandbox backends: `get_sandbox()` returns the one settings.SANDBOX_BACKEND names."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import DatasetMount, Limits, Sandbox, SandboxResult

__all__ = ["DatasetMount", "Limits", "Sandbox", "SandboxResult", "default_limits", "get_sandbox"]


def get_sandbox() -> Sandbox:
    backend = settings.SANDBOX_BACKEND
    if backend == "local":
        from .local import LocalSandbox  # imported here: it loads libc and probes nothing until run()

        return LocalSandbox()
    if backend == "e2b":
        raise ImproperlyConfigured("E2B backend not available yet")
    raise ImproperlyConfigured(f"Unknown SANDBOX_BACKEND {backend!r}: expected 'local' or 'e2b'.")


def default_limits() -> Limits:
    """The limits from settings.SANDBOX_LIMITS."""
    return Limits(**settings.SANDBOX_LIMITS)
