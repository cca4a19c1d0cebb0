"""Money: whole nano-dollars in the database, `Decimal` USD everywhere else.

Every stored amount — a budget's limit, a budget period's spent and reserved, a reservation's amount and
actual, a cost span's cost, a request's budget estimate — is a whole number of nano-dollars (10⁻⁹ USD) in a
`BigIntegerField` named `*_nanos`. Sums and comparisons in SQL are then integer arithmetic, exact on SQLite
(whose DECIMAL columns hold floats) and PostgreSQL alike. Nano-dollars rather than micro-dollars: a 20 ms
run costs $0.00000037, which micro-dollars would round to nothing.

Services take and return `Decimal` USD; `usd_to_nanos` and `nanos_to_usd` are the only conversions between
the two. Prices stay `Decimal` columns: they are read and multiplied in Python, never summed or compared in
SQL, and their ≤ 15 significant digits survive SQLite's float storage exactly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

NANOS_PER_USD = 10**9
NANO_PLACES = 9


def usd_to_nanos(amount: Decimal | int | str) -> int:
    """USD as whole nano-dollars, rounded half up (a tie goes away from zero: 0.5 nano → 1).

    Floats are refused: a float has already lost the exact amount.
    """
    if isinstance(amount, float):
        raise TypeError(f"USD amounts are Decimal, int or str, never float ({amount!r})")
    return int(Decimal(amount).scaleb(NANO_PLACES).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def nanos_to_usd(nanos: int | Decimal, *, places: int = NANO_PLACES) -> Decimal:
    """Nano-dollars as USD, exactly.

    The value has at least `places` decimals (the API's and admin's format of that amount: 6 for limits
    and estimates, 8 for spend and holds), more only when a digit beyond them is not zero.
    """
    exact = Decimal(int(nanos)).scaleb(-NANO_PLACES)
    shown = exact.quantize(Decimal(1).scaleb(-places))
    return shown if shown == exact else exact


def usd_property(nanos_field: str, *, places: int) -> property:
    """A model's USD view of its nano-dollar field: read it as `Decimal`, or set it (forms, factories,
    `create(limit_usd=...)`); the conversion is `usd_to_nanos` / `nanos_to_usd`."""

    def get(obj) -> Decimal | None:
        nanos = getattr(obj, nanos_field)
        return None if nanos is None else nanos_to_usd(nanos, places=places)

    def set_(obj, value) -> None:
        setattr(obj, nanos_field, None if value is None else usd_to_nanos(value))

    return property(get, set_, doc=f"{nanos_field} in USD (Decimal)")


def usd_text(amount: Decimal) -> str:
    """An amount as the API's and audit trail's strings show it: every decimal it has, never in exponent
    form (str() would write a zero with 8 decimals as "0E-8")."""
    return f"{amount:f}"
