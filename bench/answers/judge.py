"""Reading a run's printed output and deciding whether it answers the question.

The rule, the same for every generator (the offline rules and Mistral alike):

* Numbers are read from the printed text as written: thousands separators allowed, an optional sign,
  decimals and exponent, and a trailing `%`. A printed number equals an expected one when it is within
  half a unit of its own last printed digit (so 1,234.6 stands for 1234.56) or within 0.1 % of it.
  Rates and shares (`percent=True`) may be printed as a fraction (0.234) or as a percentage (23.4 or 23.4%).
* `Number`: a single answer. It must be printed on one of the last three non-empty lines, the place a
  final answer line goes, so a number that happens to appear in an earlier table does not count.
* `Table`: every expected row must be printed on one line that holds all of its labels (whole words,
  case-insensitive; a label may have alternative spellings, e.g. "2024-01" or "Jan 2024") and all of its
  values. `ordered` rankings must be printed in the expected order.
* `Winner`: "which X has the most Y": the winning label and its value on one of the last three lines.
* `Labels`: a list of rows: every expected identifier printed, and none of the identifiers that the
  question's filter excludes.
* `Mentions`: numbers that must appear somewhere (e.g. the median of a distribution).
* `ChartOnly`: the run succeeded and drew the requested kind of chart; nothing else is compared.
* `Refusal`: the data cannot answer the question; the right outcome is that no code is written.
* A `chart` on a question ("pie", "bar", "line", "hist", "scatter") must be drawn by the code: a call of
  that matplotlib or pandas plotting method (`pie`, `bar`/`barh`, `plot`, `hist`, `scatter`) in the code,
  and at least one figure in the run's results.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

Label = str | tuple[str, ...]  # one spelling, or alternatives

_NUMBER = re.compile(r"(?<![\w.])(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?)(%?)(?![\w-]|\.\d)")


@dataclass(frozen=True)
class Number:
    value: float
    percent: bool = False


@dataclass(frozen=True)
class Table:
    rows: dict[tuple[Label, ...], tuple[float, ...]]
    percent: bool = False
    ordered: bool = False


@dataclass(frozen=True)
class Winner:
    label: Label
    value: float
    percent: bool = False


@dataclass(frozen=True)
class Labels:
    expected: frozenset[str]
    excluded: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Mentions:
    values: tuple[float, ...]


@dataclass(frozen=True)
class ChartOnly:
    pass


@dataclass(frozen=True)
class Refusal:
    pass


Expectation = Number | Table | Winner | Labels | Mentions | ChartOnly | Refusal


@dataclass(frozen=True)
class Printed:
    value: float
    unit: float  # half a unit of the last printed digit
    percent_sign: bool


def numbers_in(line: str) -> list[Printed]:
    found = []
    for match in _NUMBER.finditer(line):
        text, sign = match.group(1), match.group(2)
        digits = text.replace(",", "")
        mantissa, _, exponent = digits.lower().partition("e")
        decimals = len(mantissa.partition(".")[2])
        scale = 10 ** int(exponent) if exponent else 1
        found.append(Printed(float(digits), 0.5 * 10**-decimals * scale, bool(sign)))
    return found


def _close(printed: float, unit: float, expected: float) -> bool:
    return abs(printed - expected) <= unit + 1e-9 or abs(printed - expected) <= 0.001 * abs(expected)


def matches(printed: Printed, expected: float, *, percent: bool) -> bool:
    if printed.percent_sign:
        if not percent:
            return False
        return _close(printed.value, printed.unit, expected * 100)
    if _close(printed.value, printed.unit, expected):
        return True
    return percent and _close(printed.value, printed.unit, expected * 100)


def _has_value(line: str, expected: float, *, percent: bool) -> bool:
    return any(matches(p, expected, percent=percent) for p in numbers_in(line))


def _label_pattern(label: Label) -> re.Pattern[str]:
    spellings = (label,) if isinstance(label, str) else label
    alternatives = "|".join(re.escape(s) for s in spellings)
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def _lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.strip()]


def answer_is_right(expectation: Expectation, stdout: str) -> bool:
    lines = _lines(stdout)
    last = lines[-3:]
    if isinstance(expectation, Number):
        return any(_has_value(line, expectation.value, percent=expectation.percent) for line in last)
    if isinstance(expectation, Winner):
        pattern = _label_pattern(expectation.label)
        return any(
            pattern.search(line) and _has_value(line, expectation.value, percent=expectation.percent)
            for line in last
        )
    if isinstance(expectation, Table):
        return _table_is_printed(expectation, lines)
    if isinstance(expectation, Labels):
        text = "\n".join(lines)
        printed = {
            label
            for label in expectation.expected | expectation.excluded
            if _label_pattern(label).search(text)
        }
        return expectation.expected <= printed and not (printed & expectation.excluded)
    if isinstance(expectation, Mentions):
        return all(any(_has_value(line, v, percent=False) for line in lines) for v in expectation.values)
    if isinstance(expectation, ChartOnly):
        return True
    raise TypeError(f"not an answer to compare: {expectation!r}")


def _table_is_printed(table: Table, lines: list[str]) -> bool:
    previous = -1
    for labels, values in table.rows.items():
        patterns = [_label_pattern(label) for label in labels]
        found = [
            index
            for index, line in enumerate(lines)
            if all(p.search(line) for p in patterns)
            and all(_has_value(line, v, percent=table.percent) for v in values)
        ]
        if not found:
            return False
        if table.ordered:
            later = [index for index in found if index > previous]
            if not later:
                return False
            previous = later[0]
    return True


_CHART_CALLS = {
    "pie": {"pie"},
    "bar": {"bar", "barh"},
    "line": {"plot", "line"},
    "hist": {"hist"},
    "scatter": {"scatter"},
}


def draws(code: str, chart: str) -> bool:
    """The code calls the plotting method of this kind of chart (matplotlib or pandas' .plot.<kind>)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    names = _CHART_CALLS[chart]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            kind = next((k.value for k in node.keywords if k.arg == "kind"), None)
            if isinstance(kind, ast.Constant):  # pandas: df.plot(kind="pie")
                if kind.value in names:
                    return True
                continue
            if isinstance(func, ast.Attribute) and func.attr in names:
                return True
    return False
