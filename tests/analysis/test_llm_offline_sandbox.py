"""Each kind of offline answer, run in the real sandbox on the demo dataset and a differently shaped one.

One sandbox run per dataset keeps this fast (a run costs about a second, mostly importing pandas): the run
executes every script in turn, each in a fresh namespace with its own captured stdout and figures, and
prints one JSON report. The scripts read the datasets exactly as approved code does: read-only from
/data/<name>, through the bubblewrap sandbox's mounts. Expected numbers are computed here in plain Python.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import statistics
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

# Runs inside the sandbox: each script in a fresh namespace; one JSON line out.
HARNESS = """
import contextlib, io, json, traceback, warnings
import matplotlib.pyplot as plt

SCRIPTS = json.loads({scripts!r})
report = {{}}
for name, source in SCRIPTS.items():
    plt.close("all")
    out = io.StringIO()
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(source, name, "exec"), {{"__name__": "__main__"}})
        except BaseException:
            error = traceback.format_exc()
    report[name] = {{
        "stdout": out.getvalue(),
        "error": error,
        "warnings": [str(w.message) for w in caught],
        "figures": len(plt.get_fignums()),
    }}
plt.close("all")
print(json.dumps(report))
"""


def tickets_csv(rows: int = 500) -> bytes:
    """Support tickets: timestamps, gaps (open tickets have no hours), a yes/no flag."""
    rng = random.Random(17)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ticket_id", "opened_at", "priority", "team", "hours_to_close", "escalated"])
    for number in range(rows):
        opened = date(2024, 1, 1) + timedelta(days=rng.randrange(300))
        hours = "" if rng.random() < 0.1 else f"{rng.uniform(0.5, 90):.1f}"
        writer.writerow([number, f"{opened} 09:30:00", rng.choice(["P1", "P2", "P3"]),
                         rng.choice(["Core", "Web"]), hours, rng.choice(["yes", "no"])])  # fmt: skip
    return out.getvalue().encode()


def rows_of(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode())))


DEMO = sales_csv()
TICKETS = tickets_csv()


def _demo_expectations() -> dict[str, tuple[str, list[str]]]:
    rows = rows_of(DEMO)
    west = math.fsum(float(r["revenue"]) for r in rows if r["region"] == "West")
    widgets = [int(r["units"]) for r in rows if r["product"] == "Widget"]
    monthly = math.fsum(float(r["revenue"]) for r in rows if r["date"].startswith("2025-03"))
    return {
        "total revenue by region": ("", ["West", f"{west:.2f}"]),
        "average units of Widgets": ("", [f"Average units: {statistics.fmean(widgets):,.2f}"]),
        "monthly revenue trend": ("line", ["2025-03", f"{monthly:.2f}"]),
        "share of revenue by region as a pie chart": ("pie", ["Largest share:"]),
        "top 2 products by units": ("", ["#1:"]),
        "distribution of revenue": ("hist", ["Half of the values lie between"]),
        "correlation between units and revenue": (
            "scatter",
            ["Correlation (Pearson r) between units and revenue"],
        ),
        "describe the data": ("", ["1,200 rows x 5 columns in sales.csv"]),
    }


def _ticket_expectations() -> dict[str, tuple[str, list[str]]]:
    rows = rows_of(TICKETS)
    escalated = sum(r["escalated"] == "yes" for r in rows) / len(rows)
    p1 = [float(r["hours_to_close"]) for r in rows if r["priority"] == "P1" and r["hours_to_close"]]
    return {
        "escalation rate": ("", [f"{escalated:.1%}"]),
        "average hours to close of P1 tickets": ("", [f"{statistics.fmean(p1):,.2f}"]),
        "tickets opened per week by team": ("", ["Number of tickets per week by team"]),
        "tickets closed in more than 48 hours as a list": ("", ["tickets match"]),
        "escalated tickets by priority as a bar chart": ("bar", ["P1", "P2", "P3"]),
        "which team has the most tickets": ("", ["has the highest number of tickets"]),
    }


CHARTS = {"line", "pie", "hist", "scatter", "bar"}


def _dataset(root: Path, name: str, content: bytes) -> tuple[DatasetContext, DatasetMount]:
    path = root / name
    path.write_bytes(content)
    row_count, columns = profile_csv(content, caps())  # the same profile an upload gets
    return DatasetContext(name, f"/data/{name}", row_count, columns), DatasetMount(name, str(path))


def _run_all(context: DatasetContext, mount: DatasetMount, questions: dict) -> tuple[dict, dict]:
    generator = OfflineGenerator()
    outputs = {q: generator.generate(GenerationInput(query=q, datasets=[context])) for q in questions}
    for question, output in outputs.items():
        assert output.code, (question, output.clarification)
    code = HARNESS.format(scripts=json.dumps({q: out.code for q, out in outputs.items()}))
    limits = Limits(cpu_seconds=60, wall_seconds=90, memory_mb=1024, output_bytes=1_000_000)
    result = get_sandbox().run(code=code, code_sha256=code_sha256(code), datasets=[mount], limits=limits)
    assert result.succeeded, (result.error, result.stderr)
    return outputs, json.loads(result.stdout.strip().splitlines()[-1])


EXPECTED = {"demo": _demo_expectations(), "tickets": _ticket_expectations()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict]]:
    root = tmp_path_factory.mktemp("offline-sandbox")
    demo = _dataset(root, "sales.csv", DEMO)
    tickets = _dataset(root, "tickets.csv", TICKETS)
    return {"demo": _run_all(*demo, EXPECTED["demo"]), "tickets": _run_all(*tickets, EXPECTED["tickets"])}


CASES = [(dataset, question) for dataset, questions in EXPECTED.items() for question in questions]


@pytest.mark.parametrize(("dataset", "question"), CASES)
def test_each_kind_of_answer_runs_in_the_real_sandbox(runs: dict, dataset: str, question: str) -> None:
    outputs, report = runs[dataset]
    output, result = outputs[question], report[question]
    chart, fragments = EXPECTED[dataset][question]

    assert output.code.startswith("# Generated offline (no LLM): ")
    assert output.plan
    assert result["error"] is None, f"{result['error']}\n--- code ---\n{output.code}"
    assert result["warnings"] == []
    for fragment in fragments:
        assert fragment in result["stdout"], f"{fragment!r} missing from:\n{result['stdout']}"
    assert result["figures"] == (1 if chart in CHARTS else 0)
