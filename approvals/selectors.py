from __future__ import annotations

from django.db.models import Q, QuerySet

from billing.models import Membership
from config.exceptions import NotFound

from .models import ApprovalRequest

OVERSIGHT_ROLES = (Membership.Role.REVIEWER, Membership.Role.AUDITOR)


def approval_request_visible_q(*, user, prefix: str = "") -> Q:
    """Analysts see their own requests; reviewers and auditors see their teams' requests."""
    member_teams = Membership.objects.filter(user=user).values("team_id")
    overseen_teams = Membership.objects.filter(user=user, role__in=OVERSIGHT_ROLES).values("team_id")
    return Q(**{f"{prefix}team__in": member_teams, f"{prefix}user": user}) | Q(
        **{f"{prefix}team__in": overseen_teams}
    )


def approval_request_list(*, user, status: str | None = None) -> QuerySet[ApprovalRequest]:
    qs = (
        ApprovalRequest.objects.filter(approval_request_visible_q(user=user))
        .select_related("user", "reviewer", "team", "execution")
        .prefetch_related("datasets")
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def approval_request_get(*, user, request_id) -> ApprovalRequest:
    """One request the user may see; anything else, including another team's, is a 404."""
    try:
        return approval_request_list(user=user).get(pk=request_id)
    except (ApprovalRequest.DoesNotExist, ValueError):
        raise NotFound("Request not found.") from None
