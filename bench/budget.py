"""Budget reservations per second vs. a plain conditional UPDATE of one row, from 8 concurrent clients.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sandgate .venv/bin/python -m bench.budget

Every run uses the same client stack (Django, one process per client) against the same database:
* plain: `UPDATE … SET spent = spent + x WHERE id = … AND spent + x <= limit` on one row, autocommit (in
  whole nano-dollars, as the budget rows store them);
* reserve: `billing.services.budget_reserve` against one user and one team budget (two budget rows held in
  one transaction, plus the reservation row).
The runs alternate for BENCH_ROUNDS rounds of BENCH_SECONDS each, so a load change on the machine hits them
alike. Limits are set so every attempt fits, then a final burst against limits that admit exactly 100 more
checks that exactly 100 get in and nothing overshoots a limit.
It creates its own team, user and budgets and deletes them afterwards.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from decimal import Decimal

CLIENTS = 8
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
AMOUNT = Decimal("0.0001")


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()


def _plain_client(period_id: int, limit: Decimal, seconds: float, ready, go, out) -> None:
    _setup_django()
    from django.db.models import F

    from billing.models import BudgetPeriod
    from billing.money import usd_to_nanos

    amount, most = usd_to_nanos(AMOUNT), usd_to_nanos(limit - AMOUNT)
    deadline = _start(ready, go, seconds)
    done = 0
    while time.monotonic() < deadline:
        done += BudgetPeriod.objects.filter(pk=period_id, spent_nanos__lte=most).update(
            spent_nanos=F("spent_nanos") + amount
        )
    out.put(done)


def _reserve_client(team_id, user_id, seconds: float, ready, go, out) -> None:
    _setup_django()
    from django.contrib.auth import get_user_model

    from billing.models import Team
    from billing.services import BudgetExceeded, budget_reserve

    team, user = Team.objects.get(pk=team_id), get_user_model().objects.get(pk=user_id)
    deadline = _start(ready, go, seconds)
    done = 0
    while time.monotonic() < deadline:
        try:
            budget_reserve(team=team, user=user, feature="generation", amount=AMOUNT)
            done += 1
        except BudgetExceeded:
            pass
    out.put(done)


def _start(ready, go, seconds: float) -> float:
    """Django is imported and connected: say so, and start the clock only when every client is ready."""
    ready.release()
    go.wait()
    return time.monotonic() + seconds


def _run(target, args, seconds: float) -> int:
    ctx = mp.get_context("spawn")  # fresh processes: no database connection is shared across a fork
    out, ready, go = ctx.Queue(), ctx.Semaphore(0), ctx.Event()
    procs = [ctx.Process(target=target, args=(*args, seconds, ready, go, out)) for _ in range(CLIENTS)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    go.set()
    total = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    return total


def main() -> None:
    _setup_django()
    from django.db import connection

    from billing.models import Budget, BudgetPeriod, Reservation, Team
    from billing.periods import EPOCH
    from tests.factories import UserFactory

    team = Team.objects.create(slug=f"bench-{os.getpid()}", name="bench")
    user = UserFactory(username=f"bench-{os.getpid()}")
    plenty = Decimal("100000")
    plain_budget = Budget.objects.create(
        team=team, scope="team", period="total", limit_usd=plenty, is_active=False
    )
    plain = BudgetPeriod.objects.create(budget=plain_budget, period_start=EPOCH)
    team_b = Budget.objects.create(team=team, scope="team", period="monthly", limit_usd=plenty)
    user_b = Budget.objects.create(team=team, scope="user", user=user, period="monthly", limit_usd=plenty)
    connection.close()
    ops = {"plain": 0, "reserve": 0}
    try:
        for _ in range(ROUNDS):
            ops["plain"] += _run(_plain_client, (plain.pk, plenty), SECONDS)
            ops["reserve"] += _run(_reserve_client, (team.pk, user.pk), SECONDS)
        # Overshoot: limits that admit exactly 100 more, then a burst of 8 clients for one second.
        for budget in (team_b, user_b):
            period = BudgetPeriod.objects.get(budget=budget)
            budget.limit_usd = period.spent_usd + period.reserved_usd + AMOUNT * 100
            budget.save()
        plain.refresh_from_db()
        plain_limit = plain.spent_usd + AMOUNT * 100
        _run(_plain_client, (plain.pk, plain_limit), 1.0)
        burst = _run(_reserve_client, (team.pk, user.pk), 1.0)
        plain.refresh_from_db()
        overshoot = {"plain": max(plain.spent_usd - plain_limit, Decimal(0))}
        for name, budget in (("team", team_b), ("user", user_b)):
            period = BudgetPeriod.objects.get(budget=budget)
            overshoot[name] = max(period.spent_usd + period.reserved_usd - budget.limit_usd, Decimal(0))
    finally:
        Reservation.objects.filter(team=team).delete()
        Budget.objects.filter(team=team).delete()
        team.delete()
        user.delete()
    seconds = SECONDS * ROUNDS
    print(
        f"database: {connection.vendor}, clients: {CLIENTS}, seconds per path: {seconds:g} ({ROUNDS} rounds)"
    )
    print(f"plain conditional UPDATE of one row: {ops['plain'] / seconds:8.0f} /s")
    print(f"budget_reserve (user + team budget): {ops['reserve'] / seconds:8.0f} /s")
    print(f"ratio: {ops['reserve'] / max(ops['plain'], 1):.2f}x (target >= 0.5x)")
    print(f"final burst: {burst} reservations admitted where the limits left room for exactly 100")
    print(
        f"overshoot: team ${overshoot['team']:f}, user ${overshoot['user']:f}, plain ${overshoot['plain']:f}"
    )


if __name__ == "__main__":
    main()
