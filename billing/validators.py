"""What a team's settings may hold. The model's fields use these, so the console's form shows each error."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError

# Distinct reviewers a high-risk request may need at most; 0 would mean none at all.
MAX_HIGH_RISK_QUORUM = 10
# A team's runs queued or running at once, at most (0 would never run anything).
MAX_ACTIVE_RUNS = 100
# A team may raise a sandbox limit up to this many times the server's value (SANDBOX_LIMITS).
SANDBOX_LIMIT_FACTOR = 10


def sandbox_limit_ceiling(key: str) -> int:
    """The most a team may set for one limit."""
    server = settings.SANDBOX_LIMITS[key]
    if key == "wall_seconds":
        # The worker's Celery time limits are set from the server's wall time: a longer run would be
        # killed by Celery, not by the sandbox, and redelivered. Teams may only shorten it.
        return server
    return server * SANDBOX_LIMIT_FACTOR


def validate_sandbox_limits(value) -> None:
    """Known keys, whole numbers above 0, at most their ceiling: {"wall_seconds": 60, "memory_mb": 512}."""
    if not isinstance(value, dict):
        # Not code="invalid": a model form would show its field's "Enter a valid JSON." instead.
        message = 'Sandbox limits are a JSON object, e.g. {"wall_seconds": 60}.'
        raise ValidationError(message, code="not_an_object")
    known = settings.SANDBOX_LIMITS
    errors = []
    for key, limit in value.items():
        if key not in known:
            errors.append(f"“{key}” is not a sandbox limit; the limits are {', '.join(sorted(known))}.")
        elif not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            errors.append(f"{key} must be a whole number above 0, not {limit!r}.")
        elif limit > sandbox_limit_ceiling(key):
            ceiling = sandbox_limit_ceiling(key)
            errors.append(f"{key} may be at most {ceiling} on this server; {limit} is too much.")
    if errors:
        raise ValidationError(errors)
