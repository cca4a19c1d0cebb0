"""Reads of the audit trail: the chain head, verification, the auditor's list, exports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Q, QuerySet

from billing.models import Membership
from config.exceptions import Forbidden

from .anchors import anchors_read
from .chain import GENESIS, event_hash
from .models import AuditEvent


def audit_chain_head() -> AuditEvent | None:
    return AuditEvent.objects.filter(position__isnull=False).order_by("-position").first()


def audit_unchained_count() -> int:
    """Events committed but not chained yet (the partial index `audit_event_unchained` keeps this cheap)."""
    return AuditEvent.objects.filter(hash="").count()


def audit_chained_events(*, since=None, until=None) -> QuerySet[AuditEvent]:
    """Chained events in chain order; `since` inclusive, `until` exclusive."""
    qs = AuditEvent.objects.filter(position__isnull=False).order_by("position")
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    position: int
    reason: str


def audit_chain_find_break(*, head_file: Path | None = None) -> ChainBreak | None:
    """The first place the chain is broken, or None. Run `audit_chain_pending` first."""
    return _first_broken_link() or _first_broken_anchor(head_file or Path(settings.AUDIT_HEAD_FILE))


def _first_broken_link() -> ChainBreak | None:
    expected_position, prev_hash = 1, GENESIS
    for event in audit_chained_events().iterator(chunk_size=2000):
        reason = _link_error(event, expected_position=expected_position, prev_hash=prev_hash)
        if reason:
            return ChainBreak(sequence=event.sequence, position=event.position, reason=reason)
        expected_position, prev_hash = expected_position + 1, event.hash
    return None


def _link_error(event: AuditEvent, *, expected_position: int, prev_hash: str) -> str:
    if event.position != expected_position:
        return f"position {event.position} where {expected_position} was expected (events missing)"
    if event.prev_hash != prev_hash:
        return "prev_hash does not match the previous event's hash"
    if event.hash != event_hash(event, event.prev_hash):
        return "hash does not match the event's contents"
    return ""


def _first_broken_anchor(path: Path) -> ChainBreak | None:
    """Every head written to the head file (and the head bucket) must still be in the chain, with the same
    hash."""
    anchors = anchors_read(head_file=path)
    recorded = _hashes_at({anchor["position"] for anchor in anchors})
    for anchor in anchors:
        if recorded.get(anchor["position"]) != anchor["hash"]:
            return ChainBreak(
                sequence=anchor["sequence"],
                position=anchor["position"],
                reason=f"the head written at {anchor['at']} is missing or different",
            )
    return None


def _hashes_at(positions: set[int], chunk: int = 1000) -> dict[int, str]:
    """The beat writes a head a minute, mostly the same one: look each position up once, in chunks."""
    ordered, found = sorted(positions), {}
    for start in range(0, len(ordered), chunk):
        rows = AuditEvent.objects.filter(position__in=ordered[start : start + chunk])
        found.update(rows.values_list("position", "hash"))
    return found


# --- the auditor's view -----------------------------------------------------------------------


def audited_teams(*, user) -> QuerySet:
    """Team ids the user audits; anyone else may not read the trail."""
    teams = Membership.objects.filter(user=user, role=Membership.Role.AUDITOR).values("team_id")
    if not teams.exists():
        raise Forbidden("Only auditors can read the audit trail.", code="not_an_auditor")
    return teams


def audit_event_visible_q(*, teams) -> Q:
    """The teams' events, plus the team-less events (logins, tokens) of the teams' members."""
    members = Membership.objects.filter(team__in=teams).values("user_id")
    return Q(team__in=teams) | Q(team__isnull=True, actor__in=members)


def audit_event_list(
    *, user, action=None, actor=None, since=None, until=None, request_id=None
) -> QuerySet[AuditEvent]:
    """The audited teams' events, newest first, plus team-less events (logins, tokens) of their members."""
    qs = AuditEvent.objects.filter(audit_event_visible_q(teams=audited_teams(user=user)))
    filters = {
        "action": action,
        "actor_label": actor,
        "created_at__gte": since,
        "created_at__lt": until,
        "request_id": request_id,
    }
    return qs.filter(**{k: v for k, v in filters.items() if v is not None}).order_by("-sequence")
