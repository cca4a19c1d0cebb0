"""The approval card in the API and the reviewer console: reads, writes, libraries, charts, cost, risk."""

import pytest
from django.contrib.auth.models import Permission

from analysis.llm.base import DatasetContext, GenerationInput
from analysis.llm.offline import OfflineGenerator
from approvals.models import ApprovalRequest, PolicyRule
from audit.models import AuditEvent
from tests.factories import ApprovalRequestFactory, demo_dataset

CODE = """import pandas as pd
import matplotlib.pyplot as plt
import sklearn
df = pd.read_csv("/data/sales.csv")
df[["region", "revenue"]].to_csv("/output/by_region.csv")
fig, ax = plt.subplots()
ax.bar(df["region"], df["revenue"])
"""


@pytest.fixture
def request_with_card(analyst, team):
    from approvals.policy import policy_check

    result = policy_check(code=CODE)
    request = ApprovalRequestFactory(
        user=analyst,
        team=team,
        code=CODE,
        risk_level=result.risk_level,
        findings=[f.as_dict() for f in result.findings],
        budget_estimate="0.012500",
    )
    request.datasets.set([demo_dataset(team, rows=20)])
    return request


def test_the_card_says_what_the_code_reads_writes_uses_and_draws(as_user, analyst, request_with_card):
    card = as_user(analyst).get(f"/api/requests/{request_with_card.pk}").json()["card"]
    assert card["reads"]["datasets"] == [{"path": "/data/sales.csv", "name": "sales.csv", "selected": True}]
    assert card["reads"]["columns"] == ["region", "revenue"]
    assert card["writes"] == ["/output/by_region.csv"]
    assert card["libraries"] == ["matplotlib", "pandas", "sklearn"]
    assert card["charts"]["expected"] == 1
    assert [c["line"] for c in card["charts"]["calls"]] == [6, 7]
    assert card["cost"]["estimateUsd"] == pytest.approx(0.0125)
    assert card["risk"]["level"] == "high"
    assert card["risk"]["findings"] == [
        {
            "rule": "import-not-allowed",
            "severity": "high",
            "line": 3,
            "message": "Imports sklearn, which is not on the allow-list.",
        }
    ]
    assert card["risk"]["approvalsNeeded"] == 2
    assert card["risk"]["notUnderstood"] == [
        {"line": 3, "message": "Imports sklearn, which is not on the allow-list."}
    ]
    assert card["diff"] is None


def test_offline_code_for_the_demo_question_has_a_full_card():
    from approvals.policy import describe_code

    sales = DatasetContext(
        name="sales.csv",
        path="/data/sales.csv",
        row_count=10,
        columns=[
            {"name": "date", "dtype": "object"},
            {"name": "region", "dtype": "object"},
            {"name": "revenue", "dtype": "float64"},
        ],
    )
    inp = GenerationInput(query="plot monthly revenue by region", datasets=[sales], history=[])
    seen = describe_code(code=OfflineGenerator().generate(inp).code)
    assert seen["paths"] == ["/data/sales.csv"]
    assert {"date", "region", "revenue"} <= set(seen["subscripts"])
    assert seen["libraries"] == ["matplotlib", "pandas"]
    assert seen["charts"]


@pytest.fixture
def staff_reviewer(reviewer):
    reviewer.is_staff = True
    reviewer.save()
    reviewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_approvalrequest", "change_approvalrequest"])
    )
    return reviewer


def test_the_console_shows_each_finding_beside_its_line_and_the_card(
    client, staff_reviewer, request_with_card
):
    client.force_login(staff_reviewer)
    html = client.get(f"/admin/approvals/approvalrequest/{request_with_card.pk}/change/").content.decode()
    assert 'id="line-3" class="sg-flagged"' in html
    assert "<strong>high</strong> import-not-allowed: Imports sklearn" in html
    assert "Reads and writes" in html and "/output/by_region.csv" in html
    assert "approvals 0 of 2" in html
    assert "Edit the code" in html


