"""Each role lands where its work is, the header links there, and the console speaks in teams and cents."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from approvals.models import ApprovalRequest
from billing.models import Budget, CostSpan, Membership
from tests.factories import ApprovalRequestFactory, UserFactory, member

PASSWORD = "role-test-pass"
QUEUE = "/admin/approvals/approvalrequest/?waiting_for=you"


def staff(user, *codenames):
    user.is_staff = True
    user.set_password(PASSWORD)
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def console_reviewer(reviewer):
    return staff(reviewer, "view_approvalrequest", "change_approvalrequest")


@pytest.fixture
def console_auditor(auditor):
    return staff(auditor, "view_auditevent", "view_costspan", "view_approvalrequest")


def logs_in(user) -> str:
    """Where logging in at /login/ (no `next`) lands."""
    response = Client().post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def test_each_role_lands_where_its_work_is(analyst, console_reviewer, console_auditor):
    staff(analyst)
    analyst.is_staff = False
    analyst.save()
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    superuser.set_password(PASSWORD)
    superuser.save()

    assert logs_in(analyst) == "/"
    assert logs_in(console_reviewer) == QUEUE
    assert logs_in(console_auditor) == "/admin/audit/auditevent/"
    assert logs_in(superuser) == "/admin/"


def test_a_next_page_still_wins_over_the_landing(console_reviewer):
    response = Client().post(
        "/login/?next=/datasets/", {"username": "rita", "password": PASSWORD, "next": "/datasets/"}
    )
    assert response["Location"] == "/datasets/"


def test_the_header_links_each_role_to_its_console_pages(analyst, console_reviewer, console_auditor):
    def links(user) -> str:
        client = Client()
        client.force_login(user)
        return client.get("/").content.decode()

    assert "console-link" not in links(analyst)
    reviewer_page = links(console_reviewer)
    assert f'href="{QUEUE}" class="console-link" data-link="queue">Review queue' in reviewer_page
    assert 'data-link="spend">Spend report' in reviewer_page and 'data-link="audit"' not in reviewer_page
    auditor_page = links(console_auditor)
    assert 'href="/admin/audit/auditevent/" class="console-link" data-link="audit">Audit log' in auditor_page
    assert (
        'href="/admin/billing/costspan/spend/" class="console-link" data-link="spend">Spend report'
        in auditor_page
    )


def test_the_console_header_links_the_queue_with_its_count_the_log_and_the_spend_report(
    client, console_auditor, console_reviewer, analyst, team
):
    ApprovalRequestFactory(user=analyst, team=team)
    client.force_login(console_reviewer)
    page = client.get("/admin/").content.decode()
    assert 'class="sg-pending-count">1<' in page and 'data-link="spend"' in page
    client.force_login(console_auditor)
    page = client.get("/admin/audit/auditevent/").content.decode()
    assert 'data-link="audit"' in page and 'href="/admin/billing/costspan/spend/"' in page
    spend = client.get("/admin/billing/costspan/spend/")
    assert spend.status_code == 200


def test_cost_spans_are_newest_first_by_team_in_cents(client, console_auditor, analyst, team):
    now = timezone.now()
    older = CostSpan.objects.create(
        provider="offline", tenant=team, user=analyst, feature="generation", cost_usd="1234.5"
    )
    newer = CostSpan.objects.create(
        provider="local", tenant=team, user=analyst, feature="execution", cost_usd="0.0042"
    )
    CostSpan.objects.filter(pk=older.pk).update(timestamp=now - timedelta(hours=2))
    CostSpan.objects.filter(pk=newer.pk).update(timestamp=now - timedelta(hours=1))
    client.force_login(console_auditor)

    page = client.get("/admin/billing/costspan/").content.decode()

    assert "Tenant" not in page and "tenant" not in page.lower().replace("tenant__", "")
    assert ">Team<" in page or "Team</a>" in page
    assert page.index("$0.0042") < page.index("$1,234.50")  # newest first, in cents
    assert "0.00420000" not in page
    assert 'href="/admin/billing/costspan/spend/"' in page


def test_budget_thresholds_read_as_percents_and_limits_in_cents(admin_client, team):
    Budget.objects.create(
        team=team, scope="team", period="monthly", limit_usd=Decimal("20"), soft_threshold=Decimal("0.8")
    )
    page = admin_client.get("/admin/billing/budget/").content.decode()
    assert "80%" in page and "$20.00" in page
    assert "0.800" not in page


def test_the_spend_report_speaks_in_cents(client, console_auditor, analyst, team):
    CostSpan.objects.create(
        provider="offline", tenant=team, user=analyst, feature="generation", cost_usd="0.25"
    )
    client.force_login(console_auditor)
    page = client.get("/admin/billing/costspan/spend/").content.decode()
    assert "$0.25 in total" in page and "0.250000" not in page


@pytest.mark.parametrize("role", [Membership.Role.ANALYST, Membership.Role.AUDITOR])
def test_only_reviewers_see_the_queue_link(role, team):
    user = staff(member(team, role), "view_approvalrequest")
    client = Client()
    client.force_login(user)
    assert 'data-link="queue"' not in client.get("/").content.decode()
    assert ApprovalRequest.objects.count() == 0
