"""What the offline generator understood: one structure from which both the code and the plan are written."""

from __future__ import annotations

from dataclasses import dataclass, field

from .schema import Column, Schema

GRAINS = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}


@dataclass(frozen=True)
class Measure:
    """A column, or two columns combined row by row ("units on hand times unit cost")."""

    column: Column | None = None
    left: Column | None = None
    op: str = ""  # "*", "-", "+", "/" for a derived measure
    right: Column | None = None
    label: str = ""  # its name in plain words, for a derived one ("stock value")

    @property
    def derived(self) -> bool:
        return self.column is None

    @property
    def name(self) -> str:
        """The name of the values in the code: the column's, or a snake_case one for a derived measure."""
        if self.column is not None:
            return self.column.name
        return "_".join(self.label.lower().split()) or "value"

    @property
    def columns(self) -> tuple[Column, ...]:
        return (self.column,) if self.column is not None else (self.left, self.right)  # type: ignore[return-value]

    @property
    def averaged(self) -> bool:
        """Levels, prices and scores are averaged when nothing says how to aggregate; totals are summed."""
        if self.column is not None:
            return self.column.averaged
        return self.op == "/"

    @property
    def integer(self) -> bool:
        return all(c.integer for c in self.columns) and self.op in ("", "*", "-", "+")


@dataclass(frozen=True)
class Filter:
    """Rows kept: `column op value`, or `column op other` for a comparison between two columns."""

    column: Column
    op: str  # == != in not-in > >= < <= between year month quarter flag no-flag after before
    value: object = None
    other: Column | None = None


@dataclass(frozen=True)
class Intent:
    schema: Schema
    # What is computed: describe | correlation | scatter | distribution | aggregate | count | rate | share
    operation: str
    # How it is laid out: "" (a number, or one row per group) | series (per period) | yoy (per year, with the
    # change) | rank (the top groups) | rows (the top rows) | list (the rows that match)
    shape: str = ""
    measures: tuple[Measure, ...] = ()
    agg: str = ""  # sum | mean | median | min | max | count | nunique
    counted: Column | None = None  # count distinct values of this id column instead of rows
    entity: str = "row"  # what is counted or listed, in words ("ticket", "customer", "SKU")
    per_entity: Column | None = None  # "average revenue per customer": totals per customer, then averaged
    groups: tuple[Column, ...] = ()
    date: Column | None = None
    grain: str = ""  # D W M Q Y, for series and yoy
    change: int = (
        0  # a series' change against this many periods before (1: the previous one; 12 months: a year)
    )
    filters: tuple[Filter, ...] = ()
    condition: Filter | None = None  # rate/share of rows where this holds
    top: int = 0
    ascending: bool = False
    chart: str = ""  # bar | line | pie | hist | scatter | ""
    label_column: Column | None = None  # the identifier printed for listed or ranked rows
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def measure(self) -> Measure | None:
        return self.measures[0] if self.measures else None
