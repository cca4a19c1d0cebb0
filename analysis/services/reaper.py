"""The periodic reaper: rows whose worker died are settled; tasks that never reached the broker are enqueued
again."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services import approval_request_transition
from audit.models import AuditEvent
from audit.services import audit_log
from billing.models import CostSpan
from billing.services import budget_release_request

from ..live import live_output_end, live_output_read
from ..models import Dataset, Execution, Message
from .datasets import dataset_profiling_interrupt, dataset_profiling_release
from .execution import runs_release, runs_release_waiting

logger = logging.getLogger(__name__)
Status = ApprovalRequest.Status
Action = AuditEvent.Action


INTERRUPTED_MESSAGE = (
    "The worker running this stopped; the code was not run again — ask again or run it again."
)


def reap_stuck(*, now=None, limit: int = 500) -> dict[str, int]:
    """The periodic reaper: settle rows whose worker died, re-enqueue tasks that never reached the broker."""
    now = now or timezone.now()
    counts = {
        "executions_interrupted": _executions_interrupt_expired(now=now, limit=limit),
        "requests_interrupted": _requests_interrupt_expired(now=now, limit=limit),
        "executions_requeued": _executions_requeue_unclaimed(now=now, limit=limit),
        "executions_released": _executions_release_waiting(limit=limit),
        "requests_requeued": _requests_requeue_unclaimed(now=now, limit=limit),
        "profiles_interrupted": _profiles_interrupt_expired(now=now, limit=limit),
        "profiles_requeued": _profiles_requeue_unclaimed(now=now, limit=limit),
        "profiles_released": _profiles_release_waiting(limit=limit),
    }
    if any(counts.values()):
        logger.warning("reaper: %s", counts)
    return counts


def worker_lost_q(*, now, heartbeat: str, lease: str) -> Q:
    """Rows whose worker is presumed dead: the heartbeat stale (SANDGATE_HEARTBEAT_STALE_SECONDS), or the
    lease past (the hard time limit and a margin: a worker that beats yet never ends)."""
    stale = now - timedelta(seconds=settings.SANDGATE_HEARTBEAT_STALE_SECONDS)
    return Q(**{f"{heartbeat}__lt": stale}) | Q(**{f"{lease}__lt": now})


def _executions_interrupt_expired(*, now, limit: int) -> int:
    lost = worker_lost_q(now=now, heartbeat="heartbeat_at", lease="lease_expires_at")
    expired = Execution.objects.filter(lost, status=Execution.Status.RUNNING)
    ids = list(expired.values_list("pk", flat=True)[:limit])
    return sum(execution_interrupt(execution_id=pk, now=now) for pk in ids)


@transaction.atomic
def execution_interrupt(*, execution_id, now) -> int:
    """A running execution whose worker is presumed dead ends `interrupted`, its budget hold released, what it
    printed until then kept as its output; never re-run."""
    error = {"name": "WorkerLost", "value": INTERRUPTED_MESSAGE, "traceback": ""}
    lost = worker_lost_q(now=now, heartbeat="heartbeat_at", lease="lease_expires_at")
    printed = live_output_read(execution_id=execution_id)
    interrupted = Execution.objects.filter(lost, pk=execution_id, status=Execution.Status.RUNNING).update(
        status=Execution.Status.INTERRUPTED,
        error=error,
        finished_at=now,
        stdout=printed.stdout,
        stderr=printed.stderr,
        output_seq=printed.seq,
    )
    if interrupted != 1:
        return 0  # finished (or reaped) meanwhile
    live_output_end(execution_id=execution_id)
    execution = Execution.objects.select_related("request", "request__team").get(pk=execution_id)
    request = approval_request_transition(
        request=execution.request, source=(Status.RUNNING, Status.QUEUED), target=Status.INTERRUPTED
    )
    released = budget_release_request(request=request, feature=CostSpan.Feature.EXECUTION)
    runs_release(team_id=request.team_id)
    details = {
        "heartbeat_at": _iso(execution.heartbeat_at),
        "lease_expires_at": execution.lease_expires_at.isoformat(),
        "reservations_released": released,
    }
    audit_log(action=Action.EXECUTION_INTERRUPTED, team=request.team, target=execution, details=details)
    _interrupted_message(request=request)
    return 1


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def _requests_interrupt_expired(*, now, limit: int) -> int:
    lost = worker_lost_q(now=now, heartbeat="generation_heartbeat_at", lease="generation_lease_expires_at")
    expired = ApprovalRequest.objects.filter(lost, status=Status.GENERATING)
    ids = list(expired.values_list("pk", flat=True)[:limit])
    return sum(request_interrupt(request_id=pk, now=now) for pk in ids)


@transaction.atomic
def request_interrupt(*, request_id, now) -> int:
    """A request whose generating worker is presumed dead ends `interrupted`, its budget hold released."""
    lost = worker_lost_q(now=now, heartbeat="generation_heartbeat_at", lease="generation_lease_expires_at")
    interrupted = ApprovalRequest.objects.filter(lost, pk=request_id, status=Status.GENERATING).update(
        status=Status.INTERRUPTED, generation_error=INTERRUPTED_MESSAGE, updated_at=now
    )
    if interrupted != 1:
        return 0
    request = ApprovalRequest.objects.select_related("team").get(pk=request_id)
    released = budget_release_request(request=request, feature=CostSpan.Feature.GENERATION)
    details = {
        "heartbeat_at": _iso(request.generation_heartbeat_at),
        "lease_expires_at": request.generation_lease_expires_at.isoformat(),
        "reservations_released": released,
    }
    audit_log(action=Action.REQUEST_INTERRUPTED, team=request.team, target=request, details=details)
    _interrupted_message(request=request)
    return 1


def _interrupted_message(*, request: ApprovalRequest) -> None:
    Message.objects.create(
        session_id=request.session_id,
        role=Message.Role.ASSISTANT,
        content=INTERRUPTED_MESSAGE,
        request=request,
    )


def _requeue_cutoff(now):
    return now - timedelta(seconds=settings.SANDGATE_REQUEUE_AFTER_SECONDS)


def _executions_requeue_unclaimed(*, now, limit: int) -> int:
    from ..tasks import run_execution

    cutoff = _requeue_cutoff(now)
    published_long_ago = Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, created_at__lt=cutoff)
    unclaimed = Execution.objects.filter(published_long_ago, status=Execution.Status.QUEUED)
    return _publish_each(task=run_execution, ids=list(unclaimed.values_list("pk", flat=True)[:limit]))


def _executions_release_waiting(*, limit: int) -> int:
    """Runs waiting for a slot of their team that is free (a release lost, or the team's cap raised); the
    teams whose oldest waiting run is oldest go first."""
    waiting = (
        Execution.objects.filter(status=Execution.Status.WAITING)
        .values("request__team_id")
        .annotate(oldest=Min("created_at"))
        .order_by("oldest")
    )
    teams = [row["request__team_id"] for row in waiting[:limit]]
    return sum(runs_release_waiting(team_id=team_id) for team_id in teams)


def _requests_requeue_unclaimed(*, now, limit: int) -> int:
    from ..tasks import generate_code

    unclaimed = ApprovalRequest.objects.filter(
        status=Status.GENERATING,
        generation_lease_expires_at__isnull=True,
        created_at__lt=_requeue_cutoff(now),
    )
    return _publish_each(task=generate_code, ids=list(unclaimed.values_list("pk", flat=True)[:limit]))


def _profiles_interrupt_expired(*, now, limit: int) -> int:
    expired = Dataset.objects.filter(status=Dataset.Status.PROFILING, lease_expires_at__lt=now)
    ids = list(expired.values_list("pk", flat=True)[:limit])
    return sum(dataset_profiling_interrupt(dataset_id=pk, now=now) for pk in ids)


def _profiles_requeue_unclaimed(*, now, limit: int) -> int:
    from ..tasks import profile_dataset

    unclaimed = Dataset.objects.filter(
        status=Dataset.Status.PROFILING,
        profiling_started_at__isnull=True,
        enqueued_at__lt=_requeue_cutoff(now),
    )
    return _publish_each(task=profile_dataset, ids=list(unclaimed.values_list("pk", flat=True)[:limit]))


def _profiles_release_waiting(*, limit: int) -> int:
    """Uploads still waiting for a profiling slot that is free (a release lost, or the setting raised)."""
    waiting = Dataset.objects.filter(status=Dataset.Status.QUEUED).order_by("team_id")
    teams = waiting.values_list("team_id", flat=True).distinct()
    return sum(dataset_profiling_release(team_id=team_id) for team_id in list(teams[:limit]))


def _publish_each(*, task, ids: list) -> int:
    """Enqueue again; a duplicate of a message still waiting in the queue is harmless (the claim)."""
    for pk in ids:
        task.delay(str(pk))
        logger.warning("re-enqueued %s(%s): it was never claimed", task.name, pk)
    return len(ids)
