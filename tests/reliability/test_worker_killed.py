"""A worker killed with SIGKILL in the middle of a run: the code never runs twice, the reaper settles it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from analysis.models import Execution
from analysis.services.reaper import reap_stuck
from analysis.tasks import run_execution
from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve, code_sha256
from audit.models import AuditEvent
from billing.models import Budget, BudgetPeriod, Reservation
from tests.conftest import client_for
from tests.factories import ApprovalRequestFactory

# Prints, then blocks far longer than the test lives: the worker is killed while this runs.
BLOCKING_CODE = "import time\nprint('started', flush=True)\ntime.sleep(100)\n"


def test_a_run_whose_worker_is_killed_ends_interrupted_and_is_never_run_again(
    start_worker, team, analyst, reviewer
) -> None:
    Budget.objects.create(team=team, limit_usd=Decimal("10"))
    pending = ApprovalRequestFactory(
        user=analyst, team=team, code=BLOCKING_CODE, code_sha256=code_sha256(BLOCKING_CODE)
    )
    approval_request_approve(request=pending, reviewer=reviewer)
    worker = start_worker()

    started = client_for(analyst).post("/api/execute", {"requestId": str(pending.pk)}, format="json")
    assert started.status_code == 202, started.content
    execution_id = started.json()["executionId"]
    worker.wait_for(rf"execution {execution_id}: claimed, running it in the \w+ sandbox", timeout=60)
    worker.kill_hard()

    running = Execution.objects.get(pk=execution_id)
    assert running.status == Execution.Status.RUNNING
    assert running.lease_expires_at is not None
    assert BudgetPeriod.objects.get(budget__team=team).reserved_usd > 0

    # A restarted worker receives the same task again (what Redis does with an unacknowledged message).
    restarted = start_worker()
    run_execution.delay(execution_id)
    restarted.wait_for_task("analysis.tasks.run_execution", execution_id, timeout=60)
    assert Execution.objects.get(pk=execution_id).started_at == running.started_at
    started_events = AuditEvent.objects.filter(action=AuditEvent.Action.EXECUTION_STARTED)
    assert list(started_events.values_list("target_id", flat=True)) == [execution_id]

    assert reap_stuck(now=running.lease_expires_at - timedelta(seconds=1))["executions_interrupted"] == 0
    reaped = reap_stuck(now=running.lease_expires_at + timedelta(seconds=1))

    assert reaped["executions_interrupted"] == 1
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == Execution.Status.INTERRUPTED
    assert execution.error["name"] == "WorkerLost"
    assert ApprovalRequest.objects.get(pk=pending.pk).status == ApprovalRequest.Status.INTERRUPTED
    reservation = Reservation.objects.get(request=pending, feature="execution")
    assert reservation.status == Reservation.Status.RELEASED
    assert BudgetPeriod.objects.get(budget__team=team).reserved_usd == 0
    interrupted = AuditEvent.objects.get(action=AuditEvent.Action.EXECUTION_INTERRUPTED)
    assert interrupted.target_id == str(execution_id)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXECUTION_FINISHED).count() == 0
    assert reap_stuck(now=running.lease_expires_at + timedelta(seconds=1))["executions_interrupted"] == 0
