"""Default prices, with where they come from and when. Edit them in the admin (audited)."""

from decimal import Decimal

from django.db import migrations

MISTRAL = "https://mistral.ai/pricing#api-pricing"
E2B = "https://e2b.dev/pricing"
AS_OF = "2026-11-26"

# (name, input USD per 1M tokens, output USD per 1M tokens)
LLM = [
    ("mistral-large-latest", "2.00", "6.00"),
    ("mistral-medium-latest", "0.40", "2.00"),
    ("mistral-small-latest", "0.20", "0.60"),
    ("codestral-latest", "0.30", "0.90"),
]
# The local sandbox is priced like E2B, so switching backends does not change what a run costs.
SANDBOX = [("e2b", E2B), ("local", f"same as E2B ({E2B})")]


def seed(apps, schema_editor):
    Price = apps.get_model("billing", "Price")
    for name, price_in, price_out in LLM:
        Price.objects.update_or_create(
            name=name,
            defaults={
                "kind": "llm",
                "input_usd_per_mtok": Decimal(price_in),
                "output_usd_per_mtok": Decimal(price_out),
                "source": MISTRAL,
                "as_of": AS_OF,
            },
        )
    Price.objects.update_or_create(
        name="offline-rules-v1",
        defaults={"kind": "llm", "source": "Sandgate's offline generator runs locally: free", "as_of": AS_OF},
    )
    for name, source in SANDBOX:
        Price.objects.update_or_create(
            name=name,
            defaults={
                "kind": "sandbox",
                "usd_per_vcpu_second": Decimal("0.000014"),
                "usd_per_gib_second": Decimal("0.0000045"),
                "source": source,
                "as_of": AS_OF,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_budgets_prices_reservations")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
