"""From a Reading to an Intent, or to a Clarification when the question cannot be answered with confidence.

The rules say no rather than guess: an unknown word, an ambiguous column, a threshold without a column,
a forecast, a relative date, or nothing to compute all end in a Clarification that says what was
understood, what is missing, and three questions that do work on the dataset.
"""

from __future__ import annotations

from dataclasses import replace

from .code import describe_filter
from .intent import GRAINS, Filter, Intent, Measure
from .reading import Reading
from .schema import Column, Schema

MAX_GROUPS = 2
MAX_CORRELATION_COLUMNS = 12


class Unclear(Exception):
    """The reading has no single sensible answer; `missing` says what the analyst should add."""

    def __init__(self, missing: str) -> None:
        super().__init__(missing)
        self.missing = missing


def decide(reading: Reading) -> Intent:
    """The Intent for a complete reading; raises Unclear with what is missing otherwise."""
    _check_words(reading)
    schema = reading.schema
    if len(reading.groups) > MAX_GROUPS:
        raise Unclear(f"grouping by more than {MAX_GROUPS} columns at once is not supported; pick two.")
    base = Intent(
        schema=schema,
        operation="aggregate",
        groups=tuple(reading.groups),
        filters=tuple(reading.filters),
        entity=_entity(reading),
        top=reading.top,
        ascending=reading.bottom,
    )
    if reading.describe and not (reading.measures or reading.groups or reading.agg or reading.rate_flag):
        return replace(base, operation="describe")
    if reading.correlation:
        return _correlation(reading, base)
    if reading.chart == "scatter" or (reading.versus and len(reading.measures) == 2 and not reading.groups):
        return _scatter(reading, base)
    if reading.distribution and reading.groups and len(reading.measures) == 1:
        # "how is revenue distributed across regions": each region's total and its share
        chart = reading.chart if reading.chart in ("bar", "pie") else "bar" if reading.chart_word else ""
        return replace(base, operation="share", measures=tuple(reading.measures), agg="sum", chart=chart)
    if reading.distribution:
        return _distribution(reading, base)
    if reading.distinct_of is not None:
        return _distinct(reading, base)
    if reading.describe:
        if reading.measures and not reading.groups:
            return replace(base, operation="describe", measures=tuple(reading.measures))
    intent = _what_is_measured(reading, base)
    intent = _shape(reading, intent)
    return _with_chart(reading, intent)


def _check_words(reading: Reading) -> None:
    name = reading.schema.dataset.name
    if reading.unknown:
        words = _quoted(reading.unknown)
        raise Unclear(
            f"{words} {'does' if len(reading.unknown) == 1 else 'do'} not match any column, value or "
            f"operation of {name}, so I cannot tell how to answer from this data."
        )
    if reading.future:
        raise Unclear("a forecast: this data records what happened; the offline generator does not predict.")
    if reading.relative:
        raise Unclear(
            "a period relative to today (“last month”, “this year”); name it instead, e.g. “in 2024” or "
            "“in March 2024”."
        )
    if reading.ambiguous:
        raise Unclear("; ".join(reading.ambiguous) + ". Name the column you mean.")
    if reading.unclear:
        raise Unclear(f"I could not tell what {_quoted(reading.unclear)} should do in this question.")


def _quoted(words: list[str]) -> str:
    return ", ".join(f"“{w}”" for w in dict.fromkeys(words))


def _entity(reading: Reading) -> str:
    noun = reading.counted_noun.lower()
    if noun:
        return noun[:-1] if noun.endswith("s") and len(noun) > 3 else noun
    return reading.schema.row_entity


# --- operations that need particular columns -----------------------------------------------------


