"""From a question's items to a Reading: what is measured, grouped, filtered, and how it is shown.

A Reading is a partial intent: a follow-up ("now by channel") is one, and is completed by the previous
question's Reading. Each pass below claims the items it understands (`item.used`); what no pass claims is
reported, and the generator asks instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .intent import Filter, Measure
from .lexicon import SOFT, Item, lex
from .schema import Column, Schema
from .words import UNITS, Token

AGGREGATIONS = ("count", "sum", "mean", "median", "min", "max", "distinct")
COMPARATORS = (">", ">=", "<", "<=", "==")
GROUPING = ("by", "per", "each")
# Small words that may stand between a column and what is said about it ("revenue of", "calls are").
LINKING = frozenset({"in", "who"})


@dataclass
class Reading:
    schema: Schema
    measures: list[Measure] = field(default_factory=list)
    agg: str = ""  # an aggregation word: sum mean median min max count distinct
    superlative: str = ""  # max or min, from "highest", "most", "lowest", ...
    counted_noun: str = ""  # "tickets" in "how many tickets"
    counted: Column | None = None  # the id column of that noun, when it is not the row itself
    per_entity: Column | None = None
    groups: list[Column] = field(default_factory=list)
    date: Column | None = None
    grain: str = ""
    trend: bool = False
    yoy: bool = False
    growth: bool = False  # the change from one period to the next
    distinct_of: Column | None = None  # "how many regions": the distinct values of a category
    filters: list[Filter] = field(default_factory=list)
    condition: Filter | None = None
    rate_flag: Column | None = None
    share: bool = False
    rate: bool = False
    top: int = 0
    bottom: bool = False
    which: bool = False
    chart: str = ""
    chart_word: bool = False
    describe: bool = False
    correlation: bool = False
    distribution: bool = False
    listing: bool = False
    compare: bool = False
    versus: bool = False
    frequent: bool = False
    followup: bool = False
    instead: bool = False
    future: bool = False
    relative: bool = False
    unknown: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    unclear: list[str] = field(default_factory=list)  # understood words whose role is not clear

    @property
    def changes_something(self) -> bool:
        """Whether this reading could modify a previous question (a filter, a grouping, a chart, ...)."""
        return bool(
            self.filters or self.groups or self.grain or self.chart or self.chart_word or self.top or self.agg
        )

    @property
    def asks_something(self) -> bool:
        """Whether this reading names something to compute (else it can only modify a previous question)."""
        return bool(
            self.measures or self.agg or self.counted_noun or self.rate_flag or self.describe
            or self.correlation or self.distribution or self.listing or self.share or self.yoy or self.trend
            or self.frequent or self.growth or self.distinct_of
        )  # fmt: skip


def read(tokens: list[Token], schema: Schema, dataset_names: list[str]) -> Reading:
    items = lex(tokens, schema, dataset_names)
    reading = Reading(schema=schema)
    for step in (
        _flags,
        _numbers,
        _date_or_value,
        _derived,
        _comparisons,
        _equalities,
        _values,
        _flag_columns,
        _counted_words,
        _groups,
        _rank_words,
        _superlative_measures,
        _nouns,
        _dates,
        _measures,
        _keywords,
        _leftovers,
    ):
        step(items, reading)
    return reading


# --- helpers -------------------------------------------------------------------------------------


def _neighbour(items: list[Item], index: int, step: int, skip: frozenset[str] = LINKING) -> int | None:
    """The next meaningful item before (step -1) or after (step 1): stop words and `skip` keywords passed."""
    position = index + step
    while 0 <= position < len(items):
        item = items[position]
        if item.kind != "stop" and not (item.kind == "keyword" and item.keyword in skip):
            return position
        position += step
    return None


def _is(items: list[Item], index: int | None, kind: str, keyword: str | tuple[str, ...] = ()) -> bool:
    if index is None:
        return False
    item = items[index]
    if item.kind != kind:
        return False
    if keyword:
        wanted = (keyword,) if isinstance(keyword, str) else keyword
        return item.keyword in wanted
    return True


def _numeric(column: Column) -> bool:
    return column.role == "measure"


def _negated(items: list[Item], index: int) -> bool:
    """A "not", "without", "excluding", ... within the two meaningful items before this one."""
    position = index
    for _ in range(2):
        position = _neighbour(items, position, -1, skip=LINKING | {"only"})
        if position is None:
            return False
        if _is(items, position, "keyword", "not"):
            items[position].used = True
            return True
    return False


# --- the passes ----------------------------------------------------------------------------------


def _flags(items: list[Item], reading: Reading) -> None:
    """Words that change what the question is: forecasts, relative dates, follow-up markers, charts."""
    for position, item in enumerate(items):
        if item.kind != "keyword":
            continue
        keyword = item.keyword
        if keyword == "future":
            reading.future = item.used = True
        elif keyword == "relative":
            reading.relative = item.used = True
        elif keyword in ("followup", "only", "and") and position == _neighbour(
            items, -1, 1, skip=frozenset()
        ):
            # "now …", "only for …", "and by region": said of the previous question
            reading.followup = True
            item.used = keyword != "only"  # "only" is also read as the filter's word
        elif keyword == "instead":
            reading.instead = item.used = True
        elif keyword.startswith("chart"):
            reading.chart_word = item.used = True
            if ":" in keyword and not _negated(items, position):  # "a bar chart, not a pie chart"
                reading.chart = keyword.split(":")[1]
        elif keyword == "trend":
            reading.trend = item.used = True
        elif keyword == "yoy":
            reading.yoy = item.used = True
        elif keyword == "growth":
            reading.growth = item.used = True
        elif keyword == "describe":
            reading.describe = item.used = True
        elif keyword == "correlation":
            reading.correlation = item.used = True
        elif keyword == "distribution":
            reading.distribution = item.used = True
            reading.chart = reading.chart or "hist"
        elif keyword == "list":
            reading.listing = item.used = True
        elif keyword == "compare":
            reading.compare = item.used = True
        elif keyword == "vs":
            reading.versus = item.used = True
        elif keyword == "frequent":
            reading.frequent = item.used = True
            reading.superlative = "min" if item.text.lower().startswith("least") else "max"
    if reading.chart == "hist":
        reading.distribution = True


def _numbers(items: list[Item], reading: Reading) -> None:
    """Units after numbers, years and months, and the N of "top N"."""
    for position, item in enumerate(items):
        if item.kind != "number":
            continue
        after = position + 1
        if after < len(items) and items[after].kind in ("unit", "punct") and items[after].text in ("%",):
            item.unit, items[after].used = "pct", True
        elif after < len(items) and items[after].kind == "unit":
            item.unit, items[after].used = items[after].unit, True
        elif after < len(items) and items[after].kind == "column" and items[after].text.lower() in UNITS:
            # "48 hours" next to a column named hours_to_close: the number's unit, not the column again
            item.unit, items[after].used = UNITS[items[after].text.lower()], True
        before = position - 1
        if before >= 0 and items[before].kind == "unit" and items[before].unit in ("eur", "usd", "gbp"):
            item.unit, items[before].used = items[before].unit, True
    for position, item in enumerate(items):
        after = position + 1
        if item.kind == "number" and item.unit is None and after < len(items):
            unit = _PERIOD_UNITS.get(items[after].keyword) if items[after].kind == "keyword" else None
            if unit:
                item.unit, items[after].used = unit, True  # "24 months" is a number of months, not a grouping
    for position, item in enumerate(items):
        if item.kind in ("month", "quarter"):
            _calendar_filter(items, position, reading)
        elif item.kind == "number" and not item.used and _looks_like_year(items, position, reading):
            _year_filter(items, position, reading)
    for position, item in enumerate(items):
        if item.kind == "keyword" and item.keyword in ("top", "bottom"):
            item.used = True
            reading.bottom = item.keyword == "bottom"
            after = _neighbour(items, position, 1, skip=frozenset())
            if _is(items, after, "number") and not items[after].used:
                reading.top, items[after].used = int(items[after].number), True
            else:
                reading.top = reading.top or 10
        elif item.kind == "number" and not item.used and item.unit is None:
            # "the 5 largest", "3 highest"
            after = _neighbour(items, position, 1, skip=frozenset())
            if _is(items, after, "keyword", ("most", "least")) and item.number and item.number <= 1000:
                reading.top, item.used = int(item.number), True


def _date_or_value(items: list[Item], reading: Reading) -> None:
    """A word that names a date column and a category value ("opened": opened_at and the status "Open"):
    the date where the question speaks of time (per month, a trend, in 2024), else the value."""
    timely = (
        reading.trend
        or reading.yoy
        or reading.growth
        or any(
            (i.kind == "keyword" and i.keyword.startswith(("grain:", "period:")))
            or i.kind in ("month", "quarter")
            or (i.kind == "number" and i.used)  # a year, read before this pass
            for i in items
        )
    )
    for position, item in enumerate(items):
        value = item.notes.get("value") if item.kind == "column" else None
        if value is not None and not timely:
            items[position] = value


_PERIOD_UNITS = {"period:D": "days", "period:W": "weeks", "period:M": "months", "period:Y": "years"}


def _looks_like_year(items: list[Item], position: int, reading: Reading) -> bool:
    item = items[position]
    number = item.number or 0
    if item.unit or not number.is_integer() or not 1900 <= number <= 2100 or not reading.schema.dates:
        return False
    before = _neighbour(items, position, -1, skip=frozenset())
    return before is None or items[before].kind in ("keyword", "column", "value", "noun", "month", "punct")


def _calendar_filter(items: list[Item], position: int, reading: Reading) -> None:
    item = items[position]
    if item.used:
        return
    if _month_range(items, position, reading):
        return
    after = position + 1
    year = None
    if after < len(items) and items[after].kind == "number" and 1900 <= (items[after].number or 0) <= 2100:
        year, items[after].used = int(items[after].number), True
    date = _date_for(items, position, reading)
    if date is None:
        reading.unclear.append(item.text)
        return
    item.used = True
    op = "month" if item.kind == "month" else "quarter"
    _claim_preposition(items, position)
    reading.filters.append(Filter(date, op, (year, int(item.number))))


def _month_range(items: list[Item], position: int, reading: Reading) -> bool:
    """ "between January and March 2024", "from Jan to Mar": one filter on the months in between."""
    before, joiner, last = position - 1, position + 1, position + 2
    if before < 0 or last >= len(items) or items[position].kind != "month" or items[last].kind != "month":
        return False
    if items[before].text.lower() not in ("between", "from"):
        return False
    if items[joiner].text.lower() not in ("and", "to", "through", "until", "till"):
        return False
    year = None
    after = last + 1
    if after < len(items) and items[after].kind == "number" and 1900 <= (items[after].number or 0) <= 2100:
        year, items[after].used = int(items[after].number), True
    date = _date_for(items, position, reading)
    if date is None:
        reading.unclear.append(items[position].text)
        return True
    first, second = int(items[position].number), int(items[last].number)  # type: ignore[arg-type]
    for index in (before, position, joiner, last):
        items[index].used = True
    reading.filters.append(Filter(date, "months", (year, min(first, second), max(first, second))))
    return True


def _year_filter(items: list[Item], position: int, reading: Reading) -> None:
    date = _date_for(items, position, reading)
    if date is None:
        return
    item = items[position]
    before = _neighbour(items, position, -1, skip=frozenset())
    op = "year"
    if _is(items, before, "keyword", "since"):
        op, items[before].used = "since", True
    elif _is(items, before, "keyword", "before"):
        op, items[before].used = "before", True
    item.used = True
    _claim_preposition(items, position)
    reading.filters.append(Filter(date, op, int(item.number)))


def _claim_preposition(items: list[Item], position: int) -> None:
    before = position - 1
    if before >= 0 and items[before].kind == "keyword" and items[before].keyword == "in":
        items[before].used = True


def _date_for(items: list[Item], position: int, reading: Reading) -> Column | None:
    """The date column a year, month or grain refers to: the one named nearby, else the only one."""
    named = [i for i in items if i.kind == "column" and i.column.role == "date"]
    if named:
        return named[0].column
    dates = reading.schema.dates
    return dates[0] if len(dates) == 1 else None


def _derived(items: list[Item], reading: Reading) -> None:
    """ "units on hand times unit cost", "revenue per unit", "ratio of A to B"."""
    for position, item in enumerate(items):
        if item.kind != "keyword" or item.keyword not in ("*", "-", "+", "/", "per", "ratio"):
            continue
        if item.keyword == "ratio":
            _ratio(items, position, reading)
            continue
        left = _neighbour(items, position, -1, skip=frozenset())
        right = _neighbour(items, position, 1, skip=frozenset())
        if item.keyword == "per" and right is not None and items[right].kind == "unit":
            _per_unit(items, left, right, reading)  # "cost per kg": divided by the column in kg
        if not (_measure_item(items, left) and _measure_item(items, right)):
            continue
        op = "/" if item.keyword == "per" else item.keyword
        label = _derived_label(items, left) or _derived_words(items[left], op, items[right])
        measure = Measure(left=items[left].column, op=op, right=items[right].column, label=label)
        _replace_with_measure(items, left, right, measure)


def _per_unit(items: list[Item], left: int | None, right: int, reading: Reading) -> None:
    unit = items[right].unit
    columns = [c for c in reading.schema.measures if c.unit == unit]
    if len(columns) == 1 and _measure_item(items, left) and items[left].column is not columns[0]:
        items[right].kind, items[right].columns = "column", (columns[0],)


def _ratio(items: list[Item], position: int, reading: Reading) -> None:
    left = _neighbour(items, position, 1, skip=frozenset())
    to = _neighbour(items, left, 1, skip=frozenset()) if left is not None else None
    right = _neighbour(items, to, 1, skip=frozenset()) if to is not None else None
    if _measure_item(items, left) and right is not None and _measure_item(items, right):
        measure = Measure(left=items[left].column, op="/", right=items[right].column,
                          label=_derived_words(items[left], "/", items[right]))  # fmt: skip
        items[position].used = True
        for index in (to,):
            items[index].used = True
        _replace_with_measure(items, left, right, measure)


def _measure_item(items: list[Item], index: int | None) -> bool:
    return (
        index is not None
        and items[index].kind == "column"
        and not items[index].used
        and len(items[index].columns) == 1
        and _numeric(items[index].column)
    )


def _derived_label(items: list[Item], left: int) -> str:
    """Words naming the combination just before it: "stock value (A times B)", "stock value, A times B"."""
    before = left - 1
    while before >= 0 and items[before].kind == "stop":
        before -= 1
    if before < 0 or items[before].kind != "punct" or items[before].text not in "(,":
        return ""
    words = []
    position = before - 1
    while position >= 0 and items[position].kind in ("unknown", "noun"):
        words.insert(0, items[position])
        position -= 1
    for word in words:
        word.used = True
    items[before].used = True
    return " ".join(w.text.lower() for w in words)


def _derived_words(left: Item, op: str, right: Item) -> str:
    joiner = {"*": "times", "-": "minus", "+": "plus", "/": "per"}[op]
    return f"{left.column.label} {joiner} {right.column.label}"


def _replace_with_measure(items: list[Item], left: int, right: int, measure: Measure) -> None:
    for index in range(left, right + 1):
        items[index].used = True
    items[left].kind = "derived"
    items[left].notes["measure"] = measure
    items[left].used = False
    after = right + 1
    if after < len(items) and items[after].kind == "punct" and items[after].text == ")":
        items[after].used = True


def _comparisons(items: list[Item], reading: Reading) -> None:
    """ "revenue above 500", "more than 5 support calls", "below their reorder level", "between 10 and 20"."""
    for position, item in enumerate(items):
        if item.kind != "keyword" or item.keyword not in (*COMPARATORS, "between") or item.used:
            continue
        right = _neighbour(items, position, 1, skip=frozenset())
        if right is None:
            continue
        if item.keyword == "between":
            _between(items, position, right, reading)
            continue
        target = items[right]
        if target.kind == "number":
            column = _compared_column(items, position, right, reading)
            if column is None:
                reading.unclear.append(f"{item.text} {target.text}")
                continue
            negate = _negated(items, position)
            op = _negate_op(item.keyword) if negate else item.keyword
            reading.filters.append(Filter(column, op, target.number))
            item.used = target.used = True
        elif _measure_item(items, right):
            left = _left_column(items, position, reading) or _partner(reading.schema, target.column)
            if left is None:
                reading.unclear.append(f"{item.text} {target.text}")
                continue
            reading.filters.append(Filter(left, item.keyword, other=target.column))
            item.used = target.used = True


def _equalities(items: list[Item], reading: Reading) -> None:
    """ "a rating of 5", "units is 40": a number right after a measure keeps the rows equal to it."""
    for position, item in enumerate(items):
        if item.kind != "number" or item.used:
            continue
        before = _neighbour(items, position, -1, skip=frozenset({"in"}))
        if _measure_item(items, before) and (item.unit is None or item.unit == items[before].column.unit):
            reading.filters.append(Filter(items[before].column, "==", item.number))
            item.used = items[before].used = True


def _between(items: list[Item], position: int, right: int, reading: Reading) -> None:
    if items[right].kind != "number":
        return
    joiner = _neighbour(items, right, 1, skip=frozenset())
    high = _neighbour(items, joiner, 1, skip=frozenset()) if joiner is not None else None
    if not (_is(items, joiner, "keyword", "and") and _is(items, high, "number")):
        return
    column = _compared_column(items, position, high, reading)
    if column is None:
        reading.unclear.append("between")
        return
    low_value, high_value = sorted((items[right].number, items[high].number))
    reading.filters.append(Filter(column, "between", (low_value, high_value)))
    for index in (position, right, joiner, high):
        items[index].used = True


def _negate_op(op: str) -> str:
    return {">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!="}[op]


def _compared_column(items: list[Item], position: int, number: int, reading: Reading) -> Column | None:
    """The column a threshold applies to: named before the comparison, or just after the number, or the
    only column measured in the number's unit ("more than 48 hours" → resolution_hours)."""
    left = _left_column(items, position, reading)
    if left is not None:
        return left
    after = _neighbour(items, number, 1, skip=frozenset())
    if _measure_item(items, after):
        items[after].used = True
        return items[after].column
    implied = _implied_by_comparative(items[position].text, reading)
    if implied is not None:
        return implied
    unit = items[number].unit
    if unit:
        same_unit = [c for c in reading.schema.measures if c.unit == unit]
        if len(same_unit) == 1:
            # A word of the same family names it too ("48 hours to resolve"): claim it.
            for item in items:
                if item.kind == "column" and not item.used and item.columns == (same_unit[0],):
                    item.used = True
            return same_unit[0]
    return None


