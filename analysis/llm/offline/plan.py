"""The plan: one to four plain sentences saying what the script computes, from which dataset and columns,
and what it shows. Written from the same Intent as the code, so the two cannot disagree; column names are
in backticks exactly as in the data, which is what the approval card checks the code against."""

from __future__ import annotations

from .code import describe_filter, ordinal, plural
from .intent import GRAINS, Filter, Intent, Measure

_AGG_VERBS = {
    "sum": "Adds up",
    "mean": "Averages",
    "median": "Takes the median of",
    "min": "Finds the lowest",
    "max": "Finds the highest",
}
_CHARTS = {"bar": "a bar chart", "line": "a line chart", "pie": "a pie chart", "hist": "a histogram",
           "scatter": "a scatter chart"}  # fmt: skip


def tick(name: str) -> str:
    return f"`{name}`"


def measure_words(measure: Measure) -> str:
    if not measure.derived:
        return tick(measure.name)
    symbol = {"*": "×", "-": "−", "+": "+", "/": "÷"}[measure.op]
    left, right = measure.left.name, measure.right.name  # type: ignore[union-attr]
    if measure.op == "/":
        return f"{measure.label} (the total of {tick(left)} divided by the total of {tick(right)})"
    return f"{measure.label} ({tick(left)} {symbol} {tick(right)} per row)"


def plan_of(intent: Intent) -> str:
    sentences = [_computed(intent)]
    if intent.filters:
        sentences.append("It uses only the rows where " + _filters(intent) + ".")
    shown = _shown(intent)
    if shown:
        sentences.append(shown)
    return " ".join(sentences)


def summary_of(intent: Intent) -> str:
    """A few words for the script's first line: "total revenue_eur by region"."""
    op = intent.operation
    if op in ("describe", "correlation", "scatter", "distribution"):
        return {"describe": "describe the data", "correlation": "correlation", "scatter": "scatter chart",
                "distribution": "distribution"}[op]  # fmt: skip
    what = {"count": "count", "rate": "rate", "share": "share"}.get(op, intent.agg)
    parts = [what]
    if intent.measures:
        parts.append(" and ".join(m.name for m in intent.measures))
    if intent.groups:
        parts.append("by " + " and ".join(c.name for c in intent.groups))
    if intent.shape in ("series", "yoy"):
        parts.append(f"per {GRAINS[intent.grain]}" + (" (year over year)" if intent.shape == "yoy" else ""))
    if intent.shape in ("rank", "rows"):
        parts.append(f"({'bottom' if intent.ascending else 'top'} {intent.top})")
    return " ".join(parts)


def _computed(intent: Intent) -> str:
    name = intent.schema.dataset.name
    op = intent.operation
    if op == "describe":
        if intent.measures:
            columns = _list(tick(m.name) for m in intent.measures)
            return f"Summarises {columns} of {name} (count, mean, spread, quartiles)."
        return (
            f"Summarises every column of {name}: types, missing values, numeric statistics and common values."
        )
    if op == "distribution":
        return (
            f"Shows the distribution of {tick(intent.measure.name)} in {name} as a histogram, "  # type: ignore[union-attr]
            "with its quartiles and median."
        )
    if op in ("correlation", "scatter") and len(intent.measures) == 2:
        x, y = (tick(m.name) for m in intent.measures)
        return (
            f"Computes the Pearson correlation between {x} and {y} in {name} and plots one against the other "
            "as a scatter chart."
        )
    if op == "correlation":
        return (
            f"Computes the correlation between the numeric columns of {name} "
            f"({_list(tick(m.name) for m in intent.measures)}) and shows it as a heatmap."
        )
    return _measured(intent) + _per(intent) + f" in {name}."


