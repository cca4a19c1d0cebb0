"""The dataset profile keeps a category column's values (so "only Enterprise customers" can be read as a
filter), for CSV in the app and for XLSX/Parquet in the real sandbox; they reach a model's prompt only
where the dataset's owner shares sample rows."""

from __future__ import annotations

import subprocess

from django.conf import settings

from analysis.dataset_formats import caps, profile_in_sandbox
from analysis.datasets import MAX_CATEGORY_VALUES, profile_csv
from analysis.llm.base import DatasetContext, GenerationInput
from analysis.llm.prompt import build_messages

ROWS = [("Basic", "yes", f"C{n:03d}", n % 7) for n in range(40)] + [("Pro", "no", "C999", 3)]
CSV = (
    "plan_tier,churned,customer_id,calls\n" + "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in ROWS)
).encode()


def _columns(content: bytes) -> dict[str, dict]:
    _, columns = profile_csv(content, caps())
    return {c["name"]: c for c in columns}


def test_a_repeated_text_column_keeps_its_values_and_others_do_not():
    columns = _columns(CSV)

    assert columns["plan_tier"]["values"] == ["Basic", "Pro"]
    assert columns["churned"]["values"] == ["no", "yes"]
    assert "values" not in columns["customer_id"]  # one value per row: an identifier, not a category
    assert "values" not in columns["calls"]  # numbers are compared, not listed


def test_too_many_or_too_long_values_are_not_kept():
    many = "tier\n" + "".join(f"T{n}\nT{n}\n" for n in range(MAX_CATEGORY_VALUES + 1))
    long = "note\n" + ("x" * 61 + "\n") * 10

    assert "values" not in _columns(many.encode())["tier"]
    assert "values" not in _columns(long.encode())["note"]


def test_the_sandbox_profile_of_a_spreadsheet_keeps_the_same_values(tmp_path):
    path = tmp_path / "customers.xlsx"
    script = (
        "import pandas as pd\n"
        "df = pd.DataFrame({'plan_tier': ['Basic'] * 6 + ['Pro'] * 4, 'fee': range(10)})\n"
        f"df.to_excel({str(path)!r}, index=False)\n"
    )
    subprocess.run([str(settings.SANDBOX_RUNTIME_DIR / "bin" / "python"), "-c", script], check=True)

    profiled = profile_in_sandbox(name="customers.xlsx", host_path=str(path))
    columns = {c["name"]: c for c in profiled.profile.columns}

    assert columns["plan_tier"]["values"] == ["Basic", "Pro"]
    assert "values" not in columns["fee"]


def test_values_reach_the_prompt_only_where_sample_rows_are_shared():
    _, columns = profile_csv(CSV, caps())
    private = DatasetContext("churn.csv", "/data/churn.csv", len(ROWS), columns, sample_rows=None)
    shared = DatasetContext("churn.csv", "/data/churn.csv", len(ROWS), columns, sample_rows=[])

    hidden = build_messages(inp=GenerationInput(query="churn rate", datasets=[private]))[0]["content"]
    shown = build_messages(inp=GenerationInput(query="churn rate", datasets=[shared]))[0]["content"]

    assert "Basic" not in hidden and "plan_tier: object\n" in hidden
    assert "plan_tier: object (values: Basic, Pro)" in shown