def test_the_queue_filters_by_risk_and_shows_badges(client, staff_reviewer, analyst, team, request_with_card):
    low = ApprovalRequestFactory(user=analyst, team=team, risk_level="low", query="a low risk question")
    client.force_login(staff_reviewer)
    html = client.get("/admin/approvals/approvalrequest/?risk_level__exact=high").content.decode()
    assert request_with_card.query in html and low.query not in html
    assert "high · 1 finding" in html
    assert "sg-badge" in html


def test_a_policy_rule_changed_in_the_admin_is_audited(admin_client, admin_user):
    response = admin_client.post(
        "/admin/approvals/policyrule/network/change/",
        {"enabled": "on", "severity": "high", "allowed_modules": ""},
    )
    assert response.status_code == 302
    assert PolicyRule.objects.get(code="network").severity == "high"
    (event,) = AuditEvent.objects.filter(action="policy.rule_changed")
    assert event.actor == admin_user
    assert (event.details["before"]["severity"], event.details["after"]["severity"]) == ("critical", "high")


def test_superseded_and_blocked_are_final_states():
    final = ApprovalRequest.FINAL_STATUSES
    assert ApprovalRequest.Status.POLICY_BLOCKED in final and ApprovalRequest.Status.SUPERSEDED in final


def test_the_card_sets_the_estimate_against_the_tightest_remaining_budget(
    as_user, analyst, team, request_with_card
):
    from decimal import Decimal

    from billing.models import Budget

    assert (
        as_user(analyst)
        .get(f"/api/requests/{request_with_card.pk}")
        .json()["card"]["cost"]["remainingBudgetUsd"]
        is None
    )
    Budget.objects.create(
        scope=Budget.Scope.TEAM, team=team, period=Budget.Period.MONTHLY, limit_usd=Decimal("50")
    )
    Budget.objects.create(
        scope=Budget.Scope.USER, team=team, user=analyst, period=Budget.Period.DAILY, limit_usd=Decimal("2")
    )
    cost = as_user(analyst).get(f"/api/requests/{request_with_card.pk}").json()["card"]["cost"]
    assert cost["remainingBudgetUsd"] == pytest.approx(2.0)
    assert cost["note"] == "user daily budget"