def _implied_by_comparative(text: str, reading: Reading) -> Column | None:
    """ "older than 60": the one column of ages; None when there is none, or several."""
    from .words import COMPARATIVE_MEASURES

    kinds = COMPARATIVE_MEASURES.get(" ".join(text.lower().split()))
    if not kinds:
        return None
    columns = [c for c in reading.schema.measures if set(c.words) & kinds or c.unit in kinds]
    return columns[0] if len(columns) == 1 else None


def _left_column(items: list[Item], position: int, reading: Reading) -> Column | None:
    before = _neighbour(items, position, -1, skip=LINKING | {"not"})
    if _measure_item(items, before):
        items[before].used = True
        return items[before].column
    if before is not None and items[before].kind == "derived" and not items[before].used:
        return None  # a comparison on a combination is not supported: say so rather than guess
    return None


def _partner(schema: Schema, right: Column) -> Column | None:
    """The column compared with a threshold column when the question leaves it implicit ("SKUs below their
    reorder level"): the one other measure in the same unit and of the same kind of number, if unique."""
    partners = [
        c for c in schema.measures
        if c is not right and c.unit == right.unit and c.integer == right.integer and not c.averaged
    ]  # fmt: skip
    return partners[0] if len(partners) == 1 else None


def _values(items: list[Item], reading: Reading) -> None:
    """Category values keep the rows that have them: "Enterprise customers", "not in Lyon", "Online and
    Retail" (one filter per column)."""
    chosen: dict[str, tuple[Column, list[str], bool]] = {}
    for position, item in enumerate(items):
        if item.kind != "value" or item.used:
            continue
        item.used = True
        _claim_preposition(items, position)
        negate = _negated(items, position)
        column = item.column
        _claim_own_column(items, position, column)
        _, values, negated = chosen.get(column.name, (column, [], False))
        chosen[column.name] = (column, [*values, item.value], negated or negate)
    for column, values, negate in chosen.values():
        if len(values) == 1:
            reading.filters.append(Filter(column, "!=" if negate else "==", values[0]))
        else:
            reading.filters.append(Filter(column, "not-in" if negate else "in", tuple(dict.fromkeys(values))))
        if len(values) > 1 and (reading.compare or reading.versus) and column not in reading.groups:
            reading.groups.append(column)  # "compare Online and Retail": one row each


