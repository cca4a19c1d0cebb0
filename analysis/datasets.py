"""Reading enough of an uploaded file to describe it: row count, column names and pandas-style dtypes.

The app does not import pandas (it lives only in the sandbox runtime); CSV is profiled with the csv module.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

SAMPLE_ROWS_FOR_TYPES = 2000
# A text column with at most this many distinct values (each repeated on average) is a category: its
# values are kept with the column, so the offline generator can read "only Enterprise customers" as a
# filter on the column that holds "Enterprise". They are not put in a model's prompt (llm/prompt.py).
MAX_CATEGORY_VALUES = 30
MAX_VALUE_CHARS = 60


@dataclass(frozen=True)
class Caps:
    """How big an accepted dataset may be (settings; see dataset_formats.caps)."""

    columns: int
    rows: int
    cell_chars: int
    name_chars: int
    expanded_bytes: int = 0  # what an XLSX or Parquet file may unpack to (checked by the sandbox profile)


class OverCap(ValueError):
    """A file beyond a cap (`cap`: "columns", "rows", "cell" or "name"); dataset_formats words the message."""

    def __init__(self, cap: str, limit: int, *, found: int | None = None, where: str = ""):
        super().__init__(cap, limit, found, where)
        self.cap, self.limit, self.found, self.where = cap, limit, found, where


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            parse(value)
        except ValueError:
            continue
        return True
    return False


_CHECKS = (("int64", _is_int), ("float64", _is_float), ("datetime64[ns]", _is_datetime))


def infer_dtype(values: list[str]) -> str:
    present = [v for v in values if v != ""]
    if not present:
        return "object"
    if all(v.lower() in ("true", "false") for v in present):
        return "bool"
    for dtype, check in _CHECKS:
        if all(check(v) for v in present):
            return dtype
    return "object"


def profile_csv(content: bytes, caps: Caps) -> tuple[int, list[dict]]:
    """Return (row_count, [{"name", "dtype"[, "values"]}]). Raises ValueError for files that are not CSV
    text, and OverCap as soon as the file is wider, longer or has a longer value than the caps allow.

    `values` lists a category column's distinct values (see MAX_CATEGORY_VALUES).
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError("The file is not UTF-8 text.") from exc
    reader = csv.reader(io.StringIO(text))
    try:
        return _profile_rows(reader, caps)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):  # the csv module's own cap on one value
            limit = min(caps.cell_chars, csv.field_size_limit())
            raise OverCap("cell", limit, where=f"line {reader.line_num}") from None
        raise ValueError(f"The file is not CSV we can read (line {reader.line_num}: {exc}).") from None


def _profile_rows(reader, caps: Caps) -> tuple[int, list[dict]]:
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise ValueError("The file has no header row.")
    _check_row(header, caps, line=1)  # before anything is kept per column: a wide file is refused at once
    for name in header:
        if len(name.strip()) > caps.name_chars:
            raise OverCap("name", caps.name_chars, where=name.strip()[:40])
    samples: list[list[str]] = [[] for _ in header]
    distinct: list[set[str] | None] = [set() for _ in header]  # None once a column has too many
    row_count = 0
    for row in reader:
        row_count += 1
        if row_count > caps.rows:
            raise OverCap("rows", caps.rows)
        _check_row(row, caps, line=reader.line_num)
        for i, cell in enumerate(row[: len(header)]):
            cell = cell.strip()
            if row_count <= SAMPLE_ROWS_FOR_TYPES:
                samples[i].append(cell)
            seen = distinct[i]
            if seen is not None and cell and cell not in seen:
                seen.add(cell)
                if len(seen) > MAX_CATEGORY_VALUES or len(cell) > MAX_VALUE_CHARS:
                    distinct[i] = None
    columns = []
    for name, values, seen in zip(header, samples, distinct, strict=True):
        column = {"name": name.strip(), "dtype": infer_dtype(values)}
        if column["dtype"] in ("object", "bool") and seen and len(seen) * 2 <= row_count:
            column["values"] = sorted(seen)
        columns.append(column)
    return row_count, columns


def _check_row(row: list[str], caps: Caps, *, line: int) -> None:
    if len(row) > caps.columns:
        raise OverCap("columns", caps.columns, found=len(row), where=f"line {line}")
    if row and max(map(len, row)) > caps.cell_chars:
        raise OverCap("cell", caps.cell_chars, where=f"line {line}")
