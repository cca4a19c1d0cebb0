"""What an uploaded data file is, whether we accept it, and what is in it (rows, columns, first rows).

CSV is read in the app with the csv module. XLSX, Parquet and JSON are binary or nested formats that need
pandas (with openpyxl/pyarrow), which lives only in the sandbox runtime; and they are untrusted files whose
parsers are large C/zip code paths. So they are profiled *inside the sandbox*: a fixed profiling script,
the file mounted read-only, no network, small limits. The app never parses them itself.

Both paths hold the same caps (settings `SANDGATE_DATASET_MAX_COLUMNS`, `_MAX_ROWS`, `_MAX_CELL_CHARS`, and
column names of at most `MAX_COLUMN_NAME_CHARS`), and JSON may nest at most `MAX_JSON_DEPTH` levels; a file
beyond one is refused with a message that says which (`_over_cap_message`).

The CSV profile runs in the upload's web request: the csv module's work grows with the bytes received,
which the size cap bounds (about 2 s for a 50 MB file here, under 5 s for the worst shape measured, 2,000
empty columns). XLSX and Parquet are compressed: a few hundred KB can unpack to gigabytes (a zip bomb), so
their profile runs in a worker (services/datasets.py), where the script refuses a file whose members or
row groups say they unpack to more than `SANDGATE_DATASET_MAX_EXPANDED_MB` before reading any of it, and
the sandbox's limits (`SANDGATE_PROFILE_*`) stop whatever else takes too long.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import PurePath
from typing import TYPE_CHECKING

from django.conf import settings

from .datasets import MAX_CATEGORY_VALUES, MAX_VALUE_CHARS, Caps, OverCap, profile_csv

if TYPE_CHECKING:
    from .sandboxes.base import Limits

PREVIEW_ROWS = 10
PREVIEW_CELL_CHARS = 100  # the first rows are a glimpse; a long value is cut there, with "…"
VALUES_BUDGET_CHARS = 100_000  # category values kept by the sandbox's profile, all columns together
MAX_COLUMN_NAME_CHARS = 255
# Tables need two or three levels; deeper is not a table, and Python's json recursion would fail at ~1000.
MAX_JSON_DEPTH = 64
FORMATS = {".csv": "CSV", ".xlsx": "Excel (XLSX)", ".parquet": "Parquet", ".json": "JSON"}
ACCEPTED = ", ".join(FORMATS)
_MAGIC = {".xlsx": b"PK\x03\x04", ".parquet": b"PAR1"}
# The profiling script, run in the sandbox. It refuses a file beyond the caps before reading all of it where
# the format allows (Parquet's metadata, XLSX's header row and at most rows + 1 rows), and always after.
_PROFILE_SCRIPT = """
import json
import pandas as pd
PATH, EXT = {path!r}, {ext!r}
MAX_COLUMNS, MAX_ROWS, MAX_CELL, MAX_NAME = {caps.columns}, {caps.rows}, {caps.cell_chars}, {caps.name_chars}
MAX_EXPANDED = {caps.expanded_bytes}
PREVIEW_ROWS, PREVIEW_CELL = {preview_rows}, {preview_cell}


def refuse(cap, limit, found=None, where=""):
    print(json.dumps({{"refused": {{"cap": cap, "limit": limit, "found": found, "where": where}}}}))
    raise SystemExit(0)


def check_width(count):
    if count > MAX_COLUMNS:
        refuse("columns", MAX_COLUMNS, found=count)


def check_expanded(size):
    if size > MAX_EXPANDED:
        refuse("expanded", MAX_EXPANDED, found=size)


if EXT == ".parquet":
    import pyarrow.parquet as pq
    meta = pq.ParquetFile(PATH).metadata
    check_width(meta.num_columns)
    if meta.num_rows > MAX_ROWS:
        refuse("rows", MAX_ROWS)
    check_expanded(sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)))
    df = pd.read_parquet(PATH)
elif EXT == ".xlsx":
    import zipfile
    # What each member says it unpacks to, before anything is unpacked; zipfile reads no byte past it.
    with zipfile.ZipFile(PATH) as archive:
        check_expanded(sum(member.file_size for member in archive.infolist()))
    check_width(len(pd.read_excel(PATH, engine="openpyxl", nrows=0).columns))
    df = pd.read_excel(PATH, engine="openpyxl", nrows=MAX_ROWS + 1)
else:
    df = pd.read_json(PATH)
check_width(len(df.columns))
if len(df) > MAX_ROWS:
    refuse("rows", MAX_ROWS)
for name in df.columns:
    if len(str(name)) > MAX_NAME:
        refuse("name", MAX_NAME, where=str(name)[:40])
for name in df.columns:
    values = df[name]
    if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
        longest = values.dropna().astype(str).str.len().max()
        if longest == longest and longest > MAX_CELL:  # NaN (no values) is not > anything
            refuse("cell", MAX_CELL, where="column " + str(name)[:40])