def test_request_detail_and_list_show_the_execution_summary_without_reading_its_output(
    as_user, analyst, request_with_card
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from analysis.models import Execution

    chart = {"png": "A" * 200_000}  # charts travel as base64: a finished run's output is large
    execution = Execution.objects.create(
        request=request_with_card, status="succeeded", backend="local", duration_ms=840,
        stdout="total 42\n", results=[chart], limits={"cpu_seconds": 60},
    )  # fmt: skip
    client = as_user(analyst)

    with CaptureQueriesContext(connection) as queries:
        detail = client.get(f"/api/requests/{request_with_card.pk}").json()
        listed = client.get("/api/requests").json()["results"]

    expected = {
        "executionId": str(execution.pk),
        "status": "succeeded",
        "backend": "local",
        "durationMs": 840,
    }
    assert {k: detail["execution"][k] for k in expected} == expected
    assert {k: listed[0]["execution"][k] for k in expected} == expected
    assert not [q["sql"] for q in queries.captured_queries if '"analysis_execution"."results"' in q["sql"]]


def test_describing_the_same_code_twice_gives_equal_answers_that_do_not_share_state():
    from approvals.policy import describe_code

    first = describe_code(code=CODE)
    first["libraries"].append("changed")
    first["charts"][0]["line"] = 99
    second = describe_code(code=CODE)
    assert second["libraries"] == ["matplotlib", "pandas", "sklearn"]
    assert [c["line"] for c in second["charts"]] == [6, 7]


UNCLEAR = """import pandas as pd
df = pd.read_csv("/data/sales.csv")
name = df.columns[0]
print(getattr(df, name))
"""


def test_the_card_says_when_the_check_could_not_understand_the_code(
    client, staff_reviewer, analyst, team, as_user
):
    from approvals.policy import policy_check

    result = policy_check(code=UNCLEAR)
    unclear = ApprovalRequestFactory(
        user=analyst, team=team, code=UNCLEAR, risk_level=result.risk_level,
        findings=[f.as_dict() for f in result.findings],
    )  # fmt: skip
    card = as_user(analyst).get(f"/api/requests/{unclear.pk}").json()["card"]
    (unseen,) = card["risk"]["notUnderstood"]
    assert unseen["line"] == 4 and "only known at run time" in unseen["message"]
    client.force_login(staff_reviewer)
    html = client.get(f"/admin/approvals/approvalrequest/{unclear.pk}/change/").content.decode()
    assert "the policy check could not understand 1 part of this code" in html
    assert '<a href="#line-4">line 4</a>' in html
    queue = client.get("/admin/approvals/approvalrequest/").content.decode()
    assert "high · 1 finding · not understood" in queue


def test_the_card_of_code_the_check_understands_says_so(client, staff_reviewer, analyst, team):
    clear = ApprovalRequestFactory(
        user=analyst, team=team, code="import pandas as pd\nprint(pd.__version__)\n"
    )
    client.force_login(staff_reviewer)
    html = client.get(f"/admin/approvals/approvalrequest/{clear.pk}/change/").content.decode()
    assert "yes — the policy check followed every name this code uses." in html


# --- the plan against the code -------------------------------------------------------------------

INVENTORY = b"sku,warehouse,units_on_hand,unit_cost_eur\nA1,Lyon,10,2.5\nA2,Lyon,0,4.0\nA3,Hamburg,7,1.25\n"
READS_STOCK = """import pandas as pd
df = pd.read_csv("/data/inventory.csv")
print(df.groupby("warehouse")["units_on_hand"].sum())
"""


@pytest.fixture
def inventory(team):
    from analysis.services.datasets import dataset_create

    return dataset_create(team=team, name="inventory.csv", content=INVENTORY)


def _card_of(as_user, user, team, inventory, *, plan: str, code: str = READS_STOCK) -> dict:
    request = ApprovalRequestFactory(user=user, team=team, code=code, plan=plan)
    request.datasets.set([inventory])
    return as_user(user).get(f"/api/requests/{request.pk}").json()["card"]["plan"]


def test_a_plan_that_names_another_column_than_the_code_reads_is_a_finding(as_user, analyst, team, inventory):
    plan = _card_of(
        as_user, analyst, team, inventory, plan="Adds up the unit cost for each warehouse in inventory.csv."
    )

    assert plan["columns"] == ["warehouse", "unit_cost_eur"]
    assert plan["findings"] == [
        {
            "kind": "plan-code-mismatch",
            "message": "The plan says `unit_cost_eur` (“unit cost”); the code reads `units_on_hand`.",
        }
    ]


def test_a_plan_that_says_what_the_code_reads_has_no_finding(as_user, analyst, team, inventory):
    plan = _card_of(
        as_user,
        analyst,
        team,
        inventory,
        plan="Adds up `units_on_hand` for each `warehouse` in inventory.csv.",
    )

    assert plan == {
        "text": "Adds up `units_on_hand` for each `warehouse` in inventory.csv.",
        "columns": ["warehouse", "units_on_hand"],
        "datasets": ["inventory.csv"],
        "findings": [],
    }


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        (
            "Counts the rows of inventory.csv per `warehouse`.",
            "code-not-planned",
            "The code reads `units_on_hand`, which the plan does not mention.",
        ),
        (
            "Adds up `units_on_hand` and `unit_cost_eur` per `warehouse`.",
            "plan-not-read",
            "The plan says `unit_cost_eur`, but the code never reads it.",
        ),
        (
            "Adds up `units_on_hand` per `warehouse` and `stock_value`.",
            "plan-unknown-column",
            "The plan mentions `stock_value`, which is not a column of the selected datasets.",
        ),
        ("", "no-plan", "There is no plan for this code: read the code to see what it computes."),
    ],
)
def test_each_difference_between_plan_and_code_says_what_differs(
    as_user, analyst, team, inventory, text, kind, message
):
    plan = _card_of(as_user, analyst, team, inventory, plan=text)

    assert {"kind": kind, "message": message} in plan["findings"]


