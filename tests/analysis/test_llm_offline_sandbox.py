"""Each offline intent's code, run in the real sandbox on the demo dataset and a differently shaped one.

One sandbox run per dataset keeps this fast (a run costs about a second, mostly importing pandas):
the run executes every intent's script in turn, each in a fresh namespace with its own captured
stdout and figures, and prints one JSON report. The scripts read the datasets exactly as approved
code does: read-only from /data/<name>, through the bubblewrap sandbox's mounts.
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import date, timedelta
from pathlib import Path

import pytest

from analysis.dataset_formats import caps
from analysis.datasets import profile_csv
from analysis.demo import sales_csv
from analysis.llm.base import DatasetContext, GenerationInput
from analysis.llm.offline import OfflineGenerator
from analysis.sandboxes import get_sandbox
from analysis.sandboxes.base import DatasetMount, Limits
from approvals.services import code_sha256

STORES = ["Harbour", "Market St", "Old Town", "Airport", "Riverside"]
CATEGORIES = ["Grocery", "Clothing", "Electronics", "Garden"]

# intent -> (question on the demo sales data, question on the store-visits data)
QUESTIONS = {
    "describe": ("Give me a summary of the data", "describe this dataset"),
    "count": ("count the orders per region", "how many rows are there?"),
    "group-by": ("total revenue by region", "average visits per category"),
    "top-n": ("top 3 products by revenue", "top 2 stores by sales amount"),
    "trend": ("plot monthly revenue by region", "weekly visits over time"),
    "distribution": ("show the distribution of revenue", "histogram of visits"),
    "correlation": ("is there a correlation between units and revenue?", "correlation heatmap"),
    "comparison": ("compare revenue across regions", "bar chart of visits by store"),
}
# What each answer must print, per dataset: the real column names and values show through.
EXPECTED = {
    "describe": (("1,200 rows x 5 columns", "revenue"), ("900 rows x 5 columns", "sales_amount")),
    "count": (("Rows per region", "North"), ("900 rows",)),
    "group-by": (("Total revenue by region", "West"), ("Average visits by category", "Garden")),
    "top-n": (("Top 3 by total revenue", "#1: Thingamajig"), ("Top 2 by total sales_amount", "#1:")),
    "trend": (("Total revenue per month by region", "North"), ("Total visits per week", "Peak:")),
    "distribution": (("Distribution of revenue", "Median"), ("Distribution of visits", "Median")),
    "correlation": (("Strongest relationship: revenue and units",), ("sales_amount", "visits", "Strongest")),
    "comparison": (("Total revenue by region", "Lowest:"), ("Total visits by store", "Airport")),
}
CHARTS = {"trend", "distribution", "correlation", "comparison"}

# Runs inside the sandbox: each script in a fresh namespace; one JSON line out.
HARNESS = """
import contextlib, io, json, traceback, warnings
import matplotlib.pyplot as plt

SCRIPTS = json.loads({scripts!r})
report = {{}}
for intent, source in SCRIPTS.items():
    plt.close("all")
    out = io.StringIO()
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(source, intent, "exec"), {{"__name__": "__main__"}})
        except BaseException:
            error = traceback.format_exc()
    report[intent] = {{
        "stdout": out.getvalue(),
        "error": error,
        "warnings": [str(w.message) for w in caught],
        "figures": len(plt.get_fignums()),
    }}
plt.close("all")
print(json.dumps(report))
"""


def _store_visits_csv(rows: int = 900) -> bytes:
    rng = random.Random(11)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", "store", "category", "sales_amount", "visits"])
    for i in range(rows):
        visits = rng.randint(20, 400)
        day = (date(2024, 1, 1) + timedelta(days=i // 5)).isoformat()
        amount = round(visits * rng.uniform(2, 9), 2)
        writer.writerow([day, STORES[i % 5], CATEGORIES[rng.randrange(4)], amount, visits])
    return out.getvalue().encode()


def _dataset(root: Path, name: str, content: bytes) -> tuple[DatasetContext, DatasetMount]:
    path = root / name
    path.write_bytes(content)
    row_count, columns = profile_csv(content, caps())  # the same profile an upload gets
    return DatasetContext(name, f"/data/{name}", row_count, columns), DatasetMount(name, str(path))


def _run_all(context: DatasetContext, mount: DatasetMount, column: int) -> tuple[dict, dict]:
    generator = OfflineGenerator()
    outputs = {
        intent: generator.generate(GenerationInput(query=questions[column], datasets=[context]))
        for intent, questions in QUESTIONS.items()
    }
    code = HARNESS.format(scripts=json.dumps({intent: out.code for intent, out in outputs.items()}))
    limits = Limits(cpu_seconds=60, wall_seconds=90, memory_mb=1024, output_bytes=1_000_000)
    result = get_sandbox().run(code=code, code_sha256=code_sha256(code), datasets=[mount], limits=limits)
    assert result.succeeded, (result.error, result.stderr)
    return outputs, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict]]:
    root = tmp_path_factory.mktemp("offline-sandbox")
    demo = _dataset(root, "sales.csv", sales_csv())
    stores = _dataset(root, "store_visits.csv", _store_visits_csv())
    return {"demo": _run_all(*demo, column=0), "stores": _run_all(*stores, column=1)}


@pytest.mark.parametrize("dataset", ["demo", "stores"])
@pytest.mark.parametrize("intent", list(QUESTIONS))
def test_each_intent_runs_in_the_real_sandbox(runs: dict, intent: str, dataset: str) -> None:
    outputs, report = runs[dataset]
    output, result = outputs[intent], report[intent]

    assert output.code.startswith(f"# Generated offline (no LLM): {intent}\n")
    assert result["error"] is None, f"{result['error']}\n--- code ---\n{output.code}"
    assert result["warnings"] == []
    for fragment in EXPECTED[intent][0 if dataset == "demo" else 1]:
        assert fragment in result["stdout"], f"{fragment!r} missing from:\n{result['stdout']}"
    assert result["figures"] == (1 if intent in CHARTS else 0)
