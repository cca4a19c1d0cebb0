"""PostgreSQL approves in one call (`sandgate_request_approve`); it must agree with the ORM path.

The ORM path (`_approve_with_orm`, what SQLite runs) is the reference: each scenario runs through both from
the same state and at the same frozen time (each in a savepoint rolled back afterwards), and the rows written
(votes, the request, executions, reservations, budget periods, audit events), the request returned, and any
refusal (its class, code, status, message and details) must come out the same.
"""

import copy
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from analysis.models import Dataset, Execution
from approvals import services
from approvals.models import ApprovalRequest, ApprovalVote
from audit.middleware import current_http_request
from audit.models import AuditEvent
from billing.models import Membership, Reservation
from config.exceptions import ApplicationError
from tests.billing.conftest import team_budget, user_budget
from tests.factories import ApprovalRequestFactory, member
from tests.parity import assert_alike, new_ids_named, refusal, undone, with_budget_periods

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the function exists only on PostgreSQL"),
    pytest.mark.django_db,
]
PATHS = {"orm": services._approve_with_orm, "function": services._approve_in_database}
TABLES = [ApprovalVote, ApprovalRequest, Execution, Reservation, AuditEvent]
FROZEN = datetime(2030, 1, 15, 9, 30, 15, 123456, tzinfo=UTC)  # after the setup's real now
Status = ApprovalRequest.Status


def run(path: str, *, request: ApprovalRequest, reviewer, expected_sha256=None) -> dict:
    """Approve through one path in a savepoint: what it returned or refused, and what it wrote; then undo."""
    before = {model: set(model.objects.values_list("pk", flat=True)) for model in TABLES}
    changed_before = ApprovalRequest.objects.values_list("pk", "updated_at")
    outcome = {}
    with undone(), time_machine.travel(FROZEN, tick=False):
        try:
            approve = PATHS[path]
            returned = approve(request=copy.copy(request), reviewer=reviewer, expected_sha256=expected_sha256)
        except ApplicationError as error:
            outcome.update(refusal(error))
        else:
            outcome["returned"] = {
                f.attname: getattr(returned, f.attname) for f in ApprovalRequest._meta.concrete_fields
            }
        outcome["written"] = written(before=before, changed_before=set(changed_before))
    return new_ids_named(outcome, keep=("BudgetPeriod", "ApprovalRequest"))


def written(*, before: dict, changed_before: set) -> dict:
    rows = {}
    for model in TABLES:
        new = model.objects.exclude(pk__in=before[model])
        if model is ApprovalRequest:  # the request is not new: changed, by its updated_at
            new = [r for r in ApprovalRequest.objects.all() if (r.pk, r.updated_at) not in changed_before]
        else:
            new = new.order_by("action" if model is AuditEvent else "pk")
        rows[model.__name__] = [
            {
                f.attname: getattr(obj, f.attname)
                for f in model._meta.concrete_fields
                if f.attname != "sequence"
            }
            for obj in new
        ]
    return with_budget_periods(rows)


def assert_same(**kwargs) -> dict:
    orm, function = run("orm", **kwargs), run("function", **kwargs)
    assert_alike(orm=orm, function=function)
    return function


def actions(outcome: dict) -> list[str]:
    return [event["action"] for event in outcome["written"]["AuditEvent"]]


@pytest.fixture
def waiting(team, analyst, prices):
    """A request waiting for review, with two datasets (they are part of what an approval binds)."""
    request = ApprovalRequestFactory(user=analyst, team=team, risk_level="low")
    for name in ("sales.csv", "costs.csv"):
        request.datasets.add(Dataset.objects.create(team=team, name=name, size=1, sha256=name[0] * 64))
    return ApprovalRequest.objects.select_related("team").get(pk=request.pk)


@pytest.fixture
def on_approval(settings):
    settings.SANDGATE_EXECUTE_ON_APPROVAL = True


def test_an_approval_without_running_is_recorded_alike(waiting, reviewer, settings):
    settings.SANDGATE_EXECUTE_ON_APPROVAL = False
    outcome = assert_same(request=waiting, reviewer=reviewer, expected_sha256=waiting.code_sha256)
    assert outcome["returned"]["status"] == Status.APPROVED
    assert actions(outcome) == ["request.approved", "request.vote_recorded"]
    assert outcome["written"]["Execution"] == []
    (approved,) = [e for e in outcome["written"]["AuditEvent"] if e["action"] == "request.approved"]
    assert approved["details"]["reviewers"] == [reviewer.username]
    assert approved["details"]["approval_digest"] == services.approval_request_digest(request=waiting)


def test_an_approval_that_queues_the_run_is_recorded_alike(waiting, reviewer, on_approval):
    team_budget(waiting.team, "100")
    outcome = assert_same(request=waiting, reviewer=reviewer)
    assert outcome["returned"]["status"] == Status.QUEUED
    assert actions(outcome) == ["execution.queued", "request.approved", "request.vote_recorded"]
    (reservation,) = outcome["written"]["Reservation"]
    assert (reservation["feature"], reservation["user_id"]) == ("execution", waiting.user_id)
    assert reservation["amount_usd"] > 0
    assert outcome["written"]["Execution"][0]["status"] == "queued"


def test_a_team_s_own_limits_price_the_run_alike(waiting, reviewer, on_approval):
    waiting.team.sandbox_limits = {"wall_seconds": 7, "memory_mb": 300}
    waiting.team.save()
    outcome = assert_same(request=waiting, reviewer=reviewer)
    (reservation,) = outcome["written"]["Reservation"]
    price = Decimal("7") * (Decimal("0.000014") + Decimal("0.0000045") * 300 / 1024)
    assert reservation["amount_usd"] == price.quantize(Decimal("0.00000001"), ROUND_HALF_UP)