def _claim_own_column(items: list[Item], position: int, column: Column) -> None:
    """ "the North region", "region North", "in the Paint category": the column's name goes with its value."""
    for step in (1, -1):
        near = _neighbour(items, position, step, skip=frozenset())
        if near is not None and items[near].kind == "column" and items[near].columns == (column,):
            items[near].used = True


def _flag_columns(items: list[Item], reading: Reading) -> None:
    """A yes/no column: "churn rate" (what is measured), "by churn status" (a group), "who churned" or
    "customers who did not churn" (a filter)."""
    for position, item in enumerate(items):
        if item.kind != "column" or item.used or item.column.role != "flag":
            continue
        column = item.column
        before = _neighbour(items, position, -1, skip=frozenset())
        after = _neighbour(items, position, 1, skip=frozenset())
        if _is(items, after, "keyword", "status"):
            items[after].used = True
            after = _neighbour(items, after, 1, skip=frozenset())
        if _is(items, before, "keyword", GROUPING):
            continue  # the grouping pass takes it
        if _is(items, after, "keyword", "rate") or _is(items, before, "keyword", ("share", "rate")):
            reading.rate_flag, reading.rate = column, True
            item.used = True
            if _is(items, after, "keyword", "rate"):
                items[after].used = True
            continue
        negate = _negated(items, position) != bool(item.notes.get("negated"))  # "not inactive" is active
        reading.filters.append(Filter(column, "no-flag" if negate else "flag"))
        item.used = True


