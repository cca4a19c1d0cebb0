"""PostgreSQL answers `GET /api/requests/{id}` with one call (`sandgate_request_detail`); it must give the
document the serializer (the ORM path, what SQLite runs) gives, byte for byte, in every state a request
can be in, and hide exactly what the ORM path hides.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.renderers import JSONRenderer

from analysis.models import Execution
from approvals.models import ApprovalRequest, ApprovalVote
from approvals.policy import policy_check
from approvals.selectors import approval_request_detail, approval_request_get
from approvals.serializers import ApprovalRequestDetailSerializer
from billing.models import Budget, BudgetPeriod, Membership
from billing.periods import period_start
from config.exceptions import NotFound
from tests.factories import ApprovalRequestFactory, TeamFactory, demo_dataset, member

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the function exists only on PostgreSQL"),
]

Status = ApprovalRequest.Status
CODE = """import pandas as pd
import matplotlib.pyplot as plt
import subprocess
df = pd.read_csv("/data/sales.csv")
other = pd.read_csv("/data/missing.csv")
df[["region", "revenue", "nope"]].to_csv("/output/by_region.csv")
fig, ax = plt.subplots()
ax.bar(df["region"], df["revenue"])
"""


def both(*, viewer, request) -> tuple[bytes, bytes]:
    """The serializer's document and the function's, rendered as the API renders them."""
    by_orm = ApprovalRequestDetailSerializer(approval_request_get(user=viewer, request_id=request.pk)).data
    by_function = approval_request_detail(user=viewer, request_id=request.pk)
    return JSONRenderer().render(by_orm), JSONRenderer().render(by_function)


def checked(team, analyst, code=CODE, **fields) -> ApprovalRequest:
    """A request whose findings and risk are the policy check's of its code."""
    result = policy_check(code=code)
    return ApprovalRequestFactory(
        team=team,
        user=analyst,
        code=code,
        risk_level=result.risk_level,
        findings=[f.as_dict() for f in result.findings],
        **fields,
    )


def test_a_request_still_generating_reads_the_same_from_both(team, analyst):
    request = ApprovalRequestFactory(
        team=team, user=analyst, code="", code_sha256="", status=Status.GENERATING, budget_estimate=0
    )
    orm, function = both(viewer=analyst, request=request)
    assert orm == function
    assert b'"remainingBudgetUsd":null' in function and b'"note":"No budget applies."' in function


def test_a_request_waiting_for_review_with_datasets_findings_budgets_and_a_vote_reads_the_same(
    team, analyst, reviewer
):
    team.high_risk_quorum = 2
    team.save()
    request = checked(team, analyst, budget_estimate=Decimal("0.012500"))
    assert request.risk_level == ApprovalRequest.Risk.HIGH and request.findings
    request.datasets.set([demo_dataset(team, rows=20)])
    ApprovalVote.objects.create(request=request, reviewer=reviewer, requester=analyst, approval_digest="d")
    monthly = Budget.objects.create(scope=Budget.Scope.TEAM, team=team, period="monthly", limit_usd=50)
    Budget.objects.create(scope=Budget.Scope.USER, team=team, user=analyst, period="daily", limit_usd=3)
    Budget.objects.create(scope=Budget.Scope.USER, team=team, user=reviewer, period="daily", limit_usd=1)
    Budget.objects.create(scope=Budget.Scope.TEAM, team=team, period="weekly", limit_usd=1, is_active=False)
    now = datetime.now(UTC)
    BudgetPeriod.objects.create(
        budget=monthly, period_start=period_start(period="monthly", at=now), spent_usd=48, reserved_usd="0.5"
    )

    for viewer in (analyst, reviewer):
        orm, function = both(viewer=viewer, request=request)
        assert orm == function
    assert b'"remainingBudgetUsd":1.5' in function and b'"approvalsNeeded":2' in function
    assert b'"note":"team monthly budget"' in function


def test_a_used_up_budget_reads_as_zero_point_zero_from_both(team, analyst):
    request = checked(team, analyst)
    budget = Budget.objects.create(scope=Budget.Scope.TEAM, team=team, period="total", limit_usd=1)
    BudgetPeriod.objects.create(
        budget=budget,
        period_start=period_start(period="total", at=datetime.now(UTC)),
        spent_usd=2,
        reserved_usd=0,
    )
    orm, function = both(viewer=analyst, request=request)
    assert orm == function
    assert b'"remainingBudgetUsd":0.0' in function


@pytest.mark.parametrize("microsecond", [0, 120_500])
def test_an_approved_and_run_request_reads_the_same_with_its_times(team, analyst, reviewer, microsecond):
    at = datetime(2026, 11, 27, 6, 30, 1, microsecond, tzinfo=UTC)
    request = checked(
        team,
        analyst,
        status=Status.SUCCEEDED,
        reviewer=reviewer,
        decided_at=at,
        approval_expires_at=at,
        approved_code_sha256="a" * 64,
    )
    Execution.objects.create(
        request=request,
        status="succeeded",
        backend="local",
        code_sha256="a" * 64,
        duration_ms=840,
        started_at=at,
        finished_at=at,
        stdout="big\n" * 1000,
    )
    orm, function = both(viewer=analyst, request=request)
    assert orm == function
    expected = b'"decidedAt":"2026-11-27T06:30:01Z"' if not microsecond else b'T06:30:01.120500Z"'
    assert expected in function
    assert b'"approved":true' in function and b'"durationMs":840' in function


def test_a_rejected_request_its_revision_and_an_edited_version_read_the_same(team, analyst, reviewer):
    rejected = checked(
        team,
        analyst,
        status=Status.REJECTED,
        reviewer=reviewer,
        decided_at=datetime.now(UTC),
        rejection_reason="no subprocess",
    )
    revision = checked(
        team,
        analyst,
        parent=rejected,
        version=2,
        code=CODE.replace("subprocess", "json"),
        session=rejected.session,
        status=Status.SUPERSEDED,
    )
    edited = checked(
        team,
        analyst,
        parent=revision,
        version=3,
        edited_by=reviewer,
        session=rejected.session,
        code=CODE.replace("subprocess", "math"),
    )
    for request in (rejected, revision, edited):
        orm, function = both(viewer=reviewer, request=request)
        assert orm == function
    assert f'"nextVersionId":"{edited.pk}"'.encode() in both(viewer=analyst, request=revision)[1]
    assert b"+import math" in both(viewer=analyst, request=edited)[1]


def test_the_function_hides_what_the_orm_path_hides(team, analyst, reviewer, auditor):
    request = checked(team, analyst)
    colleague = member(team)
    outsider = member(TeamFactory(), role=Membership.Role.REVIEWER)
    assert approval_request_detail(user=auditor, request_id=request.pk)["requestId"] == str(request.pk)
    assert approval_request_detail(user=reviewer, request_id=str(request.pk))["requestId"] == str(request.pk)
    for viewer in (colleague, outsider):
        with pytest.raises(NotFound):
            approval_request_get(user=viewer, request_id=request.pk)
        with pytest.raises(NotFound):
            approval_request_detail(user=viewer, request_id=request.pk)
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(NotFound):
            approval_request_detail(user=analyst, request_id=bad)


def test_the_detail_is_one_query_after_the_token(as_user, analyst, team, django_assert_num_queries):
    request = checked(team, analyst)
    request.datasets.set([demo_dataset(team, rows=20)])
    client = as_user(analyst)
    with django_assert_num_queries(2):  # the token, then sandgate_request_detail
        response = client.get(f"/api/requests/{request.pk}")
    assert response.status_code == 200
    assert response.json()["card"]["reads"]["columns"] == ["region", "revenue"]