def test_a_run_over_budget_leaves_the_approval_standing_alike(waiting, reviewer, on_approval):
    user_budget(waiting.team, waiting.user, "0.000001")
    outcome = assert_same(request=waiting, reviewer=reviewer)
    assert outcome["returned"]["status"] == Status.APPROVED
    assert outcome["written"]["Execution"] == outcome["written"]["Reservation"] == []
    assert actions(outcome) == ["request.approved", "request.vote_recorded"]


def test_a_run_past_a_soft_threshold_warns_alike(waiting, reviewer, on_approval):
    team_budget(waiting.team, "0.02", soft_threshold=Decimal("0.1"))
    outcome = assert_same(request=waiting, reviewer=reviewer)
    assert "budget.soft_threshold" in actions(outcome)
    assert outcome["written"]["BudgetPeriod"][0][-1] is True  # warned


def test_the_votes_of_a_high_risk_request_are_counted_alike(waiting, reviewer, team, on_approval):
    ApprovalRequest.objects.filter(pk=waiting.pk).update(risk_level="high")
    waiting.refresh_from_db()
    first = assert_same(request=waiting, reviewer=reviewer)
    assert first["returned"]["status"] == Status.PENDING_REVIEW
    assert first["written"]["AuditEvent"][0]["details"]["votes"] == 1
    assert first["written"]["AuditEvent"][0]["details"]["needed"] == 2
    services.approval_request_approve(request=waiting, reviewer=reviewer)  # the first vote, kept
    second = assert_same(
        request=waiting, reviewer=member(team, Membership.Role.REVIEWER, user__username="sam")
    )
    assert second["returned"]["status"] == Status.QUEUED
    (approved,) = [e for e in second["written"]["AuditEvent"] if e["action"] == "request.approved"]
    assert approved["details"]["reviewers"] == [reviewer.username, "sam"]


@pytest.mark.parametrize(
    ("case", "code", "status"),
    [
        ("an analyst", "not_a_reviewer", 403),
        ("the requester", "self_approval", 403),
        ("the editor", "own_edit", 403),
        ("the editor of an earlier version", "own_edit", 403),
        ("a second vote", "voted", 409),
        ("a changed code", "code_changed", 409),
        ("a rejected request", "invalid_state", 409),
    ],
)
def test_a_refused_approval_is_refused_alike_and_writes_nothing(
    waiting, reviewer, analyst, team, on_approval, case, code, status
):
    who, expected = reviewer, None
    if case == "an analyst":
        who = analyst
    elif case == "the requester":
        Membership.objects.filter(user=analyst, team=team).update(role=Membership.Role.REVIEWER)
        who = analyst
    elif case == "the editor":
        ApprovalRequest.objects.filter(pk=waiting.pk).update(edited_by=reviewer)
    elif case == "the editor of an earlier version":
        first = ApprovalRequestFactory(user=analyst, team=team, session=waiting.session, status="superseded")
        second = ApprovalRequestFactory(
            user=analyst, team=team, session=waiting.session, status="superseded", parent=first,
            version=2, edited_by=reviewer,
        )  # fmt: skip
        ApprovalRequest.objects.filter(pk=waiting.pk).update(
            parent=second, version=3, edited_by=member(team, Membership.Role.REVIEWER)
        )
    elif case == "a second vote":
        ApprovalRequest.objects.filter(pk=waiting.pk).update(risk_level="high")
        services.approval_request_approve(request=waiting, reviewer=reviewer)
    elif case == "a changed code":
        expected = "0" * 64
    else:
        ApprovalRequest.objects.filter(pk=waiting.pk).update(status=Status.REJECTED)
    outcome = assert_same(request=waiting, reviewer=who, expected_sha256=expected)
    assert outcome["refused"][1:3] == (code, status)
    assert not any(outcome["written"][m.__name__] for m in TABLES)
    if code == "invalid_state":
        assert outcome["refused_extra"] == {"status": "rejected"}


def test_who_approved_and_from_where_is_audited_alike(waiting, reviewer, on_approval):
    http = RequestFactory().post("/api/approve", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="curl/8.5")
    token = current_http_request.set(http)
    try:
        outcome = assert_same(request=waiting, reviewer=reviewer)
    finally:
        current_http_request.reset(token)
    for event in outcome["written"]["AuditEvent"]:
        assert (event["ip_address"], event["user_agent"]) == ("203.0.113.9", "curl/8.5")
        assert event["actor_label"] == reviewer.username


def test_a_request_read_before_its_code_was_stored_is_approved_on_the_orm_path(
    waiting, reviewer, on_approval
):
    """The digest is computed from the request as read; if the row's code differs, the ORM path decides."""
    read_earlier = ApprovalRequest.objects.select_related("team").get(pk=waiting.pk)
    read_earlier.code_sha256 = ""  # as read while still generating
    with CaptureQueriesContext(connection) as queries:
        approved = services.approval_request_approve(request=read_earlier, reviewer=reviewer)
    assert approved.status == Status.QUEUED
    assert approved.approved_code_sha256 == waiting.code_sha256
    assert any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)  # the ORM path's lock
    assert ApprovalVote.objects.get(request=waiting).approval_digest == services.approval_request_digest(
        request=waiting
    )


def test_on_postgresql_approving_is_the_datasets_read_and_one_call(waiting, reviewer, on_approval):
    with CaptureQueriesContext(connection) as queries:
        approved = services.approval_request_approve(request=waiting, reviewer=reviewer)
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 2
    assert "analysis_dataset" in statements[0]
    assert "sandgate_request_approve(" in statements[1]
    assert approved.status == Status.QUEUED
    assert Execution.objects.get(request=waiting).status == "queued"