def _counted_words(items: list[Item], reading: Reading) -> None:
    """What "how many" / "number of" / "list the" is about: "how many sales" counts rows (though "sales"
    also names the revenue column), "how many regions" the distinct regions."""
    for position, item in enumerate(items):
        if item.kind != "keyword" or item.keyword not in ("count", "list", "distinct"):
            continue
        after = _neighbour(items, position, 1, skip=frozenset({"distinct"}))
        if (
            after is None
            or items[after].kind != "column"
            or items[after].used
            or len(items[after].columns) != 1
        ):
            continue
        target = items[after]
        if target.notes.get("synonym") and target.notes.get("word") in reading.schema.nouns:
            target.kind, target.id_column = "noun", None  # "how many sales": the rows of sales.csv
        elif target.column.role in ("category", "text") and _plural(target.text):
            reading.distinct_of = target.column  # "how many regions", "list the products"
            target.used = True


def _plural(text: str) -> bool:
    word = text.split()[-1].lower()
    return word.endswith("s") and not word.endswith("ss")


def _groups(items: list[Item], reading: Reading) -> None:
    """ "by region", "per month", "for each warehouse and category", "across channels", "by churn status"."""
    for position, item in enumerate(items):
        if item.kind != "keyword" or item.keyword not in GROUPING or item.used:
            continue
        index = _neighbour(items, position, 1, skip=frozenset())
        took = False
        while index is not None:
            if not _take_group(items, index, reading):
                break
            took = True
            after = _neighbour(items, index, 1, skip=frozenset())
            if _is(items, after, "keyword", "status"):
                items[after].used = True
                after = _neighbour(items, after, 1, skip=frozenset())
            if after is not None and (_is(items, after, "keyword", "and") or items[after].text == ","):
                following = _neighbour(items, after, 1, skip=frozenset())
                if following is not None and _groupable(items[following]):
                    items[after].used = True
                    index = following
                    continue
            break
        if took:
            item.used = True