def _measured(intent: Intent) -> str:
    op = intent.operation
    entity = plural(intent.entity)
    if op == "count":
        if intent.shape == "list":
            return f"Lists the {entity}" + (
                f" (by {tick(intent.label_column.name)})" if intent.label_column else ""
            )
        if intent.counted is not None and intent.counted.role != "id":
            return f"Counts the distinct values of {tick(intent.counted.name)}"
        if intent.counted is not None:
            return f"Counts the distinct values of {tick(intent.counted.name)} ({entity})"
        return f"Counts the {entity} (rows)"
    if op == "rate":
        return f"Computes the share of {entity} where {_rule(intent.condition)}"  # type: ignore[arg-type]
    if op == "share":
        if intent.condition is not None:
            what = f"the total of {measure_words(intent.measure)}" if intent.measure else f"the {entity}"  # type: ignore[arg-type]
            return f"Computes which share of {what} comes from the rows where {_rule(intent.condition)}"
        if intent.measure is not None:
            return f"Computes each group's share of the total of {measure_words(intent.measure)}"
        return f"Computes each group's share of the {entity}"
    measures = _list(measure_words(m) for m in intent.measures)
    if intent.per_entity is not None:
        return f"Adds up {measures} for each {tick(intent.per_entity.name)}, then averages those totals"
    if intent.shape == "rows":
        order = "lowest" if intent.ascending else "highest"
        label = f" with their {tick(intent.label_column.name)}" if intent.label_column else ""
        which = f"the {intent.entity}" if intent.top == 1 else f"the {intent.top} {entity}"
        return f"Picks {which} with the {order} {measures}{label}"
    if any(m.op == "/" for m in intent.measures):
        return f"Computes {measures}"
    return f"{_AGG_VERBS[intent.agg]} {measures}"


def _per(intent: Intent) -> str:
    parts = []
    ranked_periods = intent.shape == "rank" and intent.grain and not intent.groups
    if intent.shape in ("series", "yoy") or ranked_periods:
        parts.append(f" per {GRAINS[intent.grain]} of {tick(intent.date.name)}")  # type: ignore[union-attr]
    if intent.groups:
        parts.append(" for each " + " and ".join(tick(c.name) for c in intent.groups))
    return "".join(parts)


def _filters(intent: Intent) -> str:
    return _list(_rule(f) for f in intent.filters)


def _rule(f: Filter) -> str:
    """A filter in words with its columns in backticks: `units_on_hand` below `reorder_level`."""
    words = describe_filter(f)
    text = tick(f.column.name) + words[len(f.column.name) :]
    if f.other is not None and text.endswith(" " + f.other.name):
        text = text[: -len(f.other.name)] + tick(f.other.name)
    return text


def _shown(intent: Intent) -> str:
    chart = _CHARTS.get(intent.chart, "")
    op = intent.operation
    if op in ("describe", "distribution", "correlation", "scatter"):
        return ""
    if intent.shape == "yoy":
        text = "Shows one value per year with the change from the year before"
    elif intent.shape == "series" and intent.change:
        back = "the previous one" if intent.change == 1 else f"the same {GRAINS[intent.grain]} a year before"
        text = f"Shows one value per {GRAINS[intent.grain]} and its change (%) against {back}"
    elif intent.shape == "series":
        text = f"Shows one value per {GRAINS[intent.grain]}"
        if intent.groups:
            text += f", one line per {tick(intent.groups[0].name)} (the largest groups)"
    elif intent.shape == "rank":
        order = "lowest" if intent.ascending else "highest"
        unit = GRAINS[intent.grain] if intent.grain and not intent.groups else "group"
        text = (
            f"Shows the {unit} with the {order} value"
            if intent.top == 1
            else f"Shows the {intent.top} {order}"
        )
    elif intent.shape == "values":
        text = "Lists each value with its number of rows"
    elif intent.shape == "rows":
        text = "Shows them in order"
    elif intent.shape == "list" and intent.label_column is not None:
        text = "Prints the matching rows with the columns the condition uses"
    elif intent.shape == "list":
        text = "Prints the matching rows with all their columns"
    elif len(intent.groups) == 1 and ordinal(intent.groups[0]):
        text = f"Shows a table in the order of {tick(intent.groups[0].name)}"
    elif intent.groups:
        text = (
            "Shows a table, largest first"
            if len(intent.groups) == 1
            else "Shows a table with one row per pair"
        )
    else:
        text = "Prints the result as one number"
    if chart:
        text += f", and draws {chart}"
    return text + "."


def _list(words) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]
