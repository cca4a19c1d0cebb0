from __future__ import annotations

from django.db import models

from .models import AuditEvent


def audit_log(
    *,
    action: AuditEvent.Action,
    actor=None,
    team=None,
    target: models.Model | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """Append one event. Call it inside the transaction of the change it records."""
    return AuditEvent.objects.create(
        action=action,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=_label(actor),
        team=team,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        details=details or {},
    )


def _label(actor) -> str:
    if actor is None:
        return "system"
    return actor.get_username()