def glimpse(value):
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and len(value) > PREVIEW_CELL:
        return value[:PREVIEW_CELL] + "…"
    return value


# A category's values (at most MAX_VALUES, each repeated on average) go with its column, within a budget.
MAX_VALUES, MAX_VALUE, VALUES_BUDGET = {max_values}, {max_value_chars}, {values_budget}
budget = [VALUES_BUDGET]


def column(name, dtype):
    described = {{"name": str(name), "dtype": str(dtype)}}
    if dtype == object or str(dtype) in ("str", "string", "category", "bool"):
        values = df[name].dropna().astype(str).str.strip().unique()
        if 0 < len(values) <= MAX_VALUES and len(values) * 2 <= len(df):
            size = sum(map(len, values))
            if max(map(len, values)) <= MAX_VALUE and size <= budget[0]:
                budget[0] -= size
                described["values"] = sorted(values)
    return described


head = df.head(PREVIEW_ROWS)
preview = json.loads(head.to_json(orient="values", date_format="iso", default_handler=str))
print(json.dumps({{
    "row_count": int(len(df)),
    "columns": [column(c, t) for c, t in df.dtypes.items()],
    "preview": [[glimpse(v) for v in row] for row in preview],
}}))
"""
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def caps() -> Caps:
    return Caps(
        columns=settings.SANDGATE_DATASET_MAX_COLUMNS,
        rows=settings.SANDGATE_DATASET_MAX_ROWS,
        cell_chars=settings.SANDGATE_DATASET_MAX_CELL_CHARS,
        name_chars=MAX_COLUMN_NAME_CHARS,
        expanded_bytes=settings.SANDGATE_DATASET_MAX_EXPANDED_MB * 1024 * 1024,
    )


def needs_sandbox(name: str) -> bool:
    """Whether an upload is profiled by a worker in the sandbox (XLSX, Parquet, JSON) or in the app (CSV)."""
    return file_extension(name) != ".csv"


def _over_cap_message(*, name: str, cap: str, limit: int, found: int | None, where: str) -> str:
    """The one wording of every cap, for the CSV profiler's and the sandbox's refusals alike."""
    if cap == "columns":
        has = f" (it has {found:,})" if found else ""
        return f"“{name}” has more than {limit:,} columns{has}. Keep only the columns you need, or split it."
    if cap == "rows":
        return f"“{name}” has more than {limit:,} rows. Upload a sample or an aggregate of it."
    if cap == "name":
        long = f"a column name longer than {limit:,} characters (“{where}…”)"
        return f"“{name}” has {long}: is its first row a header?"
    if cap == "expanded":
        says = f" (it says {_megabytes(found)})" if found else ""
        return (
            f"“{name}” unpacks to more than {_megabytes(limit)}{says}; Sandgate profiles files that unpack "
            "to less. Upload a smaller file or a CSV export."
        )
    at = f" ({where})" if where else ""
    return f"“{name}” has a value longer than {limit:,} characters{at}."


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB"


@dataclass
class Profile:
    row_count: int
    columns: list[dict]
    preview: list[list] = field(default_factory=list)


@dataclass
class SandboxProfile:
    """What profiling one file in the sandbox gave: a profile, or the refusal in words for the analyst; and
    the sandbox time it took, which is priced like a run's."""

    profile: Profile | None
    refusal: str
    seconds: float
    backend: str
    memory_mb: int


def file_extension(name: str) -> str:
    return PurePath(name).suffix.lower()


def check_content(*, name: str, content: bytes) -> None:
    """Raise ValueError with a message for people when the bytes are not the format the name says."""
    ext = file_extension(name)
    if ext not in FORMATS:
        raise ValueError(f"Sandgate reads {ACCEPTED} files; “{name}” is not one of them.")
    if not content:
        raise ValueError("The file is empty.")
    magic = _MAGIC.get(ext)
    if magic and not content.startswith(magic):
        raise ValueError(f"“{name}” is not a real {FORMATS[ext]} file (its contents do not match the name).")
    if ext in (".csv", ".json"):
        _check_text(name=name, content=content, ext=ext)


