# ruff: noqa: E501 - one question per line reads as the table it is
"""The evaluation questions, asked as an analyst would, each with its answer computed in plain Python.

The expected answers are computed here from the CSV rows with the standard library only (csv, statistics,
math): no pandas, and nothing taken from the generator. Questions alternate between the tuning half (used
while developing the offline generator) and the held-out half (kept for the end): `holdout` says which.
The held-out half's first run found a miss that was then fixed in the generator, so a third, fresh set
(`fresh_questions`) was written afterwards and run once. A question with `history` is a follow-up: the
earlier questions are asked first in the same session.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .judge import ChartOnly, Expectation, Labels, Mentions, Number, Refusal, Table, Winner

Row = dict[str, str]


@dataclass(frozen=True)
class Question:
    dataset: str
    text: str
    expect: Expectation
    chart: str | None = None
    history: tuple[str, ...] = ()
    holdout: bool = False
    fresh: bool = False  # written after the held-out half had been run once (see all_questions)

    @property
    def half(self) -> str:
        return "fresh" if self.fresh else "held-out" if self.holdout else "tuning"


# --- plain-Python arithmetic over csv rows -------------------------------------------------------


def values(rows: Iterable[Row], column: str) -> list[float]:
    return [float(r[column]) for r in rows if r[column] != ""]


def total(rows: Iterable[Row], column: str) -> float:
    return math.fsum(values(rows, column))


def mean(rows: Iterable[Row], column: str) -> float:
    return statistics.fmean(values(rows, column))


def median(rows: Iterable[Row], column: str) -> float:
    return statistics.median(values(rows, column))


def where(rows: Iterable[Row], test: Callable[[Row], bool]) -> list[Row]:
    return [r for r in rows if test(r)]


def groups(rows: Iterable[Row], key: Callable[[Row], object]) -> dict[object, list[Row]]:
    out: dict[object, list[Row]] = defaultdict(list)
    for row in rows:
        out[key(row)].append(row)
    return dict(out)


def per(rows: Iterable[Row], key: Callable[[Row], object], measure: Callable[[list[Row]], float]) -> dict:
    return {label: measure(members) for label, members in groups(rows, key).items()}


def table(result: dict, *, label: Callable[[object], tuple] = lambda k: (k,), **options) -> Table:
    return Table({label(k): (v if isinstance(v, tuple) else (v,)) for k, v in result.items()}, **options)


def ranked(result: dict, n: int, *, descending: bool = True) -> Table:
    order = sorted(result.items(), key=lambda kv: kv[1], reverse=descending)
    _check_no_tie([v for _, v in order], n)
    return Table({(k,): (v,) for k, v in order[:n]}, ordered=True)


def winner(result: dict, *, lowest: bool = False, percent: bool = False) -> Winner:
    order = sorted(result.items(), key=lambda kv: kv[1], reverse=not lowest)
    _check_no_tie([v for _, v in order], 1)
    return Winner(order[0][0], order[0][1], percent=percent)


def _check_no_tie(ordered: list[float], n: int) -> None:
    # A ranking question whose answer depends on how ties are broken would measure luck, not understanding.
    if len(ordered) > n and math.isclose(ordered[n - 1], ordered[n]):
        raise ValueError(f"tie at position {n}: {ordered[: n + 1]}")


def pearson(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]  # fmt: skip


def month_label(key: str) -> tuple[tuple[str, ...]]:
    """A month ("2024-01") as a printed period, first day, month end, or in words."""
    year, month = key.split("-")
    last = [31, 29 if int(year) % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][int(month) - 1]
    name = _MONTHS[int(month) - 1]
    return ((key, f"{key}-01", f"{key}-{last}", f"{name[:3]} {year}", f"{name} {year}"),)


def quarter_label(key: str) -> tuple[tuple[str, ...]]:
    year, quarter = key.split("Q")
    return ((key, f"{year}-Q{quarter}", f"Q{quarter} {year}", f"{year} Q{quarter}"),)


def quarter_of(day: str) -> str:
    return f"{day[:4]}Q{(int(day[5:7]) - 1) // 3 + 1}"


def count(rows: list[Row]) -> float:
    return float(len(rows))


# --- the questions -------------------------------------------------------------------------------


def sales_questions(rows: list[Row]) -> list[Question]:
    d = "sales.csv"
    year_2024 = where(rows, lambda r: r["order_date"].startswith("2024"))
    monthly = per(rows, lambda r: r["order_date"][:7], lambda g: total(g, "revenue_eur"))
    north = where(rows, lambda r: r["region"] == "North")
    revenue = total(rows, "revenue_eur")
    return [
        Question(d, "What is the total revenue?", Number(revenue)),
        Question(d, "Total revenue by region", table(per(rows, lambda r: r["region"], lambda g: total(g, "revenue_eur")))),
        Question(d, "How many orders were placed in 2024?", Number(len(year_2024))),
        Question(d, "Average discount by channel", table(per(rows, lambda r: r["channel"], lambda g: mean(g, "discount_pct")))),
        Question(d, "Which product sold the most units?", winner(per(rows, lambda r: r["product"], lambda g: total(g, "units")))),
        Question(d, "Top 3 products by revenue", ranked(per(rows, lambda r: r["product"], lambda g: total(g, "revenue_eur")), 3)),
        Question(d, "Monthly revenue in 2024", table(per(year_2024, lambda r: r["order_date"][:7], lambda g: total(g, "revenue_eur")), label=month_label)),
        Question(d, "Revenue per quarter", table(per(rows, lambda r: quarter_of(r["order_date"]), lambda g: total(g, "revenue_eur")), label=quarter_label)),
        Question(d, "What's the average order value?", Number(mean(rows, "revenue_eur"))),
        Question(d, "How many distinct customers bought something?", Number(len({r["customer_id"] for r in rows}))),
        Question(d, "Revenue by region and channel", table(per(rows, lambda r: (r["region"], r["channel"]), lambda g: total(g, "revenue_eur")), label=lambda k: k)),
        Question(d, "Show revenue year over year", table(per(rows, lambda r: r["order_date"][:4], lambda g: total(g, "revenue_eur")))),
        Question(d, "Number of orders per channel as a pie chart", table(per(rows, lambda r: r["channel"], count)), chart="pie"),
        Question(d, "What share of revenue comes from each region?", table(per(rows, lambda r: r["region"], lambda g: total(g, "revenue_eur") / revenue), percent=True)),
        Question(d, "Average units per order for Widgets", Number(mean(where(rows, lambda r: r["product"] == "Widget"), "units"))),
        Question(d, "Total revenue of online orders with revenue above 500", Number(total(where(rows, lambda r: r["channel"] == "Online" and float(r["revenue_eur"]) > 500), "revenue_eur"))),
        Question(d, "What is the median unit price per product?", table(per(rows, lambda r: r["product"], lambda g: median(g, "unit_price_eur")))),
        Question(d, "Plot the revenue trend over time", table(monthly, label=month_label), chart="line"),
        Question(d, "now only for the North region", table(per(north, lambda r: r["order_date"][:7], lambda g: total(g, "revenue_eur")), label=month_label), chart="line", history=("Plot the revenue trend over time",)),
        Question(d, "Compare the average discount of Online and Retail orders", table({c: mean(where(rows, lambda r, c=c: r["channel"] == c), "discount_pct") for c in ("Online", "Retail")})),
        Question(d, "Is there a correlation between unit price and revenue?", Number(pearson(values(rows, "unit_price_eur"), values(rows, "revenue_eur")))),
        Question(d, "What will the weather be in Paris tomorrow?", Refusal()),
        Question(d, "Revenue per unit by product", table(per(rows, lambda r: r["product"], lambda g: total(g, "revenue_eur") / total(g, "units")))),
        Question(d, "How many orders had a discount of at least 10 percent?", Number(len(where(rows, lambda r: float(r["discount_pct"]) >= 10)))),
    ]  # fmt: skip


def churn_questions(rows: list[Row]) -> list[Question]:
    d = "customers_churn.csv"

    def rate(g: list[Row]) -> float:
        return sum(r["churned"] == "yes" for r in g) / len(g)

    churned = where(rows, lambda r: r["churned"] == "yes")
    tier_counts = "Number of customers per plan tier"
    only_churned = "now only for customers who churned"
    tenure = values(rows, "tenure_months")
    return [
        Question(d, "churn rate by plan tier", table(per(rows, lambda r: r["plan_tier"], rate), percent=True)),
        Question(d, "average fee and tenure by region", table(per(rows, lambda r: r["region"], lambda g: (mean(g, "monthly_fee_eur"), mean(g, "tenure_months"))))),
        Question(d, "How many customers churned?", Number(len(churned))),
        Question(d, "What is the overall churn rate?", Number(rate(rows), percent=True)),
        Question(d, "Average NPS score by churn status", table({(("yes", "True"),): mean(churned, "nps_score"), (("no", "False"),): mean(where(rows, lambda r: r["churned"] == "no"), "nps_score")}, label=lambda k: k)),
        Question(d, "Median tenure in months for Enterprise customers", Number(median(where(rows, lambda r: r["plan_tier"] == "Enterprise"), "tenure_months"))),
        Question(d, tier_counts, table(per(rows, lambda r: r["plan_tier"], count))),
        Question(d, "Which region has the highest churn rate?", winner(per(rows, lambda r: r["region"], rate), percent=True)),
        Question(d, "Churn rate by region and plan tier", table(per(rows, lambda r: (r["region"], r["plan_tier"]), rate), label=lambda k: k, percent=True)),
        Question(d, "How many customers have more than 5 support calls?", Number(len(where(rows, lambda r: int(r["support_calls"]) > 5)))),
        Question(d, "Average support calls for churned customers", Number(mean(churned, "support_calls"))),
        Question(d, "How many customers signed up each year?", table(per(rows, lambda r: r["signup_date"][:4], count))),
        Question(d, "Total monthly fees by plan tier", table(per(rows, lambda r: r["plan_tier"], lambda g: total(g, "monthly_fee_eur")))),
        Question(d, "Show the distribution of tenure", Mentions((statistics.median(tenure),)), chart="hist"),
        Question(d, only_churned, table(per(churned, lambda r: r["plan_tier"], count)), history=(tier_counts,)),
        Question(d, "as a pie chart", table(per(churned, lambda r: r["plan_tier"], count)), chart="pie", history=(tier_counts, only_churned)),
        Question(d, "What is the correlation between support calls and NPS score?", Number(pearson(values(rows, "support_calls"), values(rows, "nps_score")))),
        Question(d, "Average monthly fee of customers with a tenure above 24 months", Number(mean(where(rows, lambda r: int(r["tenure_months"]) > 24), "monthly_fee_eur"))),
        Question(d, "What is the longest tenure?", Number(max(tenure))),
        Question(d, "How many customers will churn next month?", Refusal()),
        Question(d, "Churn rate for customers with more than 5 support calls", Number(rate(where(rows, lambda r: int(r["support_calls"]) > 5)), percent=True)),
    ]  # fmt: skip


def inventory_questions(rows: list[Row]) -> list[Question]:
    d = "inventory.csv"

    def below(r: Row) -> bool:
        return int(r["units_on_hand"]) < int(r["reorder_level"])

    def value(g: list[Row]) -> float:
        return math.fsum(int(r["units_on_hand"]) * float(r["unit_cost_eur"]) for r in g)

    lyon = where(rows, lambda r: r["warehouse"] == "Lyon")
    low_in_lyon = frozenset(r["sku"] for r in lyon if below(r))
    excluded = frozenset(r["sku"] for r in rows) - low_in_lyon
    cost = {r["sku"]: float(r["unit_cost_eur"]) for r in rows}
    return [
        Question(d, "How many SKUs are there per category?", table(per(rows, lambda r: r["category"], count))),
        Question(d, "How many SKUs are below their reorder level?", Number(len(where(rows, below)))),
        Question(d, "Total units on hand by warehouse", table(per(rows, lambda r: r["warehouse"], lambda g: total(g, "units_on_hand")))),
        Question(d, "Average unit cost by category", table(per(rows, lambda r: r["category"], lambda g: mean(g, "unit_cost_eur")))),
        Question(d, "What is the total stock value, units on hand times unit cost?", Number(value(rows))),
        Question(d, "Stock value (units on hand times unit cost) by warehouse", table(per(rows, lambda r: r["warehouse"], value))),
        Question(d, "Which supplier has the most SKUs?", winner(per(rows, lambda r: r["supplier"], count))),
        Question(d, "List the SKUs below their reorder level in Lyon", Labels(low_in_lyon, excluded)),
        Question(d, "Top 5 SKUs by unit cost", ranked(cost, 5)),
        Question(d, "How many SKUs are out of stock?", Number(len(where(rows, lambda r: r["units_on_hand"] == "0")))),
        Question(d, "Average units on hand per warehouse and category", table(per(rows, lambda r: (r["warehouse"], r["category"]), lambda g: mean(g, "units_on_hand")), label=lambda k: k)),
        Question(d, "Median reorder level", Number(median(rows, "reorder_level"))),
        Question(d, "How many SKUs were last restocked in each month?", table(per(rows, lambda r: r["last_restock_date"][:7], count), label=month_label)),
        Question(d, "What is the lowest unit cost in the Paint category?", Number(min(values(where(rows, lambda r: r["category"] == "Paint"), "unit_cost_eur")))),
        Question(d, "Share of SKUs by warehouse", table(per(rows, lambda r: r["warehouse"], lambda g: len(g) / len(rows)), percent=True)),
        Question(d, "Total units on hand for Garden products in Hamburg", Number(total(where(rows, lambda r: r["category"] == "Garden" and r["warehouse"] == "Hamburg"), "units_on_hand"))),
        Question(d, "Units on hand minus reorder level by category", table(per(rows, lambda r: r["category"], lambda g: total(g, "units_on_hand") - total(g, "reorder_level")))),
        Question(d, "What is the capital of France?", Refusal()),
        Question(d, "Plot units on hand against reorder level as a scatter chart", ChartOnly(), chart="scatter"),
        Question(d, "Average unit cost per supplier as a bar chart", table(per(rows, lambda r: r["supplier"], lambda g: mean(g, "unit_cost_eur"))), chart="bar"),
    ]  # fmt: skip


def tickets_questions(rows: list[Row]) -> list[Question]:
    d = "support_tickets.csv"
    by_priority = "Average resolution time by priority"
    by_channel = "now by channel"
    billing = where(rows, lambda r: r["product_area"] == "Billing")
    closed = where(rows, lambda r: r["status"] == "Closed")
    return [
        Question(d, "How many tickets per priority?", table(per(rows, lambda r: r["priority"], count))),
        Question(d, by_priority, table(per(rows, lambda r: r["priority"], lambda g: mean(g, "resolution_hours")))),
        Question(d, "Which agent closed the most tickets?", winner(per(closed, lambda r: r["agent"], count))),
        Question(d, "Median satisfaction score by channel", table(per(rows, lambda r: r["channel"], lambda g: median(g, "satisfaction_score")))),
        Question(d, "What percentage of tickets are still open?", Number(len(where(rows, lambda r: r["status"] == "Open")) / len(rows), percent=True)),
        Question(d, "Number of tickets opened per month", table(per(rows, lambda r: r["opened_at"][:7], count), label=month_label)),
        Question(d, "Average satisfaction for urgent tickets", Number(mean(where(rows, lambda r: r["priority"] == "Urgent"), "satisfaction_score"))),
        Question(d, "Tickets by channel and priority", table(per(rows, lambda r: (r["channel"], r["priority"]), count), label=lambda k: k)),
        Question(d, "How many tickets took more than 48 hours to resolve?", Number(len(where(rows, lambda r: r["resolution_hours"] != "" and float(r["resolution_hours"]) > 48)))),
        Question(d, "Top 3 product areas by number of tickets", ranked(per(rows, lambda r: r["product_area"], count), 3)),
        Question(d, "Average resolution hours per agent, as a bar chart", table(per(rows, lambda r: r["agent"], lambda g: mean(g, "resolution_hours"))), chart="bar"),
        Question(d, "Ticket volume by quarter", table(per(rows, lambda r: quarter_of(r["opened_at"]), count), label=quarter_label)),
        Question(d, "Which channel has the lowest average satisfaction?", winner(per(rows, lambda r: r["channel"], lambda g: mean(g, "satisfaction_score")), lowest=True)),
        Question(d, "Share of tickets by channel as a pie chart", table(per(rows, lambda r: r["channel"], lambda g: len(g) / len(rows)), percent=True), chart="pie"),
        Question(d, "Maximum resolution time for Billing tickets", Number(max(values(billing, "resolution_hours")))),
        Question(d, by_channel, table(per(rows, lambda r: r["channel"], lambda g: mean(g, "resolution_hours"))), history=(by_priority,)),
        Question(d, "only for Billing tickets", table(per(billing, lambda r: r["channel"], lambda g: mean(g, "resolution_hours"))), history=(by_priority, by_channel)),
        Question(d, "Who will win the next election?", Refusal()),
        Question(d, "How many tickets were reopened?", Refusal()),
        Question(d, "How many urgent tickets came in by phone?", Number(len(where(rows, lambda r: r["priority"] == "Urgent" and r["channel"] == "Phone")))),
    ]  # fmt: skip


def fresh_questions(rows_by_dataset: dict[str, list[Row]]) -> list[Question]:
    """Written after the held-out half's first run had shown a miss that was then fixed, so that one half
    of questions stays unseen by the generator's development: run once, reported as it came out."""
    sales, churn = rows_by_dataset["sales.csv"], rows_by_dataset["customers_churn.csv"]
    stock, tickets = rows_by_dataset["inventory.csv"], rows_by_dataset["support_tickets.csv"]

    def rate(g: list[Row]) -> float:
        return sum(r["churned"] == "yes" for r in g) / len(g)

    def below(r: Row) -> bool:
        return int(r["units_on_hand"]) < int(r["reorder_level"])

    in_2024 = where(sales, lambda r: r["order_date"].startswith("2024"))
    churned = where(churn, lambda r: r["churned"] == "yes")
    s, c, i, t = "sales.csv", "customers_churn.csv", "inventory.csv", "support_tickets.csv"
    questions = [
        Question(
            s,
            "What was the total revenue in the South region in 2023?",
            Number(
                total(
                    where(sales, lambda r: r["region"] == "South" and r["order_date"].startswith("2023")),
                    "revenue_eur",
                )
            ),
        ),
        Question(
            s,
            "Average unit price of Gadgets sold online",
            Number(
                mean(
                    where(sales, lambda r: r["product"] == "Gadget" and r["channel"] == "Online"),
                    "unit_price_eur",
                )
            ),
        ),
        Question(
            s,
            "Number of distinct customers per region",
            table(per(sales, lambda r: r["region"], lambda g: float(len({r["customer_id"] for r in g})))),
        ),
        Question(
            s,
            "Which region had the lowest revenue in 2024?",
            winner(per(in_2024, lambda r: r["region"], lambda g: total(g, "revenue_eur")), lowest=True),
        ),
        Question(
            c,
            "How many Pro customers are there in the East?",
            Number(len(where(churn, lambda r: r["plan_tier"] == "Pro" and r["region"] == "East"))),
        ),
        Question(
            c,
            "Average tenure of customers who did not churn",
            Number(mean(where(churn, lambda r: r["churned"] == "no"), "tenure_months")),
        ),
        Question(
            c,
            "Churn rate by number of support calls",
            table(per(churn, lambda r: r["support_calls"], rate), percent=True),
        ),
        Question(
            c,
            "Total monthly fees of churned customers by region",
            table(per(churned, lambda r: r["region"], lambda g: total(g, "monthly_fee_eur"))),
        ),
        Question(
            i,
            "How many SKUs does each supplier have in Rotterdam?",
            table(per(where(stock, lambda r: r["warehouse"] == "Rotterdam"), lambda r: r["supplier"], count)),
        ),
        Question(
            i,
            "What is the average reorder level for Electrical items?",
            Number(mean(where(stock, lambda r: r["category"] == "Electrical"), "reorder_level")),
        ),
        Question(
            i,
            "Top 3 categories by total units on hand",
            ranked(per(stock, lambda r: r["category"], lambda g: total(g, "units_on_hand")), 3),
        ),
        Question(
            i,
            "Which warehouse has the most SKUs below their reorder level?",
            winner(per(where(stock, below), lambda r: r["warehouse"], count)),
        ),
        Question(
            t,
            "Average satisfaction score per agent",
            table(per(tickets, lambda r: r["agent"], lambda g: mean(g, "satisfaction_score"))),
        ),
        Question(
            t,
            "How many tickets came in by email in the first quarter?",
            Number(
                len(
                    where(
                        tickets,
                        lambda r: r["channel"] == "Email" and quarter_of(r["opened_at"]).endswith("Q1"),
                    )
                )
            ),
        ),
        Question(
            t,
            "Median resolution hours for Login tickets",
            Number(median(where(tickets, lambda r: r["product_area"] == "Login"), "resolution_hours")),
        ),
        Question(
            t,
            "Share of tickets per priority",
            table(per(tickets, lambda r: r["priority"], lambda g: len(g) / len(tickets)), percent=True),
        ),
    ]
    return [Question(**{**q.__dict__, "fresh": True}) for q in questions]


BUILDERS = {
    "sales.csv": sales_questions,
    "customers_churn.csv": churn_questions,
    "inventory.csv": inventory_questions,
    "support_tickets.csv": tickets_questions,
}


def all_questions(rows_by_dataset: dict[str, list[Row]]) -> list[Question]:
    """Every question; within each dataset, every second one is held out."""
    questions = []
    for name, build in BUILDERS.items():
        for index, question in enumerate(build(rows_by_dataset[name])):
            questions.append(Question(**{**question.__dict__, "holdout": index % 2 == 1}))
    return questions + fresh_questions(rows_by_dataset)
