"""The reaper on its own: an abandoned generation ends interrupted (budget released), a claimed request is
never generated twice, and the analyst's page says what happened."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from analysis.services.asking import analysis_submit
from analysis.services.generation import request_generate_code
from analysis.services.reaper import INTERRUPTED_MESSAGE, reap_stuck
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from billing.models import Budget, BudgetPeriod, Reservation
from tests.factories import demo_dataset


def test_a_claimed_request_is_not_generated_again_and_is_interrupted_after_its_lease(
    team, analyst, client
) -> None:
    Budget.objects.create(team=team, limit_usd=Decimal("10"))
    demo_dataset(team)
    request = analysis_submit(user=analyst, query="total revenue by region")
    lease = timezone.now() + timedelta(seconds=60)
    # A first worker claimed it and died before finishing: a redelivered task must leave it alone.
    ApprovalRequest.objects.filter(pk=request.pk).update(generation_lease_expires_at=lease)

    assert request_generate_code(request_id=request.pk) is None
    assert reap_stuck(now=lease - timedelta(seconds=1))["requests_interrupted"] == 0
    assert reap_stuck(now=lease + timedelta(seconds=1))["requests_interrupted"] == 1

    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.INTERRUPTED
    assert Reservation.objects.get(request=request).status == Reservation.Status.RELEASED
    assert BudgetPeriod.objects.get(budget__team=team).reserved_usd == 0
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REQUEST_INTERRUPTED).count() == 1
    client.force_login(type(analyst).objects.get(pk=analyst.pk))  # the factory user has no saved password
    page = client.get(f"/sessions/{request.session_id}/")
    assert page.status_code == 200
    assert "It was not run again" in page.content.decode()


def test_a_generation_whose_heartbeat_went_stale_is_interrupted_long_before_its_lease(
    team, analyst, settings
) -> None:
    settings.SANDGATE_HEARTBEAT_STALE_SECONDS = 40
    demo_dataset(team)
    request = analysis_submit(user=analyst, query="total revenue by region")
    now = timezone.now()
    lease = now + timedelta(seconds=settings.SANDGATE_LEASE_SECONDS)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        generation_lease_expires_at=lease, generation_heartbeat_at=now
    )

    assert reap_stuck(now=now + timedelta(seconds=39))["requests_interrupted"] == 0
    assert reap_stuck(now=now + timedelta(seconds=41))["requests_interrupted"] == 1

    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.INTERRUPTED
    assert request.generation_error == INTERRUPTED_MESSAGE
    event = AuditEvent.objects.get(action=AuditEvent.Action.REQUEST_INTERRUPTED)
    assert event.details["heartbeat_at"] == now.isoformat()
