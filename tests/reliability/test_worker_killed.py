"""A worker killed with SIGKILL in the middle of a run: the code never runs twice, the reaper settles it as
soon as the heartbeat is stale (short heartbeat settings here: the worker's environment, this process)."""

from __future__ import annotations

import time
from decimal import Decimal

from analysis.models import Execution
from analysis.services.reaper import INTERRUPTED_MESSAGE, reap_stuck
from analysis.tasks import run_execution
from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve, code_sha256
from audit.models import AuditEvent
from billing.models import Budget, BudgetPeriod, Reservation
from tests.conftest import client_for
from tests.factories import ApprovalRequestFactory

# Prints, then blocks far longer than the test lives: the worker is killed while this runs.
BLOCKING_CODE = "import time\nprint('started', flush=True)\ntime.sleep(100)\n"


HEARTBEAT = {"SANDGATE_HEARTBEAT_SECONDS": "0.5", "SANDGATE_HEARTBEAT_STALE_SECONDS": "3"}


def wait_until(condition, *, timeout: float):
    """Poll `condition` until it is true, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)  # the polling interval, not a synchronisation: the condition decides
    return found


def test_a_run_whose_worker_is_killed_ends_interrupted_within_a_minute_and_is_never_run_again(
    start_worker, team, analyst, reviewer, settings
) -> None:
    settings.SANDGATE_HEARTBEAT_STALE_SECONDS = float(HEARTBEAT["SANDGATE_HEARTBEAT_STALE_SECONDS"])
    Budget.objects.create(team=team, limit_usd=Decimal("10"))
    pending = ApprovalRequestFactory(
        user=analyst, team=team, code=BLOCKING_CODE, code_sha256=code_sha256(BLOCKING_CODE)
    )
    approval_request_approve(request=pending, reviewer=reviewer)
    worker = start_worker(**HEARTBEAT)

    api = client_for(analyst)
    started = api.post("/api/execute", {"requestId": str(pending.pk)}, format="json")
    assert started.status_code == 202, started.content
    execution_id = started.json()["executionId"]
    worker.wait_for(rf"execution {execution_id}: claimed, running it in the \w+ sandbox", timeout=60)
    claimed = Execution.objects.get(pk=execution_id)
    # The worker is alive: its heartbeat moves on, and the reaper leaves the run alone.
    wait_until(lambda: Execution.objects.get(pk=execution_id).heartbeat_at > claimed.heartbeat_at, timeout=30)
    assert reap_stuck()["executions_interrupted"] == 0
    watched = f"/api/executions/{execution_id}"
    wait_until(lambda: api.get(watched).json()["stdout"] == "started\n", timeout=30)
    worker.kill_hard()
    killed_at = time.monotonic()

    running = Execution.objects.get(pk=execution_id)
    assert running.status == Execution.Status.RUNNING
    assert BudgetPeriod.objects.get(budget__team=team).reserved_usd > 0

    # A restarted worker receives the same task again (what Redis does with an unacknowledged message).
    restarted = start_worker(**HEARTBEAT)
    run_execution.delay(execution_id)
    restarted.wait_for_task("analysis.tasks.run_execution", execution_id, timeout=60)
    assert Execution.objects.get(pk=execution_id).started_at == running.started_at
    started_events = AuditEvent.objects.filter(action=AuditEvent.Action.EXECUTION_STARTED)
    assert list(started_events.values_list("target_id", flat=True)) == [execution_id]

    # The reaper (beat runs it every SANDGATE_REAPER_SECONDS) settles it once the heartbeat is stale.
    wait_until(lambda: reap_stuck()["executions_interrupted"], timeout=60)
    assert time.monotonic() - killed_at < 60

    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == Execution.Status.INTERRUPTED
    assert execution.error == {"name": "WorkerLost", "value": INTERRUPTED_MESSAGE, "traceback": ""}
    assert execution.stdout == "started\n"  # what it printed before the kill, kept from the live output
    answer = api.get(watched).json()
    assert answer["status"] == "interrupted" and answer["error"]["value"] == INTERRUPTED_MESSAGE
    assert ApprovalRequest.objects.get(pk=pending.pk).status == ApprovalRequest.Status.INTERRUPTED
    reservation = Reservation.objects.get(request=pending, feature="execution")
    assert reservation.status == Reservation.Status.RELEASED
    assert BudgetPeriod.objects.get(budget__team=team).reserved_usd == 0
    interrupted = AuditEvent.objects.get(action=AuditEvent.Action.EXECUTION_INTERRUPTED)
    assert interrupted.target_id == str(execution_id)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXECUTION_FINISHED).count() == 0
    assert reap_stuck()["executions_interrupted"] == 0