def _correlation(reading: Reading, base: Intent) -> Intent:
    if reading.groups:
        raise Unclear("a correlation split by groups; ask for the correlation over all rows (or one group).")
    measures = [m for m in reading.measures if not m.derived]
    if len(measures) == 2:
        return replace(base, operation="correlation", measures=tuple(measures), chart="scatter", groups=())
    if not measures:
        columns = reading.schema.measures[:MAX_CORRELATION_COLUMNS]
        if len(columns) >= 2:
            matrix = tuple(Measure(column=c) for c in columns)
            return replace(base, operation="correlation", measures=matrix, groups=())
        raise Unclear(
            f"a correlation needs two numeric columns, and {reading.schema.dataset.name} has fewer."
        )
    names = ", ".join(f"`{m.name}`" for m in measures)
    raise Unclear(f"a correlation is between two numeric columns; the question names {names}. Name two.")


def _scatter(reading: Reading, base: Intent) -> Intent:
    if reading.groups:
        raise Unclear("a scatter chart split by groups; ask for it over all rows (or one group).")
    if len(reading.measures) != 2:
        raise Unclear("a scatter chart plots one numeric column against another; name exactly two.")
    return replace(base, operation="scatter", measures=tuple(reading.measures), chart="scatter", groups=())


def _distinct(reading: Reading, base: Intent) -> Intent:
    """ "how many regions are there", "list the products": the distinct values of a category."""
    column = reading.distinct_of
    if reading.measures or reading.groups or reading.grain:
        raise Unclear(f"what to do with the distinct values of `{column.name}` and the rest of the question.")
    shape = "values" if reading.listing else ""
    return replace(base, operation="count", agg="nunique", counted=column, shape=shape, label_column=column)


def _distribution(reading: Reading, base: Intent) -> Intent:
    if len(reading.measures) == 1:
        return replace(base, operation="distribution", measures=tuple(reading.measures), chart="hist")
    if not reading.measures and len(reading.groups) == 1:
        return replace(base, operation="count", chart="bar")
    raise Unclear("a distribution is of one numeric column (a histogram) or of one category (counts).")


# --- what is measured ----------------------------------------------------------------------------


def _what_is_measured(reading: Reading, base: Intent) -> Intent:
    measures = tuple(reading.measures)
    if reading.rate_flag is not None:
        if measures or reading.agg:
            named = ", ".join(f"`{m.name}`" for m in measures) or f"“{reading.agg}”"
            raise Unclear(f"what {named} should do in a rate of `{reading.rate_flag.name}`.")
        flag = Filter(reading.rate_flag, "flag")
        return replace(base, operation="rate", condition=flag)
    if reading.share or reading.rate:
        return _share(reading, base)
    counting = reading.agg in ("count", "distinct") or (reading.counted_noun and not measures)
    if counting and not measures:
        return _count(reading, base)
    if reading.frequent and not measures:
        return _count(reading, base)
    if not measures:
        if reading.groups or reading.grain or reading.trend or reading.yoy:
            return _count(reading, base)
        raise Unclear("what to compute: name a column to add up, average or count (or the rows to count).")
    if len(measures) > 2:
        raise Unclear("more than two numeric columns at once; ask for one or two.")
    agg = _aggregation(reading, measures)
    per_entity = reading.per_entity if agg == "mean" else None
    groups = base.groups
    if reading.per_entity is not None and per_entity is None:
        groups = (*groups, reading.per_entity)  # "total revenue per customer": one row per customer
    return replace(base, measures=measures, agg=agg, per_entity=per_entity, groups=groups)


def _aggregation(reading: Reading, measures: tuple[Measure, ...]) -> str:
    agg = reading.agg
    if agg == "count":
        return "sum"  # "number of units", "how many support calls": the column's total
    if agg == "distinct":
        raise Unclear("counting distinct values of a number; ask how many rows, or name an identifier.")
    if agg:
        return agg
    ranking = reading.groups or reading.top or reading.which
    if reading.superlative and not ranking:
        return reading.superlative  # "the longest tenure", "the highest unit cost"
    return "mean" if all(m.averaged for m in measures) else "sum"


def _count(reading: Reading, base: Intent) -> Intent:
    counted = reading.counted
    if reading.agg == "distinct" and counted is None:
        if reading.counted_noun:
            counted = None  # distinct rows of the row entity are its rows
        else:
            raise Unclear(
                "what to count distinct values of; name the identifier (e.g. a customer id column)."
            )
    return replace(base, operation="count", agg="nunique" if counted else "count", counted=counted)


