"""From an Intent to a short pandas/matplotlib script that prints its answer (and draws a chart if asked).

Scripts follow one layout so a reviewer learns it once: read the file, parse the dates it uses, add a
derived column, keep the rows asked about (stopping with a message when none match), compute, print the
table or the number, and draw. The last printed line is the answer in words. A script that printed a table
ends with it as its last expression, so the sandbox also sends it as a table (as a notebook cell would show
it) and the analyst's page shows it as one, sortable (analysis/tables.py); the printed lines stay the same.

Names and values from the data (columns, categories) enter the script only as escaped string literals
(`lit`), never inside an f-string or unescaped: a column named `a"); import os; ("` stays a string.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from .intent import GRAINS, Filter, Intent
from .schema import Column
from .words import MONTH_NAMES

HEADER = "# Generated offline (no LLM): {summary}"
MAX_LISTED_ROWS = 500
MAX_LINES = 8  # a series split by a column: the most frequent groups only
_AGG_WORDS = {"sum": "Total", "mean": "Average", "median": "Median", "min": "Lowest", "max": "Highest"}
_COMPARISONS = {">": "above", ">=": "at least", "<": "below", "<=": "at most", "==": "equal to", "!=": "not"}


def lit(value: object) -> str:
    """A Python literal for the generated code, double-quoted like the rest of the script."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    literal = repr(value)
    if isinstance(value, str) and literal.startswith("'") and '"' not in value:
        literal = f'"{literal[1:-1]}"'
    return literal


def names(values) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"


def col(column: Column) -> str:
    return f"df[{lit(column.name)}]"


def one_line(text: str, limit: int = 200) -> str:
    """Text for a comment: no line break may escape it into code."""
    flat = " ".join(re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]", " ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def plural(noun: str) -> str:
    if noun.endswith("s") or noun.isupper():
        return noun + ("s" if noun.isupper() else "")
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


def write(intent: Intent, *, question: str, summary: str) -> str:
    body = _BODIES[intent.operation](intent)
    charted = bool(intent.chart) or intent.operation in ("distribution", "correlation", "scatter")
    lines = [HEADER.format(summary=one_line(summary)), f"# Question: {one_line(question)}"]
    lines += ["import pandas as pd"] + (["import matplotlib.pyplot as plt"] if charted else [])
    lines += ["", f"df = {reader(intent.schema.dataset.path)}"]
    lines += _prepare(intent)
    script = "\n".join(lines) + "\n\n" + body.strip("\n") + "\n"
    shown = _shown_table(intent, body)
    if shown:
        script += f"\n{shown}  # the table printed above, for the page to show as a table\n"
    return script


def _shown_table(intent: Intent, body: str) -> str:
    """The table the body printed (`table`, else `result`), rounded as printed; '' when it printed none."""
    digits = 4 if intent.operation == "rate" else 2
    for name in ("table", "result"):
        if re.search(rf"^{name} = ", body, re.MULTILINE) and re.search(rf"print\({name}\b", body):
            return f"{name}.round({digits})"
    return ""


