"""The offline generator: what it reads in a question, the code it writes (run for real), and when it asks.

These are the generator's own tests, on their own data and questions; the evaluation questions of
`python -m bench.answers` are kept apart (bench/answers/). Generated scripts run with the sandbox's own
Python against real files in a temporary directory (DatasetContext.path points at them, as it points at
/data/<name> in the sandbox); one harness process per dataset runs its scripts, each in a fresh
namespace with its own stdout and figures. Expected numbers are computed here in plain Python.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import random
import statistics
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from analysis.dataset_formats import caps
from analysis.datasets import profile_csv
from analysis.llm.base import DatasetContext, GenerationInput, GenerationOutput, Revision, Turn
from analysis.llm.offline import OfflineGenerator, understand
from analysis.llm.offline.decide import decide
from analysis.llm.offline.schema import Schema
from approvals.policy import policy_check

# --- data ----------------------------------------------------------------------------------------

FAMILIES = ["Bolts", "Nuts", "Gears", "Springs"]
PLANTS = ["Austin", "Denver", "Toledo"]


def parts_rows() -> list[dict[str, str]]:
    rng = random.Random(31)
    rows = []
    for number in range(400):
        rows.append(
            {
                "part_no": f"P{number:04d}",
                "family": rng.choice(FAMILIES),
                "plant": rng.choice(PLANTS),
                "qty_on_hand": str(rng.randint(0, 500)),
                "min_qty": str(rng.randint(10, 120)),
                "unit_cost_usd": f"{rng.uniform(0.1, 90):.2f}",
                "active": rng.choice(["yes", "yes", "no"]),
                "received_on": (date(2023, 1, 1) + timedelta(days=rng.randrange(730))).isoformat(),
                "weight_kg": f"{rng.uniform(0.01, 5):.3f}",
            }
        )
    return rows


def visits_rows() -> list[dict[str, str]]:
    rng = random.Random(11)
    stores = ["Harbour", "Market St", "Old Town", "Airport"]
    rows = []
    for i in range(600):
        visits = rng.randint(20, 400)
        rows.append(
            {
                "day": (date(2024, 1, 1) + timedelta(days=i // 4)).isoformat(),
                "store": stores[i % 4],
                "visits": str(visits),
                "sales_amount": f"{visits * rng.uniform(2, 9):.2f}",
                "loyalty_member": rng.choice(["True", "False"]),
            }
        )
    return rows


def to_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


PARTS = parts_rows()
VISITS = visits_rows()


def context(name: str, rows: list[dict[str, str]], path: str | None = None) -> DatasetContext:
    row_count, columns = profile_csv(to_csv(rows), caps())  # the profile an upload gets
    return DatasetContext(name, path or f"/data/{name}", row_count, columns)


def generate(question: str, *datasets: DatasetContext, history=(), revision=None) -> GenerationOutput:
    inp = GenerationInput(query=question, datasets=list(datasets), history=list(history), revision=revision)
    return OfflineGenerator().generate(inp)


def reading_of(question: str, rows=PARTS, name: str = "parts.csv"):
    schema = Schema.of(context(name, rows))
    return decide(understand(question, [schema]))


def nums(rows, column) -> list[float]:
    return [float(r[column]) for r in rows if r[column] != ""]


# --- what is read in a question ------------------------------------------------------------------


def summary(intent) -> tuple:
    return (
        intent.operation,
        intent.shape,
        intent.agg,
        tuple(m.name for m in intent.measures),
        tuple(c.name for c in intent.groups),
        tuple((f.column.name, f.op, f.value if f.other is None else f.other.name) for f in intent.filters),
        intent.grain,
        intent.chart,
        intent.top,
    )


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # columns by meaning: units and suffixes optional, plurals, synonyms, short forms
        (
            "average unit cost by family",
            ("aggregate", "", "mean", ("unit_cost_usd",), ("family",), (), "", "", 0),
        ),
        (
            "total quantity on hand per plant",
            ("aggregate", "", "sum", ("qty_on_hand",), ("plant",), (), "", "", 0),
        ),
        ("median weight in kg", ("aggregate", "", "median", ("weight_kg",), (), (), "", "", 0)),
        ("number of parts for each family", ("count", "", "count", (), ("family",), (), "", "", 0)),
        ("how many families are there", ("count", "", "nunique", (), (), (), "", "", 0)),
        # aggregations
        ("lowest unit cost", ("aggregate", "", "min", ("unit_cost_usd",), (), (), "", "", 0)),
        ("maximum weight per plant", ("aggregate", "", "max", ("weight_kg",), ("plant",), (), "", "", 0)),
        ("share of parts by plant", ("share", "", "count", (), ("plant",), (), "", "", 0)),
        ("percentage of active parts", ("rate", "", "", (), (), (), "", "", 0)),
        (
            "top 2 families by total weight",
            ("aggregate", "rank", "sum", ("weight_kg",), ("family",), (), "", "", 2),
        ),
        (
            "bottom 3 plants by average unit cost",
            ("aggregate", "rank", "mean", ("unit_cost_usd",), ("plant",), (), "", "", 3),
        ),
        # groupings with two keys
        (
            "average weight by family and plant",
            ("aggregate", "", "mean", ("weight_kg",), ("family", "plant"), (), "", "", 0),
        ),
        # filters: values, thresholds, a comparison between two columns, years, negation
        (
            "total weight of Gears in Denver",
            (
                "aggregate",
                "",
                "sum",
                ("weight_kg",),
                (),
                (("family", "==", "Gears"), ("plant", "==", "Denver")),
                "",
                "",
                0,
            ),
        ),
        (
            "how many parts have a unit cost above 50",
            ("count", "", "count", (), (), (("unit_cost_usd", ">", 50.0),), "", "", 0),
        ),
        (
            "count parts below their minimum quantity",
            ("count", "", "count", (), (), (("qty_on_hand", "<", "min_qty"),), "", "", 0),
        ),
        (
            "parts received in 2024",
            ("count", "list", "count", (), (), (("received_on", "year", 2024),), "", "", 0),
        ),
        (
            "average weight excluding Austin",
            ("aggregate", "", "mean", ("weight_kg",), (), (("plant", "!=", "Austin"),), "", "", 0),
        ),
        (
            "number of inactive parts",
            ("count", "", "count", (), (), (("active", "no-flag", None),), "", "", 0),
        ),
        # derived columns
        (
            "total stock value, qty on hand times unit cost, by plant",
            ("aggregate", "", "sum", ("stock_value",), ("plant",), (), "", "", 0),
        ),
        (
            "qty on hand minus min qty by family",
            ("aggregate", "", "sum", ("qty_on_hand_minus_min_qty",), ("family",), (), "", "", 0),
        ),
        (
            "unit cost per kg by family",
            ("aggregate", "", "mean", ("unit_cost_per_weight",), ("family",), (), "", "", 0),
        ),
        # time
        ("parts received per quarter", ("count", "series", "count", (), (), (), "Q", "", 0)),
        ("monthly trend of parts received", ("count", "series", "count", (), (), (), "M", "line", 0)),
        ("total weight year over year", ("aggregate", "yoy", "sum", ("weight_kg",), (), (), "Y", "", 0)),
        ("which month had the most parts received", ("count", "rank", "count", (), (), (), "M", "", 1)),
        # chart kinds
        ("pie chart of parts per family", ("count", "", "count", (), ("family",), (), "", "pie", 0)),
        (
            "bar chart of average weight by plant",
            ("aggregate", "", "mean", ("weight_kg",), ("plant",), (), "", "bar", 0),
        ),
        ("histogram of unit cost", ("distribution", "", "", ("unit_cost_usd",), (), (), "", "hist", 0)),
        (
            "scatter plot of weight against unit cost",
            ("scatter", "", "", ("weight_kg", "unit_cost_usd"), (), (), "", "scatter", 0),
        ),
    ],
)
def test_what_is_read_in_a_question(question: str, expected: tuple) -> None:
    assert summary(reading_of(question)) == expected


@pytest.mark.parametrize(
    ("question", "filters"),
    [
        ("parts heavier than 4 kg", (("weight_kg", ">", 4.0),)),  # the comparative names the column
        ("parts cheaper than 2", (("unit_cost_usd", "<", 2.0),)),
        ("parts with a min qty of 50", (("min_qty", "==", 50.0),)),
        ("parts received between March and May 2024", (("received_on", "months", (2024, 3, 5)),)),
        ("parts received in Q3 2023", (("received_on", "quarter", (2023, 3)),)),
    ],
)
def test_filters_read_from_everyday_wording(question: str, filters: tuple) -> None:
    assert summary(reading_of(question))[5] == filters


def test_a_percentage_of_some_rows_by_a_column_is_a_rate_within_each_group() -> None:
    intent = reading_of("percentage of Gears by plant")

    assert (intent.operation, [c.name for c in intent.groups], intent.filters) == ("rate", ["plant"], ())
    assert (intent.condition.column.name, intent.condition.op, intent.condition.value) == (
        "family",
        "==",
        "Gears",
    )


def test_a_word_written_as_a_columns_name_is_that_column_not_a_value_of_the_same_stem() -> None:
    columns = [
        {"name": "order_no", "dtype": "int64"},
        {"name": "shipped_on", "dtype": "datetime64[ns]"},
        {"name": "state", "dtype": "object", "values": ["Pending", "Shipped"]},
    ]
    schema = Schema.of(DatasetContext("orders.csv", "/data/orders.csv", 50, columns))

    per_month = decide(understand("number of orders shipped per month", [schema]))
    still = decide(understand("how many orders are shipped", [schema]))

    assert (per_month.shape, per_month.date.name, per_month.filters) == ("series", "shipped_on", ())
    assert [(f.column.name, f.value) for f in still.filters] == [("state", "Shipped")]


def test_by_a_whole_number_column_groups_by_its_values_unless_a_ranking_is_by_it() -> None:
    rate = reading_of("active rate by number of min qty")
    average = reading_of("average weight by min qty")
    ranking = reading_of("top 3 parts by min qty")

    assert (rate.operation, [c.name for c in rate.groups]) == ("rate", ["min_qty"])
    assert (average.agg, [c.name for c in average.groups]) == ("mean", ["min_qty"])
    assert (ranking.shape, ranking.groups, ranking.measure.name) == ("rows", (), "min_qty")


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("active rate by unit cost", "“by”"),  # by a price: nothing to group by, and no ranking
        ("active rate of weight", "should do in a rate of `active`"),
        ("total weight not by plant", "“not”"),  # a negation of a grouping: not something we can do
        ("total weight month", "“month”"),  # a period with no "per" or "each"
        ("correlation between weight and unit cost by plant", "split by groups"),
        ("list the parts below min qty by family", "a list of rows with a grouping"),
    ],
)
def test_nothing_understood_is_silently_dropped(question: str, missing: str) -> None:
    output = generate(question, context("parts.csv", PARTS))

    assert output.code == "" and missing in output.clarification.missing


def test_a_date_grouped_by_a_period_word_is_bucketed_by_it() -> None:
    intent = reading_of("average weight by received year")
    assert (intent.shape, intent.grain, intent.date.name, intent.agg) == (
        "series",
        "Y",
        "received_on",
        "mean",
    )


def test_the_heaviest_part_is_a_row_not_a_number() -> None:
    intent = reading_of("What is the heaviest part?")
    assert (intent.shape, intent.top, intent.ascending, intent.label_column.name) == (
        "rows",
        1,
        False,
        "part_no",
    )
    assert intent.measure.name == "weight_kg"


# --- follow-ups ----------------------------------------------------------------------------------


def test_follow_ups_modify_the_previous_question() -> None:
    parts = context("parts.csv", PARTS)
    first = generate("number of parts per plant as a pie chart", parts)
    history = [Turn(query="number of parts per plant as a pie chart", code=first.code)]

    only_active = generate("now only the active ones", parts, history=history)
    history.append(Turn(query="now only the active ones", code=only_active.code))
    as_bars = generate("as a bar chart", parts, history=history)
    history.append(Turn(query="as a bar chart", code=as_bars.code))
    by_family = generate("by family instead", parts, history=history)

    assert "`active` is yes" in only_active.plan and "pie chart" in only_active.plan
    assert "`active` is yes" in as_bars.plan and "bar chart" in as_bars.plan
    assert "for each `family`" in by_family.plan and "`active` is yes" in by_family.plan
    assert 'df.groupby("family").size()' in by_family.code


def test_a_follow_up_that_names_a_new_measure_keeps_the_rest_of_the_question() -> None:
    parts = context("parts.csv", PARTS)
    history = [Turn(query="number of active parts per plant", code="print(1)")]

    output = generate("now the average weight", parts, history=history)

    assert output.plan.startswith("Averages `weight_kg` for each `plant` in parts.csv.")
    assert "`active` is yes" in output.plan


def test_a_new_question_after_others_is_not_a_follow_up() -> None:
    parts = context("parts.csv", PARTS)
    history = [Turn(query="number of parts per plant", code="print(1)")]

    output = generate("average weight by family", parts, history=history)

    assert output.plan == "Averages `weight_kg` for each `family` in parts.csv. Shows a table, largest first."


def test_a_follow_up_with_a_word_it_does_not_know_is_not_applied_to_the_previous_question() -> None:
    parts = context("parts.csv", PARTS)
    history = [Turn(query="number of parts per plant", code="print(1)")]

    output = generate("What will the weather be in Denver tomorrow?", parts, history=history)

    assert output.code == "" and output.clarification is not None


def test_a_chart_kind_that_is_negated_is_not_drawn() -> None:
    output = generate(
        "number of parts per plant as a bar chart, not a pie chart", context("parts.csv", PARTS)
    )

    assert "ax.bar(" in output.code and "ax.pie(" not in output.code


def test_a_reviewers_feedback_is_read_like_a_follow_up() -> None:
    parts = context("parts.csv", PARTS)
    revision = Revision(previous_code="print(1)", feedback="Use a pie chart.", version=2)

    output = generate("number of parts per family", parts, revision=revision)

    assert output.code.splitlines()[1] == "# Version 2, after reviewer feedback: Use a pie chart."
    assert "ax.pie(" in output.code


# --- asking instead of guessing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("What will the weather be in Austin tomorrow?", "“weather” does not match"),
        ("Tell me a joke", "“joke” does not match"),
        ("How many parts will we need next month?", "a forecast"),
        ("total weight last month", "relative to today"),
        ("how many parts with more than 5", "“more than 5”"),  # 5 what? no column is named
        ("correlation of weight", "Name two"),
        ("pie chart of average unit cost by plant", "do not add up to a whole"),
        ("top 3 families", "ranked by what"),
        ("average revenue by plant", "“revenue” does not match"),
        ("weight per day by family and plant and active", "more than"),
    ],
)
def test_questions_it_cannot_answer_get_a_clarification_and_no_code(question: str, missing: str) -> None:
    output = generate(question, context("parts.csv", PARTS))

    assert output.code == "" and output.plan == ""
    assert output.clarification is not None
    assert missing in output.clarification.missing
    assert output.clarification.understood.startswith("a question about parts.csv")


def test_the_three_examples_of_a_clarification_are_each_answered() -> None:
    for name, rows in (("parts.csv", PARTS), ("store_visits.csv", VISITS)):
        dataset = context(name, rows)
        examples = generate("What is the meaning of life?", dataset).clarification.examples

        assert len(examples) == 3
        for example in examples:
            answered = generate(example, dataset)
            assert answered.code and answered.clarification is None, (name, example)


def test_without_a_dataset_it_asks_for_one() -> None:
    output = generate("total revenue by region")

    assert output.code == ""
    assert "select one" in output.clarification.missing


def test_an_ambiguous_word_is_asked_about() -> None:
    columns = [{"name": "unit_price", "dtype": "float64"}, {"name": "unit_cost", "dtype": "float64"},
               {"name": "region", "dtype": "object", "values": ["East", "West"]}]  # fmt: skip
    output = generate("total unit by region", DatasetContext("prices.csv", "/data/prices.csv", 10, columns))

    assert "could be `unit_price` or `unit_cost`" in output.clarification.missing


# --- the code, run for real ----------------------------------------------------------------------

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
        "patches": sum(len(ax.patches) for fig in figures for ax in fig.axes),
        "lines": sum(len(ax.get_lines()) for fig in figures for ax in fig.axes),
    }
print(json.dumps(report))
"""


