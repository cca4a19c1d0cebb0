"""Exact money: whole nano-dollars in the database, Decimal USD at the edges, on SQLite and PostgreSQL alike.

The replays hold, release and settle many awkward amounts (fractions of a cent, of a micro-dollar, of a
nano-dollar, thirds) and check after every step that each budget period's reserved is exactly the sum of
its active holds and its spent exactly the sum of what was charged.
"""

import random
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing.models import Budget, BudgetPeriod, CostSpan, Reservation
from billing.money import nanos_to_usd, usd_to_nanos
from billing.services import (
    BudgetExceeded,
    budget_reserve,
    budget_settle,
    budget_settle_request,
    reservation_release,
)
from tests.billing.conftest import team_budget, user_budget
from tests.factories import ApprovalRequestFactory, TeamFactory, UserFactory
from tests.threads import run_together

THIRD = Decimal(1) / 3  # 0.3333333333333333333333333333: held as 333333333 nano-dollars
AWKWARD = [
    Decimal("0.00222"),
    Decimal("0.0022221"),
    Decimal("0.0000001"),
    Decimal("0.00000049"),
    Decimal("0.0000000005"),  # half a nano-dollar: held as one
    Decimal("0.0000000004"),  # less than half: held as none
    THIRD,
    2 * THIRD,
    THIRD / 1000,
    Decimal("0.1"),
    Decimal("0.07"),
    Decimal("1.005"),
]


def test_usd_becomes_whole_nano_dollars_rounded_half_up():
    assert usd_to_nanos(Decimal("0.00222")) == 2_220_000
    assert usd_to_nanos(Decimal("0.0000000005")) == 1
    assert usd_to_nanos(Decimal("0.0000000015")) == 2  # half up, not to even
    assert usd_to_nanos(Decimal("0.00000000049999")) == 0
    assert usd_to_nanos(THIRD) == 333_333_333 and usd_to_nanos(2 * THIRD) == 666_666_667
    assert usd_to_nanos("12.5") == 12_500_000_000 and usd_to_nanos(3) == 3_000_000_000
    with pytest.raises(TypeError):
        usd_to_nanos(0.1)


def test_nano_dollars_become_usd_exactly_in_the_format_of_the_amount():
    assert str(nanos_to_usd(2_220_000, places=8)) == "0.00222000"
    assert str(nanos_to_usd(5_000_000_000, places=6)) == "5.000000"
    assert nanos_to_usd(333_333_333, places=8) == Decimal("0.333333333")  # no digit is dropped
    for nanos in (0, 1, 999, 2_220_000, 333_333_333, 10**15):
        assert usd_to_nanos(nanos_to_usd(nanos)) == nanos


def test_a_model_shows_its_amounts_in_usd_and_stores_nano_dollars(team):
    budget = team_budget(team, "12.345678")
    budget.refresh_from_db()
    assert (budget.limit_nanos, budget.limit_usd) == (12_345_678_000, Decimal("12.345678"))
    assert str(budget.limit_usd) == "12.345678"


@pytest.mark.django_db
def test_limits_and_thresholds_beyond_32_bits_of_nano_dollars_are_enforced(team, analyst):
    """$10 is 10¹⁰ nano-dollars, past a 32-bit integer: the conditional UPDATE must still compare it."""
    budget = team_budget(team, "10.00", soft_threshold=Decimal("0.5"))
    budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("4.99"))
    assert not BudgetPeriod.objects.get().warned
    budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("5.00"))
    assert BudgetPeriod.objects.get().warned  # $9.99 of $10: past the $5 threshold
    with pytest.raises(BudgetExceeded):
        budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.02"))
    budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.01"))
    assert BudgetPeriod.objects.get(budget=budget).reserved_nanos == 10 * 10**9


@pytest.mark.django_db
def test_the_console_shows_and_edits_amounts_in_usd(admin_client, team, analyst):
    budget = team_budget(team, "5")
    held = budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.00222"))
    span = CostSpan.objects.create(
        provider="local", tenant=team, feature="execution", cost_usd=Decimal("0.0000001")
    )
    pages = {
        f"/admin/billing/costspan/{span.pk}/change/": ["Cost usd", "0.00000010"],
        "/admin/billing/costspan/": [">Cost<", "$0.00000010"],  # lists in cents, more digits under one
        f"/admin/billing/reservation/{held.pk}/change/": ["Amount usd", "0.00222000", "Actual usd"],
        "/admin/billing/reservation/": ["0.00222000"],
        f"/admin/billing/budget/{budget.pk}/change/": ["Limit usd", "5.000000", "Reserved usd", "0.00222000"],
        "/admin/billing/budget/": [">Limit<", "$5.00", ">Warns at<", "80%"],
    }
    for url, shown in pages.items():
        body = admin_client.get(url).content.decode()
        assert all(text in body for text in shown), url
        assert "nanos" not in body.lower() and "E-" not in body, url

    form = {"team": str(team.pk), "scope": "team", "period": "daily", "soft_threshold": "0.8"}
    form |= {"is_active": "on", "periods-TOTAL_FORMS": "0", "periods-INITIAL_FORMS": "0"}
    refused = admin_client.post("/admin/billing/budget/add/", form | {"limit_usd": "-1"})
    assert refused.status_code == 200 and "greater than or equal to 0" in refused.content.decode()
    added = admin_client.post("/admin/billing/budget/add/", form | {"limit_usd": "2.5"})
    assert added.status_code == 302
    assert Budget.objects.get(period="daily").limit_nanos == 2_500_000_000


