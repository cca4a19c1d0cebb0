from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail

from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from billing.models import Budget, BudgetPeriod, CostSpan, Reservation
from billing.periods import period_end, period_start
from billing.selectors import generation_model_for
from billing.services import (
    BudgetExceeded,
    budget_reserve,
    budget_settle,
    budget_settle_request,
    cost_span_record_llm,
    llm_cost,
)
from billing.tasks import sweep_reservations
from tests.billing.conftest import team_budget, user_budget
from tests.factories import ApprovalRequestFactory

HOLD = Decimal("0.40")


def period_of(budget) -> BudgetPeriod:
    return BudgetPeriod.objects.get(budget=budget)


def mistral_call(request, user, input_tokens: int, output_tokens: int, *, feature: str):
    """One recorded mistral-large call of the request, as the generate worker records it."""
    return cost_span_record_llm(
        request=request,
        user=user,
        provider="mistral",
        model="mistral-large-latest",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        feature=feature,
    )


def test_periods_follow_utc_calendar_boundaries():
    at = datetime(2026, 12, 3, 17, 5, tzinfo=UTC)  # a Thursday
    assert period_start(period="daily", at=at) == datetime(2026, 12, 3, tzinfo=UTC)
    assert period_start(period="weekly", at=at) == datetime(2026, 11, 30, tzinfo=UTC)
    assert period_start(period="monthly", at=at) == datetime(2026, 12, 1, tzinfo=UTC)
    assert period_end(period="monthly", start=datetime(2026, 12, 1, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert period_end(period="total", start=period_start(period="total", at=at)) is None


def test_a_new_month_starts_with_the_whole_limit_again(team, analyst):
    budget = team_budget(team, "0.50")
    with time_machine.travel(datetime(2026, 11, 30, 23, 59, tzinfo=UTC), tick=False):
        budget_reserve(team=team, user=analyst, feature="generation", amount=HOLD)
        with pytest.raises(BudgetExceeded) as refused:
            budget_reserve(team=team, user=analyst, feature="generation", amount=HOLD)
    assert refused.value.extra["resetsAt"] == "2026-12-01T00:00:00+00:00"
    with time_machine.travel(datetime(2026, 12, 1, 0, 1, tzinfo=UTC), tick=False):
        budget_reserve(team=team, user=analyst, feature="generation", amount=HOLD)
    assert sorted(p.reserved_usd for p in BudgetPeriod.objects.filter(budget=budget)) == [HOLD, HOLD]


def test_a_total_budget_never_resets(team, analyst):
    team_budget(team, "0.50", period=Budget.Period.TOTAL)
    with time_machine.travel(datetime(2026, 1, 1, tzinfo=UTC), tick=False):
        budget_reserve(team=team, user=analyst, feature="generation", amount=HOLD)
    with time_machine.travel(datetime(2027, 6, 1, tzinfo=UTC), tick=False), pytest.raises(BudgetExceeded):
        budget_reserve(team=team, user=analyst, feature="generation", amount=HOLD)


def test_budgets_of_other_users_and_teams_do_not_apply(team, other_team, analyst, reviewer):
    user_budget(team, reviewer, "0")
    team_budget(other_team, "0")
    reservation = budget_reserve(team=team, user=analyst, feature="generation", amount=HOLD)
    assert reservation.period_ids == []


def test_settling_moves_the_hold_to_spent_once(team, analyst):
    budget = team_budget(team, "1")
    reservation = budget_reserve(team=team, user=analyst, feature="execution", amount=HOLD)
    assert budget_settle(reservation_id=reservation.pk, actual=Decimal("0.15")) is True
    assert budget_settle(reservation_id=reservation.pk, actual=Decimal("0.15")) is False  # a retried task
    period = period_of(budget)
    assert (period.spent_usd, period.reserved_usd) == (Decimal("0.15"), 0)


def test_a_retried_settle_of_a_request_never_double_charges(team, analyst, prices):
    budget = team_budget(team, "1")
    request = ApprovalRequestFactory(user=analyst, team=team, status=ApprovalRequest.Status.GENERATING)
    budget_reserve(team=team, user=analyst, feature="generation", amount=HOLD, request=request)
    for feature in ("generation", "repair"):  # the first call and its repair round
        mistral_call(request, analyst, 1000, 500, feature=feature)
    assert budget_settle_request(request=request, feature="generation") == 1
    assert budget_settle_request(request=request, feature="generation") == 0
    one_call = llm_cost(model="mistral-large-latest", input_tokens=1000, output_tokens=500)
    assert period_of(budget).spent_usd == 2 * one_call
    assert period_of(budget).reserved_usd == 0


def test_the_sweeper_releases_a_reservation_whose_worker_died(team, analyst, prices, settings):
    settings.BUDGET_LEASE_SECONDS = 600
    budget = team_budget(team, "1")
    request = ApprovalRequestFactory(user=analyst, team=team, status=ApprovalRequest.Status.GENERATING)
    reservation = budget_reserve(team=team, user=analyst, feature="generation", amount=HOLD, request=request)
    # The worker made one call, recorded it, and died before settling.
    span = mistral_call(request, analyst, 1000, 500, feature="generation")
    assert sweep_reservations() == 0  # the lease still runs: the owner may be alive
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=601)):
        assert sweep_reservations() == 1
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.RELEASED
    period = period_of(budget)
    assert (period.reserved_usd, period.spent_usd) == (0, span.cost_usd)
    # The owner was only slow after all: its late settle charges the rest, and only once.
    span2 = mistral_call(request, analyst, 10, 10, feature="repair")
    budget_settle_request(request=request, feature="generation")
    budget_settle_request(request=request, feature="generation")
    assert period_of(budget).spent_usd == span.cost_usd + span2.cost_usd


