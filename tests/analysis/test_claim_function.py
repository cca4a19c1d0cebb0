"""PostgreSQL claims a queued run in one call (`sandgate_execution_claim`); it must agree with the ORM path.

The ORM path (`_execution_claim_with_orm`, what SQLite runs) is the reference: each scenario runs through both
from the same state at the same (frozen) time, each in a savepoint rolled back afterwards, and the rows of
executions, requests, audit events and reservations, the execution returned, and any refusal (its class, code,
status, message and details) must come out the same.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analysis import services
from analysis.models import Execution
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from billing.models import CostSpan, Reservation
from config.exceptions import ApplicationError, Conflict
from tests.factories import ApprovalRequestFactory
from tests.parity import assert_alike, refusal, undone

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the function exists only on PostgreSQL"),
    pytest.mark.django_db,
]
PATHS = {"orm": services._execution_claim_with_orm, "function": services._execution_claim_in_database}
TABLES = [Execution, ApprovalRequest, AuditEvent, Reservation]
# An event's sequence comes from a database sequence and its id is random: neither says what was written.
VOLATILE = {"sequence", "id"}
Feature = CostSpan.Feature


def rows() -> dict:
    """Every row of the tables a claim writes; events in insertion order, the others by primary key."""
    return {
        model.__name__: [
            {
                f.attname: getattr(obj, f.attname)
                for f in model._meta.concrete_fields
                if not (model is AuditEvent and f.attname in VOLATILE)
            }
            for obj in model.objects.order_by("sequence" if model is AuditEvent else "pk")
        ]
        for model in TABLES
    }


def written(*, before: dict, after: dict) -> dict:
    """The rows new or changed: events appended after the old ones, other rows differing from before."""
    changed = {"AuditEvent": after["AuditEvent"][len(before["AuditEvent"]) :]}
    for table in ("Execution", "ApprovalRequest", "Reservation"):
        changed[table] = [row for row in after[table] if row not in before[table]]
    return changed


def returned(execution: Execution | None) -> dict | None:
    """What execution_run gets: the execution, its request and team loaded with it."""
    if execution is None:
        return None
    request = execution.request if Execution.request.is_cached(execution) else None
    return {
        "execution": {f.attname: getattr(execution, f.attname) for f in Execution._meta.concrete_fields},
        "request": {f.attname: getattr(request, f.attname) for f in ApprovalRequest._meta.concrete_fields},
        "team": request.team.pk if ApprovalRequest.team.is_cached(request) else "not loaded",
    }


def run(path: str, *, execution_id, at) -> dict:
    """Claim through one path at `at` in a savepoint: what it returned or refused, and what it wrote."""
    before = rows()
    outcome = {}
    with undone(), time_machine.travel(at, tick=False):
        try:
            outcome["returned"] = returned(PATHS[path](execution_id=execution_id))
        except ApplicationError as error:
            outcome.update(refusal(error))
        outcome["rows"] = rows()  # a refusal left the caller's transaction usable
    assert rows() == before  # the savepoint undid it: the next path starts from the same state
    outcome["written"] = written(before=before, after=outcome["rows"])
    return outcome


def assert_same(*, execution_id) -> dict:
    at = timezone.now() + timedelta(minutes=1)  # later than anything the fixtures wrote
    orm = run("orm", execution_id=execution_id, at=at)
    function = run("function", execution_id=execution_id, at=at)
    assert_alike(orm=orm, function=function)
    return function | {"at": at}


def hold(request: ApprovalRequest, feature: str, status=Reservation.Status.ACTIVE) -> Reservation:
    """A budget hold whose lease has run out (the run waited in the queue)."""
    return Reservation.objects.create(
        team=request.team,
        user=request.user,
        request=request,
        feature=feature,
        amount_usd=Decimal("0.25"),
        status=status,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )


def queued_run(*, team, analyst) -> Execution:
    request = ApprovalRequestFactory(user=analyst, team=team, status=ApprovalRequest.Status.QUEUED)
    return Execution.objects.create(request=request, code_sha256=request.code_sha256, backend="local")


@pytest.fixture
def world(team, analyst) -> dict:
    """A queued run with its execution hold, and holds a claim of it must leave alone."""
    execution = queued_run(team=team, analyst=analyst)
    other = queued_run(team=team, analyst=analyst)
    request = execution.request
    return {
        "team": team,
        "execution": execution,
        "other": other,
        "hold": hold(request, Feature.EXECUTION),
        "untouched": [
            hold(request, Feature.GENERATION),
            hold(request, Feature.EXECUTION, status=Reservation.Status.SETTLED),
            hold(request, Feature.EXECUTION, status=Reservation.Status.RELEASED),
            hold(other.request, Feature.EXECUTION),
        ],
    }


def test_a_queued_run_is_claimed_alike(world):
    execution = world["execution"]
    outcome = assert_same(execution_id=execution.pk)
    at, written = outcome["at"], outcome["written"]

    (claimed,) = written["Execution"]
    assert claimed["id"] == execution.pk
    assert (claimed["status"], claimed["started_at"]) == (Execution.Status.RUNNING, at)
    assert claimed["lease_expires_at"] == at + timedelta(seconds=settings.SANDGATE_LEASE_SECONDS)
    (request,) = written["ApprovalRequest"]
    assert (request["id"], request["status"], request["updated_at"]) == (
        execution.request_id,
        ApprovalRequest.Status.RUNNING,
        at,
    )
    assert written["AuditEvent"] == [
        {
            "created_at": at,
            "action": AuditEvent.Action.EXECUTION_STARTED,
            "actor_id": None,
            "actor_label": "system",
            "team_id": world["team"].pk,
            "target_type": "analysis.execution",
            "target_id": str(execution.pk),
            "request_id": execution.request_id,
            "ip_address": None,
            "user_agent": "",
            "details": {},
            "position": None,
            "prev_hash": "",
            "hash": "",
        }
    ]
    (renewed,) = written["Reservation"]
    assert renewed["id"] == world["hold"].pk
    assert renewed["lease_expires_at"] == at + timedelta(seconds=settings.BUDGET_LEASE_SECONDS)

    loaded = outcome["returned"]
    assert loaded["execution"] == claimed
    assert loaded["request"] == request
    assert loaded["team"] == world["team"].pk


def test_a_second_claim_of_the_same_run_claims_nothing_alike(world):
    assert services._execution_claim(execution_id=world["execution"].pk) is not None
    outcome = assert_same(execution_id=world["execution"].pk)
    assert outcome["returned"] is None
    assert not any(outcome["written"].values())


@pytest.mark.parametrize("status", [ApprovalRequest.Status.CANCELLED, ApprovalRequest.Status.INTERRUPTED])
def test_a_run_whose_request_is_no_longer_queued_is_refused_alike_and_nothing_is_written(world, status):
    ApprovalRequest.objects.filter(pk=world["execution"].request_id).update(status=status)
    outcome = assert_same(execution_id=world["execution"].pk)
    message = f"The request is {status}, so it cannot become running."
    assert outcome["refused"] == (Conflict, "invalid_state", 409, message)
    assert outcome["refused_extra"] == {"status": status}
    assert not any(outcome["written"].values())


def test_a_run_that_does_not_exist_is_not_claimed_alike(world):
    outcome = assert_same(execution_id=uuid.uuid4())
    assert outcome["returned"] is None
    assert not any(outcome["written"].values())


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_claim_is_one_statement_of_its_own_and_one_read(world, django_assert_num_queries):
    assert not connection.in_atomic_block  # as in the worker: no transaction around the claim
    with CaptureQueriesContext(connection) as queries:
        execution = services._execution_claim(execution_id=world["execution"].pk)
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 2, statements
    assert statements[0].startswith("SELECT sandgate_execution_claim(")
    assert statements[1].startswith('SELECT "analysis_execution"')
    with django_assert_num_queries(0):  # what execution_run reads next came with it
        assert execution.request.team.pk == world["team"].pk
    assert Execution.objects.get(pk=execution.pk).status == Execution.Status.RUNNING
