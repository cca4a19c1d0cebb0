"""Every stored amount becomes whole nano-dollars (billing/money.py): `*_usd` DECIMAL columns → `*_nanos`
BIGINT columns.

Forwards is exact: the old columns hold at most 8 decimals, each value read at its column's precision (on
SQLite, where DECIMAL is a float, that read rounds away float noise such as 0.0022199999999999990) and
multiplied by 10⁹. Backwards writes each amount back at the old column's precision (8 decimals; limits 6),
exact for every amount that fits it.
"""

from django.db import migrations, models

from billing.money import nanos_to_usd, usd_to_nanos

BATCH = 2000
# (model, [(old USD field, new nano-dollar field)])
AMOUNTS = [
    ("Budget", [("limit_usd", "limit_nanos")]),
    ("BudgetPeriod", [("spent_usd", "spent_nanos"), ("reserved_usd", "reserved_nanos")]),
    ("Reservation", [("amount_usd", "amount_nanos"), ("actual_usd", "actual_nanos")]),
    ("CostSpan", [("cost_usd", "cost_nanos")]),
]


def _convert(apps, *, forwards: bool) -> None:
    for model_name, pairs in AMOUNTS:
        model = apps.get_model("billing", model_name)
        sources = [old if forwards else new for old, new in pairs]
        targets = [new if forwards else old for old, new in pairs]
        rows = []
        for row in model.objects.only("pk", *sources).iterator(chunk_size=BATCH):
            for source, target in zip(sources, targets, strict=True):
                value = getattr(row, source)
                if value is not None:
                    value = usd_to_nanos(value) if forwards else nanos_to_usd(value)
                setattr(row, target, value)
            rows.append(row)
            if len(rows) == BATCH:
                model.objects.bulk_update(rows, targets)
                rows = []
        if rows:
            model.objects.bulk_update(rows, targets)


def to_nanos(apps, schema_editor):
    _convert(apps, forwards=True)


def to_usd(apps, schema_editor):
    _convert(apps, forwards=False)


class Migration(migrations.Migration):
    dependencies = [("billing", "0009_drop_functions")]

    operations = [
        migrations.RemoveConstraint(model_name="budget", name="budget_limit_not_negative"),
        migrations.RemoveConstraint(model_name="budgetperiod", name="reserved_not_negative"),
        # Nullable for the moment of the switch, so that going back can add them again before filling them.
        migrations.AlterField(
            model_name="budget",
            name="limit_usd",
            field=models.DecimalField(decimal_places=6, max_digits=12, null=True),
        ),
        migrations.AlterField(
            model_name="reservation",
            name="amount_usd",
            field=models.DecimalField(decimal_places=8, max_digits=14, null=True),
        ),
        migrations.AddField(model_name="budget", name="limit_nanos", field=models.BigIntegerField(null=True)),
        migrations.AddField(
            model_name="budgetperiod", name="spent_nanos", field=models.BigIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="budgetperiod", name="reserved_nanos", field=models.BigIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="reservation", name="amount_nanos", field=models.BigIntegerField(null=True)
        ),
        migrations.AddField(
            model_name="reservation",
            name="actual_nanos",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(model_name="costspan", name="cost_nanos", field=models.BigIntegerField(default=0)),
        migrations.RunPython(to_nanos, to_usd),
        migrations.AlterField(model_name="budget", name="limit_nanos", field=models.BigIntegerField()),
        migrations.AlterField(model_name="reservation", name="amount_nanos", field=models.BigIntegerField()),
        migrations.RemoveField(model_name="budget", name="limit_usd"),
        migrations.RemoveField(model_name="budgetperiod", name="spent_usd"),
        migrations.RemoveField(model_name="budgetperiod", name="reserved_usd"),
        migrations.RemoveField(model_name="reservation", name="amount_usd"),
        migrations.RemoveField(model_name="reservation", name="actual_usd"),
        migrations.RemoveField(model_name="costspan", name="cost_usd"),
        migrations.AddConstraint(
            model_name="budget",
            constraint=models.CheckConstraint(
                condition=models.Q(limit_nanos__gte=0), name="budget_limit_not_negative"
            ),
        ),
        migrations.AddConstraint(
            model_name="budgetperiod",
            constraint=models.CheckConstraint(
                condition=models.Q(reserved_nanos__gte=0), name="reserved_not_negative"
            ),
        ),
    ]
