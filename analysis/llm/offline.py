"""Offline code generation: deterministic rules, no network, no model.

It recognises common question shapes (describe, count, group-by, top-n, trend, distribution,
correlation, comparison chart) and fills pandas/matplotlib templates with the dataset's real
column names, picked from the dataset context: columns named in the question first, then by role
(date-like for time, numeric for measures, string-like for categories). Every script starts with
`# Generated offline (no LLM): <intent>` so its output is never mistaken for a model's answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from string import Template

from .base import DatasetContext, GenerationInput, GenerationOutput, Revision

PROVIDER = "offline"
MODEL = "offline-rules-v1"
HEADER = "# Generated offline (no LLM): {intent}"

# Charts stay readable: at most this many bars, lines or overlaid histograms.
MAX_BARS = 20
MAX_LINES = 8
MAX_HISTOGRAMS = 6
MAX_CORRELATION_COLUMNS = 12
DEFAULT_TOP_N = 10
MAX_TOP_N = 100


class OfflineGenerator:
    provider = PROVIDER
    model = MODEL

    def generate(self, inp: GenerationInput) -> GenerationOutput:
        if inp.datasets:
            # A reviewer's feedback is read like part of the question ("as a bar chart", "by store").
            wording = f"{inp.query} {inp.revision.feedback}" if inp.revision else inp.query
            plan = plan_question(query=wording, datasets=inp.datasets)
            code = render(plan=plan, query=inp.query)
        else:
            code = _no_dataset_script(query=inp.query)
        if inp.revision is not None:
            code = _with_feedback_comment(code=code, revision=inp.revision)
        return GenerationOutput(code=code, provider=PROVIDER, model=MODEL, input_tokens=0, output_tokens=0)


# --- reading the question ------------------------------------------------------------------------

_CORRELATION = re.compile(r"\bcorrelat|\brelationships?\b|\bheat ?map|\bcorr\b")
_DISTRIBUTION = re.compile(r"\bdistribut|\bhistogram|\bspread\b")
_TREND = re.compile(
    r"\bover time\b|\btrends?\b|\btrending\b|\btime ?series\b|\bevolution\b|\bevolv|\btimeline\b|\bseasonal"
    r"|\b(daily|weekly|monthly|quarterly|yearly|annual|annually)\b"
    r"|\b(per|by|each|every|a) (day|date|week|month|quarter|year)s?\b|\bmonth over month\b"
)
_TOP_N = re.compile(
    r"\b(top|bottom|best|worst|highest|lowest|largest|smallest|biggest|leading|most|least|fewest)\b"
)
_ASCENDING = re.compile(r"\b(bottom|worst|lowest|smallest|least|fewest)\b")
_COUNT = re.compile(r"\bhow many\b|\bcounts?\b|\bnumber of\b|\bmost (common|frequent|popular)\b")
_CHART = re.compile(r"\bplot|\bchart|\bgraph|\bvisuali[sz]|\bdraw\b|\bbar\b|\bbars\b|\bbarplot\b")
_COMPARE = re.compile(r"\bcompar|\bversus\b|\bvs\b|\bacross\b|\bbetween\b")
_GROUP_WORDS = frozenset({"by", "per", "each", "across", "between", "among", "for", "every"})
_DESCRIBE = re.compile(
    r"\bdescrib|\bsummar|\boverview\b|\bstatistic|\bstats\b|\bprofile\b|\bexplor|\blook like\b|\bcolumns\b"
)
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20,
}  # fmt: skip
_TOP_N_COUNT = re.compile(
    r"\b(?:top|bottom|best|worst|highest|lowest|largest|smallest|biggest|leading|first|last)\s+(\w+)\b"
    r"|\b(\w+)\s+(?:best|worst|highest|lowest|largest|smallest|biggest|most|least)\b"
    r"|\b(?:which|what|the)\s+(\w+)\b"
)
_AGGREGATIONS = (
    (re.compile(r"\b(average|avg|mean)\b"), "mean"),
    (re.compile(r"\bmedian\b"), "median"),
    (re.compile(r"\b(max|maximum)\b"), "max"),
    (re.compile(r"\b(min|minimum)\b"), "min"),
)
# (pandas offset alias, word for one period, strftime for one period); month start works in pandas 2 and 3.
_FREQUENCIES = (
    (re.compile(r"\b(daily|per day|by day|each day|every day|by date|per date)\b"), "D", "day", "%Y-%m-%d"),
    (re.compile(r"\b(weekly|per week|by week|each week|every week|a week)\b"), "W", "week", "%Y-%m-%d"),
    (re.compile(r"\b(quarterly|per quarter|by quarter|each quarter)\b"), "QS", "quarter", "%Y-%m"),
    (re.compile(r"\b(yearly|annual|annually|per year|by year|each year|every year)\b"), "YS", "year", "%Y"),
)
_MONTHLY = ("MS", "month", "%Y-%m")


@dataclass(frozen=True)
class Question:
    text: str  # lower-cased words joined by single spaces, punctuation removed
    words: tuple[str, ...]

    @classmethod
    def parse(cls, query: str) -> Question:
        words = tuple(_words(text=query))
        return cls(text=" ".join(words), words=words)

    def has(self, pattern: re.Pattern[str]) -> bool:
        return bool(pattern.search(self.text))


def _words(*, text: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)  # camelCase column names → two words
    return [w for w in re.split(r"[^0-9a-z]+", spaced.lower()) if w]


# --- reading the dataset context -----------------------------------------------------------------

# Name parts that suggest a date or time column when the dtype is text.
_DATE_NAME_PARTS = frozenset(
    {"date", "day", "time", "timestamp", "datetime", "dt", "month", "week", "period"}
)
# Numeric columns with these name parts are identifiers or calendar parts, not measures.
_KEY_NAME_PARTS = frozenset(
    {"id", "uuid", "key", "code", "zip", "postcode", "postal", "phone", "year", "month", "day", "week",
     "quarter", "hour", "index", "idx", "number", "no"}
)  # fmt: skip
_MEASURE_HINTS = (
    "revenue", "sales", "amount", "total", "price", "profit", "value", "cost", "income", "spend",
    "units", "quantity", "qty", "visits", "score",
)  # fmt: skip
_CATEGORY_HINTS = frozenset(
    {"region", "category", "segment", "country", "state", "city", "store", "shop", "channel", "type",
     "department", "product", "brand", "status", "gender", "group", "team", "class", "tier", "market"}
)  # fmt: skip
# Free-text or unique-per-row columns make poor groups.
_POOR_CATEGORY_PARTS = frozenset(
    {"id", "uuid", "email", "description", "comment", "comments", "note", "notes", "text", "url", "address"}
)
# Too generic to identify a column on their own when the question uses only part of its name.
_GENERIC_WORDS = frozenset(
    {"total", "amount", "count", "number", "value", "id", "name", "type", "date", "the", "per", "of", "sum",
     "avg", "average", "mean"}
)  # fmt: skip


@dataclass(frozen=True)
class Schema:
    """Column roles derived from names and dtypes, in the dataset's column order."""

    dates: tuple[str, ...]
    measures: tuple[str, ...]
    categories: tuple[str, ...]
    keys: tuple[str, ...]  # numeric but not measures: ids, year/month numbers
    integers: frozenset[str] = frozenset()  # integer measures: totals print without decimals

    @classmethod
    def from_columns(cls, columns: list[dict]) -> Schema:
        dates: list[str] = []
        measures: list[str] = []
        categories: list[str] = []
        keys: list[str] = []
        integers: set[str] = set()
        for column in columns:
            name = str(column.get("name", ""))
            dtype = str(column.get("dtype", "")).lower()
            parts = set(_words(text=name))
            if _is_datetime_dtype(dtype=dtype):
                dates.append(name)
            elif _is_numeric_dtype(dtype=dtype):
                (keys if parts & _KEY_NAME_PARTS else measures).append(name)
                if re.match(r"u?int", dtype):
                    integers.add(name)
            elif parts & _DATE_NAME_PARTS or name.lower().endswith(("_at", "_on")):
                dates.append(name)  # text that looks like dates; the script parses it
            else:
                categories.append(name)
        return cls(
            dates=tuple(dates),
            measures=tuple(measures),
            categories=tuple(categories),
            keys=tuple(keys),
            integers=frozenset(integers),
        )

    def default_measure(self) -> str | None:
        for hint in _MEASURE_HINTS:
            for name in self.measures:
                if hint in _words(text=name):
                    return name
        return self.measures[0] if self.measures else None

    def default_category(self) -> str | None:
        ranked = sorted(self.categories, key=_category_rank)
        return ranked[0] if ranked else None