def _groupable(item: Item) -> bool:
    if item.used:
        return False
    if item.kind == "column":
        return item.column.role in ("category", "flag", "text", "date", "id")
    return item.kind == "keyword" and item.keyword.startswith("period:")


def _take_group(items: list[Item], index: int, reading: Reading) -> bool:
    target = items[index]
    if target.used:
        return False
    if target.kind == "keyword" and target.keyword.startswith("period:"):
        reading.grain = target.keyword.split(":")[1]
        target.used = True
        return True
    if target.kind == "keyword" and target.keyword == "count":
        return _by_number_of(items, index, reading)
    if target.kind == "noun":
        if target.id_column is not None and not _is_row(reading.schema, target):
            reading.per_entity = target.id_column  # "revenue per customer"
        target.used = True  # "per order", "per row": each row already is one
        return True
    if target.kind != "column" or len(target.columns) != 1:
        return False
    column = target.column
    if column.role == "measure":
        # "revenue per unit" is a ratio and "top 5 by unit cost" a ranking's measure; "churn rate by support
        # calls" groups by a whole-number column when something else is measured.
        return _by_whole_numbers(items, index, reading)
    if column.role == "date":
        reading.date = column
        after = _neighbour(items, index, 1, skip=frozenset())
        if (
            _is(items, after, "keyword")
            and items[after].keyword.startswith("period:")
            and not items[after].used
        ):
            reading.grain, items[after].used = items[after].keyword.split(":")[1], True  # "by hire year"
        reading.grain = reading.grain or "D"
    elif column not in reading.groups:
        reading.groups.append(column)
    target.used = True
    return True


