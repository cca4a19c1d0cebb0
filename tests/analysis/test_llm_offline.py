"""The offline generator: intents, column choice, and the generated code run for real.

Generated scripts run with the sandbox's own Python (pandas, matplotlib) against real files in a
temporary directory; DatasetContext.path points at those files, exactly as it points at
/data/<name> in the sandbox. To keep the suite fast, one harness process per dataset runs its
scripts one after another, each in a fresh namespace with its own stdout, warnings and figures;
the headline question also runs as a plain standalone script.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import random
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from analysis.llm import get_generator
from analysis.llm.base import DatasetContext, GenerationInput, GenerationOutput
from analysis.llm.offline import OfflineGenerator

REGIONS = ["North", "South", "East", "West"]
PRODUCTS = ["Widget", "Gadget", "Gizmo", "Sprocket", "Doohickey", "Flange"]
STORES = ["Harbour", "Market St", "Old Town", "Airport", "Riverside"]
CATEGORIES = ["Grocery", "Clothing", "Electronics", "Garden"]
SALES_ROWS = 1200
STORE_ROWS = 1500

SALES_COLUMNS = [
    {"name": "date", "dtype": "str"},  # text in the CSV; the generated code parses it
    {"name": "region", "dtype": "str"},
    {"name": "product", "dtype": "str"},
    {"name": "units", "dtype": "int64"},
    {"name": "revenue", "dtype": "float64"},
]
STORE_COLUMNS = [
    {"name": "day", "dtype": "datetime64[ns]"},
    {"name": "store", "dtype": "object"},
    {"name": "category", "dtype": "category"},
    {"name": "sales_amount", "dtype": "float64"},
    {"name": "visits", "dtype": "int64"},
]

# Runs every script of one dataset in a fresh namespace and reports what a sandbox would see.
HARNESS = r"""
import contextlib, io, json, runpy, sys, traceback, warnings
import matplotlib.pyplot as plt

report = {}
for path in sys.argv[1:]:
    plt.close("all")
    out = io.StringIO()
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(out):
                runpy.run_path(path, run_name="__main__")
        except BaseException:  # SystemExit included: a script must simply finish
            error = traceback.format_exc()
    figures = [plt.figure(number) for number in plt.get_fignums()]
    report[path] = {
        "stdout": out.getvalue(),
        "error": error,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "figures": len(figures),
        "lines": sum(len(ax.get_lines()) for fig in figures for ax in fig.axes),
        "bars": sum(len(ax.patches) for fig in figures for ax in fig.axes),
        "images": sum(len(ax.images) for fig in figures for ax in fig.axes),
        "legend": [t.get_text() for fig in figures for ax in fig.axes if ax.get_legend()
                   for t in ax.get_legend().get_texts()],
    }
