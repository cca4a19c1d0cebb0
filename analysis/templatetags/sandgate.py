"""Template tags of the analysts' pages and the reviewer console's header."""

from django import template

from approvals.models import ApprovalRequest
from billing.models import Membership

register = template.Library()


@register.simple_tag
def pending_review_count(user) -> int:
    """Requests this reviewer could decide now: their teams', pending, not their own."""
    if not getattr(user, "is_authenticated", False):
        return 0
    pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING_REVIEW)
    if not user.is_superuser:
        teams = Membership.objects.filter(user=user, role=Membership.Role.REVIEWER).values("team_id")
        pending = pending.filter(team__in=teams)
    return pending.exclude(user=user).count()