def _is_datetime_dtype(*, dtype: str) -> bool:
    return dtype.startswith(("datetime", "date", "timestamp", "period"))


def _is_numeric_dtype(*, dtype: str) -> bool:
    return bool(re.match(r"(u?int|float|decimal|double|number|numeric|complex)", dtype))


def _category_rank(name: str) -> int:
    parts = set(_words(text=name))
    if parts & _CATEGORY_HINTS:
        return 0
    if parts & _POOR_CATEGORY_PARTS or "name" in parts:
        return 2
    return 1


def _same_word(*, asked: str, column: str) -> bool:
    """Equal up to a simple English plural (region/regions, category/categories, sale/sales)."""
    if asked == column:
        return True
    for short, long in ((asked, column), (column, asked)):
        if long in (short + "s", short + "es") or (short.endswith("y") and long == short[:-1] + "ies"):
            return True
    return False


def _mention_position(*, question: Question, column: str) -> tuple[int, int] | None:
    """(strength, word position) of a column named in the question: 2 = whole name, 1 = a distinctive part."""
    parts = _words(text=column)
    if not parts:
        return None
    words = question.words
    for start in range(len(words) - len(parts) + 1):
        if all(_same_word(asked=words[start + i], column=part) for i, part in enumerate(parts)):
            return (2, start)
    for position, word in enumerate(words):
        for part in parts:
            if len(part) >= 3 and part not in _GENERIC_WORDS and _same_word(asked=word, column=part):
                return (1, position)
    return None


