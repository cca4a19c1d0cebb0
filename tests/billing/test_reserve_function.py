"""PostgreSQL reserves in one statement (`sandgate_budget_reserve`); it must agree with the ORM path exactly.

The ORM path (`_reserve_with_orm`, what SQLite runs) is the reference: the same scenario runs through both on
the same budgets, and the holds, refusals, period rows, reservation rows and warnings must come out equal.
"""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.utils import timezone as django_timezone

from audit.models import AuditEvent
from billing.models import Budget, BudgetPeriod, Reservation
from billing.periods import period_start
from billing.services import BudgetExceeded, _reserve_in_database, _reserve_with_orm, budget_reserve
from tests.billing.conftest import team_budget, user_budget
from tests.factories import ApprovalRequestFactory, TeamFactory, member

on_postgresql = connection.vendor == "postgresql"
postgresql_only = pytest.mark.skipif(
    not on_postgresql, reason="the reservation function exists only on PostgreSQL"
)

# Instants around every kind of boundary, some given in other time zones than UTC.
CHATHAM = timezone(timedelta(hours=13, minutes=45))
INSTANTS = [
    datetime(2026, 12, 3, 17, 5, tzinfo=UTC),  # a Thursday
    datetime(2026, 12, 6, 23, 59, 59, 999999, tzinfo=UTC),  # the last microsecond of a week (Sunday)
    datetime(2026, 12, 7, tzinfo=UTC),  # Monday 00:00
    datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2027, 1, 1, tzinfo=UTC),
    datetime(2028, 2, 29, 12, tzinfo=UTC),  # a leap day
    datetime(2028, 3, 1, 0, 30, tzinfo=CHATHAM),  # still 29 February in UTC
    datetime(2026, 3, 2, 5, tzinfo=timezone(timedelta(hours=-8))),  # Monday in UTC too
    datetime(2000, 1, 1, tzinfo=UTC),
]
PERIODS = [Budget.Period.DAILY, Budget.Period.WEEKLY, Budget.Period.MONTHLY, Budget.Period.TOTAL]
# The last moment of a period and the first of the next.
ROLLOVERS = {
    Budget.Period.DAILY: (
        datetime(2026, 12, 3, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 12, 4, tzinfo=UTC),
    ),
    Budget.Period.WEEKLY: (datetime(2026, 12, 6, 23, 59, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)),
    Budget.Period.MONTHLY: (datetime(2028, 2, 29, 23, 59, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC)),
    Budget.Period.TOTAL: (datetime(2026, 1, 1, tzinfo=UTC), datetime(2031, 6, 1, tzinfo=UTC)),
}


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize("period", PERIODS)
def test_the_database_starts_periods_where_python_does(period):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'Pacific/Chatham'")  # the session's zone must not matter
        for at in INSTANTS:
            # Compared in the database: Django reads timestamps back assuming the session is in UTC.
            cursor.execute(
                "SELECT start = %s, start::text FROM sandgate_budget_period_start(%s, %s) AS start",
                [period_start(period=period, at=at), period, at],
            )
            same, start = cursor.fetchone()
            assert same, (at, start)