def _check_text(*, name: str, content: bytes, ext: str) -> None:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(
            f"“{name}” is not UTF-8 text. In Excel use “Save as → CSV UTF-8”, or re-save it as UTF-8."
        ) from None
    if ext == ".json":
        too_deep = (
            f"“{name}” is nested more than {MAX_JSON_DEPTH} levels deep; Sandgate reads tables of data."
        )
        if json_depth(text) > MAX_JSON_DEPTH:
            raise ValueError(too_deep)
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"“{name}” is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
        except RecursionError:  # not reached after the depth check; a refusal, never a server error
            raise ValueError(too_deep) from None


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON text, without parsing it (parsing is what recurses).

    Strings are removed first (a bracket inside one does not count), then everything but brackets; the
    depth is the highest running count of opening minus closing brackets. All in C loops: about as
    long as json.loads takes (a second for 45 MB).
    """
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def profile_csv_upload(*, name: str, content: bytes) -> Profile:
    """Rows, columns with pandas-style dtypes, and the first rows of a CSV, in the app. Raises ValueError for
    unreadable files and files beyond a cap."""
    try:
        row_count, columns = profile_csv(content, caps())
    except OverCap as over:
        message = _over_cap_message(
            name=name, cap=over.cap, limit=over.limit, found=over.found, where=over.where
        )
        raise ValueError(message) from None
    return Profile(row_count=row_count, columns=columns, preview=csv_preview(content))


def csv_preview(content: bytes, rows: int = PREVIEW_ROWS) -> list[list]:
    text = content[:256_000].decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    return [[_glimpse(cell) for cell in row] for _, row in zip(range(rows), reader, strict=False)]


def _glimpse(cell: str) -> str:
    return cell[:PREVIEW_CELL_CHARS] + "…" if len(cell) > PREVIEW_CELL_CHARS else cell


def _output_bytes(limits: Caps) -> int:
    """Room on stdout for the largest profile the caps allow: every column's name and dtype, the categories'
    values (VALUES_BUDGET_CHARS characters in all), and the first rows of every column, each value at most
    PREVIEW_CELL_CHARS characters (+ "…"). json.dumps writes a character in at most 12 bytes (a character
    beyond the BMP as two `\\uXXXX` escapes)."""
    columns = limits.columns * (12 * limits.name_chars + 64)
    values = 12 * VALUES_BUDGET_CHARS + 4 * (VALUES_BUDGET_CHARS + limits.columns)
    preview = PREVIEW_ROWS * limits.columns * (12 * (PREVIEW_CELL_CHARS + 1) + 8)
    return 64_000 + columns + values + preview


def profiling_limits() -> Limits:
    """The sandbox limits of one profile (settings `SANDGATE_PROFILE_*`), with room on stdout for the
    largest profile the caps allow."""
    from .sandboxes import Limits

    return Limits(
        cpu_seconds=settings.SANDGATE_PROFILE_CPU_SECONDS,
        wall_seconds=settings.SANDGATE_PROFILE_WALL_SECONDS,
        memory_mb=settings.SANDGATE_PROFILE_MEMORY_MB,
        output_bytes=_output_bytes(caps()),
    )


def profile_in_sandbox(*, name: str, host_path: str) -> SandboxProfile:
    """Profile the file at `host_path` (a local copy of the upload) in the sandbox; never raises for a file
    the profile refuses or cannot read: that is the refusal, in words for the analyst."""
    from .sandboxes import get_sandbox
    from .sandboxes.base import DatasetMount

    ext = file_extension(name)
    script = _PROFILE_SCRIPT.format(
        path=f"/data/{name}",
        ext=ext,
        caps=caps(),
        preview_rows=PREVIEW_ROWS,
        preview_cell=PREVIEW_CELL_CHARS,
        max_values=MAX_CATEGORY_VALUES,
        max_value_chars=MAX_VALUE_CHARS,
        values_budget=VALUES_BUDGET_CHARS,
    )
    limits = profiling_limits()
    sandbox = get_sandbox()
    started = time.monotonic()
    # Our own fixed script, pinned by its hash like approved code; the upload is the untrusted part.
    result = sandbox.run(
        code=script,
        code_sha256=hashlib.sha256(script.encode("utf-8")).hexdigest(),
        datasets=[DatasetMount(name=name, host_path=host_path)],
        limits=limits,
    )
    seconds = (result.duration_ms or int((time.monotonic() - started) * 1000)) / 1000
    outcome = SandboxProfile(
        profile=None, refusal="", seconds=seconds, backend=sandbox.name, memory_mb=limits.memory_mb
    )
    try:
        outcome.profile = _read_profile(name=name, result=result)
    except ValueError as exc:
        outcome.refusal = str(exc)
    return outcome


def _read_profile(*, name: str, result) -> Profile:
    ext = file_extension(name)
    if not result.succeeded:
        raise ValueError(f"Sandgate could not read “{name}” as {FORMATS[ext]}: {_reason(result)}")
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise ValueError(
            f"Sandgate could not read “{name}” as {FORMATS[ext]}: its profile was cut short."
        ) from None
    if "refused" in data:
        raise ValueError(_over_cap_message(name=name, **data["refused"]))
    if not data["columns"]:
        raise ValueError(f"“{name}” has no columns.")
    return Profile(row_count=data["row_count"], columns=data["columns"], preview=data["preview"])


def _reason(result) -> str:
    if result.timed_out:
        return "reading it took too long."
    error = result.error or {}
    return f"{error.get('name', 'error')}: {str(error.get('value', ''))[:300]}"