print(json.dumps(report))
"""


@dataclass(frozen=True)
class Case:
    dataset: str
    question: str
    intent: str
    expected: tuple[str, ...]  # fragments the printed answer must contain
    figure: bool = False
    lines: int | None = None  # plotted lines, when the chart shape matters
    bars: int | None = None


CASES = [
    # The demo-like sales CSV.
    Case(
        "sales", "Give me a summary of the data", "describe", ("1,200 rows x 5 columns", "revenue", "region")
    ),
    Case("sales", "How many rows are there?", "count", ("1,200 rows",)),
    Case("sales", "count the orders per region", "count", ("Rows per region", "North", "Most rows:")),
    Case("sales", "total revenue by region", "group-by", ("Total revenue by region", "Highest:", "West")),
    Case("sales", "top 5 products by revenue", "top-n", ("Top 5 by total revenue", "#1:")),
    Case("sales", "monthly revenue", "trend", ("Total revenue per month", "24 months", "Peak:"), True, 1),
    Case(
        "sales",
        "plot monthly revenue by region",
        "trend",
        ("Total revenue per month by region", *REGIONS),
        True,
        lines=4,
    ),
    Case(
        "sales",
        "show the distribution of revenue",
        "distribution",
        ("Distribution of revenue", "Median"),
        True,
    ),
    Case(
        "sales",
        "is there a correlation between units and revenue?",
        "correlation",
        ("Correlation matrix", "Strongest relationship: revenue and units"),
        True,
    ),
    Case(
        "sales",
        "compare revenue across regions",
        "comparison",
        ("Total revenue by region", "Lowest:"),
        True,
        bars=4,
    ),
    Case("sales", "what is the meaning of life?", "describe", ("1,200 rows",)),
    # A differently shaped dataset, as parquet: other names, a real datetime column, a category dtype.
    Case("stores", "total sales by store", "group-by", ("Total sales_amount by store", *STORES)),
    Case("stores", "weekly visits over time", "trend", ("Total visits per week", "Peak:"), True, lines=1),
    Case(
        "stores",
        "average sales amount per category",
        "group-by",
        ("Average sales_amount by category", "Garden"),
    ),
    Case("stores", "top 3 stores by visits", "top-n", ("Top 3 by total visits (grouped by store)", "#1:")),
    Case("stores", "histogram of visits", "distribution", ("Distribution of visits", "Skewness"), True),
    Case("stores", "correlation heatmap", "correlation", ("sales_amount", "visits", "Strongest"), True),
    Case(
        "stores", "bar chart of visits by category", "comparison", ("Total visits by category",), True, bars=4
    ),
    Case("stores", "sales trend per store", "trend", ("per month by store", *STORES), True, lines=5),
    Case(
        "stores", "how many visits per day on average?", "trend", ("Average visits per day",), True, lines=1
    ),
    # The same data as an Excel workbook.
    Case("stores_xlsx", "describe this dataset", "describe", ("1,500 rows x 5 columns", "sales_amount")),
    Case(
        "stores_xlsx",
        "plot sales by category",
        "comparison",
        ("Total sales_amount by category",),
        True,
        bars=4,
    ),
]


def _case_id(case: Case) -> str:
    return f"{case.dataset}: {case.question}"


# --- data ----------------------------------------------------------------------------------------


def _sandbox_python() -> str:
    return str(Path(settings.SANDBOX_RUNTIME_DIR) / "bin" / "python")


def _sandbox_env() -> dict[str, str]:
    # Like the sandbox: a headless backend and none of the app's environment (no keys).
    return {"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}


def _write_sales_csv(path: Path) -> None:
    rng = random.Random(7)
    start = date(2023, 1, 1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "region", "product", "units", "revenue"])
        for i in range(SALES_ROWS):
            units = rng.randint(1, 20)
            day = start + timedelta(days=i * 730 // SALES_ROWS)  # two years, in date order
            region = REGIONS[i % 4] if i % 10 else "West"  # West is clearly the largest
            writer.writerow(
                [day.isoformat(), region, rng.choice(PRODUCTS), units, round(units * rng.uniform(8, 40), 2)]
            )


def _write_store_csv(path: Path) -> None:
    rng = random.Random(11)
    start = date(2024, 1, 1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["day", "store", "category", "sales_amount", "visits"])
        for i in range(STORE_ROWS):
            visits = rng.randint(20, 400)
            writer.writerow(
                [
                    (start + timedelta(days=i // 5)).isoformat(),
                    STORES[i % 5],
                    CATEGORIES[rng.randrange(4)],
                    round(visits * rng.uniform(2, 9), 2),
                    visits,
                ]
            )


CONVERT = r"""
import sys
import pandas as pd
df = pd.read_csv(sys.argv[1], parse_dates=["day"])
df["category"] = df["category"].astype("category")
df.to_parquet(sys.argv[2], index=False)
df.to_excel(sys.argv[3], index=False)
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("offline-data")
    _write_sales_csv(root / "sales.csv")
    _write_store_csv(root / "store_visits.csv")
    # Parquet and xlsx are written by the sandbox runtime, which has pandas, pyarrow and openpyxl.
    subprocess.run(
        [
            _sandbox_python(),
            "-c",
            CONVERT,
            root / "store_visits.csv",
            root / "store_visits.parquet",
            root / "store_visits.xlsx",
        ],
        check=True,
        env=_sandbox_env(),
        timeout=60,
        capture_output=True,
    )
    return root