def _mentioned(*, question: Question, columns: tuple[str, ...]) -> list[tuple[str, int]]:
    """Columns named in the question, strongest match first, then in question order."""
    found = []
    for column in columns:
        hit = _mention_position(question=question, column=column)
        if hit:
            found.append((hit, column))
    found.sort(key=lambda item: (-item[0][0], item[0][1]))
    return [(column, position) for (_, position), column in found]


def _grouping_column(*, question: Question, candidates: list[tuple[str, int]]) -> str | None:
    """The named column introduced by 'by', 'per', 'each', ...; None when nothing is grouped by."""
    for column, position in candidates:
        before = question.words[max(0, position - 2) : position]
        if _GROUP_WORDS & set(before):
            return column
    return None


# --- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    intent: str
    dataset: DatasetContext
    schema: Schema
    others: tuple[str, ...] = ()  # selected datasets this offline answer does not use
    date: str | None = None
    measure: str | None = None  # None with agg "count" means counting rows
    category: str | None = None
    agg: str = "sum"
    top_n: int = DEFAULT_TOP_N
    ascending: bool = False
    frequency: tuple[str, str, str] = _MONTHLY
    chart: bool = False
    columns: tuple[str, ...] = ()  # correlation
    notes: tuple[str, ...] = field(default_factory=tuple)


def plan_question(*, query: str, datasets: list[DatasetContext]) -> Plan:
    question = Question.parse(query)
    dataset = _pick_dataset(question=question, datasets=datasets)
    schema = Schema.from_columns(dataset.columns)
    named_measures = _mentioned(question=question, columns=schema.measures)
    named_categories = _mentioned(question=question, columns=schema.categories + schema.keys)
    named_dates = _mentioned(question=question, columns=schema.dates)
    agg = _aggregation(question=question, measure_named=bool(named_measures))
    measure = named_measures[0][0] if named_measures else schema.default_measure()
    base = Plan(
        intent="describe",
        dataset=dataset,
        schema=schema,
        others=tuple(d.name for d in datasets if d is not dataset),
        date=named_dates[0][0] if named_dates else (schema.dates[0] if schema.dates else None),
        measure=None if agg == "count" else measure,
        category=named_categories[0][0] if named_categories else None,
        agg=agg,
        chart=question.has(_CHART),
    )
    grouping = _grouping_column(question=question, candidates=named_categories)
    notes: list[str] = []
    plan = _choose_intent(
        question=question, base=base, grouping=grouping, named_measures=named_measures, notes=notes
    )
    # Say why a requested shape was not produced, whichever answer was chosen instead.
    return replace(plan, notes=tuple(notes))


