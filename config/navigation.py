"""Where each role's work is: the page a login lands on, and the console links in every page's header.

Analysts work in the web app (`/`); reviewers in the console's queue of requests waiting for review;
auditors in the console's audit log (and its spend report); superusers in the console.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from billing.models import Membership

REVIEW_QUEUE_QUERY = "?waiting_for=you"  # approvals.admin.WaitingForYouFilter


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    name: str  # a stable name for templates and tests: "queue", "audit", "spend", "console"


def _roles(user) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cache = getattr(user, "_sandgate_roles", None)
    if cache is None:
        cache = set(Membership.objects.filter(user=user).values_list("role", flat=True))
        user._sandgate_roles = cache
    return cache


def review_queue_url() -> str:
    return reverse("admin:approvals_approvalrequest_changelist") + REVIEW_QUEUE_QUERY


def console_links(user) -> list[Link]:
    """The console pages this user works in, for the header; none for analysts."""
    if not getattr(user, "is_authenticated", False) or not user.is_staff:
        return []
    roles = _roles(user)
    links = []
    if user.is_superuser or Membership.Role.REVIEWER in roles:
        links.append(Link("Review queue", review_queue_url(), "queue"))
    if user.is_superuser or Membership.Role.AUDITOR in roles:
        links.append(Link("Audit log", reverse("admin:audit_auditevent_changelist"), "audit"))
    if user.is_superuser or roles & {Membership.Role.REVIEWER, Membership.Role.AUDITOR}:
        links.append(Link("Spend report", reverse("admin:billing_spend"), "spend"))
    if user.is_superuser:
        links.append(Link("Console", reverse("admin:index"), "console"))
    return links


def landing_url(user) -> str:
    """Where a login without a `next` lands: the first page of the user's work."""
    if getattr(user, "is_staff", False):
        roles = _roles(user)
        if Membership.Role.REVIEWER in roles:
            return review_queue_url()
        if Membership.Role.AUDITOR in roles:
            return reverse("admin:audit_auditevent_changelist")
        if user.is_superuser:
            return reverse("admin:index")
    return reverse("home")