@pytest.fixture(scope="module")
def datasets(data_dir: Path) -> dict[str, DatasetContext]:
    return {
        "sales": DatasetContext("sales.csv", str(data_dir / "sales.csv"), SALES_ROWS, SALES_COLUMNS),
        "stores": DatasetContext(
            "store_visits.parquet", str(data_dir / "store_visits.parquet"), STORE_ROWS, STORE_COLUMNS
        ),
        "stores_xlsx": DatasetContext(
            "store_visits.xlsx", str(data_dir / "store_visits.xlsx"), STORE_ROWS, STORE_COLUMNS
        ),
    }


def _generate(question: str, *datasets: DatasetContext) -> GenerationOutput:
    return OfflineGenerator().generate(GenerationInput(query=question, datasets=list(datasets)))


@pytest.fixture(scope="module")
def runs(datasets: dict[str, DatasetContext], data_dir: Path) -> dict[str, tuple[GenerationOutput, dict]]:
    """Generate every case's script, then run each dataset's scripts in one harness, in parallel."""
    scripts: dict[str, list[tuple[str, Path, GenerationOutput]]] = {}
    for number, case in enumerate(CASES):
        output = _generate(case.question, datasets[case.dataset])
        path = data_dir / f"case_{number:02d}.py"
        path.write_text(output.code)
        scripts.setdefault(case.dataset, []).append((_case_id(case), path, output))
    processes = {
        name: subprocess.Popen(
            [_sandbox_python(), "-c", HARNESS, *(str(path) for _, path, _ in items)],
            cwd=data_dir,
            env=_sandbox_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, items in scripts.items()
    }
    results: dict[str, tuple[GenerationOutput, dict]] = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        report = json.loads(stdout)
        for case_id, path, output in scripts[name]:
            results[case_id] = (output, report[str(path)])
    return results


# --- the generated code, run for real ------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_generated_code_answers_the_question(case: Case, runs: dict, datasets: dict) -> None:
    output, result = runs[_case_id(case)]

    assert output.provider == "offline"
    assert output.model == "offline-rules-v1"
    assert (output.input_tokens, output.output_tokens) == (0, 0)
    lines = output.code.splitlines()
    assert lines[0] == f"# Generated offline (no LLM): {case.intent}"
    assert "import pandas as pd" in lines
    assert "import matplotlib.pyplot as plt" in lines
    assert datasets[case.dataset].path in output.code
    assert "savefig" not in output.code

    assert result["error"] is None, f"{result['error']}\n--- code ---\n{output.code}"
    assert result["warnings"] == []
    for fragment in case.expected:
        assert fragment in result["stdout"], f"{fragment!r} missing from:\n{result['stdout']}"
    if case.figure:
        assert result["figures"] == 1
    else:
        assert result["figures"] == 0
    if case.lines is not None:
        assert result["lines"] == case.lines
    if case.bars is not None:
        assert result["bars"] == case.bars


def test_monthly_revenue_by_region_is_one_line_per_region(runs: dict) -> None:
    _, result = runs["sales: plot monthly revenue by region"]
    assert sorted(result["legend"]) == sorted(REGIONS)


def test_correlation_is_a_heatmap(runs: dict) -> None:
    _, result = runs["sales: is there a correlation between units and revenue?"]
    assert result["images"] == 1  # imshow


def test_top_n_lists_exactly_n_groups(runs: dict) -> None:
    _, result = runs["sales: top 5 products by revenue"]
    listed = [name for name in PRODUCTS if name in result["stdout"]]
    assert len(listed) == 5


def _run_standalone(*, code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_sandbox_python(), "-c", code],
        cwd=cwd,
        env=_sandbox_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_headline_script_runs_standalone(datasets: dict, tmp_path: Path) -> None:
    output = _generate("plot monthly revenue by region", datasets["sales"])
    script = (
        output.code + "\nprint('figures:', len(plt.get_fignums()), 'lines:', len(plt.gca().get_lines()))\n"
    )

    done = _run_standalone(code=script, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "Total revenue per month by region (24 months, 4 groups" in done.stdout
    assert done.stdout.rstrip().endswith("figures: 1 lines: 4")


def test_without_a_dataset_the_script_explains_what_to_do(tmp_path: Path) -> None:
    output = OfflineGenerator().generate(GenerationInput(query="total revenue by region"))

    done = _run_standalone(code=output.code, cwd=tmp_path)

    assert output.code.startswith("# Generated offline (no LLM): no dataset selected\n")
    assert done.returncode == 0, done.stderr
    assert "No dataset is selected" in done.stdout
    assert "/data/<file name>" in done.stdout


# --- choices made without running anything ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("sales.csv", 'pd.read_csv("/data/sales.csv")'),
        ("sales.tsv", 'pd.read_csv("/data/sales.tsv", sep="\\t")'),
        ("sales.xlsx", 'pd.read_excel("/data/sales.xlsx", engine="openpyxl")'),
        ("sales.parquet", 'pd.read_parquet("/data/sales.parquet")'),
        ("sales.json", 'pd.read_json("/data/sales.json")'),
        ("sales.jsonl", 'pd.read_json("/data/sales.jsonl", lines=True)'),
    ],
)
def test_reads_the_mounted_file_with_the_reader_for_its_type(name: str, reader: str) -> None:
    dataset = DatasetContext(name, f"/data/{name}", 10, SALES_COLUMNS)

    code = _generate("total revenue by region", dataset).code

    assert f"df = {reader}\n" in code
    assert 'df["date"] = pd.to_datetime(df["date"], errors="coerce")' in code


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("What columns does it have?", "describe"),
        ("overview please", "describe"),
        ("number of records", "count"),
        ("how many sales per store", "group-by"),  # "sales" names a numeric column: a sum, not a row count
        ("most common category", "top-n"),
        ("which store has the highest average visits", "top-n"),
        ("visits by store", "group-by"),
        ("sales_amount vs category", "comparison"),
        ("chart visits", "trend"),  # a chart with nothing to group by is drawn over time
        ("daily sales", "trend"),
        ("relationship between visits and sales amount", "correlation"),
        ("spread of sales", "distribution"),
        ("tell me a joke", "describe"),
    ],
)
def test_intent_from_wording(question: str, intent: str, datasets: dict) -> None:
    code = _generate(question, datasets["stores"]).code
    assert code.startswith(f"# Generated offline (no LLM): {intent}\n")