def _choose_intent(
    *,
    question: Question,
    base: Plan,
    grouping: str | None,
    named_measures: list[tuple[str, int]],
    notes: list[str],
) -> Plan:
    schema = base.schema
    if question.has(_CORRELATION):
        columns = [c for c, _ in named_measures] if len(named_measures) >= 2 else list(schema.measures)
        if len(columns) >= 2:
            return _with(base, intent="correlation", columns=tuple(columns[:MAX_CORRELATION_COLUMNS]))
        notes.append("a correlation needs at least two numeric columns")
    if question.has(_DISTRIBUTION):
        if named_measures or (base.category is None and base.measure):
            measure = named_measures[0][0] if named_measures else base.measure
            return _with(base, intent="distribution", measure=measure, category=grouping)
        if base.category:
            return _with(base, intent="distribution", measure=None)
    # A chart of a measure with nothing to group by is most useful over time.
    plain_chart = base.chart and base.category is None and not _ranks_or_counts(question=question)
    if question.has(_TREND) or (plain_chart and base.date):
        if base.date:
            return _with(base, intent="trend", category=grouping, frequency=_frequency(question=question))
        if question.has(_TREND):
            notes.append("no date-like column was found, so no trend over time can be drawn")
    if question.has(_DESCRIBE) and not named_measures and base.category is None:
        return _with(base, intent="describe")
    if question.has(_TOP_N) and (base.measure or base.agg == "count"):
        return _with(
            base, intent="top-n", top_n=_top_n(question=question), ascending=question.has(_ASCENDING)
        )
    if question.has(_COUNT) and not named_measures:
        return _with(base, intent="count", measure=None, agg="count")
    category = base.category or schema.default_category()
    if (question.has(_COMPARE) or base.chart) and category and (base.measure or base.agg == "count"):
        return _with(base, intent="comparison", category=category)
    if base.category and set(question.words) & _GROUP_WORDS and (base.measure or base.agg == "count"):
        return _with(base, intent="group-by")
    return _with(base, intent="describe")


def _ranks_or_counts(*, question: Question) -> bool:
    return question.has(_TOP_N) or question.has(_COUNT)


def _with(plan: Plan, **changes: object) -> Plan:
    return replace(plan, **changes)  # type: ignore[arg-type]


def _pick_dataset(*, question: Question, datasets: list[DatasetContext]) -> DatasetContext:
    """The dataset whose file name the question mentions, else the first selected one."""
    padded = f" {question.text} "
    for dataset in datasets:
        stem = " ".join(_words(text=PurePosixPath(dataset.name).stem))
        if stem and f" {stem} " in padded:
            return dataset
    return datasets[0]


def _aggregation(*, question: Question, measure_named: bool) -> str:
    for pattern, agg in _AGGREGATIONS:
        if question.has(pattern):
            return agg
    # "how many units" sums the units column; "how many orders" counts rows.
    if question.has(_COUNT) and not measure_named:
        return "count"
    return "sum"


def _frequency(*, question: Question) -> tuple[str, str, str]:
    for pattern, alias, word, fmt in _FREQUENCIES:
        if question.has(pattern):
            return (alias, word, fmt)
    return _MONTHLY


def _top_n(*, question: Question) -> int:
    for match in _TOP_N_COUNT.finditer(question.text):
        word = match.group(1) or match.group(2) or match.group(3)
        # At most three digits: "top products in 2024" names a year, not a count.
        number = int(word) if word.isdigit() and len(word) <= 3 else _NUMBER_WORDS.get(word)
        if number:
            return max(1, min(number, MAX_TOP_N))
    return DEFAULT_TOP_N


# --- writing the script --------------------------------------------------------------------------

_AGG_LABELS = {"sum": "Total", "mean": "Average", "median": "Median", "max": "Maximum", "min": "Minimum"}


def render(*, plan: Plan, query: str) -> str:
    body = _RENDERERS[plan.intent](plan)
    lines = [HEADER.format(intent=plan.intent), f"# Question: {_one_line(text=query)}"]
    if plan.others:
        lines.append(f"# Also selected, not used by this offline answer: {', '.join(plan.others)}")
    lines += ["import pandas as pd", "import matplotlib.pyplot as plt", "", *_load(plan=plan)]
    lines += [f"print({_lit('Note: ' + note + '.')})" for note in plan.notes]
    return "\n".join(lines) + "\n" + body.rstrip("\n") + "\n"


def _with_feedback_comment(*, code: str, revision: Revision) -> str:
    header, rest = code.split("\n", 1)
    note = f"# Version {revision.version}, after reviewer feedback: {_one_line(text=revision.feedback)}"
    return f"{header}\n{note}\n{rest}"


def _one_line(*, text: str, limit: int = 200) -> str:
    # The question lands in a comment: no line breaks may escape it into code.
    flat = " ".join(re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]", " ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _load(*, plan: Plan) -> list[str]:
    lines = [f"df = {_reader(path=plan.dataset.path)}"]
    if plan.date:
        lines.append(f'df[{_lit(plan.date)}] = pd.to_datetime(df[{_lit(plan.date)}], errors="coerce")')
    return lines


