"""The evaluation's four datasets, generated deterministically (fixed seeds, plain Python, no pandas).

Each has its own shape: sales orders over two years, one row per subscription customer with a yes/no
churn flag, one row per stock-keeping unit, and support tickets with timestamps and gaps (open tickets
have no resolution time or satisfaction score). The files are written as CSV, profiled exactly as an
upload is, and read back with the csv module to compute the expected answers.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta


def _csv(header: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def sales_csv() -> bytes:
    rng = random.Random(2301)
    prices = {"Widget": 12.5, "Gadget": 24.0, "Gizmo": 7.25, "Doohickey": 48.0, "Sprocket": 3.9}
    regions = ["North", "South", "East", "West"]
    channels = ["Online", "Retail", "Partner"]
    start = date(2023, 1, 1)
    rows = []
    for number in range(1, 721):
        day = start + timedelta(days=rng.randrange(731))
        product = rng.choices(list(prices), weights=[5, 4, 6, 2, 3])[0]
        region = rng.choices(regions, weights=[4, 3, 3, 2])[0]
        channel = rng.choices(channels, weights=[5, 4, 1])[0]
        units = rng.randint(1, 30)
        price = round(prices[product] * rng.uniform(0.9, 1.15), 2)
        discount = rng.choice([0, 0, 0, 5, 10, 15])
        revenue = round(units * price * (1 - discount / 100), 2)
        customer = f"C{rng.randint(1, 180):04d}"
        rows.append(
            [number, day.isoformat(), region, product, channel, customer, units, price, discount, revenue]
        )
    rows.sort(key=lambda row: (row[1], row[0]))
    header = ["order_id", "order_date", "region", "product", "channel", "customer_id", "units",
              "unit_price_eur", "discount_pct", "revenue_eur"]  # fmt: skip
    return _csv(header, rows)


def churn_csv() -> bytes:
    rng = random.Random(4417)
    tiers = {"Basic": 19.0, "Pro": 49.0, "Enterprise": 199.0}
    regions = ["North", "South", "East", "West"]
    rows = []
    for number in range(1, 541):
        tier = rng.choices(list(tiers), weights=[5, 3, 1])[0]
        region = rng.choice(regions)
        signup = date(2021, 1, 1) + timedelta(days=rng.randrange(4 * 365))
        tenure = rng.randint(1, 60)
        calls = min(12, int(rng.expovariate(0.35)))
        fee = round(tiers[tier] * rng.choice([1.0, 1.0, 0.9, 0.8]), 2)
        risk = 0.08 + 0.04 * calls + (0.12 if tier == "Basic" else 0) - tenure / 400
        risk += {"North": 0.0, "South": 0.05, "East": -0.03, "West": 0.09}[region]
        churned = "yes" if rng.random() < risk else "no"
        nps = max(0, min(10, round(rng.gauss(7.5 - 0.45 * calls - (1.5 if churned == "yes" else 0), 1.6))))
        rows.append([f"CUS-{number:04d}", signup.isoformat(), tier, region, fee, tenure, calls, nps, churned])
    header = ["customer_id", "signup_date", "plan_tier", "region", "monthly_fee_eur", "tenure_months",
              "support_calls", "nps_score", "churned"]  # fmt: skip
    return _csv(header, rows)


def inventory_csv() -> bytes:
    rng = random.Random(9120)
    categories = {
        "Tools": ["Hammer", "Wrench", "Drill", "Saw", "Pliers"],
        "Electrical": ["Cable", "Switch", "Socket", "Fuse"],
        "Plumbing": ["Pipe", "Valve", "Tap", "Washer"],
        "Garden": ["Hose", "Rake", "Shovel", "Planter"],
        "Paint": ["Primer", "Gloss", "Roller", "Brush"],
    }
    warehouses = ["Lyon", "Hamburg", "Rotterdam"]
    suppliers = ["Acme", "Boltworks", "Cobalt", "Delta Supply"]
    rows = []
    for number in range(1, 241):
        category = rng.choice(list(categories))
        name = f"{rng.choice(categories[category])} {rng.choice('ABCDEFGHJK')}{rng.randint(10, 99)}"
        reorder = rng.randrange(20, 151, 5)
        on_hand = 0 if rng.random() < 0.06 else max(0, int(rng.gauss(reorder * 1.6, reorder * 0.9)))
        cost = round(rng.uniform(1.5, 250.0), 2)
        restock = date(2024, 1, 1) + timedelta(days=rng.randrange(366))
        rows.append([f"SKU-{1000 + number}", name, category, rng.choice(warehouses), on_hand, reorder, cost,
                     rng.choices(suppliers, weights=[4, 3, 2, 2])[0], restock.isoformat()])  # fmt: skip
    header = ["sku", "product_name", "category", "warehouse", "units_on_hand", "reorder_level",
              "unit_cost_eur", "supplier", "last_restock_date"]  # fmt: skip
    return _csv(header, rows)


def tickets_csv() -> bytes:
    rng = random.Random(7788)
    priorities = ["Low", "Medium", "High", "Urgent"]
    channels = ["Email", "Phone", "Chat"]
    areas = ["Billing", "Login", "Performance", "Mobile App", "Integrations"]
    agents = ["Amara", "Bruno", "Chen", "Dana", "Emil", "Farah"]
    speed = {"Low": 60.0, "Medium": 36.0, "High": 16.0, "Urgent": 6.0}
    rows = []
    for number in range(5001, 5461):
        opened = datetime(2024, 1, 1, 8) + timedelta(minutes=rng.randrange(366 * 24 * 60))
        priority = rng.choices(priorities, weights=[4, 5, 3, 1])[0]
        channel = rng.choices(channels, weights=[5, 3, 4])[0]
        area = rng.choice(areas)
        agent = rng.choice(agents)
        is_open = rng.random() < (0.25 if opened.month == 12 else 0.07)
        hours = "" if is_open else round(rng.expovariate(1 / speed[priority]) + 0.25, 1)
        satisfaction = ""
        if not is_open and rng.random() < 0.85:
            satisfaction = max(1, min(5, round(rng.gauss(4.3 - (hours / 40 if hours else 0), 0.9))))
        rows.append([number, opened.strftime("%Y-%m-%d %H:%M:%S"), priority, channel, area, agent,
                     "Open" if is_open else "Closed", hours, satisfaction])  # fmt: skip
    header = ["ticket_id", "opened_at", "priority", "channel", "product_area", "agent", "status",
              "resolution_hours", "satisfaction_score"]  # fmt: skip
    return _csv(header, rows)


DATASETS = {
    "sales.csv": sales_csv,
    "customers_churn.csv": churn_csv,
    "inventory.csv": inventory_csv,
    "support_tickets.csv": tickets_csv,
}


def rows_of(content: bytes) -> list[dict[str, str]]:
    """The file's rows as the csv module reads them: every value a string, missing values empty."""
    return list(csv.DictReader(io.StringIO(content.decode())))
