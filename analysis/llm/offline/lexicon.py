"""A question as a list of items: the columns, values, numbers, keywords and nouns it mentions.

At each position the longest phrase wins; among phrases of the same length, a column or value named
exactly as written beats a keyword, which beats a column matched by its stem or one word of its name.
Whatever matches nothing and is not a stop word is kept as `unknown`: the parser refuses to guess it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .schema import GENERIC, LINK_WORDS, Column, Schema, value_tokens
from .words import (
    MONTHS,
    NEGATING_PREFIXES,
    NUMBER_WORDS,
    STOPWORDS,
    SUPERLATIVE_MEASURES,
    UNITS,
    Token,
    canonical,
    related,
    stem,
)

# Phrase (lower-case words) → keyword. Single words also match by their stem ("charts" → chart).
KEYWORDS: dict[tuple[str, ...], str] = {}


def _add(kind: str, *phrases: str) -> None:
    for phrase in phrases:
        KEYWORDS[tuple(phrase.split())] = kind


_add(
    "count",
    "headcount",
    "how many",
    "number of",
    "count",
    "count of",
    "counts",
    "volume",
    "volume of",
    "tally",
)
_add("frequent", "most common", "most frequent", "most popular", "least common", "least frequent")
_add("sum", "total", "sum", "sum of", "altogether", "in total")
_add("mean", "average", "avg", "mean", "typical", "on average")
_add("median", "median")
# "maximum weight per plant" is each plant's maximum; "the highest weight per plant" ranks the plants.
_add("min", "minimum", "min")
_add("max", "maximum", "max")
_add("least", "lowest", "smallest", "shortest", "least", "fewest", "cheapest", "worst")
_add("most", "highest", "largest", "biggest", "longest", "greatest", "most", "best", "most expensive")
_add("top", "top", "leading")
_add("bottom", "bottom")
_add("distinct", "distinct", "unique", "different")
_add(
    "share",
    "share",
    "share of",
    "percentage",
    "percentage of",
    "proportion",
    "proportion of",
    "fraction",
    "fraction of",
    "percent of",
    "what percent",
)
_add("rate", "rate")
_add(
    "by",
    "by",
    "across",
    "broken down by",
    "break down by",
    "breakdown by",
    "split by",
    "grouped by",
    "group by",
    "for every",
    "by each",
)
_add("per", "per", "a")
_add("each", "each", "every", "for each", "in each", "for every", "of each")
_add("grain:D", "daily", "day by day")
_add("grain:W", "weekly", "week by week")
_add("grain:M", "monthly", "month by month")
_add("grain:Q", "quarterly")
_add("grain:Y", "yearly", "annual", "annually")
_add("period:D", "day", "days", "date")
_add("period:W", "week", "weeks")
_add("period:M", "month", "months")
_add("period:Q", "quarter", "quarters")
_add("period:Y", "year", "years")
_add(
    "trend",
    "trend",
    "trends",
    "over time",
    "evolution",
    "timeline",
    "time series",
    "trending",
    "through time",
    "history",
    "development",
    "increasing",
    "decreasing",
    "declining",
    "rising",
    "falling",
)
_add(
    "yoy",
    "year over year",
    "year on year",
    "yoy",
    "vs last year",
    "versus last year",
    "compared to last year",
    "compared with last year",
)
_add("growth", "growth", "change", "grew", "growing", "increase", "decrease", "going up", "going down")
_add(
    "chart",
    "chart",
    "plot",
    "graph",
    "visualise",
    "visualize",
    "visualisation",
    "visualization",
    "draw",
    "diagram",
    "figure",
)
_add("chart:pie", "pie", "pie chart", "donut")
_add("chart:bar", "bar", "bars", "bar chart", "column chart", "barchart")
_add("chart:line", "line", "line chart", "line graph")
_add("chart:hist", "histogram", "histograms")
_add("chart:scatter", "scatter", "scatter plot", "scatterplot", "scatter chart")
_add("compare", "compare", "comparison", "comparing", "compared")
_add("vs", "vs", "versus", "against", "compared to", "compared with")
_add("list", "list", "which ones", "names of", "show the rows", "list all")
_add("which", "which", "what")
_add(
    "describe",
    "describe",
    "summary",
    "summarise",
    "summarize",
    "overview",
    "profile",
    "explore",
    "columns",
    "statistics",
    "stats",
    "descriptive statistics",
    "summary statistics",
)
_add(
    "correlation",
    "correlation",
    "correlations",
    "correlate",
    "correlated",
    "relationship",
    "relation",
    "related",
    "association",
    "associated",
)
_add("distribution", "distribution", "distributed", "spread", "histogram of", "distribution of")
_add(
    ">",
    "more than",
    "greater than",
    "higher than",
    "larger than",
    "bigger than",
    "above",
    "over",
    "exceeding",
    "exceeds",
    "exceed",
    "longer than",
    "older than",
    "heavier than",
    "pricier than",
    "more expensive than",
    "at least more than",
)
_add(">=", "at least", "or more", "minimum of", "no less than", "not less than")
_add(
    "<",
    "less than",
    "fewer than",
    "lower than",
    "smaller than",
    "below",
    "under",
    "shorter than",
    "younger than",
    "lighter than",
    "cheaper than",
    "beneath",
)
_add("<=", "at most", "or less", "or fewer", "maximum of", "no more than", "not more than", "up to")
_add("==", "equal to", "equals", "exactly", "equal")
_add("between", "between")
_add(
    "not",
    "not",
    "non",
    "without",
    "except",
    "excluding",
    "other than",
    "didnt",
    "dont",
    "doesnt",
    "isnt",
    "arent",
    "wasnt",
    "werent",
    "never",
    "no longer",
    "havent",
    "hasnt",
)
_add("only", "only", "just", "solely", "exclusively", "filtered to", "limited to", "restricted to")
_add("*", "times", "multiplied by", "x")
_add("-", "minus", "less", "subtract", "subtracted")
_add("+", "plus", "added to")
_add("/", "divided by")
_add(
    "future",
    "will",
    "tomorrow",
    "next",
    "forecast",
    "forecasts",
    "predict",
    "prediction",
    "predicted",
    "projected",
    "projection",
    "future",
    "going to",
)
_add(
    "relative",
    "last year",
    "this year",
    "last month",
    "this month",
    "last week",
    "this week",
    "last quarter",
    "this quarter",
    "recent",
    "recently",
    "ago",
    "yesterday",
    "today",
    "lately",
    "previous year",
    "previous month",
)
_add("instead", "instead", "rather", "switch to", "change to")
_add("ratio", "ratio", "ratio of")
_add("in", "in", "during", "for", "of", "within", "from")
_add("since", "since", "after", "from")
_add("before", "before", "until", "till", "prior to")
_add("and", "and", "&", "or")
_add("who", "who", "that", "which are", "that are", "who are", "whose", "where", "with", "having", "whom")
_add("status", "status", "flag", "indicator")
_add(
    "followup",
    "now",
    "what about",
    "how about",
    "and now",
    "same for",
    "same but",
    "make it",
    "show it",
    "as a",
    "as an",
    "do it",
    "redo",
)

# Keywords that are also ordinary little words: they only count when the parser asks for them.
SOFT = frozenset({"in", "and", "who", "per", "status", "followup", "which", "between", "since", "before"})


@dataclass
class Item:
    kind: str  # column | value | number | keyword | noun | dataset | month | quarter | punct | stop | unknown
    start: int
    end: int  # exclusive, in tokens
    text: str
    keyword: str = ""
    columns: tuple[Column, ...] = ()  # a column mention: its candidates, best first
    exact: bool = False  # the whole name (without its unit) was written
    value: str = ""  # a category value, as stored
    number: float | None = None
    unit: str | None = None
    id_column: Column | None = None  # a noun naming what an id column identifies
    used: bool = False
    notes: dict = field(default_factory=dict)

    @property
    def column(self) -> Column:
        return self.columns[0]


def lex(tokens: list[Token], schema: Schema, dataset_names: list[str]) -> list[Item]:
    items: list[Item] = []
    index = 0
    while index < len(tokens):
        item = _best_at(tokens, index, schema, dataset_names)
        items.append(item)
        index = item.end
    return items


def _best_at(tokens: list[Token], index: int, schema: Schema, dataset_names: list[str]) -> Item:
    token = tokens[index]
    if token.punctuation:
        unit = UNITS.get(token.text)
        if unit:
            return Item("unit", index, index + 1, token.text, unit=unit)
        return Item("punct", index, index + 1, token.text)
    if token.number is not None:
        return Item("number", index, index + 1, token.text, number=token.number)
    candidates: list[tuple[int, float, Item]] = []  # (length, priority, item)
    candidates += _dataset_matches(tokens, index, dataset_names)
    candidates += _column_matches(tokens, index, schema)
    candidates += _value_matches(tokens, index, schema)
    candidates += _keyword_matches(tokens, index)
    if not candidates:
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        return _single_word(token, index, schema, following)
    length, priority = max((c[0], c[1]) for c in candidates)
    best = [c[2] for c in candidates if (c[0], c[1]) == (length, priority)]
    if len(best) > 1 and best[0].kind == "column":
        merged = best[0]
        merged.columns = tuple(dict.fromkeys(col for item in best for col in item.columns))
        ids = [c for c in merged.columns if c.role == "id"]
        if len(ids) == 1 and all(c.role in ("id", "date") for c in merged.columns):
            # "orders" next to order_id and order_date: the things the rows are about, not a date
            return Item("noun", merged.start, merged.end, merged.text, id_column=ids[0])
        return merged
    chosen = best[0]
    if chosen.kind == "column" and chosen.column.role == "date":
        # "shipped" names shipped_on and the state "Shipped": the reading decides by the rest of the question
        values = [c[2] for c in candidates if c[2].kind == "value" and c[2].end == chosen.end]
        if values:
            chosen.notes["value"] = values[0]
    return chosen


def _dataset_matches(tokens, index, names) -> list:
    found = []
    for name in names:
        words = tuple(name.split())  # as written: "customers churned" is not the file customers_churn
        span = tuple(t.word for t in tokens[index : index + len(words)])
        if words and span == words:
            # "in sales.csv" names the file; elsewhere a column named by its stem wins ("total sales")
            after_in = index > 0 and tokens[index - 1].word in ("in", "from")
            priority = 5.0 if after_in else 2.9
            found.append((len(words), priority, Item("dataset", index, index + len(words), name)))
    return found


def _column_matches(tokens: list[Token], index: int, schema: Schema) -> list:
    found = []
    for column in schema.columns:
        words = column.words
        # The whole name (its unit optional), possibly with a time word for a duration: "resolution time".
        for length in range(len(words), 0, -1):
            for offset in range(0, len(words) - length + 1):
                part = words[offset : offset + length]
                span = tokens[index : index + length]
                if len(span) < length or not all(_same(t, w) for t, w in zip(span, part, strict=True)):
                    continue
                whole = length == len(words)
                if not whole and all(w in GENERIC or w in LINK_WORDS for w in part):
                    continue
                exact = all(t.word == s for t, s in zip(span, column.surface[offset:], strict=False))
                # All of the name that says anything, as written: "opened" is opened_at (not the value
                # "Open"), "signup" is signup_date.
                distinctive = tuple(w for w in words if w not in GENERIC and w not in LINK_WORDS)
                whole = whole or (exact and part == distinctive)
                synonym = not all(t.stem == s for t, s in zip(span, column.surface[offset:], strict=False))
                end = index + length
                end = _unit_suffix(tokens, end, column)
                priority = (4.0 if exact else 3.0) if whole else (1.6 if exact and offset == 0 else 1.4)
                item = Item("column", index, end, _text(tokens, index, end), columns=(column,), exact=whole)
                item.notes["synonym"] = synonym and not exact  # "sales" for revenue: maybe the rows
                item.notes["word"] = span[0].stem
                found.append((end - index, priority, item))
                break
            else:
                continue
            break
    found += _related_matches(tokens, index, schema, found)
    return found


def _related_matches(tokens, index, schema, found) -> list:
    """Weakest: one word of the same family as a distinctive word of the name (resolve → resolution)."""
    if found:
        return []
    token = tokens[index]
    if token.word in STOPWORDS or token.word in GENERIC or len(token.word) < 5:
        return []
    out = []
    for column in schema.columns:
        if any(related(token.stem, w) for w in column.words if w not in GENERIC):
            out.append((1, 1.0, Item("column", index, index + 1, token.text, columns=(column,))))
    return out


def _same(token: Token, word: str) -> bool:
    return word in (canonical(token.stem), canonical(token.word)) or bool(token.alt and token.alt == word)


def _unit_suffix(tokens: list[Token], end: int, column: Column) -> int:
    """Swallow the unit written after a column: "unit cost in euros", "tenure (months)", "resolution time"."""
    rest = [t.word for t in tokens[end : end + 3]]
    if column.unit in ("hours", "days", "minutes", "seconds") and rest[:1] in (["time"], ["duration"]):
        return end + 1
    if column.unit and rest[:1] == [column.unit]:
        return end + 1
    if column.unit and rest[:1] in (["in"], ["("]) and len(rest) > 1 and UNITS.get(rest[1]) == column.unit:
        return end + (3 if rest[:1] == ["("] and rest[2:3] == [")"] else 2)
    if column.unit and UNITS.get(rest[0] if rest else "") == column.unit:
        return end + 1
    return end


def _value_matches(tokens: list[Token], index: int, schema: Schema) -> list:
    found = []
    for column in schema.having("category"):
        for value in column.values:
            words = value_tokens(value)
            span = tokens[index : index + len(words)]
            if not words or len(span) < len(words):
                continue
            if all(t.stem == w for t, w in zip(span, words, strict=True)):
                exact = " ".join(t.word for t in span) == value.lower()
                item = Item("value", index, index + len(words), value, columns=(column,), value=value)
                found.append((len(words), 3.5 if exact else 2.5, item))
    return found


def _keyword_matches(tokens: list[Token], index: int) -> list:
    found = []
    for phrase, kind in KEYWORDS.items():
        span = tokens[index : index + len(phrase)]
        if len(span) < len(phrase):
            continue
        if all(
            t.word == w or (len(phrase) == 1 and t.stem == stem(w)) for t, w in zip(span, phrase, strict=True)
        ):
            item = Item("keyword", index, index + len(phrase), _text(tokens, index, index + len(phrase)),
                        keyword=kind)  # fmt: skip
            found.append((len(phrase), 2.0, item))
    return found


def _single_word(token: Token, index: int, schema: Schema, following: Token | None) -> Item:
    year_next = following is not None and following.number is not None
    if token.word in MONTHS and (token.word != "may" or year_next):
        return Item("month", index, index + 1, token.text, number=MONTHS[token.word])
    if len(token.word) == 2 and token.word[0] == "q" and token.word[1] in "1234":
        return Item("quarter", index, index + 1, token.text, number=int(token.word[1]))
    if token.word in NUMBER_WORDS:
        return Item("number", index, index + 1, token.text, number=NUMBER_WORDS[token.word])
    if token.word in UNITS:
        return Item("unit", index, index + 1, token.text, unit=UNITS[token.word])
    if token.word in SUPERLATIVE_MEASURES:
        return Item("superlative", index, index + 1, token.text, keyword=token.word)
    for prefix in NEGATING_PREFIXES:
        rest = token.word[len(prefix) :].lstrip("-")
        flags = [
            c for c in schema.having("flag") if token.word.startswith(prefix) and c.words == (stem(rest),)
        ]
        if len(flags) == 1:
            return Item("column", index, index + 1, token.text, columns=(flags[0],), notes={"negated": True})
    if token.stem in schema.nouns:
        return Item("noun", index, index + 1, token.text, id_column=schema.id_for(token.stem))
    id_column = schema.id_for(token.stem)
    if id_column is not None:
        return Item("noun", index, index + 1, token.text, id_column=id_column)
    if token.word in STOPWORDS:
        return Item("stop", index, index + 1, token.text)
    return Item("unknown", index, index + 1, token.text)


def _text(tokens: list[Token], start: int, end: int) -> str:
    return " ".join(t.text for t in tokens[start:end])