def _by_number_of(items: list[Item], index: int, reading: Reading) -> bool:
    """ "churn rate by number of support calls": one group per value of a whole-number column."""
    after = _neighbour(items, index, 1, skip=frozenset())
    if after is None or not _by_whole_numbers(items, after, reading):
        return False  # "top 3 areas by number of tickets": the ranking's measure, read later
    items[index].used = True
    return True


_RANKING = frozenset({"most", "least", "top", "bottom", "which", "frequent"})


def _by_whole_numbers(items: list[Item], index: int, reading: Reading) -> bool:
    target = items[index]
    if not _measure_item(items, index) or not target.column.integer:
        return False
    if any(i.kind == "keyword" and i.keyword in _RANKING for i in items):
        return False  # "top 5 customers by tenure": what the ranking is by
    measured_else = reading.rate or reading.share or any(
        (i.kind in ("column", "derived", "noun") and i is not target and not i.used
         and (i.kind != "column" or i.column.role in ("measure", "flag", "id")))
        for i in items
    )  # fmt: skip
    if not measured_else:
        return False
    target.used = True
    if target.column not in reading.groups:
        reading.groups.append(target.column)
    return True


def _is_row(schema: Schema, noun: Item) -> bool:
    """Whether a noun names the dataset's rows: its own name (tickets), or the first column's id (order)."""
    if noun.id_column is None:
        return True
    first = schema.columns[0] if schema.columns else None
    return noun.id_column is first or any(w in schema.nouns for w in noun.id_column.words)


def _rank_words(items: list[Item], reading: Reading) -> None:
    """ "which product sold the most units", "the region with the highest churn rate", "top 3 products"."""
    for position, item in enumerate(items):
        if item.kind == "keyword" and item.keyword in ("most", "least") and not item.used:
            reading.superlative = "max" if item.keyword == "most" else "min"
            item.used = True
        elif item.kind == "keyword" and item.keyword == "which":
            after = _neighbour(items, position, 1, skip=frozenset())
            if _is(items, after, "keyword") and items[after].keyword.startswith("period:"):
                reading.grain = items[after].keyword.split(":")[1]  # "which month had the most ..."
                reading.which = item.used = items[after].used = True
                continue
            if after is not None and items[after].kind in ("column", "noun") and not items[after].used:
                target = items[after]
                if target.kind == "column" and target.column.role in ("category", "text", "flag"):
                    if target.column not in reading.groups:
                        reading.groups.append(target.column)
                    target.used = item.used = True
                    reading.which = True
                elif target.kind == "noun" or target.column.role == "id":
                    reading.which = item.used = True  # "which SKUs ...": rows are listed or ranked