def _share(reading: Reading, base: Intent) -> Intent:
    """ "share of revenue by region", "share of SKUs by warehouse", "percentage of tickets still open",
    "percentage of urgent tickets by channel"."""
    measures = tuple(reading.measures)
    if len(measures) > 1:
        raise Unclear("a share of more than one column at once; ask for one.")
    filters = list(base.filters)
    if (base.groups or reading.grain) and filters and not measures:
        # "percentage of urgent tickets by channel": in each channel, the share that is urgent
        condition = filters.pop()
        return replace(base, operation="rate", condition=condition, filters=tuple(filters))
    if base.groups or reading.grain:
        return replace(base, operation="share", measures=measures, agg="sum" if measures else "count")
    if not filters:
        raise Unclear(
            "a share of what: by which column (e.g. “share of rows by region”) or of which rows "
            "(e.g. “percentage of rows where status is Open”)."
        )
    condition = filters.pop()
    operation = "share" if measures else "rate"
    return replace(
        base,
        operation=operation,
        measures=measures,
        agg="sum" if measures else "",
        condition=condition,
        filters=tuple(filters),
    )


# --- shape: over time, ranked, listed ------------------------------------------------------------


def _shape(reading: Reading, intent: Intent) -> Intent:
    measured = intent.operation in ("aggregate", "count", "rate", "share")
    if reading.yoy or reading.growth:
        return _changes(reading, intent)
    if reading.grain or reading.trend:
        timed = _over_time(reading, intent, grain=reading.grain or "M", shape="series")
        if reading.which or reading.superlative or reading.top:
            # "which month had the highest revenue": the periods ranked
            if intent.groups:
                raise Unclear("a ranking of periods split by a column; ask for one or the other.")
            return replace(timed, shape="rank", top=reading.top or 1, ascending=reading.superlative == "min")
        return timed
    counting_rows = intent.operation == "count" and not intent.groups and not reading.superlative
    # "which SKUs are below ...", "customers with more than 5 calls": the rows themselves
    bare = reading.counted_noun and not reading.agg and intent.filters and not (reading.top or reading.share)
    if reading.listing or (counting_rows and (reading.which or bare)):
        return _listing(reading, intent)
    ranking = bool(
        reading.top or reading.frequent or (reading.superlative and (intent.groups or reading.which))
    )
    if ranking and measured:
        counted = reading.counted_noun or reading.agg in ("count", "distinct") or reading.frequent
        if intent.operation == "count" and not counted:
            raise Unclear("ranked by what: name the column (e.g. “top 3 by revenue”) or say “most common”.")
        return _rank(reading, intent)
    if intent.per_entity is not None and intent.groups:
        raise Unclear("an average per entity split by groups; ask for the average per entity alone.")
    return intent


def _changes(reading: Reading, intent: Intent) -> Intent:
    """Year over year, or growth from one period to the next."""
    grain = reading.grain or "Y"
    if grain == "Y":
        return _over_time(reading, intent, grain="Y", shape="yoy")
    if intent.groups:
        raise Unclear("a change over time split by a column; ask for it per year, or without the split.")
    back = 1
    if reading.yoy:
        back = {"M": 12, "Q": 4}.get(grain, 0)
        if not back:
            raise Unclear(f"a year-over-year change per {GRAINS[grain]}; ask per month, quarter or year.")
    return replace(_over_time(reading, intent, grain=grain, shape="series"), change=back)


def _over_time(reading: Reading, intent: Intent, *, grain: str, shape: str) -> Intent:
    date = reading.date or _only_date(reading.schema)
    if len(intent.groups) > 1:
        raise Unclear(f"a {GRAINS[grain]}ly series split by more than one column; keep one.")
    if intent.operation == "share":
        raise Unclear("a share over time; ask for the values per period, or for the share by a column.")
    if intent.operation not in ("aggregate", "count", "rate"):
        raise Unclear("that over time; ask for a total, an average, a count or a rate per period.")
    if intent.per_entity is not None:
        raise Unclear("an average per entity over time; ask for the total per period instead.")
    return replace(intent, shape=shape, date=date, grain=grain)


