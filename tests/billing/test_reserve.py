"""Holding money against budgets (`budget_reserve`): refusals hold nothing, the row returned is the row
written, and a soft-threshold warning is written in the hold's own transaction."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction

from audit.models import AuditEvent
from billing import services
from billing.models import BudgetPeriod, Reservation
from billing.services import BudgetExceeded, budget_reserve
from tests.billing.conftest import team_budget, user_budget
from tests.factories import ApprovalRequestFactory, TeamFactory, member


@pytest.mark.django_db
@pytest.mark.parametrize("refusing", ["team", "user"])
def test_a_refusal_holds_nothing_on_any_row(refusing):
    team = TeamFactory()
    user = member(team)
    # The refusing budget's row is locked second: the first row's hold must roll back with the refusal.
    if refusing == "team":
        user_budget(team, user, "10")
        team_budget(team, "0.50")
    else:
        team_budget(team, "10")
        user_budget(team, user, "0.50")
    budget_reserve(team=team, user=user, feature="generation", amount=Decimal("0.40"))

    with pytest.raises(BudgetExceeded) as refused:
        budget_reserve(team=team, user=user, feature="generation", amount=Decimal("0.20"))

    assert refused.value.extra["scope"] == refusing
    assert refused.value.extra["reservedUsd"] == "0.40000000"
    assert sorted((p.reserved_usd, p.spent_usd) for p in BudgetPeriod.objects.all()) == [
        (Decimal("0.40"), 0),
        (Decimal("0.40"), 0),
    ]
    assert Reservation.objects.count() == 1


@pytest.mark.django_db
def test_a_refusal_inside_a_callers_transaction_leaves_the_callers_work_standing():
    team = TeamFactory()
    user = member(team)
    team_budget(team, "0.10")
    with transaction.atomic():
        request = ApprovalRequestFactory(user=user, team=team)
        with pytest.raises(BudgetExceeded):
            budget_reserve(team=team, user=user, feature="execution", amount=Decimal("0.20"), request=request)
        # The caller's transaction is still usable, and its own writes are there.
        held = budget_reserve(
            team=team, user=user, feature="execution", amount=Decimal("0.05"), request=request
        )
    assert list(Reservation.objects.values_list("pk", "request_id")) == [(held.pk, request.pk)]
    assert BudgetPeriod.objects.get().reserved_usd == Decimal("0.05")


@pytest.mark.django_db
def test_the_reservation_returned_is_the_row_written(team, analyst):
    team_budget(team, "1")
    user_budget(team, analyst, "1")
    request = ApprovalRequestFactory(user=analyst, team=team)
    with time_machine.travel(datetime(2026, 12, 3, 17, 5, 1, 234567, tzinfo=UTC), tick=False):
        returned = budget_reserve(
            team=team,
            user=analyst,
            feature="generation",
            amount=Decimal("0.25"),
            request=request,
            lease_seconds=90,
        )
    row = Reservation.objects.get(pk=returned.pk)
    for field in Reservation._meta.concrete_fields:
        assert getattr(returned, field.attname) == getattr(row, field.attname), field.name
    assert row.created_at == datetime(2026, 12, 3, 17, 5, 1, 234567, tzinfo=UTC)
    assert row.lease_expires_at == row.created_at + timedelta(seconds=90)
    assert (
        row.period_ids == sorted(BudgetPeriod.objects.values_list("pk", flat=True))
        and len(row.period_ids) == 2
    )
    assert returned._state.adding is False


@pytest.mark.django_db
def test_a_reservation_without_a_user_holds_only_team_budgets(team, analyst):
    team_budget(team, "1")
    user_budget(team, analyst, "0")
    reservation = budget_reserve(team=team, user=None, feature="execution", amount=Decimal("0.25"))
    assert reservation.user_id is None
    assert [p.budget.scope for p in BudgetPeriod.objects.filter(pk__in=reservation.period_ids)] == ["team"]


class WarningLost(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_a_soft_threshold_warning_is_written_in_the_holds_own_transaction(monkeypatch):
    """Outside any caller's transaction, a failure writing the warning undoes the hold too."""
    team = TeamFactory()
    user = member(team)
    team_budget(team, "1.00", soft_threshold=Decimal("0.5"))
    audit_log = services.audit_log

    def audit_then_fail(**kwargs):
        audit_log(**kwargs)
        if kwargs["action"] == AuditEvent.Action.BUDGET_SOFT_THRESHOLD:
            raise WarningLost

    monkeypatch.setattr(services, "audit_log", audit_then_fail)
    with pytest.raises(WarningLost):
        budget_reserve(team=team, user=user, feature="generation", amount=Decimal("0.60"))

    assert not Reservation.objects.exists()
    assert list(BudgetPeriod.objects.values_list("reserved_nanos", "warned")) == [(0, False)]
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.BUDGET_SOFT_THRESHOLD).exists()

    monkeypatch.setattr(services, "audit_log", audit_log)
    held = budget_reserve(team=team, user=user, feature="generation", amount=Decimal("0.60"))
    assert held.above_soft_threshold
    assert list(BudgetPeriod.objects.values_list("reserved_nanos", "warned")) == [(600_000_000, True)]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.BUDGET_SOFT_THRESHOLD).count() == 1