def _reader(*, path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return f'pd.read_excel({_lit(path)}, engine="openpyxl")'
    if suffix == ".xls":
        return f"pd.read_excel({_lit(path)})"
    if suffix in (".parquet", ".pq"):
        return f"pd.read_parquet({_lit(path)})"
    if suffix in (".jsonl", ".ndjson"):
        return f"pd.read_json({_lit(path)}, lines=True)"
    if suffix == ".json":
        return f"pd.read_json({_lit(path)})"
    if suffix in (".tsv", ".tab"):
        return f'pd.read_csv({_lit(path)}, sep="\\t")'
    return f"pd.read_csv({_lit(path)})"


def _lit(value: object) -> str:
    """A Python literal for the generated code, double-quoted like the rest of the script."""
    literal = repr(value)
    if isinstance(value, str) and literal.startswith("'") and '"' not in value:
        literal = f'"{literal[1:-1]}"'  # no quote of either kind inside, so nothing to re-escape
    return literal


def _lit_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_lit(value) for value in values) + "]"


def _fill(template: str, **values: object) -> str:
    return Template(template).substitute(**values)


def _measure_label(plan: Plan) -> str:
    if plan.agg == "count" or plan.measure is None:
        return "Number of rows"
    return f"{_AGG_LABELS[plan.agg]} {plan.measure}"


def _aggregate(plan: Plan) -> tuple[str, str]:
    """The aggregation to chain after a groupby/resample, and the name of the resulting values."""
    if plan.agg == "count" or plan.measure is None:
        return ".size()", "rows"
    return f"[{_lit(plan.measure)}].{plan.agg}()", plan.measure


def _value_format(plan: Plan) -> str:
    """Format spec for one aggregated value: whole numbers stay whole (counts, sums of integers)."""
    if plan.agg == "count" or plan.measure is None:
        return ","
    if plan.agg in ("sum", "max", "min") and plan.measure in plan.schema.integers:
        return ","
    return ",.2f"


def _render_describe(plan: Plan) -> str:
    script = _fill(
        """
print(f"{len(df):,} rows x {df.shape[1]} columns in " + $name)
print()
print("Column types:")
print(df.dtypes.to_string())

missing = df.isna().sum()
missing = missing[missing > 0]
print()
print("Missing values per column:" if len(missing) else "Missing values: none")
if len(missing):
    print(missing.to_string())

summary = df.select_dtypes("number").describe().T
if len(summary):
    print()
    print("Numeric columns:")
    print(summary.round(2).to_string())

# Text-like columns: how many distinct values, and the most common one.
others = df.select_dtypes(exclude=["number", "datetime"])
overview = []
for column in others.columns:
    counts = others[column].value_counts()
    top = counts.index[0] if len(counts) else None
    overview.append({"column": column, "distinct values": len(counts), "most common": top})
if overview:
    print()
    print("Other columns:")
    print(pd.DataFrame(overview).to_string(index=False))
""",
        name=_lit(plan.dataset.name),
    )
    if plan.date:
        script += _fill(
            """
dates = df[$date].dropna()
if len(dates):
    print()
    print(f"Dates run from {dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}.")
""",
            date=_lit(plan.date),
        )
    return script + "summary\n"


def _render_count(plan: Plan) -> str:
    if plan.category is None:
        return _fill(
            """
rows = len(df)
print(f"{rows:,} rows in " + $name + ".")
result = pd.DataFrame({"rows": [rows]})
result
""",
            name=_lit(plan.dataset.name),
        )
    script = _fill(
        """
result = df[$cat].value_counts(dropna=False).rename_axis($cat).reset_index(name="rows")
label = $label
print(f"{label} ({len(result)} groups, {len(df):,} rows in total):")
print(result.to_string(index=False))
top_name, top_rows = result.iloc[0][$cat], result.iloc[0]["rows"]
print(f"Most rows: {top_name} ({top_rows:,}).")
""",
        cat=_lit(plan.category),
        label=_lit(f"Rows per {plan.category}"),
    )
    if plan.chart:
        script += _bar_chart(frame="result", x=plan.category, y="rows", ylabel="Number of rows")
    return script + "result\n"