def _only_date(schema: Schema) -> Column:
    if not schema.dates:
        raise Unclear(f"a date column to follow over time; {schema.dataset.name} has none.")
    if len(schema.dates) > 1:
        names = ", ".join(f"`{c.name}`" for c in schema.dates)
        raise Unclear(f"which date to use ({names}); name it, e.g. “per month of {schema.dates[0].label}”.")
    return schema.dates[0]


def _listing(reading: Reading, intent: Intent) -> Intent:
    if intent.groups or intent.measures:
        raise Unclear("a list of rows with a grouping or a total; ask for the rows, or for the totals.")
    if not intent.filters:
        raise Unclear("which rows to list; add a condition (e.g. “… below their reorder level”).")
    label = reading.counted or reading.schema.row_id
    return replace(intent, operation="count", shape="list", label_column=label)


def _rank(reading: Reading, intent: Intent) -> Intent:
    top = reading.top or 1
    ascending = reading.bottom or reading.superlative == "min"
    if intent.groups:
        if intent.operation == "share":
            raise Unclear("a ranking of shares; ask for the top groups by the value itself.")
        return replace(intent, shape="rank", top=top, ascending=ascending)
    if intent.operation == "aggregate" and len(intent.measures) == 1:
        label = reading.counted or _label_column(reading.schema)
        return replace(intent, shape="rows", top=top, ascending=ascending, label_column=label)
    raise Unclear("what to rank: say by which column, e.g. “top 5 products by revenue”.")


def _label_column(schema: Schema) -> Column:
    for role in ("id", "text", "category"):
        found = schema.having(role)
        if found:
            return found[0]
    return schema.columns[0]


# --- charts --------------------------------------------------------------------------------------


def _with_chart(reading: Reading, intent: Intent) -> Intent:
    chart = reading.chart
    if not chart and not reading.chart_word:
        if intent.shape == "series" and reading.trend:
            return replace(intent, chart="line")
        return intent
    timed = intent.shape in ("series", "yoy")
    tabular = bool(intent.groups) or intent.shape == "rows"
    if not chart:
        chart = "line" if timed else "bar" if tabular else ""
        if not chart:
            raise Unclear("what to chart: a single number makes no chart; add “by <column>” or “per month”.")
    if chart == "pie":
        if timed or len(intent.groups) != 1 or len(intent.measures) > 1 or intent.shape == "rows":
            raise Unclear(
                "a pie chart shows the parts of one whole: ask for one value per group of one column."
            )
        if intent.operation == "rate" or any(m.op == "-" or m.averaged for m in intent.measures):
            raise Unclear("a pie chart of values that do not add up to a whole; ask for a bar chart.")
    if chart in ("line", "bar") and not (timed or tabular):
        raise Unclear(f"a {chart} chart needs values over time or per group; add “by <column>”.")
    if chart == "hist":
        raise Unclear("a histogram shows one numeric column's distribution; ask “distribution of <column>”.")
    return replace(intent, chart=chart)


def understood(reading: Reading | None, schema: Schema | None) -> str:
    """What was recognised in the question, in plain words, for the analyst."""
    if schema is None:
        return "a question, but no dataset is selected."
    parts = []
    if reading is not None:
        for measure in reading.measures:
            parts.append(f"the column `{measure.name}`" if not measure.derived else f"“{measure.label}”")
        if reading.rate_flag is not None:
            parts.append(f"the rate of `{reading.rate_flag.name}`")
        if reading.counted_noun:
            parts.append(f"counting {reading.counted_noun}")
        for column in reading.groups:
            parts.append(f"grouped by `{column.name}`")
        if reading.grain:
            parts.append(f"per {GRAINS[reading.grain]}")
        for item in reading.filters:
            parts.append(f"only rows where {describe_filter(item)}")
    if not parts:
        return f"a question about {schema.dataset.name}, but nothing in it matched its columns or values."
    return f"a question about {schema.dataset.name}: " + "; ".join(dict.fromkeys(parts)) + "."