def test_a_plan_that_names_another_dataset_than_the_code_opens_is_a_finding(
    as_user, analyst, team, inventory
):
    from analysis.services.datasets import dataset_create

    other = dataset_create(team=team, name="stock.csv", content=INVENTORY)
    request = ApprovalRequestFactory(
        user=analyst,
        team=team,
        code=READS_STOCK,
        plan="Adds up `units_on_hand` per `warehouse` in stock.csv.",
    )
    request.datasets.set([inventory, other])

    plan = as_user(analyst).get(f"/api/requests/{request.pk}").json()["card"]["plan"]

    assert plan["findings"] == [
        {"kind": "plan-dataset-mismatch", "message": "The plan says stock.csv; the code reads inventory.csv."}
    ]


def test_a_reviewers_edit_keeps_the_plan_and_the_card_flags_what_the_edit_changed(
    as_user, analyst, team, reviewer, inventory
):
    from approvals.services import approval_request_edit

    request = ApprovalRequestFactory(
        user=analyst, team=team, code=READS_STOCK, plan="Adds up `units_on_hand` for each `warehouse`."
    )
    request.datasets.set([inventory])
    edited = approval_request_edit(
        request=request, reviewer=reviewer, code=READS_STOCK.replace("units_on_hand", "unit_cost_eur")
    )

    plan = as_user(analyst).get(f"/api/requests/{edited.pk}").json()["card"]["plan"]

    assert edited.plan == request.plan
    assert plan["findings"] == [
        {
            "kind": "plan-code-mismatch",
            "message": "The plan says `units_on_hand`; the code reads `unit_cost_eur`.",
        }
    ]


def test_the_review_page_shows_the_plan_first_and_its_mismatch_among_the_findings(
    client, staff_reviewer, analyst, team, inventory
):
    request = ApprovalRequestFactory(
        user=analyst, team=team, code=READS_STOCK, plan="Adds up the unit cost for each warehouse."
    )
    request.datasets.set([inventory])
    client.force_login(staff_reviewer)

    html = client.get(f"/admin/approvals/approvalrequest/{request.pk}/change/").content.decode()

    page = html[html.index('id="review"') :]
    order = [
        'class="sg-question"',
        'class="sg-plan"',
        "Adds up the unit cost for each warehouse.",
        ">Approve</button>",
        'id="reads-h"',
        'id="cost-h"',
        'id="risk-h"',
        "Plan and code differ",
        'id="line-1"',
    ]
    assert [page.index(part) for part in order] == sorted(page.index(part) for part in order)
    assert "The plan says `unit_cost_eur` (“unit cost”); the code reads `units_on_hand`." in page


def test_the_offline_plan_matches_its_code_for_many_questions(team):
    """The offline generator writes plan and code from one reading: the card never finds them apart."""
    from analysis.dataset_formats import caps
    from analysis.datasets import profile_csv
    from analysis.demo import sales_csv
    from approvals.plan_check import check_plan
    from approvals.policy import describe_code

    row_count, columns = profile_csv(sales_csv(rows=200), caps())
    sales = DatasetContext("sales.csv", "/data/sales.csv", row_count, columns)
    questions = [
        "total revenue by region",
        "average units per product in the North",
        "monthly revenue trend",
        "top 3 products by units",
        "share of revenue by region as a pie chart",
        "revenue year over year",
        "how many rows per product and region",
        "correlation between units and revenue",
        "distribution of units",
        "revenue per unit by region",
        "rows where units is above 30",
    ]
    for question in questions:
        output = OfflineGenerator().generate(GenerationInput(query=question, datasets=[sales]))
        assert output.code, (question, output.clarification)
        seen = describe_code(code=output.code)
        known = {c["name"] for c in columns}
        reads = [k for k in seen["subscripts"] if k in known]
        checked = check_plan(
            plan=output.plan, datasets=[{"name": "sales.csv", "columns": columns}], read_columns=reads,
            read_paths=seen["paths"],
        )  # fmt: skip
        assert checked["findings"] == [], (question, output.plan, checked)