def check_exact(periods: list[BudgetPeriod]) -> None:
    """Each period's reserved is the sum of its active holds, its spent the sum of what was charged."""
    reservations = list(Reservation.objects.all())
    for period in BudgetPeriod.objects.filter(pk__in=[p.pk for p in periods]):
        mine = [r for r in reservations if period.pk in r.period_ids]
        held = sum((r.amount_usd for r in mine if r.status == Reservation.Status.ACTIVE), Decimal(0))
        charged = sum((r.actual_usd for r in mine if r.actual_usd is not None), Decimal(0))
        assert (period.reserved_usd, period.spent_usd) == (held, charged), period
        assert period.reserved_nanos == sum(
            r.amount_nanos for r in mine if r.status == Reservation.Status.ACTIVE
        )


def replay(*, team, users, steps: int, seed: int, check_every: list | None = None) -> dict:
    """Random holds, settles (below, at and above the hold), releases (with and without recorded costs)
    and late settles after a release, with awkward amounts; returns what happened."""
    rng = random.Random(seed)
    active: list[Reservation] = []
    released: list[Reservation] = []
    done = {"held": 0, "refused": 0, "settled": 0, "released": 0, "late": 0}
    for _ in range(steps):
        move = rng.random()
        if move < 0.45 or not active:
            user = rng.choice(users)
            request = ApprovalRequestFactory(user=user, team=team) if rng.random() < 0.5 else None
            try:
                active.append(
                    budget_reserve(
                        team=team,
                        user=user,
                        feature="generation",
                        amount=rng.choice(AWKWARD),
                        request=request,
                    )
                )
                done["held"] += 1
            except BudgetExceeded:
                done["refused"] += 1
        elif move < 0.75:
            reservation = active.pop(rng.randrange(len(active)))
            actual = rng.choice([reservation.amount_usd, rng.choice(AWKWARD), Decimal(0)])
            assert budget_settle(reservation_id=reservation.pk, actual=actual)
            done["settled"] += 1
        elif move < 0.9:
            reservation = active.pop(rng.randrange(len(active)))
            if reservation.request_id is not None:  # the worker recorded a call before it died
                CostSpan.objects.create(
                    provider="mistral",
                    model="m",
                    cost_usd=rng.choice(AWKWARD),
                    tenant=team,
                    feature="generation",
                    request_id=reservation.request_id,
                )
            assert reservation_release(reservation_id=reservation.pk)
            released.append(reservation)
            done["released"] += 1
        elif released:
            reservation = released.pop(rng.randrange(len(released)))
            if reservation.request_id is not None:  # it was only slow: a late settle charges the rest
                CostSpan.objects.create(
                    provider="mistral",
                    model="m",
                    cost_usd=rng.choice(AWKWARD),
                    tenant=team,
                    feature="repair",
                    request_id=reservation.request_id,
                )
                budget_settle_request(request=reservation.request, feature="generation")
                done["late"] += 1
        if check_every is not None:
            check_exact(check_every)
    return done


@pytest.mark.django_db
def test_many_holds_releases_and_settles_of_awkward_amounts_stay_exact_in_sequence():
    team = TeamFactory()
    users = [UserFactory(), UserFactory()]
    team_budget(team, "25.00")  # tight enough that the last holds are refused
    user_budget(team, users[0], "15.00", period="daily")
    user_budget(team, users[1], "100")
    # The periods exist from the first hold on; check them all after every step.
    budget_reserve(team=team, user=users[0], feature="generation", amount=Decimal("0.0000001"))
    budget_reserve(team=team, user=users[1], feature="generation", amount=THIRD)
    periods = list(BudgetPeriod.objects.all())
    assert len(periods) == 3

    done = replay(team=team, users=users, steps=400, seed=20, check_every=periods)

    assert done["held"] > 100 and done["refused"] > 0 and done["settled"] > 50
    assert done["released"] > 20 and done["late"] > 5
    # The last holds settled at exactly their amounts: nothing is left reserved, to the nano-dollar.
    for reservation in Reservation.objects.filter(status=Reservation.Status.ACTIVE):
        budget_settle(reservation_id=reservation.pk, actual=reservation.amount_usd)
    check_exact(periods)
    assert set(BudgetPeriod.objects.values_list("reserved_nanos", flat=True)) == {0}


