"""What an approval binds (code, datasets, limits), how long it lasts, and that a run happens once."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from analysis.models import Execution
from analysis.services.execution import execution_run, execution_start
from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve
from audit.models import AuditEvent
from billing.models import Reservation
from tests.factories import ApprovalRequestFactory, demo_dataset
from tests.threads import run_together
from tests.uploads import replace_stored, stored_bytes

Status = ApprovalRequest.Status
Action = AuditEvent.Action


@pytest.fixture
def approved(analyst, reviewer, team):
    request = ApprovalRequestFactory(user=analyst, team=team, risk_level="low")
    request.datasets.set([demo_dataset(team, rows=20)])
    return approval_request_approve(request=request, reviewer=reviewer)


def start(request, analyst) -> Execution:
    execution, _ = execution_start(request=request, user=analyst)
    return execution


def refused_with(execution: Execution, text: str) -> None:
    assert execution.status == Execution.Status.FAILED
    assert text in execution.error["value"]
    (event,) = AuditEvent.objects.filter(action=Action.EXECUTION_REFUSED)
    assert text in event.details["reason"]


def test_the_approval_binds_code_datasets_and_limits(approved):
    assert len(approved.approval_digest) == 64
    assert approved.approval_expires_at > timezone.now()


def test_code_changed_after_approval_is_refused(approved, analyst):
    execution = start(approved, analyst)
    ApprovalRequest.objects.filter(pk=approved.pk).update(code="import os\nos.system('id')\n")
    refused_with(execution_run(execution_id=execution.pk), "is not the approved one")
    approved.refresh_from_db()
    assert approved.status == Status.FAILED


def test_a_dataset_changed_in_storage_after_approval_is_refused(approved, analyst):
    execution = start(approved, analyst)
    dataset = approved.datasets.get()
    replace_stored(dataset, stored_bytes(dataset) + b"2025-12-31,North,Widget,1,1000000\n")
    refused_with(execution_run(execution_id=execution.pk), "“sales.csv” in storage is not the one approved")


def test_a_dataset_changed_after_an_earlier_run_is_refused_although_the_worker_keeps_a_copy(
    approved, analyst, reviewer, team
):
    """The worker's cached copy holds the approved bytes; the object changed in storage is still noticed."""
    assert execution_run(execution_id=start(approved, analyst).pk).status == Execution.Status.SUCCEEDED
    dataset = approved.datasets.get()
    replace_stored(dataset, stored_bytes(dataset).replace(b"North", b"Nowhere"))
    again = ApprovalRequestFactory(user=analyst, team=team, risk_level="low")
    again.datasets.set([dataset])
    again = approval_request_approve(request=again, reviewer=reviewer)
    refused_with(execution_run(execution_id=start(again, analyst).pk), "in storage is not the one approved")


def test_a_dataset_missing_from_storage_is_refused(approved, analyst):
    execution = start(approved, analyst)
    dataset = approved.datasets.get()
    dataset.file.storage.delete(dataset.file.name)
    refused_with(execution_run(execution_id=execution.pk), "The dataset “sales.csv” is missing from storage")


def test_limits_changed_after_approval_are_refused(approved, analyst):
    execution = start(approved, analyst)
    approved.team.sandbox_limits = {"wall_seconds": 5}
    approved.team.save()
    refused_with(execution_run(execution_id=execution.pk), "datasets or limits changed")


def test_an_expired_approval_is_refused_when_the_run_starts(approved, analyst, settings):
    execution = start(approved, analyst)
    with time_machine.travel(timezone.now() + timedelta(hours=settings.APPROVAL_TTL_HOURS, minutes=1)):
        execution = execution_run(execution_id=execution.pk)
    assert execution.status == Execution.Status.FAILED
    assert execution.error["name"] == "ApprovalExpired"
    approved.refresh_from_db()
    assert approved.status == Status.EXPIRED
    (expired,) = AuditEvent.objects.filter(action=Action.REQUEST_EXPIRED)
    assert expired.request_id == approved.pk
    assert AuditEvent.objects.filter(action=Action.EXECUTION_REFUSED).count() == 1


def test_the_approval_lasts_the_configured_hours(analyst, reviewer, team, settings):
    settings.APPROVAL_TTL_HOURS = 2
    request = ApprovalRequestFactory(user=analyst, team=team)
    before = timezone.now()
    request = approval_request_approve(request=request, reviewer=reviewer)
    assert timedelta(hours=2) <= request.approval_expires_at - before < timedelta(hours=2, seconds=5)


