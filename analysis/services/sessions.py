"""Sessions: archiving one, and expiring those idle for too long."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_log
from config.exceptions import Conflict, Forbidden

from ..models import Session

Action = AuditEvent.Action


@transaction.atomic
def session_archive(*, session: Session, user) -> Session:
    """The analyst closes a conversation; follow-ups then start a new session. Archiving twice is a no-op."""
    if session.user_id != user.pk:
        raise Forbidden("Only the person who started a session can archive it.", code="not_your_session")
    archived = Session.objects.filter(pk=session.pk, status=Session.Status.ACTIVE).update(
        status=Session.Status.ARCHIVED
    )
    session.refresh_from_db()
    if archived == 1:
        audit_log(action=Action.SESSION_ARCHIVED, actor=user, team=session.team, target=session)
    elif session.status != Session.Status.ARCHIVED:
        raise Conflict(f"The session is {session.status}.", code="session_closed")
    return session


def session_idle_cutoff():
    return timezone.now() - timedelta(hours=settings.SESSION_IDLE_EXPIRY_HOURS)


def session_expire_idle(*, limit: int = 1000) -> int:
    """Expire active sessions idle for longer than SESSION_IDLE_EXPIRY_HOURS; returns how many."""
    cutoff = session_idle_cutoff()
    idle = Session.objects.filter(status=Session.Status.ACTIVE, last_activity_at__lt=cutoff)
    ids = list(idle.values_list("pk", flat=True)[:limit])
    return sum(_session_expire(session_id=pk, cutoff=cutoff) for pk in ids)


@transaction.atomic
def _session_expire(*, session_id, cutoff) -> int:
    # Conditional: a question asked meanwhile (fresh last_activity_at) keeps the session alive.
    expired = Session.objects.filter(
        pk=session_id, status=Session.Status.ACTIVE, last_activity_at__lt=cutoff
    ).update(status=Session.Status.EXPIRED)
    if expired == 1:
        session = Session.objects.select_related("team").get(pk=session_id)
        audit_log(
            action=Action.SESSION_EXPIRED,
            team=session.team,
            target=session,
            details={"idle_hours": settings.SESSION_IDLE_EXPIRY_HOURS},
        )
    return expired
