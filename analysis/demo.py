"""The demo data set: a year of sales, deterministic so examples and tests agree."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta

REGIONS = ("North", "South", "East", "West")
PRODUCTS = {"Widget": 12.5, "Gadget": 24.0, "Gizmo": 7.25, "Doohickey": 48.0, "Thingamajig": 99.0}


def sales_csv(rows: int = 1200, seed: int = 42) -> bytes:
    rng = random.Random(seed)
    start = date(2025, 1, 1)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "region", "product", "units", "revenue"])
    for i in range(rows):
        day = start + timedelta(days=(i * 365) // rows)
        product = rng.choice(list(PRODUCTS))
        region = rng.choice(REGIONS)
        units = rng.randint(1, 40)
        seasonal = 1 + 0.3 * ((day.month - 1) / 11)
        revenue = round(units * PRODUCTS[product] * seasonal * rng.uniform(0.9, 1.1), 2)
        writer.writerow([day.isoformat(), region, product, units, f"{revenue:.2f}"])
    return out.getvalue().encode()