def _render_group_by(plan: Plan) -> str:
    tail, value = _aggregate(plan)
    reset = 'reset_index(name="rows")' if value == "rows" else "reset_index()"
    script = _fill(
        """
result = (
    df.groupby($cat, dropna=False)$tail
    .sort_values(ascending=False)
    .$reset
)
label = $label
print(f"{label}:")
print(result.to_string(index=False))
best_name, best_value = result.iloc[0][$cat], result.iloc[0][$value]
print(f"Highest: {best_name} ({best_value:$fmt}).")
""",
        tail=tail,
        reset=reset,
        cat=_lit(plan.category),
        value=_lit(value),
        fmt=_value_format(plan),
        label=_lit(f"{_measure_label(plan)} by {plan.category}"),
    )
    if plan.chart:
        chart_rows = f"result.head({MAX_BARS})"
        script += _bar_chart(frame=chart_rows, x=plan.category, y=value, ylabel=_measure_label(plan))
    return script + "result\n"


def _render_top_n(plan: Plan) -> str:
    pick = "nsmallest" if plan.ascending else "nlargest"
    which = "Bottom" if plan.ascending else "Top"
    if plan.category is None and plan.measure is not None:
        # Nothing to group by: rank the rows themselves.
        script = _fill(
            """
ranking = df.$pick($n, $measure)
label = $label
print(f"{label}:")
print(ranking.to_string(index=False))
""",
            pick=pick,
            n=plan.top_n,
            measure=_lit(plan.measure),
            label=_lit(f"{which} {plan.top_n} rows by {plan.measure}"),
        )
        return script + "ranking\n"
    category = plan.category or plan.schema.default_category()
    tail, value = _aggregate(plan)
    reset = 'reset_index(name="rows")' if value == "rows" else "reset_index()"
    script = _fill(
        """
ranking = (
    df.groupby($cat, dropna=False)$tail
    .$pick($n)
    .$reset
)
label = $label
print(f"{label}:")
print(ranking.to_string(index=False))
first_name, first_value = ranking.iloc[0][$cat], ranking.iloc[0][$value]
print(f"#1: {first_name} ({first_value:$fmt}).")
""",
        tail=tail,
        pick=pick,
        n=plan.top_n,
        reset=reset,
        cat=_lit(category),
        value=_lit(value),
        fmt=_value_format(plan),
        label=_lit(f"{which} {plan.top_n} by {_measure_label(plan).lower()} (grouped by {category})"),
    )
    if plan.chart:
        script += _bar_chart(frame="ranking", x=category, y=value, ylabel=_measure_label(plan))
    return script + "ranking\n"


def _render_trend(plan: Plan) -> str:
    if plan.category:
        return _render_trend_by_category(plan)
    alias, period, fmt = plan.frequency
    tail, _ = _aggregate(plan)
    return _fill(
        """
series = df.dropna(subset=[$date]).set_index($date).resample($alias)$tail
assert len(series), "No parseable dates in column " + $date + ", so there is no trend to show."

fig, ax = plt.subplots(figsize=(10, 5))
ax.plot(series.index, series.values, marker="o")
ax.set_title($title)
ax.set_xlabel($xlabel)
ax.set_ylabel($ylabel)
ax.grid(True, alpha=0.3)
fig.autofmt_xdate()

label = $title
print(f"{label} ({len(series)} ${period}s; the last {min(len(series), 36)} shown):")
print(series.tail(36).to_string())
first, last = series.iloc[0], series.iloc[-1]
print(f"First ${period}: {first:$fmt}; last ${period}: {last:$fmt}.")
print(f"Peak: {series.max():$fmt} in {series.idxmax():$when}.")
if first:
    print(f"Change from the first to the last ${period}: {(last - first) / first:+.1%}.")
series
""",
        tail=tail,
        alias=_lit(alias),
        date=_lit(plan.date),
        title=_lit(f"{_measure_label(plan)} per {period}"),
        xlabel=_lit(period.capitalize()),
        ylabel=_lit(_measure_label(plan)),
        period=period,
        fmt=_value_format(plan),
        when=fmt,
    )