def _superlative_measures(items: list[Item], reading: Reading) -> None:
    """ "the heaviest part", "the cheapest SKU": the rows ranked by the one column of that kind."""
    from .words import SUPERLATIVE_MEASURES

    for position, item in enumerate(items):
        if item.kind != "superlative":
            continue
        direction, kinds = SUPERLATIVE_MEASURES[item.keyword]
        columns = [c for c in reading.schema.measures if set(c.words) & kinds or c.unit in kinds]
        named = [i for i in items if i.kind == "column" and not i.used and i.columns[0] in columns]
        if len(columns) != 1 and len(named) != 1:
            reading.unclear.append(item.text)
            continue
        column = named[0].column if named else columns[0]
        for mention in named:
            mention.used = True
        item.used = True
        reading.measures.append(Measure(column=column))
        reading.superlative, reading.bottom = direction, direction == "min"
        after = _neighbour(items, position, 1, skip=frozenset())
        if after is not None and (items[after].kind == "noun" or _is_id(items[after])) and not reading.groups:
            reading.top = reading.top or 1  # "the heaviest part": which row, not how heavy


def _is_id(item: Item) -> bool:
    return item.kind == "column" and len(item.columns) == 1 and item.column.role == "id"


def _nouns(items: list[Item], reading: Reading) -> None:
    """Things counted or listed: "tickets", "customers", "SKUs" (an identifier column)."""
    for position, item in enumerate(items):
        if item.used:
            continue
        if item.kind == "dataset":
            before = _neighbour(items, position, -1, skip=frozenset())
            if not _is(items, before, "keyword", "in"):  # "parts that are ..." not "... in parts.csv"
                item.kind = "noun"
        if item.kind == "noun":
            item.used = True
            reading.counted_noun = reading.counted_noun or item.text
            if item.id_column is not None and not _is_row(reading.schema, item):
                reading.counted = reading.counted or item.id_column
        elif item.kind == "column" and len(item.columns) == 1 and item.column.role == "id":
            item.used = True
            reading.counted_noun = reading.counted_noun or item.text
            noun = Item("noun", item.start, item.end, item.text, id_column=item.column)
            if not _is_row(reading.schema, noun):
                reading.counted = reading.counted or item.column


def _dates(items: list[Item], reading: Reading) -> None:
    """A date column named with a grain or a trend ("tickets opened per month") is the one to bucket by."""
    grains = [i for i in items if i.kind == "keyword" and i.keyword.startswith("grain:") and not i.used]
    for item in grains:
        reading.grain = item.keyword.split(":")[1]
        item.used = True
    for item in items:
        if item.kind == "column" and not item.used and len(item.columns) == 1 and item.column.role == "date":
            if (
                reading.grain
                or reading.trend
                or reading.yoy
                or any(f.column is item.column for f in reading.filters)
            ):
                reading.date = item.column
                item.used = True
            elif any(i.kind == "keyword" and i.keyword.startswith("period:") for i in items):
                reading.date = item.column
                item.used = True


def _measures(items: list[Item], reading: Reading) -> None:
    for item in items:
        if item.used:
            continue
        if item.kind == "derived":
            reading.measures.append(item.notes["measure"])
            item.used = True
        elif item.kind == "column" and len(item.columns) > 1:
            numeric = [c for c in item.columns if _numeric(c)]
            if len(numeric) == 1:
                reading.measures.append(Measure(column=numeric[0]))
                item.used = True
            else:
                names = " or ".join(f"`{c.name}`" for c in item.columns)
                reading.ambiguous.append(f"“{item.text}” could be {names}")
                item.used = True
        elif item.kind == "column" and _numeric(item.column):
            if all(m.column is not item.column for m in reading.measures):
                reading.measures.append(Measure(column=item.column))
            item.used = True


def _keywords(items: list[Item], reading: Reading) -> None:
    for position, item in enumerate(items):
        if item.kind != "keyword" or item.used:
            continue
        keyword = item.keyword
        if keyword in AGGREGATIONS:
            if keyword == "distinct":
                reading.agg = "distinct" if not reading.agg or reading.agg == "count" else reading.agg
            elif keyword == "count" and reading.agg == "distinct":
                pass
            elif not reading.agg:
                reading.agg = keyword
            item.used = True
        elif keyword == "share":
            reading.share = item.used = True
        elif keyword == "rate":
            reading.rate = item.used = True
        elif keyword.startswith("period:") and reading.schema.dates:
            # "revenue per month" was taken by the groups; "a month" or "monthly" elsewhere means the same.
            before = _neighbour(items, position, -1, skip=frozenset())
            if _is(items, before, "keyword", ("per", "each", "by", "in")):
                reading.grain = keyword.split(":")[1]
                item.used = items[before].used = True