def test_a_double_execute_and_a_redelivered_task_run_the_code_once(approved, as_user, analyst):
    body = {"requestId": str(approved.pk)}
    first = as_user(analyst).post("/api/execute", body, format="json")
    second = as_user(analyst).post("/api/execute", body, format="json")
    assert first.json()["executionId"] == second.json()["executionId"]
    execution_id = first.json()["executionId"]

    ran = execution_run(execution_id=execution_id)
    redelivered = execution_run(execution_id=execution_id)

    assert ran.status == Execution.Status.SUCCEEDED, ran.error
    assert "hello from the sandbox" in ran.stdout
    assert redelivered is None
    assert Execution.objects.filter(request=approved).count() == 1
    assert AuditEvent.objects.filter(action=Action.EXECUTION_STARTED).count() == 1
    assert AuditEvent.objects.filter(action=Action.EXECUTION_FINISHED).count() == 1


def test_claiming_a_run_renews_its_holds_lease_so_the_sweeper_leaves_it(approved, analyst, settings):
    from analysis.services.execution import _execution_claim
    from billing.models import Reservation
    from billing.services import reservation_sweep

    execution = start(approved, analyst)
    hold = Reservation.objects.get(request=approved, feature="execution")
    # The message waited in the queue past the hold's lease (a long backlog): the sweeper may release it.
    Reservation.objects.filter(pk=hold.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert _execution_claim(execution_id=execution.pk) is not None

    hold.refresh_from_db()
    assert hold.lease_expires_at > timezone.now() + timedelta(seconds=settings.BUDGET_LEASE_SECONDS - 60)
    assert reservation_sweep() == 0
    assert Reservation.objects.get(pk=hold.pk).status == Reservation.Status.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_two_executes_at_once_queue_one_run_and_hold_its_budget_once(team, analyst, reviewer, prices):
    request = ApprovalRequestFactory(user=analyst, team=team, risk_level="low")
    request = approval_request_approve(request=request, reviewer=reviewer)

    results = run_together([lambda: execution_start(request=request, user=analyst)] * 2)

    assert all(isinstance(r, tuple) for r in results), results
    assert sorted(created for _, created in results) == [False, True]
    assert len({execution.pk for execution, _ in results}) == 1
    assert Execution.objects.filter(request=request).count() == 1
    assert Reservation.objects.filter(request=request, feature="execution").count() == 1
    assert AuditEvent.objects.filter(action=Action.EXECUTION_QUEUED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_task_delivered_twice_at_once_runs_the_code_once(team, analyst, reviewer, prices):
    request = ApprovalRequestFactory(user=analyst, team=team, risk_level="low")
    request.datasets.set([demo_dataset(team, rows=20)])
    execution = start(approval_request_approve(request=request, reviewer=reviewer), analyst)

    results = run_together([lambda: execution_run(execution_id=execution.pk)] * 2)

    ran = [r for r in results if isinstance(r, Execution)]
    assert len(ran) == 1 and results.count(None) == 1, results
    assert ran[0].status == Execution.Status.SUCCEEDED, ran[0].error
    assert AuditEvent.objects.filter(action=Action.EXECUTION_STARTED).count() == 1
    assert AuditEvent.objects.filter(action=Action.EXECUTION_FINISHED).count() == 1
    assert Reservation.objects.get(request=request, feature="execution").status == Reservation.Status.SETTLED


def test_without_an_answer_for_the_runs_limits_nothing_is_approved(analyst, reviewer, team):
    from django.core.exceptions import ImproperlyConfigured

    from analysis.receivers import _run_limits
    from approvals.signals import run_limits_wanted

    request = ApprovalRequestFactory(user=analyst, team=team, risk_level="low")
    assert run_limits_wanted.disconnect(dispatch_uid="analysis.run_limits")
    try:
        with pytest.raises(ImproperlyConfigured):
            approval_request_approve(request=request, reviewer=reviewer)
    finally:
        run_limits_wanted.connect(_run_limits, dispatch_uid="analysis.run_limits")
    request.refresh_from_db()
    assert request.status == Status.PENDING_REVIEW and not request.votes.exists()