@dataclass(frozen=True)
class Run:
    dataset: str
    question: str
    lines: tuple[tuple[str, ...], ...]  # each tuple: texts that must appear together on one printed line
    figure: bool = False


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _runs() -> list[Run]:
    by_family = {f: [r for r in PARTS if r["family"] == f] for f in FAMILIES}
    gears_denver = [r for r in PARTS if r["family"] == "Gears" and r["plant"] == "Denver"]
    low = [r for r in PARTS if int(r["qty_on_hand"]) < int(r["min_qty"])]
    active_share = sum(r["active"] == "yes" for r in PARTS) / len(PARTS)
    value = {p: math.fsum(int(r["qty_on_hand"]) * float(r["unit_cost_usd"]) for r in PARTS if r["plant"] == p)
             for p in PLANTS}  # fmt: skip
    per_year = {y: sum(r["received_on"].startswith(y) for r in PARTS) for y in ("2023", "2024")}
    heaviest = max(PARTS, key=lambda r: float(r["weight_kg"]))
    loyal = [r for r in VISITS if r["loyalty_member"] == "True"]
    costs = {f: statistics.fmean(nums(rows, "unit_cost_usd")) for f, rows in by_family.items()}
    sales = {
        s: math.fsum(float(r["sales_amount"]) for r in VISITS if r["store"] == s)
        for s in ("Harbour", "Airport")
    }
    january = sum(int(r["visits"]) for r in VISITS if r["day"].startswith("2024-01"))
    return [
        Run("parts", "total weight of Gears in Denver",
            (("Total weight_kg:", _money(math.fsum(nums(gears_denver, "weight_kg")))),)),
        Run("parts", "average unit cost by family", tuple((f, f"{c:.2f}") for f, c in costs.items())),
        Run("parts", "how many parts are below their minimum quantity",
            (("Number of parts:", f"{len(low):,}"),)),
        Run("parts", "percentage of active parts",
            (("Share of parts where active is yes:", f"{active_share:.1%}"),)),
        Run("parts", "stock value, qty on hand times unit cost, by plant",
            tuple((p, f"{v:.2f}") for p, v in value.items())),
        Run("parts", "parts received year over year", tuple((y, str(n)) for y, n in per_year.items())),
        Run("parts", "What is the heaviest part?",
            (("#1:", heaviest["part_no"], heaviest["weight_kg"][:4]),)),
        Run("parts", "pie chart of parts per family",
            tuple((f, str(len(rows))) for f, rows in by_family.items()), figure=True),
        Run("parts", "histogram of unit cost",
            (("50%", f"{statistics.median(nums(PARTS, 'unit_cost_usd')):.2f}"),), figure=True),
        Run("visits", "total sales by store", tuple((s, f"{v:.2f}") for s, v in sales.items())),
        Run("visits", "average visits of loyalty members",
            (("Average visits:", f"{statistics.fmean(nums(loyal, 'visits')):.2f}"),)),
        Run("visits", "monthly visits trend", (("2024-01", str(january)),), figure=True),
        Run("visits", "correlation between visits and sales amount",
            (("Correlation (Pearson r) between visits and sales_amount",),), figure=True),
        Run("visits", "describe the data", (("600 rows x 5 columns in", "store_visits.csv"),)),
    ]  # fmt: skip