@pytest.mark.django_db(transaction=True)
def test_many_holds_releases_and_settles_of_awkward_amounts_stay_exact_concurrently():
    team = TeamFactory()
    users = [UserFactory() for _ in range(3)]
    team_budget(team, "12.00")  # below what the six ask for together: some are refused
    for user in users:
        user_budget(team, user, "10.00")

    results = run_together([lambda n=n: replay(team=team, users=users, steps=40, seed=n) for n in range(6)])

    assert all(isinstance(r, dict) for r in results), [r for r in results if not isinstance(r, dict)]
    assert sum(r["held"] for r in results) > 30 and sum(r["refused"] for r in results) > 0
    periods = list(BudgetPeriod.objects.all())
    assert len(periods) == 4
    check_exact(periods)


BEFORE = [("billing", "0009_drop_functions"), ("approvals", "0012_request_plan_clarification")]
AFTER = [("billing", "0010_money_in_nanos"), ("approvals", "0013_budget_estimate_in_nanos")]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_stored_amounts_to_nano_dollars_exactly_and_back():
    old = migrate(BEFORE).loader.project_state(BEFORE).apps
    try:
        team = old.get_model("billing", "Team").objects.create(slug="m", name="M")
        user = old.get_model("auth", "User").objects.create(username="m")
        budget = old.get_model("billing", "Budget").objects.create(team=team, limit_usd=Decimal("12.345678"))
        period = old.get_model("billing", "BudgetPeriod").objects.create(
            budget=budget,
            period_start="2026-12-01T00:00:00Z",
            spent_usd=Decimal("0.12345678"),
            reserved_usd=Decimal("0.00222"),
        )
        reservation = old.get_model("billing", "Reservation").objects.create(
            team=team,
            feature="execution",
            amount_usd=Decimal("0.00222"),
            actual_usd=Decimal("0.0022221"),
            period_ids=[period.pk],
            lease_expires_at="2026-12-01T00:00:00Z",
        )
        span = old.get_model("billing", "CostSpan").objects.create(
            provider="local", tenant=team, feature="execution", cost_usd=Decimal("0.00000001")
        )
        session = old.get_model("analysis", "Session").objects.create(user=user, team=team)
        request = old.get_model("approvals", "ApprovalRequest").objects.create(
            query="q", user=user, team=team, session=session, budget_estimate=Decimal("0.045678")
        )
        if connection.vendor == "sqlite":
            # What a long series of float sums leaves in SQLite's DECIMAL (REAL) column.
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE billing_budgetperiod SET reserved_usd = 0.0022199999999999990 WHERE id = %s",
                    [period.pk],
                )

        new = migrate(AFTER).loader.project_state(AFTER).apps
        B = new.get_model("billing", "BudgetPeriod")
        assert new.get_model("billing", "Budget").objects.get().limit_nanos == 12_345_678_000
        assert B.objects.values_list("spent_nanos", "reserved_nanos").get() == (123_456_780, 2_220_000)
        assert new.get_model("billing", "Reservation").objects.values_list(
            "amount_nanos", "actual_nanos"
        ).get(pk=reservation.pk) == (2_220_000, 2_222_100)
        assert new.get_model("billing", "CostSpan").objects.get(pk=span.pk).cost_nanos == 10
        assert (
            new.get_model("approvals", "ApprovalRequest").objects.get(pk=request.pk).budget_estimate_nanos
            == 45_678_000
        )

        back = migrate(BEFORE).loader.project_state(BEFORE).apps
        assert back.get_model("billing", "Budget").objects.get().limit_usd == Decimal("12.345678")
        assert back.get_model("billing", "BudgetPeriod").objects.values_list(
            "spent_usd", "reserved_usd"
        ).get() == (
            Decimal("0.12345678"),
            Decimal("0.00222"),
        )
        assert back.get_model("billing", "Reservation").objects.values_list(
            "amount_usd", "actual_usd"
        ).get() == (
            Decimal("0.00222"),
            Decimal("0.0022221"),
        )
        assert back.get_model("billing", "CostSpan").objects.get().cost_usd == Decimal("0.00000001")
        assert back.get_model("approvals", "ApprovalRequest").objects.get().budget_estimate == Decimal(
            "0.045678"
        )
    finally:
        # Every app back at its latest migration: going back to BEFORE also unapplied the later ones (of
        # billing, and of the apps that depend on them).
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
