"""Money and shares as people read them: dollars and cents (more digits only under one cent), percents."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation


def usd(value) -> str:
    """'$1,234.56'; '$0.0042' for an amount under one cent (two significant digits); '' for no number."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount == 0 or amount >= Decimal("0.01"):
        return f"{sign}${amount:,.2f}"
    places = -math.floor(math.log10(amount)) + 1
    rounded = round(amount, places)
    if rounded >= Decimal("0.01"):  # 0.00999 rounds up to a whole cent
        return f"{sign}${rounded:,.2f}"
    return f"{sign}${rounded:.{places}f}"


def percent(value) -> str:
    """A fraction as a percent: 0.8 → '80%', 0.875 → '87.5%'; '' for no number."""
    try:
        number = Decimal(str(value)) * 100
    except (InvalidOperation, ValueError):
        return ""
    return f"{number.quantize(Decimal('0.1')).normalize():f}%"