RUNS = _runs()


def _run_id(run: Run) -> str:
    return f"{run.dataset}: {run.question}"


def _sandbox_python() -> str:
    return str(Path(settings.SANDBOX_RUNTIME_DIR) / "bin" / "python")


def _sandbox_env() -> dict[str, str]:
    return {"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin", "HOME": "/tmp"}


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[GenerationOutput, dict]]:
    root = tmp_path_factory.mktemp("offline-data")
    datasets = {}
    for key, name, rows in (("parts", "parts.csv", PARTS), ("visits", "store_visits.csv", VISITS)):
        (root / name).write_bytes(to_csv(rows))
        datasets[key] = context(name, rows, path=str(root / name))
    scripts: dict[str, list] = {}
    for number, run in enumerate(RUNS):
        output = generate(run.question, datasets[run.dataset])
        assert output.code, (run.question, output.clarification)
        path = root / f"run_{number:02d}.py"
        path.write_text(output.code)
        scripts.setdefault(run.dataset, []).append((_run_id(run), path, output))
    results = {}
    for items in scripts.values():
        done = subprocess.run(
            [_sandbox_python(), "-c", HARNESS, *(str(p) for _, p, _ in items)],
            cwd=root, env=_sandbox_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        for run_id, path, output in items:
            results[run_id] = (output, report[str(path)])
    return results


@pytest.mark.parametrize("run", RUNS, ids=_run_id)
def test_the_generated_code_prints_the_right_answer(run: Run, ran: dict) -> None:
    output, result = ran[_run_id(run)]

    assert result["error"] is None, f"{result['error']}\n--- code ---\n{output.code}"
    assert result["warnings"] == []
    printed = result["stdout"].splitlines()
    for together in run.lines:
        assert any(all(text in line for text in together) for line in printed), (together, result["stdout"])
    assert result["figures"] == (1 if run.figure else 0)
    assert output.code.startswith("# Generated offline (no LLM): ")
    assert "savefig" not in output.code
    assert policy_check(code=output.code).risk_level == "low"  # nothing a reviewer must puzzle over


# --- code that cannot be subverted, and choices made without running ----------------------------


def test_code_in_a_question_is_not_understood_so_nothing_is_written() -> None:
    sneaky = "total weight by plant\nimport os\r\nos.system('rm -rf /')\u2028x = 1"

    output = generate(sneaky, context("parts.csv", PARTS))

    assert output.code == "" and "“import”" in output.clarification.missing


def test_the_question_cannot_break_out_of_its_comment() -> None:
    code = generate("total weight\rby plant\u2028in Denver\x85\n", context("parts.csv", PARTS)).code

    assert code.splitlines()[1] == "# Question: total weight by plant in Denver"
    tree = ast.parse(code)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported == {"pandas"}


def test_names_and_values_from_the_data_stay_string_literals() -> None:
    hostile = 'x"); import os; os.system("id"); ("'
    columns = [
        {"name": hostile, "dtype": "object", "values": ['Bob"s {shop}', "Ann"]},
        {"name": "amount", "dtype": "float64"},
    ]
    dataset = DatasetContext("odd.csv", "/data/odd.csv", 20, columns)

    for question in ('total amount for Bob"s {shop}', "total amount by " + hostile, "average amount for Ann"):
        code = generate(question, dataset).code
        if not code:
            continue
        tree = ast.parse(code)
        calls = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Attribute)}  # fmt: skip
        assert "system" not in calls, code
        strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
        assert hostile in strings or 'Bob"s {shop}' in strings or "Ann" in strings


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("parts.csv", 'pd.read_csv("/data/parts.csv")'),
        ("parts.tsv", 'pd.read_csv("/data/parts.tsv", sep="\\t")'),
        ("parts.xlsx", 'pd.read_excel("/data/parts.xlsx", engine="openpyxl")'),
        ("parts.parquet", 'pd.read_parquet("/data/parts.parquet")'),
        ("parts.json", 'pd.read_json("/data/parts.json")'),
        ("parts.jsonl", 'pd.read_json("/data/parts.jsonl", lines=True)'),
    ],
)
def test_reads_the_mounted_file_with_the_reader_for_its_type(name: str, reader: str) -> None:
    dataset = DatasetContext(name, f"/data/{name}", 10, context("parts.csv", PARTS).columns)

    code = generate("total weight by plant in 2024", dataset).code

    assert f"df = {reader}\n" in code
    assert 'df["received_on"] = pd.to_datetime(df["received_on"], errors="coerce")' in code


def test_picks_the_dataset_the_question_is_about() -> None:
    parts, visits = context("parts.csv", PARTS), context("store_visits.csv", VISITS)

    by_columns = generate("total visits by store", parts, visits)
    by_name = generate("how many rows in store visits", parts, visits)

    assert visits.path in by_columns.code and parts.path not in by_columns.code
    assert "store_visits.csv" in by_name.plan


def test_output_is_deterministic() -> None:
    parts = context("parts.csv", PARTS)
    assert generate("monthly trend of weight by plant", parts) == generate(
        "monthly trend of weight by plant", parts
    )


def test_the_plan_is_one_to_four_sentences_naming_columns_in_backticks() -> None:
    output = generate("average weight of active parts by family as a bar chart", context("parts.csv", PARTS))

    assert output.plan == (
        "Averages `weight_kg` for each `family` in parts.csv. It uses only the rows where `active` is yes. "
        "Shows a table, largest first, and draws a bar chart."
    )
    assert 1 <= output.plan.count(". ") + 1 <= 4