def _leftovers(items: list[Item], reading: Reading) -> None:
    """Whatever no pass claimed: unknown words, and understood words in a place that makes no sense."""
    for position, item in enumerate(items):
        if item.used or item.kind in ("stop", "punct"):
            continue
        if item.kind == "unknown":
            reading.unknown.append(item.text)
        elif item.kind == "keyword" and item.keyword in ("by", "each"):
            ranking = reading.top or reading.superlative or reading.which or reading.frequent
            after = _neighbour(items, position, 1, skip=frozenset())
            through = _is(items, after, "value")  # "came in by phone": a filter, not a grouping
            if not (ranking or through):
                reading.unclear.append(item.text)  # "by" what, if nothing was grouped by it?
            # else it names what a ranking is by: "top 5 SKUs by unit cost"
        elif item.kind == "keyword" and item.keyword == "not":
            after = _neighbour(items, position, 1, skip=SOFT)
            if after is not None and items[after].kind not in ("punct", "unknown", "stop"):
                reading.unclear.append(item.text)  # it would negate something read as positive
        elif item.kind == "keyword" and item.keyword in SOFT | {"and", "only", "in", "status", "per"}:
            continue
        elif item.kind == "keyword" and item.keyword.startswith("period:"):
            reading.unclear.append(item.text)  # "month" with no "per" or "each" to make it a grouping
        elif item.kind == "column" and item.column.role in ("category", "text") and not item.exact:
            continue  # a partial mention like "products" in "Garden products": a noun, not a column
        elif item.kind == "column" and item.column.role == "date":
            reading.date = reading.date or item.column
        elif item.kind == "column" and item.column.role in ("category", "text", "flag"):
            if (reading.superlative or reading.which or reading.top) and item.column not in reading.groups:
                reading.groups.append(item.column)  # "the region with the highest churn rate"
            else:
                reading.unclear.append(item.text)
        elif item.kind == "dataset":
            continue
        elif item.kind == "number":
            reading.unclear.append(item.text)
        else:
            reading.unclear.append(item.text)  # a unit on its own ("per kg" with nothing in kg), ...


def merged(previous: Reading, follow: Reading) -> Reading:
    """A follow-up's reading applied to the previous question's: new filters added (one per column), new
    groups, grain, chart or ranking replace the old ones."""
    filters = [f for f in previous.filters if all(f.column is not g.column for g in follow.filters)]
    result = replace(
        previous,
        filters=[*filters, *follow.filters],
        # What the follow-up did not understand stays unanswered: it is never dropped by the merge.
        unknown=list(follow.unknown),
        unclear=list(follow.unclear),
        ambiguous=list(follow.ambiguous),
        future=follow.future,
        relative=follow.relative,
    )
    if follow.groups:
        result = replace(result, groups=list(follow.groups), grain=follow.grain, trend=False)
    elif follow.grain:
        result = replace(result, grain=follow.grain, date=follow.date or previous.date)
    if follow.chart or follow.chart_word:
        result = replace(result, chart=follow.chart or previous.chart, chart_word=True)
    if follow.top:
        result = replace(result, top=follow.top, bottom=follow.bottom)
    measures_anew = bool(
        follow.measures
        or follow.agg
        or follow.rate_flag
        or follow.share
        or follow.rate
        or follow.distinct_of
        or follow.describe
        or follow.correlation
        or follow.distribution
        or follow.listing
        or follow.frequent
    )  # fmt: skip  (a noun alone, "only for Billing tickets", measures nothing new)
    if measures_anew:
        # "now the average tenure": what is measured comes from the follow-up, the rest stays
        result = replace(
            result,
            measures=list(follow.measures),
            agg=follow.agg,
            counted_noun=follow.counted_noun or previous.counted_noun,
            counted=follow.counted,
            rate_flag=follow.rate_flag,
            share=follow.share,
            rate=follow.rate,
            distinct_of=follow.distinct_of,
            per_entity=follow.per_entity,
            superlative=follow.superlative or previous.superlative,
            describe=follow.describe,
            correlation=follow.correlation,
            distribution=follow.distribution,
            listing=follow.listing,
            frequent=follow.frequent,
            yoy=follow.yoy or previous.yoy,
            growth=follow.growth or previous.growth,
            trend=follow.trend or result.trend,
        )
    elif follow.agg:
        result = replace(result, agg=follow.agg)
    return replace(result, followup=False, instead=False)


__all__ = ["Reading", "merged", "read"]
