"""Default prices, in USD. Sources: Mistral's and E2B's public price pages (2026-11)."""

from decimal import Decimal

# Per 1M tokens: (input, output).
LLM_PRICES_PER_MTOK: dict[str, tuple[Decimal, Decimal]] = {
    "mistral-large-latest": (Decimal("2.00"), Decimal("6.00")),
    "mistral-medium-latest": (Decimal("0.40"), Decimal("2.00")),
    "mistral-small-latest": (Decimal("0.20"), Decimal("0.60")),
    "codestral-latest": (Decimal("0.30"), Decimal("0.90")),
    "offline-rules-v1": (Decimal("0"), Decimal("0")),
}
SANDBOX_USD_PER_VCPU_SECOND = Decimal("0.000014")
SANDBOX_USD_PER_GIB_SECOND = Decimal("0.0000045")

# Rough sizes used for the up-front estimate shown to reviewers.
ESTIMATED_PROMPT_OVERHEAD_TOKENS = 900
ESTIMATED_OUTPUT_TOKENS = 600
