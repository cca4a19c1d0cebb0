from datetime import date
from decimal import Decimal

import pytest

from billing.models import Budget, Price

# The seeded defaults (billing/migrations/0004_seed_prices.py); transactional tests empty the table, so
# tests that price anything put them back.
DEFAULT_PRICES = [
    ("mistral-large-latest", "2.00", "6.00"),
    ("mistral-small-latest", "0.20", "0.60"),
    ("offline-rules-v1", "0", "0"),
]


@pytest.fixture
def prices(db):
    for name, price_in, price_out in DEFAULT_PRICES:
        Price.objects.update_or_create(
            name=name,
            defaults={
                "kind": Price.Kind.LLM,
                "input_usd_per_mtok": Decimal(price_in),
                "output_usd_per_mtok": Decimal(price_out),
                "source": "test",
                "as_of": date(2026, 11, 26),
            },
        )
    for backend in ("local", "e2b"):
        Price.objects.update_or_create(
            name=backend,
            defaults={
                "kind": Price.Kind.SANDBOX,
                "usd_per_vcpu_second": Decimal("0.000014"),
                "usd_per_gib_second": Decimal("0.0000045"),
                "source": "test",
                "as_of": date(2026, 11, 26),
            },
        )


def team_budget(team, limit, period=Budget.Period.MONTHLY, **kwargs) -> Budget:
    return Budget.objects.create(
        scope=Budget.Scope.TEAM, team=team, period=period, limit_usd=Decimal(limit), **kwargs
    )


def user_budget(team, user, limit, period=Budget.Period.MONTHLY, **kwargs) -> Budget:
    return Budget.objects.create(
        scope=Budget.Scope.USER, team=team, user=user, period=period, limit_usd=Decimal(limit), **kwargs
    )
