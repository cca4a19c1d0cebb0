"""Template tags of the analysts' pages and the reviewer console: counts, header links, money, percents."""

from __future__ import annotations

from django import template

from approvals.labels import status_label
from approvals.models import ApprovalRequest
from approvals.selectors import approval_request_review_queue
from config import money
from config.navigation import console_links as _console_links

register = template.Library()


@register.simple_tag
def pending_review_count(user) -> int:
    """Requests waiting for this reviewer's decision (their review queue); for a superuser, all pending."""
    if not getattr(user, "is_authenticated", False):
        return 0
    if user.is_superuser:
        pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING_REVIEW)
        return pending.exclude(user=user).count()
    return approval_request_review_queue(user=user).count()


@register.simple_tag
def console_links(user) -> list:
    return _console_links(user)


@register.filter
def usd(value) -> str:
    """Dollars in cents ($1,234.56); an amount under one cent keeps two significant digits ($0.0042)."""
    return money.usd(value)


@register.filter
def percent(value) -> str:
    """A fraction as a percent: 0.8 → 80%, 0.875 → 87.5%."""
    return money.percent(value)


@register.filter
def request_status_label(status: str) -> str:
    return status_label(status)