def reader(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return f'pd.read_excel({lit(path)}, engine="openpyxl")'
    if suffix == ".xls":
        return f"pd.read_excel({lit(path)})"
    if suffix in (".parquet", ".pq"):
        return f"pd.read_parquet({lit(path)})"
    if suffix in (".jsonl", ".ndjson"):
        return f"pd.read_json({lit(path)}, lines=True)"
    if suffix == ".json":
        return f"pd.read_json({lit(path)})"
    if suffix in (".tsv", ".tab"):
        return f'pd.read_csv({lit(path)}, sep="\\t")'
    return f"pd.read_csv({lit(path)})"


# --- preparing the rows --------------------------------------------------------------------------


def _prepare(intent: Intent) -> list[str]:
    lines: list[str] = []
    for date in _dates_used(intent):
        lines.append(f'{col(date)} = pd.to_datetime({col(date)}, errors="coerce")')
    for measure in intent.measures:
        if measure.derived and measure.op != "/":
            lines.append(
                f"# {one_line(measure.label)}: {measure.left.name} {measure.op} {measure.right.name}"
            )  # type: ignore[union-attr]
            lines.append(f"df[{lit(measure.name)}] = {col(measure.left)} {measure.op} {col(measure.right)}")  # type: ignore[arg-type]
    if intent.filters:
        words = filter_words(intent.filters)
        lines += ["", f"# Only the rows asked about: {one_line(words)}"]
        lines.append(f"df = df[{_mask(intent.filters)}]")
        lines.append("if df.empty:")
        lines.append(f"    raise SystemExit({lit('No rows match: ' + words + '.')})")
    return lines


def _dates_used(intent: Intent) -> list[Column]:
    used = [*intent.filters, *([intent.condition] if intent.condition else [])]
    dates = [f.column for f in used if f.column.role == "date"]
    if intent.date is not None:
        dates.append(intent.date)
    return list(dict.fromkeys(dates))


def _mask(filters: tuple[Filter, ...]) -> str:
    parts = [condition(f) for f in filters]
    return parts[0] if len(parts) == 1 else " & ".join(f"({p})" for p in parts)


def condition(f: Filter) -> str:
    """The boolean pandas expression of one filter."""
    c = col(f.column)
    if f.other is not None:
        return f"{c} {f.op} {col(f.other)}"
    if f.op in ("==", "!=", ">", ">=", "<", "<="):
        return f"{c} {f.op} {lit(f.value)}"
    if f.op in ("in", "not-in"):
        return f"{'~' if f.op == 'not-in' else ''}{c}.isin({names(f.value)})"
    if f.op == "between":
        low, high = f.value  # type: ignore[misc]
        return f"{c}.between({lit(low)}, {lit(high)})"
    if f.op in ("year", "since", "before"):
        op = {"year": "==", "since": ">=", "before": "<"}[f.op]
        return f"{c}.dt.year {op} {int(f.value)}"  # type: ignore[call-overload]
    if f.op in ("month", "quarter"):
        year, number = f.value  # type: ignore[misc]
        part = f"{c}.dt.{f.op} == {int(number)}"
        return f"({c}.dt.year == {int(year)}) & ({part})" if year else part
    if f.op == "months":
        year, first, last = f.value  # type: ignore[misc]
        part = f"{c}.dt.month.between({int(first)}, {int(last)})"
        return f"({c}.dt.year == {int(year)}) & ({part})" if year else part
    if f.op in ("flag", "no-flag"):
        return _flag(f.column, negate=f.op == "no-flag")
    raise ValueError(f"unknown filter {f.op}")


def _flag(column: Column, *, negate: bool) -> str:
    c = col(column)
    if column.true_value is not None:
        return f"{c} {'!=' if negate else '=='} {lit(column.true_value)}"
    truth = f'{c}.astype(str).str.lower().isin(["true", "1", "yes"])'
    return f"~{truth}" if negate else truth


def filter_words(filters) -> str:
    return ", ".join(describe_filter(f) for f in filters)


def describe_filter(f: Filter) -> str:
    name = f.column.name
    if f.other is not None:
        return f"{name} {_COMPARISONS[f.op]} {f.other.name}"
    if f.op == "==":
        return f"{name} is {_number(f.value)}"
    if f.op == "!=":
        return f"{name} is not {_number(f.value)}"
    if f.op in _COMPARISONS:
        return f"{name} {_COMPARISONS[f.op]} {_number(f.value)}"
    if f.op in ("in", "not-in"):
        listed = " or ".join(str(v) for v in f.value)  # type: ignore[union-attr]
        return f"{name} is {'not ' if f.op == 'not-in' else ''}{listed}"
    if f.op == "between":
        low, high = f.value  # type: ignore[misc]
        return f"{name} between {_number(low)} and {_number(high)}"
    if f.op in ("year", "since", "before"):
        return {"year": f"{name} in {f.value}", "since": f"{name} in {f.value} or later",
                "before": f"{name} before {f.value}"}[f.op]  # fmt: skip
    if f.op in ("month", "quarter"):
        year, number = f.value  # type: ignore[misc]
        period = MONTH_NAMES[number - 1] if f.op == "month" else f"Q{number}"
        return f"{name} in {period}" + (f" {year}" if year else "")
    if f.op == "months":
        year, first, last = f.value  # type: ignore[misc]
        span = f"{MONTH_NAMES[first - 1]} to {MONTH_NAMES[last - 1]}"
        return f"{name} from {span}" + (f" {year}" if year else "")
    truth = f.column.true_value or "true"
    return f"{name} is {'not ' if f.op == 'no-flag' else ''}{truth}"


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- naming and formatting the result ------------------------------------------------------------


def what(intent: Intent) -> str:
    """The computed value in words, for titles and answer lines: "Total revenue_eur", "Number of tickets"."""
    op = intent.operation
    if op == "count":
        if intent.counted is not None:
            return f"Number of distinct {intent.counted.name}"
        return f"Number of {plural(intent.entity)}"
    if op == "rate":
        return f"Share of {plural(intent.entity)} where {describe_filter(intent.condition)}"  # type: ignore[arg-type]
    if op == "share":
        return f"Share of {intent.measure.name}" if intent.measure else f"Share of {plural(intent.entity)}"
    joined = " and ".join(m.name for m in intent.measures)
    if intent.per_entity is not None:
        return f"Average total {joined} per {intent.per_entity.name}"
    if any(m.op == "/" for m in intent.measures):
        return joined
    return f"{_AGG_WORDS[intent.agg]} {joined}"


def _fmt(intent: Intent) -> str:
    """How one value prints: whole numbers stay whole (counts, sums of integer columns)."""
    if intent.operation == "rate":
        return ".1%"
    if intent.operation == "count":
        return ","
    measure = intent.measure
    if (
        intent.agg in ("sum", "min", "max")
        and measure is not None
        and measure.integer
        and not intent.per_entity
    ):
        return ","
    return ",.2f"


def _value_name(intent: Intent) -> str:
    if intent.operation == "count":
        return intent.counted.name if intent.counted is not None else plural(intent.entity)
    if intent.operation == "rate":
        return "rate"
    measure = intent.measure
    if measure is None:
        return "value"
    if intent.agg == "sum" or measure.op == "/":
        return measure.name
    return f"{intent.agg}_{measure.name}"


def _keys(intent: Intent) -> str:
    keys = [c.name for c in intent.groups]
    return lit(keys[0]) if len(keys) == 1 else names(keys)


def _by(intent: Intent) -> str:
    if not intent.groups and intent.grain:
        return GRAINS[intent.grain]
    return " and ".join(c.name for c in intent.groups)


def _per_group(intent: Intent, grouped: str) -> str:
    """The measured value of each group of `grouped` (a groupby expression)."""
    op = intent.operation
    if op == "count":
        return f"{grouped}[{lit(intent.counted.name)}].nunique()" if intent.counted else f"{grouped}.size()"
    if op == "rate":
        return f'{grouped}["matches"].mean()'
    if len(intent.measures) > 1:
        return f"{grouped}[{names(m.name for m in intent.measures)}].{intent.agg}()"
    measure = intent.measure
    if measure.op == "/":  # type: ignore[union-attr]
        return f"{grouped}.apply(ratio, include_groups=False)"
    return f"{grouped}[{lit(measure.name)}].{intent.agg}()"  # type: ignore[union-attr]


def _helpers(intent: Intent) -> str:
    """What the computation needs first: the ratio of two totals, or the yes/no column of a rate."""
    text = ""
    measure = intent.measure
    if measure is not None and measure.op == "/":
        left, right = measure.left.name, measure.right.name  # type: ignore[union-attr]
        text += (
            f"# {one_line(measure.label)}: the total of {left} divided by the total of {right}\n"
            f"def ratio(rows):\n    return rows[{lit(left)}].sum() / rows[{lit(right)}].sum()\n\n"
        )
    if intent.operation == "rate":
        text += f"# A row counts when {one_line(describe_filter(intent.condition))}\n"  # type: ignore[arg-type]
        text += f'df["matches"] = {condition(intent.condition)}\n\n'  # type: ignore[arg-type]
    return text


def _say(label: str, variable: str, fmt: str) -> str:
    """print("<label>", f"{variable:<fmt>}"): the label a literal, the value a formatted variable."""
    assert variable.isidentifier(), variable  # nothing but a name inside the f-string
    return f'print({lit(label)}, f"{{{variable}:{fmt}}}")\n'


def _print_table(title: str, frame: str) -> str:
    return f"print({lit(title + ':')})\nprint({frame}.to_string(index=False))\n"


# --- the computation by shape --------------------------------------------------------------------


def _measured(intent: Intent) -> str:
    shapes = {
        "series": _series,
        "yoy": _yoy,
        "rank": _rank,
        "rows": _rank_rows,
        "list": _list,
        "values": _values,
    }
    if intent.shape in shapes:
        return _helpers(intent) + shapes[intent.shape](intent)
    if intent.groups:
        return _helpers(intent) + _grouped(intent)
    return _helpers(intent) + _scalar(intent)


def _scalar(intent: Intent) -> str:
    """One number for the whole (filtered) data."""
    label, fmt, op = what(intent), _fmt(intent), intent.operation
    if op == "count":
        value = f"df[{lit(intent.counted.name)}].nunique()" if intent.counted else "len(df)"
        return f"value = {value}\n" + _say(label + ":", "value", fmt)
    if op == "rate":
        return (
            'matching = int(df["matches"].sum())\n'
            f"print({lit(plural(intent.entity).capitalize() + ':')}, "
            'f"{len(df):,}; matching: {matching:,}")\n'
            + 'rate = df["matches"].mean()\n'
            + _say(label + ":", "rate", fmt)
        )
    if op == "share":
        measure = intent.measure
        part = f"df.loc[matches, {lit(measure.name)}].sum()" if measure else "int(matches.sum())"
        whole = f"df[{lit(measure.name)}].sum()" if measure else "len(df)"
        rule = describe_filter(intent.condition)  # type: ignore[arg-type]
        return (
            f"matches = {condition(intent.condition)}\npart = {part}\nwhole = {whole}\n"  # type: ignore[arg-type]
            f'print("Whole:", f"{{whole:,.2f}};", {lit("where " + rule + ":")}, f"{{part:,.2f}}")\n'
            + "share = part / whole\n"
            + _say(label + " where " + rule + ":", "share", ".1%")
        )
    if intent.per_entity is not None:
        entity = intent.per_entity.name
        return (
            f"totals = df.groupby({lit(entity)})[{lit(intent.measure.name)}].sum()\n"  # type: ignore[union-attr]
            + "count, value = len(totals), totals.mean()\n"
            + _say(f"Distinct {entity}:", "count", ",")
            + _say(label + ":", "value", fmt)
        )
    if len(intent.measures) > 1:
        return (
            f"result = df[{names(m.name for m in intent.measures)}].{intent.agg}()\n"
            f"print({lit(label + ':')})\nprint(result.round(2).to_string())\n"
        )
    measure = intent.measure
    if measure.op == "/":  # type: ignore[union-attr]
        return "value = ratio(df)\n" + _say(f"{measure.label} (ratio of totals):", "value", ",.4f")  # type: ignore[union-attr]
    return f"value = df[{lit(measure.name)}].{intent.agg}()\n" + _say(label + ":", "value", fmt)  # type: ignore[union-attr]


def _grouped(intent: Intent) -> str:
    """One value per group (one or two columns); one column is sorted largest first."""
    if intent.operation == "share":
        return _share_table(intent)
    if intent.operation == "rate":
        return _rate_table(intent)
    title = f"{what(intent)} by {_by(intent)}"
    computed = _per_group(intent, f"df.groupby({_keys(intent)})")
    single = len(intent.groups) == 1 and len(intent.measures) <= 1
    sort = ".sort_values(ascending=False)" if single and not ordinal(intent.groups[0]) else ""
    if len(intent.measures) > 1:
        script = f"result = {computed}.round(2)\n"
    else:
        script = f"result = {computed}{sort}.rename({lit(_value_name(intent))})\n"
    script += _print_table(title, "result.round(2).reset_index()")
    if single:
        fmt = _fmt(intent)
        script += (
            'print("Highest:", result.idxmax(), f"({result.max():' + fmt + '});", '
            '"lowest:", result.idxmin(), f"({result.min():' + fmt + '})")\n'
        )
    return script + _chart(intent, "result")


def ordinal(column: Column) -> bool:
    """Whole numbers (a year, a number of calls) read best in their own order, not sorted by value."""
    return column.dtype.startswith(("int", "uint"))


def _share_table(intent: Intent) -> str:
    measure = intent.measure
    totals = f"df.groupby({_keys(intent)})" + (f"[{lit(measure.name)}].sum()" if measure else ".size()")
    value = measure.name if measure else plural(intent.entity)
    script = (
        f"totals = {totals}\n"
        "shares = (totals / totals.sum() * 100).round(1)\n"
        f'result = pd.DataFrame({{{lit(value)}: totals, "share (%)": shares}})\n'
        'result = result.sort_values("share (%)", ascending=False)\n'
        + _print_table(f"{what(intent)} by {_by(intent)}", "result.round(2).reset_index()")
        + 'shares = result["share (%)"]\n'
        'print("Largest share:", shares.index[0], f"({shares.iloc[0]:.1f}%)")\n'
    )
    return script + _chart(intent, "shares")


def _rate_table(intent: Intent) -> str:
    single = len(intent.groups) == 1
    script = (
        f'grouped = df.groupby({_keys(intent)})["matches"]\n'
        f'result = pd.DataFrame({{{lit(plural(intent.entity))}: grouped.size(), "matching": grouped.sum(), '
        '"rate (%)": (grouped.mean() * 100).round(1)})\n'
    )
    if single and not ordinal(intent.groups[0]):
        script += 'result = result.sort_values("rate (%)", ascending=False)\n'
    script += _print_table(f"{what(intent)}, by {_by(intent)}", "result.reset_index()")
    script += 'rates = result["rate (%)"]\n'
    if single:
        script += (
            'print("Highest:", rates.idxmax(), f"({rates.max():.1f}%);", '
            '"lowest:", rates.idxmin(), f"({rates.min():.1f}%)")\n'
        )
    return script + _chart(intent, "rates")


def _series(intent: Intent) -> str:
    grain = GRAINS[intent.grain]
    fill = intent.operation == "count" or intent.agg == "sum"
    script = f'period = {col(intent.date)}.dt.to_period("{intent.grain}").rename({lit(grain)})\n'  # type: ignore[arg-type]
    if intent.groups:
        group = lit(intent.groups[0].name)
        script += (
            f"shown = df[{group}].value_counts().index[:{MAX_LINES}]  # more lines would be unreadable\n"
        )
        computed = _per_group(intent, f"df[df[{group}].isin(shown)].groupby([period, {group}])")
        script += f"result = {computed}.unstack({group})" + (".fillna(0)" if fill else "") + "\n"
        script += f"print({lit(f'{what(intent)} per {grain} by {intent.groups[0].name}:')})\n"
        script += "print(result.round(2).to_string())\n"
        return script + _chart(intent, "result")
    script += f"result = {_per_group(intent, 'df.groupby(period)')}\n"
    if intent.change:
        return script + _changes(intent, grain, fill)
    if fill:
        script += (
            "# Periods without any row count as zero\n"
            f'every = pd.period_range(result.index.min(), result.index.max(), freq="{intent.grain}")\n'
            "result = result.reindex(every, fill_value=0)\n"
        )
    script += f"print({lit(f'{what(intent)} per {grain}:')})\n"
    digits = 4 if intent.operation == "rate" else 2
    script += f"print(result.round({digits}).rename_axis({lit(grain)}).to_string())\n"
    fmt = _fmt(intent)
    script += (
        'print("Highest:", result.idxmax(), f"({result.max():' + fmt + '});", '
        '"lowest:", result.idxmin(), f"({result.min():' + fmt + '})")\n'
    )
    return script + _chart(intent, "result")


def _changes(intent: Intent, grain: str, fill: bool) -> str:
    """A series and its change against `intent.change` periods before (1: the previous; 12 months: a year)."""
    script = ""
    if fill:
        script += (
            f'every = pd.period_range(result.index.min(), result.index.max(), freq="{intent.grain}")\n'
            "result = result.reindex(every, fill_value=0)\n"
        )
    against = "the previous " + grain if intent.change == 1 else f"the same {grain} a year before"
    script += (
        f"change = (result.pct_change(periods={intent.change}) * 100).round(1)\n"
        f'table = pd.DataFrame({{{lit(_value_name(intent))}: result.round(2), "change (%)": change}})\n'
        f"print({lit(f'{what(intent)} per {grain}, and the change against {against} (%):')})\n"
        f"print(table.rename_axis({lit(grain)}).to_string())\n"
    )
    return script + _chart(intent, "result")


def _yoy(intent: Intent) -> str:
    script = f'year = {col(intent.date)}.dt.year.rename("year")\n'  # type: ignore[arg-type]
    if intent.groups:
        group = lit(intent.groups[0].name)
        script += f'table = {_per_group(intent, f"df.groupby([{group}, year])")}.unstack("year")\n'
        script += (
            "result = table.copy()\n"
            "if table.shape[1] >= 2:\n"
            "    last, before = table.columns[-1], table.columns[-2]\n"
            "    change = ((table[last] / table[before] - 1) * 100).round(1)\n"
            '    result[f"change {before} to {last} (%)"] = change\n'
            f"print({lit(f'{what(intent)} per year by {intent.groups[0].name}:')})\n"
            "print(result.round(2).to_string())\n"
        )
        return script + _chart(intent, "table")
    script += f"yearly = {_per_group(intent, 'df.groupby(year)')}\n"
    script += (
        f"result = pd.DataFrame({{{lit(_value_name(intent))}: yearly.round(2), "
        '"change (%)": (yearly.pct_change() * 100).round(1)})\n'
        f"print({lit(what(intent) + ' per year, and the change from the year before:')})\n"
        "print(result.to_string())\n"
        "if len(yearly) >= 2:\n"
        "    change = yearly.iloc[-1] / yearly.iloc[-2] - 1\n"
        '    print(yearly.index[-1], "compared with", yearly.index[-2], f"{change:+.1%}")\n'
    )
    return script + _chart(intent, "yearly")


def _rank(intent: Intent) -> str:
    pick = "nsmallest" if intent.ascending else "nlargest"
    fmt = _fmt(intent)
    label = what(intent)
    script = ""
    grouped = f"df.groupby({_keys(intent)})"
    if not intent.groups:  # periods ranked: "which month had the highest revenue"
        grain = lit(GRAINS[intent.grain])
        script += f'period = {col(intent.date)}.dt.to_period("{intent.grain}").rename({grain})\n'  # type: ignore[arg-type]
        grouped = "df.groupby(period)"
    script += f"values = {_per_group(intent, grouped)}.rename({lit(_value_name(intent))})\n"
    script += f"result = values.{pick}({intent.top})\n"
    if intent.top == 1:
        script += f"print({lit(f'{label} by {_by(intent)}:')})\n"
        ordered = f"values.sort_values(ascending={intent.ascending}).round(4).reset_index()"
        script += f"print({ordered}.to_string(index=False))\n"
        which = "lowest" if intent.ascending else "highest"
        says = lit(f"has the {which} {_lower_first(label)}:")
        script += f'best = result.iloc[0]\nprint(result.index[0], {says}, f"{{best:{fmt}}}")\n'
    else:
        first = "Bottom" if intent.ascending else "Top"
        title = f"{first} {intent.top} {_by(intent)} by {_lower_first(label)}"
        script += _print_table(title, "result.round(4).reset_index()")
        script += f'print("#1:", result.index[0], f"({{result.iloc[0]:{fmt}}})")\n'
    return script + _chart(intent, "result")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _rank_rows(intent: Intent) -> str:
    pick = "nsmallest" if intent.ascending else "nlargest"
    measure = intent.measure
    shown = [c for c in (intent.label_column.name if intent.label_column else None, measure.name) if c]  # type: ignore[union-attr]
    title = (
        f"{'Bottom' if intent.ascending else 'Top'} {intent.top} {plural(intent.entity)} by {measure.name}"  # type: ignore[union-attr]
    )
    script = f"result = df.{pick}({intent.top}, {lit(measure.name)})[{names(dict.fromkeys(shown))}]\n"  # type: ignore[union-attr]
    script += _print_table(title, "result")
    script += (
        f"first_label, first_value = result.iloc[0][{lit(shown[0])}], result.iloc[0][{lit(measure.name)}]\n"  # type: ignore[union-attr]
    )
    script += 'print("#1:", first_label, f"({first_value:,.2f})")\n'
    if intent.chart:
        script += _bars(
            x=f"result[{lit(shown[0])}].astype(str)", y=f"result[{lit(measure.name)}]", title=title
        )  # type: ignore[union-attr]
    return script


def _values(intent: Intent) -> str:
    """The distinct values of a category, with how many rows have each."""
    name = lit(intent.counted.name)  # type: ignore[union-attr]
    rows = lit(plural(intent.entity))
    return (
        f"result = df[{name}].value_counts().rename_axis({name}).reset_index(name={rows})\n"
        f'print(f"{{len(result):,}} distinct values of", {name})\n'
        "print(result.to_string(index=False))\n"
    )


def _list(intent: Intent) -> str:
    label = f"{plural(intent.entity)} match ({filter_words(intent.filters)}):"
    if intent.label_column is None:
        chosen = "result = df  # no identifier column: every column of the matching rows\n"
    else:
        shown = [intent.label_column.name]
        for f in intent.filters:
            shown += [f.column.name] + ([f.other.name] if f.other else [])
        chosen = f"result = df[{names(dict.fromkeys(shown))}]\n"
    return chosen + (
        f'print(f"{{len(result):,}}", {lit(label)})\n'
        f"print(result.head({MAX_LISTED_ROWS}).to_string(index=False))\n"
        f"if len(result) > {MAX_LISTED_ROWS}:\n"
        f'    print(f"... and {{len(result) - {MAX_LISTED_ROWS}:,}} more.")\n'
    )


# --- the other operations ------------------------------------------------------------------------


def _describe(intent: Intent) -> str:
    if intent.measures:
        columns = names(m.name for m in intent.measures)
        return f"result = df[{columns}].describe().T\nprint(result.round(2).to_string())\n"
    return f"""
print(f"{{len(df):,}} rows x {{df.shape[1]}} columns in", {lit(intent.schema.dataset.name)})
print()
print("Column types:")
print(df.dtypes.to_string())

missing = df.isna().sum()
missing = missing[missing > 0]
print()
print("Missing values per column:" if len(missing) else "Missing values: none")
if len(missing):
    print(missing.to_string())

numbers = df.select_dtypes("number")
if numbers.shape[1]:
    print()
    print("Numeric columns:")
    print(numbers.describe().T.round(2).to_string())

# Text columns: how many distinct values, and the most common one.
overview = []
for column in df.select_dtypes(exclude=["number", "datetime"]).columns:
    counts = df[column].value_counts()
    top = counts.index[0] if len(counts) else None
    overview.append({{"column": column, "distinct values": len(counts), "most common": top}})
if overview:
    print()
    print("Other columns:")
    print(pd.DataFrame(overview).to_string(index=False))
"""


def _distribution(intent: Intent) -> str:
    name = lit(intent.measure.name)  # type: ignore[union-attr]
    title = lit(f"Distribution of {intent.measure.name}")  # type: ignore[union-attr]
    return f"""
values = df[{name}].dropna()
fig, ax = plt.subplots(figsize=(8, 5))
ax.hist(values, bins=30, edgecolor="white")
ax.set_title({title})
ax.set_xlabel({name})
ax.set_ylabel("Rows")

print({title})
print(values.describe().round(2).to_string())
q1, median, q3 = values.quantile([0.25, 0.5, 0.75])
print(f"Half of the values lie between {{q1:,.2f}} and {{q3:,.2f}}; the median is {{median:,.2f}}.")
"""


def _correlation(intent: Intent) -> str:
    if len(intent.measures) == 2:
        x, y = (lit(m.name) for m in intent.measures)
        return f"""
both = df[[{x}, {y}]].dropna()
r = both[{x}].corr(both[{y}])
fig, ax = plt.subplots(figsize=(7, 5))
ax.scatter(both[{x}], both[{y}], alpha=0.6)
ax.set_xlabel({x})
ax.set_ylabel({y})
ax.set_title({lit(f"{intent.measures[1].name} against {intent.measures[0].name}")})

strength = "strong" if abs(r) >= 0.7 else "moderate" if abs(r) >= 0.4 else "weak" if abs(r) >= 0.2 else "no"
print(f"{{len(both):,}} rows with both values.")
print("Correlation (Pearson r) between", {x}, "and", {y}, f"{{r:.3f}}", f"({{strength}} linear relationship)")
"""
    return f"""
columns = {names(m.name for m in intent.measures)}
corr = df[columns].corr()
fig, ax = plt.subplots(figsize=(7, 6))
image = ax.imshow(corr.values, cmap="coolwarm", vmin=-1, vmax=1)
fig.colorbar(image, ax=ax, label="Pearson correlation")
ax.set_xticks(range(len(columns)), labels=columns, rotation=45, ha="right")
ax.set_yticks(range(len(columns)), labels=columns)
ax.set_title("Correlation between numeric columns")
fig.tight_layout()

print("Correlation matrix (Pearson r):")
print(corr.round(2).to_string())
pairs = corr.stack().dropna()
pairs = pairs[[left < right for left, right in pairs.index]]  # each pair once, no diagonal
left, right = pairs.abs().idxmax()
print("Strongest relationship:", left, "and", right, f"(r = {{corr.loc[left, right]:.2f}})")
"""


# --- charts --------------------------------------------------------------------------------------


def _chart(intent: Intent, frame: str) -> str:
    chart = intent.chart
    if not chart:
        return ""
    title = what(intent) + (f" by {_by(intent)}" if intent.groups else "")
    if intent.shape in ("series", "yoy"):
        title += f" per {GRAINS[intent.grain]}"
    if chart == "pie":
        return f"""
fig, ax = plt.subplots(figsize=(7, 7))
ax.pie({frame}.values, labels={frame}.index.astype(str), autopct="%1.1f%%", startangle=90)
ax.set_title({lit(title)})
"""
    wide = (
        len(intent.groups) == 2
        or len(intent.measures) > 1
        or (intent.shape in ("series", "yoy") and intent.groups)
    )
    if wide:
        data = (
            f"{frame}.unstack()"
            if len(intent.groups) == 2 and intent.shape not in ("series", "yoy")
            else frame
        )
        if chart == "line":
            return f"""
fig, ax = plt.subplots(figsize=(10, 5))
{data}.plot(ax=ax, marker="o")
ax.set_title({lit(title)})
fig.tight_layout()
"""
        return f"""
fig, ax = plt.subplots(figsize=(10, 5))
{data}.plot.bar(ax=ax)
ax.set_title({lit(title)})
ax.tick_params(axis="x", labelrotation=45)
fig.tight_layout()
"""
    if chart == "line":
        return f"""
fig, ax = plt.subplots(figsize=(10, 5))
ax.plot({frame}.index.astype(str), {frame}.values, marker="o")
ax.set_title({lit(title)})
ax.xaxis.set_major_locator(plt.MaxNLocator(12))
ax.tick_params(axis="x", labelrotation=45)
ax.grid(True, alpha=0.3)
fig.tight_layout()
"""
    return _bars(x=f"{frame}.index.astype(str)", y=f"{frame}.values", title=title)


def _bars(*, x: str, y: str, title: str) -> str:
    return f"""
fig, ax = plt.subplots(figsize=(10, 5))
ax.bar({x}, {y})
ax.set_title({lit(title)})
ax.tick_params(axis="x", labelrotation=45)
fig.tight_layout()
"""


_BODIES = {
    "describe": _describe,
    "distribution": _distribution,
    "correlation": _correlation,
    "scatter": _correlation,
    "aggregate": _measured,
    "count": _measured,
    "rate": _measured,
    "share": _measured,
}