def run_scenario(reserve, *, team, user, colleague, period) -> dict:
    """Reservations up to and across a period boundary; what each returned, and what the database holds."""
    before, after = ROLLOVERS[period]
    steps = [
        (before, user, "0.30"),
        (before, user, "0.30"),  # past the user's 0.50
        (before, user, "0.20"),  # exactly the user's limit
        (after, user, "0.60"),  # a new period's first use, refused
        (after, user, "0.50"),
        (after, colleague, "0.40"),  # past the team's 0.80 (unless it is a total budget: then already)
        (after, colleague, "0.30"),
    ]
    events = AuditEvent.objects.filter(action=AuditEvent.Action.BUDGET_SOFT_THRESHOLD)
    warnings_before = events.count()
    outcomes = []
    for at, who, amount in steps:
        with time_machine.travel(at, tick=False):
            now = django_timezone.now()
            try:
                reservation = reserve(
                    team=team,
                    user=who,
                    feature="generation",
                    amount=Decimal(amount),
                    request=None,
                    now=now,
                    lease_expires_at=now + timedelta(minutes=10),
                )
            except BudgetExceeded as refusal:
                outcomes.append(("refused", refusal.budget.pk, refusal.extra, refusal.message))
            else:
                ordered = reservation.period_ids == sorted(reservation.period_ids)
                outcomes.append(("held", ordered, reservation.above_soft_threshold))
    # The ORM path keeps a period row created on first use even when the hold is refused; the function's
    # refusal rolls it back with everything else. Either way it holds no money.
    periods = BudgetPeriod.objects.filter(budget__team=team).exclude(spent_usd=0, reserved_usd=0)
    starts = dict(BudgetPeriod.objects.filter(budget__team=team).values_list("pk", "period_start"))
    reservations = [
        (r.user_id, r.feature, r.amount_usd, r.status, r.created_at, r.lease_expires_at, r.request_id)
        + tuple((starts[pk], BudgetPeriod.objects.get(pk=pk).budget_id) for pk in r.period_ids)
        for r in Reservation.objects.filter(team=team).order_by("created_at", "amount_usd", "user_id")
    ]
    return {
        "outcomes": outcomes,
        "periods": sorted(
            periods.values_list("budget_id", "period_start", "spent_usd", "reserved_usd", "warned")
        ),
        "reservations": reservations,
        "warnings": events.count() - warnings_before,
    }


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize("period", PERIODS)
def test_the_function_and_the_orm_path_hold_refuse_and_roll_over_alike(period):
    team = TeamFactory()
    user, colleague = member(team), member(team)
    team_budget(team, "0.80", period=period)
    user_budget(team, user, "0.50", period=period)

    results = {}
    for reserve in (_reserve_with_orm, _reserve_in_database):
        results[reserve] = run_scenario(reserve, team=team, user=user, colleague=colleague, period=period)
        Reservation.objects.filter(team=team).delete()
        BudgetPeriod.objects.filter(budget__team=team).delete()

    orm, function = results[_reserve_with_orm], results[_reserve_in_database]
    assert function == orm
    # And the reference itself is right: the periods follow the calendar, the limits hold.
    before, after = ROLLOVERS[period]
    assert {start for _, start, *_ in orm["periods"]} == {
        period_start(period=period, at=before),
        period_start(period=period, at=after),
    }
    held = [o for o in orm["outcomes"] if o[0] == "held"]
    assert len(held) == (3 if period == Budget.Period.TOTAL else 4)
    assert orm["warnings"] >= 1
    # Each hold says whether a budget it holds against is now at or above its soft threshold: the first
    # (0.30 of the user's 0.50, 0.30 of the team's 0.80) is not; the next one held (the user's whole 0.50) is.
    assert [above for _, _, above in held][:2] == [False, True]


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
    assert sorted(BudgetPeriod.objects.values_list("reserved_usd", "spent_usd")) == [
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


@postgresql_only
@pytest.mark.django_db
def test_other_database_errors_are_not_taken_for_refusals(team, analyst):
    team_budget(team, "1")
    now = django_timezone.now()
    with pytest.raises(IntegrityError, match="reserved_not_negative"):
        _reserve_in_database(
            team=team,
            user=analyst,
            feature="generation",
            amount=Decimal("-0.10"),  # would hold a negative amount: the row's check constraint says no
            request=None,
            now=now,
            lease_expires_at=now,
        )


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_reservation_below_the_soft_threshold_is_one_statement(django_assert_num_queries):
    team = TeamFactory()
    user = member(team)
    team_budget(team, "1")
    user_budget(team, user, "1")
    with django_assert_num_queries(2):  # the first creates both period rows, in the same statement
        budget_reserve(team=team, user=user, feature="generation", amount=Decimal("0.10"))
        budget_reserve(team=team, user=user, feature="generation", amount=Decimal("0.10"))
    assert list(BudgetPeriod.objects.values_list("reserved_usd", flat=True)) == [Decimal("0.20")] * 2