def test_columns_named_in_the_question_win(datasets: dict) -> None:
    code = _generate("average units per product", datasets["sales"]).code

    assert 'df.groupby("product", dropna=False)["units"].mean()' in code


def test_picks_the_dataset_the_question_names(datasets: dict) -> None:
    code = _generate("total visits in store visits by store", datasets["sales"], datasets["stores"]).code

    assert datasets["stores"].path in code
    assert datasets["sales"].path not in code
    assert "# Also selected, not used by this offline answer: sales.csv" in code


def test_a_trend_without_a_date_column_says_why(datasets: dict) -> None:
    columns = [{"name": "team", "dtype": "object"}, {"name": "score", "dtype": "int64"}]
    no_dates = DatasetContext("scores.csv", "/data/scores.csv", 5, columns)

    code = _generate("monthly score trend", no_dates).code

    assert code.startswith("# Generated offline (no LLM): describe\n")
    assert 'print("Note: no date-like column was found, so no trend over time can be drawn.")' in code


def test_the_question_cannot_break_out_of_its_comment(datasets: dict) -> None:
    sneaky = "total revenue by region\nimport os\r\nos.system('rm -rf /')\u2028x = 1"

    code = _generate(sneaky, datasets["sales"]).code

    tree = ast.parse(code)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported == {"pandas", "matplotlib.pyplot"}
    assert "os.system" not in code.split("\n", 2)[2]  # only the one-line question comment mentions it


def test_output_is_deterministic(datasets: dict) -> None:
    first = _generate("plot monthly revenue by region", datasets["sales"])
    second = _generate("plot monthly revenue by region", datasets["sales"])
    assert first == second


def test_get_generator_is_offline_without_an_api_key(settings: object) -> None:
    settings.MISTRAL_API_KEY = ""
    assert isinstance(get_generator(), OfflineGenerator)
