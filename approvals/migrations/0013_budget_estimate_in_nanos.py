"""A request's budget estimate becomes whole nano-dollars (billing/money.py): `budget_estimate` DECIMAL →
`budget_estimate_nanos` BIGINT, exactly (the old column holds 6 decimals); backwards at 6 decimals."""

from django.db import migrations, models

from billing.money import nanos_to_usd, usd_to_nanos

BATCH = 2000


def _convert(apps, *, source: str, target: str, convert) -> None:
    ApprovalRequest = apps.get_model("approvals", "ApprovalRequest")
    rows = []
    for row in ApprovalRequest.objects.only("pk", source).iterator(chunk_size=BATCH):
        setattr(row, target, convert(getattr(row, source)))
        rows.append(row)
        if len(rows) == BATCH:
            ApprovalRequest.objects.bulk_update(rows, [target])
            rows = []
    if rows:
        ApprovalRequest.objects.bulk_update(rows, [target])


def to_nanos(apps, schema_editor):
    _convert(apps, source="budget_estimate", target="budget_estimate_nanos", convert=usd_to_nanos)


def to_usd(apps, schema_editor):
    _convert(apps, source="budget_estimate_nanos", target="budget_estimate", convert=nanos_to_usd)


class Migration(migrations.Migration):
    dependencies = [("approvals", "0012_request_plan_clarification")]

    operations = [
        migrations.AddField(
            model_name="approvalrequest",
            name="budget_estimate_nanos",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(to_nanos, to_usd),
        migrations.RemoveField(model_name="approvalrequest", name="budget_estimate"),
    ]