def test_crossing_the_soft_threshold_is_audited_and_mailed_to_reviewers_once(
    team, analyst, reviewer, django_capture_on_commit_callbacks
):
    reviewer.email = "rita@example.com"
    reviewer.save()
    budget = team_budget(team, "1.00")
    with django_capture_on_commit_callbacks(execute=True):
        budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.70"))
        assert not AuditEvent.objects.filter(action=AuditEvent.Action.BUDGET_SOFT_THRESHOLD).exists()
        budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.15"))
        budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.05"))
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.BUDGET_SOFT_THRESHOLD)
    assert event.target_id == str(budget.pk) and event.details["reserved_usd"] == "0.85000000"
    (message,) = mail.outbox
    assert message.to == ["rita@example.com"] and "80%" in message.subject


def test_generation_downgrades_to_the_teams_cheaper_model_above_the_soft_threshold(team, analyst, settings):
    settings.MISTRAL_MODEL = "mistral-large-latest"
    team.budget_downgrade_model = "mistral-small-latest"
    team.save()
    team_budget(team, "1.00")
    assert generation_model_for(team=team, user=analyst).model == "mistral-large-latest"
    budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.85"))
    choice = generation_model_for(team=team, user=analyst)
    assert (choice.model, choice.downgraded_from) == ("mistral-small-latest", "mistral-large-latest")


def test_without_a_downgrade_model_the_team_keeps_its_model(team, analyst, settings):
    settings.MISTRAL_MODEL = "mistral-large-latest"
    team_budget(team, "1.00")
    budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.95"))
    assert generation_model_for(team=team, user=analyst).downgraded_from == ""


def test_an_unpriced_model_is_flagged_and_priced_like_the_dearest(team, analyst, prices):
    request = ApprovalRequestFactory(user=analyst, team=team)
    span = cost_span_record_llm(
        request=request,
        user=analyst,
        provider="mistral",
        model="mystery-model",
        input_tokens=1000,
        output_tokens=1000,
        feature=CostSpan.Feature.GENERATION,
    )
    assert span.unpriced is True
    assert span.cost_usd == llm_cost(model="mistral-large-latest", input_tokens=1000, output_tokens=1000) > 0


def test_default_prices_are_seeded_with_their_source_and_date(db):
    from billing.models import Price

    large = Price.objects.get(name="mistral-large-latest")
    e2b = Price.objects.get(name="e2b")
    assert (large.input_usd_per_mtok, large.output_usd_per_mtok) == (Decimal("2"), Decimal("6"))
    assert (e2b.usd_per_vcpu_second, e2b.usd_per_gib_second) == (Decimal("0.000014"), Decimal("0.0000045"))
    assert large.source.startswith("https://mistral.ai") and e2b.as_of is not None
