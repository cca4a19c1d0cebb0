from __future__ import annotations

from django.db.models import QuerySet

from .models import Membership, Team

ASKING_ROLES = (Membership.Role.ANALYST, Membership.Role.REVIEWER)


def team_list_for_user(*, user, roles: tuple[str, ...] | None = None) -> QuerySet[Team]:
    memberships = Membership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return Team.objects.filter(pk__in=memberships.values("team_id"))


def membership_role(*, user, team: Team) -> str | None:
    return Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()
