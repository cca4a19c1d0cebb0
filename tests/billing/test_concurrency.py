"""Reservations from many connections at once: exact limits, no deadlocks.

Each thread has its own database connection (Django opens one per thread), so on PostgreSQL these are real
concurrent transactions; SQLite serialises them (BEGIN IMMEDIATE), and the same assertions hold.
"""

from decimal import Decimal

import pytest

from billing.models import BudgetPeriod, Reservation
from billing.services import BudgetExceeded, budget_reserve, budget_settle
from tests.billing.conftest import team_budget, user_budget
from tests.factories import TeamFactory, UserFactory, member
from tests.threads import run_together

HOLD = Decimal("0.10")


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_reservations_against_a_limit_for_ten_admit_exactly_ten():
    team = TeamFactory()
    user = member(team)
    budget = team_budget(team, "1.00")

    results = run_together(
        [lambda: budget_reserve(team=team, user=user, feature="generation", amount=HOLD)] * 50
    )

    admitted = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert (len(admitted), len(refused)) == (10, 40)
    period = BudgetPeriod.objects.get(budget=budget)
    assert period.reserved_usd == Decimal("1.00") and period.spent_usd == 0
    assert Reservation.objects.count() == 10  # a refused reservation leaves no row behind


@pytest.mark.django_db(transaction=True)
def test_user_and_team_budgets_locked_together_never_deadlock():
    team = TeamFactory()
    first, second = UserFactory(), UserFactory()
    # One user's budget row sorts before the team's, the other's after it: a naive order would deadlock.
    user_budget(team, first, "100")
    team_budget(team, "100")
    user_budget(team, second, "100")

    def reserve_and_settle(user):
        reservation = budget_reserve(team=team, user=user, feature="generation", amount=HOLD)
        budget_settle(reservation_id=reservation.pk, actual=HOLD / 2)
        return reservation

    results = run_together([lambda u=u: reserve_and_settle(u) for u in [first, second] * 20])

    assert all(isinstance(r, Reservation) for r in results), [
        r for r in results if not isinstance(r, Reservation)
    ]
    team_period = BudgetPeriod.objects.get(budget__scope="team")
    assert (team_period.spent_usd, team_period.reserved_usd) == (HOLD / 2 * 40, 0)
    for user in (first, second):
        period = BudgetPeriod.objects.get(budget__user=user)
        assert (period.spent_usd, period.reserved_usd) == (HOLD / 2 * 20, 0)


@pytest.mark.django_db(transaction=True)
def test_a_user_budget_refusal_holds_nothing_on_the_team_budget():
    team = TeamFactory()
    user = UserFactory()
    team_budget(team, "100")
    user_budget(team, user, "0.25")

    results = run_together(
        [lambda: budget_reserve(team=team, user=user, feature="generation", amount=HOLD)] * 6
    )

    assert sum(isinstance(r, Reservation) for r in results) == 2
    assert BudgetPeriod.objects.get(budget__scope="team").reserved_usd == HOLD * 2