def _render_trend_by_category(plan: Plan) -> str:
    alias, period, _ = plan.frequency
    count = plan.agg == "count" or plan.measure is None
    if count:
        largest = f"data[{_lit(plan.category)}].value_counts().nlargest({MAX_LINES}).index"
        overall = f"data[{_lit(plan.category)}].value_counts()"
    else:
        largest = (
            f"data.groupby({_lit(plan.category)})[{_lit(plan.measure)}].sum().nlargest({MAX_LINES}).index"
        )
        overall = f"data.groupby({_lit(plan.category)})[{_lit(plan.measure)}].{plan.agg}()"
        overall += ".sort_values(ascending=False)"
    tail, _ = _aggregate(plan)
    # Missing periods mean nothing happened for sums and counts; for averages they stay missing.
    fill = ".fillna(0)" if count or plan.agg == "sum" else ""
    return _fill(
        """
data = df.dropna(subset=[$date])
# Keep the $max_lines largest groups so the chart stays readable.
largest = $largest
table = (
    data[data[$cat].isin(largest)]
    .groupby([pd.Grouper(key=$date, freq=$alias), $cat])$tail
    .unstack($cat)$fill
)
assert len(table), "No parseable dates in column " + $date + ", so there is no trend to show."

fig, ax = plt.subplots(figsize=(10, 5))
for name in table.columns:
    ax.plot(table.index, table[name], marker="o", label=str(name))
ax.set_title($title)
ax.set_xlabel($xlabel)
ax.set_ylabel($ylabel)
ax.legend(title=$cat)
ax.grid(True, alpha=0.3)
fig.autofmt_xdate()

label = $title
print(f"{label} ({len(table)} ${period}s, {table.shape[1]} groups; the last {min(len(table), 36)} shown):")
print(table.tail(36).round(2).to_string())
overall = $overall
print(f"Over the whole period, highest: {overall.index[0]} ({overall.iloc[0]:$fmt}).")
print(f"Over the whole period, lowest: {overall.index[-1]} ({overall.iloc[-1]:$fmt}).")
table
""",
        date=_lit(plan.date),
        max_lines=MAX_LINES,
        largest=largest,
        tail=tail,
        alias=_lit(alias),
        cat=_lit(plan.category),
        fill=fill,
        title=_lit(f"{_measure_label(plan)} per {period} by {plan.category}"),
        xlabel=_lit(period.capitalize()),
        ylabel=_lit(_measure_label(plan)),
        period=period,
        overall=overall,
        fmt=_value_format(plan),
    )


def _render_distribution(plan: Plan) -> str:
    if plan.measure is None:
        return _render_category_distribution(plan)
    if plan.category:
        return _fill(
            """
data = df.dropna(subset=[$measure])
# Overlay the $max_hist most frequent groups; more would be unreadable.
largest = data[$cat].value_counts().nlargest($max_hist).index
fig, ax = plt.subplots(figsize=(9, 5))
for name in largest:
    ax.hist(data.loc[data[$cat] == name, $measure], bins=30, alpha=0.5, label=str(name))
ax.set_title($title)
ax.set_xlabel($measure)
ax.set_ylabel("Rows")
ax.legend(title=$cat)

stats = data.groupby($cat)[$measure].describe()
label = $title
print(f"{label}:")
print(stats.round(2).to_string())
medians = stats["50%"].sort_values(ascending=False)
print(f"Highest median: {medians.index[0]} ({medians.iloc[0]:,.2f}).")
print(f"Lowest median: {medians.index[-1]} ({medians.iloc[-1]:,.2f}).")
stats
""",
            measure=_lit(plan.measure),
            cat=_lit(plan.category),
            max_hist=MAX_HISTOGRAMS,
            title=_lit(f"Distribution of {plan.measure} by {plan.category}"),
        )
    return _fill(
        """
values = df[$measure].dropna()
fig, ax = plt.subplots(figsize=(8, 5))
ax.hist(values, bins=30, edgecolor="white")
ax.set_title($title)
ax.set_xlabel($measure)
ax.set_ylabel("Rows")

stats = values.describe()
label = $title
print(f"{label} ({len(values):,} values):")
print(stats.to_string())
q1, median, q3 = values.quantile([0.25, 0.5, 0.75])
print(f"Median {median:,.2f}; half of the values lie between {q1:,.2f} and {q3:,.2f}.")
print(f"Skewness {values.skew():.2f} (0 = symmetric, above 0 = a long tail of high values).")
stats
""",
        measure=_lit(plan.measure),
        title=_lit(f"Distribution of {plan.measure}"),
    )


