"""What the offline generator knows about a dataset: each column's role, the words that name it, its unit
and, for categories, its values. Built from the dataset context only (names, dtypes, category values)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..base import DatasetContext
from .words import FALSE_VALUES, ROW_NOUNS, TRUE_VALUES, UNITS, canonical, stem, tokenize, words_of

# Name parts that make a text column a date, and numeric ones an identifier or a calendar number.
_DATE_PARTS = frozenset({"date", "day", "time", "timestamp", "datetime", "dt", "month", "week", "period"})
_ID_PARTS = frozenset({"id", "uuid", "key", "code", "sku", "ref", "reference", "number", "no", "zip",
                       "postcode", "phone", "email", "index", "idx"})  # fmt: skip
_CALENDAR_PARTS = frozenset({"year", "month", "day", "week", "quarter", "hour"})
# Measures that are levels, rates or prices: "by region" averages them; totals (revenue, units) are summed.
_AVERAGED_PARTS = frozenset({"score", "rating", "pct", "percent", "rate", "ratio", "price", "cost", "age",
                             "tenure", "level", "hours", "days", "minutes", "duration", "satisfaction",
                             "nps", "discount", "margin", "temperature", "probability", "salary", "wage",
                             "fee", "rent"})  # fmt: skip
# Words too general to name a column alone ("the date", "the total"): only with the rest of its name.
GENERIC = frozenset({"id", "name", "number", "no", "type", "date", "time", "at", "on", "of", "amount",
                     "value", "total", "count", "level", "code", "key", "per", "the", "in", "by", "and",
                     "last", "first", "is", "has", "flag", "status"})  # fmt: skip


# Little words inside names ("units_on_hand", "hours_to_close"): never enough to name a column.
LINK_WORDS = frozenset({"a", "an", "the", "of", "on", "at", "in", "to", "for", "by", "with", "from", "per",
                        "and", "or", "is", "has", "as"})  # fmt: skip


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    role: str  # "date" | "measure" | "category" | "flag" | "id" | "text"
    words: tuple[str, ...]  # the name's words without its unit, stemmed: unit_cost_eur → (unit, cost)
    surface: tuple[str, ...]  # the same words as written in the name
    unit: str | None = None  # "eur", "pct", "hours", ...
    values: tuple[str, ...] = ()  # a category's or flag's values, as stored
    true_value: str | None = None  # for a text flag: the value that means yes
    integer: bool = False

    @property
    def averaged(self) -> bool:
        return bool(set(self.surface) & _AVERAGED_PARTS) or self.unit in ("pct", "hours", "days", "minutes")

    @property
    def label(self) -> str:
        """The column as plain words: unit_cost_eur → unit cost."""
        return " ".join(self.surface)


@dataclass(frozen=True)
class Schema:
    dataset: DatasetContext
    columns: tuple[Column, ...]
    nouns: frozenset[str] = field(default_factory=frozenset)  # what one row is: "ticket", "customer"

    @classmethod
    def of(cls, dataset: DatasetContext) -> Schema:
        columns = tuple(_column(raw) for raw in dataset.columns if str(raw.get("name", "")).strip())
        stem_words = [stem(w) for w in words_of(PurePosixPath(dataset.name).stem)]
        # The file's own words name its rows ("tickets" in support_tickets.csv), unless a column has them.
        taken = {w for c in columns if c.role != "id" for w in c.words}
        nouns = {w for w in stem_words if w not in taken} | set(ROW_NOUNS)
        return cls(dataset=dataset, columns=columns, nouns=frozenset(nouns))

    def by_name(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def having(self, *roles: str) -> list[Column]:
        return [c for c in self.columns if c.role in roles]

    @property
    def dates(self) -> list[Column]:
        return self.having("date")

    @property
    def measures(self) -> list[Column]:
        return self.having("measure")

    def id_for(self, noun: str) -> Column | None:
        """The identifier column of a thing the question counts: customer → customer_id, sku → sku."""
        for column in self.having("id"):
            if noun in column.words or (len(column.words) == 1 and column.words[0] == noun):
                return column
        return None

    @property
    def row_id(self) -> Column | None:
        """The first column when it is an identifier: a table's key names what one row is."""
        first = self.columns[0] if self.columns else None
        return first if first is not None and first.role == "id" else None

    @property
    def row_entity(self) -> str:
        """What one row is, in words: the key's noun (order_id → order), the file's noun, or "row"."""
        if self.row_id is not None and self.row_id.surface[0] not in GENERIC:
            return self.row_id.surface[0]
        named = sorted(self.nouns - set(ROW_NOUNS))
        return named[-1] if named else "row"


def _column(raw: dict) -> Column:
    name = str(raw.get("name", "")).strip()
    dtype = str(raw.get("dtype", "")).lower()
    surface = words_of(name)
    unit = UNITS.get(surface[-1]) if len(surface) > 1 else None
    core = surface[:-1] if unit else surface
    values = tuple(str(v) for v in raw.get("values") or ())
    role, true_value = _role(name=name, dtype=dtype, parts=set(surface), values=values)
    return Column(
        name=name,
        dtype=dtype,
        role=role,
        words=tuple(canonical(stem(w)) for w in core),
        surface=tuple(core),
        unit=unit,
        values=values if role in ("category", "flag") else (),
        true_value=true_value,
        integer=bool(re.match(r"u?int", dtype)),
    )


def _role(*, name: str, dtype: str, parts: set[str], values: tuple[str, ...]) -> tuple[str, str | None]:
    if dtype.startswith(("datetime", "date", "timestamp", "period")):
        return "date", None
    if dtype == "bool" or dtype == "boolean":
        return "flag", None
    if re.match(r"(u?int|float|decimal|double|number|numeric)", dtype):
        if parts & _ID_PARTS or name.lower() == "id":
            return "id", None
        if parts & _CALENDAR_PARTS and len(parts) == 1:
            return "category", None  # a year or month number: something to group by, not to add up
        return "measure", None
    lowered = {v.strip().lower() for v in values}
    if len(lowered) == 2 and lowered <= set(TRUE_VALUES) | set(FALSE_VALUES):
        true_value = next(v for v in values if v.strip().lower() in TRUE_VALUES)
        return "flag", true_value
    if parts & _DATE_PARTS or name.lower().endswith(("_at", "_on")):
        return "date", None
    if parts & _ID_PARTS:
        return "id", None
    if values:
        return "category", None
    return "text", None


def value_tokens(value: str) -> tuple[str, ...]:
    return tuple(t.stem for t in tokenize(value) if not t.punctuation)
