"""What the parity tests of the PL/pgSQL hot paths share: each scenario runs through the function and its ORM
twin from the same state, and both must write the same rows and answer or refuse alike."""

import contextlib
import uuid

from django.db import transaction

from billing.models import BudgetPeriod
from config.exceptions import ApplicationError


class _Undo(Exception):
    pass


@contextlib.contextmanager
def undone():
    """Run the block in a savepoint rolled back afterwards: the other path starts from the same state."""
    try:
        with transaction.atomic():
            yield
            raise _Undo
    except _Undo:
        pass


def refusal(error: ApplicationError) -> dict:
    """A refusal as the API answers it: its class, code, status, message and details."""
    return {
        "refused": (type(error), error.code, error.status_code, error.message),
        "refused_extra": error.extra,
    }


def new_ids_named(outcome: dict, *, keep: tuple[str, ...] = ()) -> dict:
    """New rows' ids (they differ between runs) named by model and place, except in `keep`'s tables."""
    names = {}
    for model_name, rows in outcome.get("written", {}).items():
        if model_name in keep:
            continue
        for place, row in enumerate(rows):
            names[str(row.pop("id"))] = f"<{model_name} {place}>"

    def rename(value):
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(rename(v) for v in value)
        if isinstance(value, uuid.UUID | str) and str(value) in names:
            return names[str(value)]
        return value

    return rename(outcome)


def assert_alike(*, orm: dict, function: dict) -> None:
    for table, rows in orm["written"].items():  # table by table first: a readable difference
        assert function["written"][table] == rows, table
    assert function == orm


def with_budget_periods(rows: dict) -> dict:
    """The holds' periods named by budget (period rows made in a savepoint get new ids each time), and every
    budget period's sums."""
    for row in rows["Reservation"]:
        budgets = BudgetPeriod.objects.filter(pk__in=row["period_ids"]).values_list("budget_id", flat=True)
        row["period_ids"] = sorted(budgets)
    rows["BudgetPeriod"] = sorted(
        (p.budget_id, p.period_start, p.spent_usd, p.reserved_usd, p.warned)
        for p in BudgetPeriod.objects.all()
    )
    return rows