def _render_category_distribution(plan: Plan) -> str:
    return _fill(
        """
counts = df[$cat].value_counts(dropna=False)
shares = counts / counts.sum()
shown = counts.head($max_bars)
fig, ax = plt.subplots(figsize=(10, 5))
ax.bar(shown.index.astype(str), shown.values)
ax.set_title($title)
ax.set_xlabel($cat)
ax.set_ylabel("Rows")
ax.tick_params(axis="x", labelrotation=45)
fig.tight_layout()

result = pd.DataFrame({"rows": counts, "share": shares.round(3)})
label = $title
print(f"{label} ({len(counts)} values):")
print(result.to_string())
print(f"Most common: {counts.index[0]} ({shares.iloc[0]:.1%} of rows).")
result
""",
        cat=_lit(plan.category),
        max_bars=MAX_BARS,
        title=_lit(f"Distribution of {plan.category}"),
    )


def _render_correlation(plan: Plan) -> str:
    annotate = ""
    if len(plan.columns) <= MAX_CORRELATION_COLUMNS:
        annotate = """
for i in range(len(columns)):
    for j in range(len(columns)):
        ax.text(j, i, f"{corr.iat[i, j]:.2f}", ha="center", va="center", fontsize=8)"""
    return _fill(
        """
columns = $columns
corr = df[columns].corr()

fig, ax = plt.subplots(figsize=(7, 6))
image = ax.imshow(corr.values, cmap="coolwarm", vmin=-1, vmax=1)
fig.colorbar(image, ax=ax, label="Pearson correlation")
ax.set_xticks(range(len(columns)), labels=columns, rotation=45, ha="right")
ax.set_yticks(range(len(columns)), labels=columns)$annotate
ax.set_title("Correlation between numeric columns")
fig.tight_layout()

print("Correlation matrix (Pearson):")
print(corr.round(2).to_string())
pairs = corr.stack().dropna()
pairs = pairs[[left < right for left, right in pairs.index]]  # each pair once, no diagonal
if len(pairs):
    left, right = pairs.abs().idxmax()
    print(f"Strongest relationship: {left} and {right} (r = {corr.loc[left, right]:.2f}).")
corr
""",
        columns=_lit_list(plan.columns),
        annotate=annotate,
    )


def _render_comparison(plan: Plan) -> str:
    tail, _ = _aggregate(plan)
    script = _fill(
        """
values = df.groupby($cat, dropna=False)$tail.sort_values(ascending=False)
shown = values.head($max_bars)  # the largest groups; more bars would be unreadable
fig, ax = plt.subplots(figsize=(10, 5))
ax.bar(shown.index.astype(str), shown.values)
ax.set_title($title)
ax.set_xlabel($cat)
ax.set_ylabel($ylabel)
ax.tick_params(axis="x", labelrotation=45)
fig.tight_layout()

label = $title
print(f"{label} ({len(values)} groups):")
print(values.to_string())
print(f"Highest: {values.index[0]} ({values.iloc[0]:$fmt}).")
print(f"Lowest: {values.index[-1]} ({values.iloc[-1]:$fmt}).")
if len(values) > 1 and values.iloc[-1]:
    print(f"The highest is {values.iloc[0] / values.iloc[-1]:.1f}x the lowest.")
values.reset_index()
""",
        tail=tail,
        max_bars=MAX_BARS,
        title=_lit(f"{_measure_label(plan)} by {plan.category}"),
        cat=_lit(plan.category),
        ylabel=_lit(_measure_label(plan)),
        fmt=_value_format(plan),
    )
    return script


def _bar_chart(*, frame: str, x: str, y: str, ylabel: str) -> str:
    return _fill(
        """
chart_data = $frame
fig, ax = plt.subplots(figsize=(10, 5))
ax.bar(chart_data[$x].astype(str), chart_data[$y])
ax.set_title(label)
ax.set_xlabel($x)
ax.set_ylabel($ylabel)
ax.tick_params(axis="x", labelrotation=45)
fig.tight_layout()
""",
        frame=frame,
        x=_lit(x),
        y=_lit(y),
        ylabel=_lit(ylabel),
    )


_RENDERERS = {
    "describe": _render_describe,
    "count": _render_count,
    "group-by": _render_group_by,
    "top-n": _render_top_n,
    "trend": _render_trend,
    "distribution": _render_distribution,
    "correlation": _render_correlation,
    "comparison": _render_comparison,
}


def _no_dataset_script(*, query: str) -> str:
    return "\n".join(
        [
            HEADER.format(intent="no dataset selected"),
            f"# Question: {_one_line(text=query)}",
            "message = (",
            '    "No dataset is selected, so there is no data to answer this question with. "',
            '    "Select one or more datasets for this session and ask again; "',
            '    "the analysis code reads them read-only from /data/<file name>."',
            ")",
            "print(message)",
            "",
        ]
    )
