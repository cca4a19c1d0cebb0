"""What an uploaded data file is, whether we accept it, and what is in it (rows, columns, first rows).

CSV is read in the app with the csv module. XLSX, Parquet and JSON are binary or nested formats that need
pandas (with openpyxl/pyarrow), which lives only in the sandbox runtime; and they are untrusted files whose
parsers are large C/zip code paths. So they are profiled *inside the sandbox*: a fixed profiling script,
the file mounted read-only, no network, small limits. The app never parses them itself.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import PurePath

from .datasets import MAX_CATEGORY_VALUES, MAX_VALUE_CHARS, profile_csv

PREVIEW_ROWS = 10
FORMATS = {".csv": "CSV", ".xlsx": "Excel (XLSX)", ".parquet": "Parquet", ".json": "JSON"}
ACCEPTED = ", ".join(FORMATS)
_MAGIC = {".xlsx": b"PK\x03\x04", ".parquet": b"PAR1"}
_READERS = {
    ".xlsx": 'pd.read_excel(PATH, engine="openpyxl")',
    ".parquet": "pd.read_parquet(PATH)",
    ".json": "pd.read_json(PATH)",
}
_PROFILE_SCRIPT = """
import json
import pandas as pd
PATH = {path!r}
df = {reader}
head = df.head({rows})

def column(name, dtype):
    described = {{"name": str(name), "dtype": str(dtype)}}
    if dtype == object or str(dtype) in ("str", "string", "category", "bool"):
        values = df[name].dropna().astype(str).str.strip().unique()
        short = 0 < len(values) <= {max_values} and max(map(len, values)) <= {max_chars}
        if short and len(values) * 2 <= len(df):
            described["values"] = sorted(values)
    return described

print(json.dumps({{
    "row_count": int(len(df)),
    "columns": [column(c, t) for c, t in df.dtypes.items()],
    "preview": json.loads(head.to_json(orient="values", date_format="iso", default_handler=str)),
}}))
"""
_PROFILE_LIMITS = {"cpu_seconds": 30, "wall_seconds": 45, "memory_mb": 1024, "output_bytes": 200_000}


@dataclass
class Profile:
    row_count: int
    columns: list[dict]
    preview: list[list] = field(default_factory=list)


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
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"“{name}” is not valid JSON (line {exc.lineno}: {exc.msg}).") from None


def profile(*, name: str, content: bytes) -> Profile:
    """Rows, columns with pandas-style dtypes, and the first rows. Raises ValueError for unreadable files."""
    if file_extension(name) == ".csv":
        row_count, columns = profile_csv(content)
        return Profile(row_count=row_count, columns=columns, preview=csv_preview(content))
    return _profile_in_sandbox(name=name, content=content)


def csv_preview(content: bytes, rows: int = PREVIEW_ROWS) -> list[list]:
    text = content[:256_000].decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    return [row for _, row in zip(range(rows), reader, strict=False)]


def _profile_in_sandbox(*, name: str, content: bytes) -> Profile:
    from .sandboxes import Limits, get_sandbox
    from .sandboxes.base import DatasetMount

    ext = file_extension(name)
    script = _PROFILE_SCRIPT.format(
        path=f"/data/{name}",
        reader=_READERS[ext],
        rows=PREVIEW_ROWS,
        max_values=MAX_CATEGORY_VALUES,
        max_chars=MAX_VALUE_CHARS,
    )
    with tempfile.TemporaryDirectory(prefix="sandgate-profile-") as folder:
        host_path = os.path.join(folder, "upload" + ext)
        with open(host_path, "wb") as fh:
            fh.write(content)
        # Our own fixed script, pinned by its hash like approved code; the upload is the untrusted part.
        result = get_sandbox().run(
            code=script,
            code_sha256=hashlib.sha256(script.encode("utf-8")).hexdigest(),
            datasets=[DatasetMount(name=name, host_path=host_path)],
            limits=Limits(**_PROFILE_LIMITS),
        )
    if not result.succeeded:
        raise ValueError(f"Sandgate could not read “{name}” as {FORMATS[ext]}: {_reason(result)}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    if not data["columns"]:
        raise ValueError(f"“{name}” has no columns.")
    return Profile(row_count=data["row_count"], columns=data["columns"], preview=data["preview"])


def _reason(result) -> str:
    if result.timed_out:
        return "reading it took too long."
    error = result.error or {}
    return f"{error.get('name', 'error')}: {str(error.get('value', ''))[:300]}"
