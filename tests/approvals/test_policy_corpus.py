"""The policy check measured both ways on files under policy_corpus/.

hostile/: the five forms of issue #21 and indirect forms of the same escapes (aliases, chains,
comprehensions, lambdas, decorators, class bodies, f-strings, __class__ walks, pickles, strings evaluated
as code, the network, files outside /data and /output). Every one must rate high or be blocked.

ordinary/: analysis scripts as analysts and LLMs write them, and the offline generator's outputs
(`offline_*.py`, written by `OfflineGenerator` for the questions in OFFLINE_QUESTIONS below). At least
95 % must rate low; the ones that do not are listed in KNOWN_NOT_LOW with the reason.

unseen/: hostile forms whose target the check cannot see (a path from the data, a path in a **mapping).
It does not call them low: they carry a finding that says so, at least medium.
"""

from pathlib import Path

import pytest

from analysis.llm.base import DatasetContext, GenerationInput
from analysis.llm.offline import OfflineGenerator
from approvals.policy import NOT_UNDERSTOOD_RULES, policy_check

CORPUS = Path(__file__).with_name("policy_corpus")
HOSTILE = sorted((CORPUS / "hostile").glob("*.py"))
ORDINARY = sorted((CORPUS / "ordinary").glob("*.py"))
UNSEEN = sorted((CORPUS / "unseen").glob("*.py"))
ISSUE_FORMS = {f"issue_{n}_" for n in range(1, 6)}

# Ordinary scripts that do not rate low, and why. Changing the check so that one of these rates low, or
# another one does not, fails test_ordinary_scripts_stay_low until this list says so.
KNOWN_NOT_LOW = {
    # `import os` for os.makedirs/os.path.join: os is not on the import allow-list (only os.path is).
    "blind_os_makedirs.py": "high",
}
MINIMUM_LOW_RATE = 0.95


def verdict(path: Path) -> str:
    result = policy_check(code=path.read_text())
    return "blocked" if result.blocked else result.risk_level


def test_the_corpora_have_the_sizes_the_issue_asks_for():
    names = {path.name for path in HOSTILE}
    assert all(any(name.startswith(prefix) for name in names) for prefix in ISSUE_FORMS)
    assert len(HOSTILE) - len(ISSUE_FORMS) >= 30
    assert len(ORDINARY) >= 40
    assert sum(path.name.startswith("offline_") for path in ORDINARY) >= 10


@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_each_hostile_form_rates_high_or_is_blocked(path):
    result = policy_check(code=path.read_text())
    assert result.blocked or result.risk_level == "high", [f.as_dict() for f in result.findings]


def test_every_hostile_form_is_caught():
    caught = [path.name for path in HOSTILE if verdict(path) in ("high", "blocked")]
    assert len(caught) / len(HOSTILE) == 1.0


@pytest.mark.parametrize("path", ORDINARY, ids=[p.stem for p in ORDINARY])
def test_no_ordinary_script_is_blocked(path):
    result = policy_check(code=path.read_text())
    assert not result.blocked, [f.as_dict() for f in result.findings]


def test_ordinary_scripts_stay_low():
    verdicts = {path.name: verdict(path) for path in ORDINARY}
    not_low = {name: level for name, level in verdicts.items() if level != "low"}
    assert not_low == KNOWN_NOT_LOW
    low_rate = (len(verdicts) - len(not_low)) / len(verdicts)
    assert low_rate >= MINIMUM_LOW_RATE, f"{low_rate:.1%} of {len(verdicts)} ordinary scripts rate low"


@pytest.mark.parametrize("path", UNSEEN, ids=[p.stem for p in UNSEEN])
def test_what_the_check_cannot_see_is_never_low_and_says_so(path):
    result = policy_check(code=path.read_text())
    assert result.risk_level != "low"
    assert {f.rule for f in result.findings} & NOT_UNDERSTOOD_RULES


SALES = DatasetContext(
    name="sales.csv",
    path="/data/sales.csv",
    row_count=1200,
    columns=[
        {"name": "date", "dtype": "object"},
        {"name": "region", "dtype": "object"},
        {"name": "product", "dtype": "object"},
        {"name": "units", "dtype": "int64"},
        {"name": "revenue", "dtype": "float64"},
    ],
)
EMPLOYEES = DatasetContext(
    name="employees.xlsx",
    path="/data/employees.xlsx",
    row_count=300,
    columns=[
        {"name": "hired", "dtype": "datetime64[ns]"},
        {"name": "department", "dtype": "object"},
        {"name": "salary", "dtype": "float64"},
        {"name": "age", "dtype": "int64"},
        {"name": "city", "dtype": "object"},
    ],
)
TRIPS = DatasetContext(
    name="trips.parquet",
    path="/data/trips.parquet",
    row_count=50000,
    columns=[
        {"name": "pickup_time", "dtype": "datetime64[ns]"},
        {"name": "distance_km", "dtype": "float64"},
        {"name": "fare", "dtype": "float64"},
        {"name": "payment_type", "dtype": "object"},
    ],
)
EVENTS = DatasetContext(
    name="events.jsonl",
    path="/data/events.jsonl",
    row_count=8000,
    columns=[
        {"name": "timestamp", "dtype": "object"},
        {"name": "event", "dtype": "object"},
        {"name": "user", "dtype": "object"},
    ],
)
# The questions behind ordinary/offline_NN_*.py, in their order.
OFFLINE_QUESTIONS = [
    (SALES, "Load sales.csv and plot monthly revenue by region"),
    (SALES, "describe the data"),
    (SALES, "how many orders per region"),
    (SALES, "top 5 products by revenue"),
    (SALES, "distribution of revenue"),
    (SALES, "correlation between units and revenue"),
    (SALES, "compare average units across products"),
    (SALES, "weekly revenue trend"),
    (SALES, "bottom 3 regions by total units as a bar chart"),
    (EMPLOYEES, "average salary by department"),
    (EMPLOYEES, "distribution of salary by department"),
    (EMPLOYEES, "how many people were hired each year"),
    (TRIPS, "daily average fare"),
    (TRIPS, "distribution of payment type"),
    (EVENTS, "most common events"),
]


@pytest.mark.parametrize(("dataset", "question"), OFFLINE_QUESTIONS, ids=[q for _, q in OFFLINE_QUESTIONS])
def test_the_offline_generator_as_it_is_now_writes_low_risk_code(dataset, question):
    """The corpus keeps the generator's outputs as files; this checks what it writes today."""
    code = OfflineGenerator().generate(GenerationInput(query=question, datasets=[dataset], history=[])).code
    result = policy_check(code=code)
    assert (result.risk_level, result.findings) == ("low", [])
