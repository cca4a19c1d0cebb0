"""Running approved code: queuing the one run, claiming it, checking what the approval bound, the sandbox,
the result."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services import (
    approval_digest,
    approval_is_expired,
    approval_request_expire,
    approval_request_transition,
    code_sha256,
)
from audit.models import AuditEvent
from audit.services import audit_log
from billing.models import CostSpan, Team
from billing.services import (
    BudgetExceeded,
    audit_budget_refusals,
    budget_lease_renew,
    budget_reserve,
    budget_settle_request,
    cost_span_record_execution,
    sandbox_cost,
)
from config.connections import drop_stale_connection
from config.enqueue import enqueue_on_commit
from config.exceptions import Conflict, Forbidden

from .. import tracing
from ..dataset_cache import MISSING, LocalCopy, dataset_local_copy
from ..live import RunWatch, live_output_end
from ..models import Dataset, Execution, Message, Session
from ..sandboxes import get_sandbox, run_seconds_ceiling
from ..sandboxes.base import CodeIntegrityError, DatasetMount, Limits, SandboxResult
from .artifacts import artifacts_store

logger = logging.getLogger(__name__)
Status = ApprovalRequest.Status
Action = AuditEvent.Action


NOT_YOUR_RUN = "Only the analyst who asked this question can start its run; reviewers and auditors cannot."


@audit_budget_refusals
@transaction.atomic
def execution_start(*, request: ApprovalRequest, user, on_approval: bool = False) -> tuple[Execution, bool]:
    """Queue the one execution of an approved request. Calling it again returns the same execution.

    Only the request's own analyst starts its run. With `on_approval` the system starts it on the approving
    reviewer's behalf (SANDGATE_EXECUTE_ON_APPROVAL): then `user` must be the request's approving reviewer.
    """
    if not on_approval and request.user_id != user.pk:
        raise Forbidden(NOT_YOUR_RUN, code="not_your_request")
    # Locks the request row only (`of`); its team and requester come along for the budget reservation.
    request = (
        ApprovalRequest.objects.select_related("team", "user")
        .select_for_update(of=("self",))
        .get(pk=request.pk)
    )
    if on_approval and request.reviewer_id != user.pk:
        raise Forbidden(NOT_YOUR_RUN, code="not_your_request")
    existing = Execution.objects.filter(request=request).first()
    if existing is not None:
        return existing, False
    if request.status != Status.APPROVED:
        raise Conflict(
            f"Only approved requests can run; this one is {request.status}.",
            code="not_approved",
            extra={"status": request.status},
        )
    # Over a budget: 402 here, nothing queued, and the request stays approved.
    budget_reserve(
        team=request.team,
        user=request.user,
        feature=CostSpan.Feature.EXECUTION,
        amount=execution_cost_ceiling(team=request.team),
        request=request,
    )
    execution = Execution.objects.create(
        request=request,
        code_sha256=request.approved_code_sha256,
        backend=settings.SANDBOX_BACKEND,
        status=Execution.Status.WAITING,
    )
    approval_request_transition(request=request, source=(Status.APPROVED,), target=Status.QUEUED)
    runs_release(team_id=request.team_id)  # a free slot of the team: queued and published at once
    execution.refresh_from_db(fields=["status", "queued_at"])
    audit_log(
        action=Action.EXECUTION_QUEUED,
        actor=user,
        team=request.team,
        target=execution,
        details={
            "request_id": str(request.pk),
            "code_sha256": execution.code_sha256,
            "status": execution.status,
        },
    )
    return execution, True


def runs_release(*, team_id) -> int:
    """Give the team's free run slots to its oldest waiting executions and publish their tasks.

    Call it inside a transaction. One team's runs queued or running at once are at most its
    `max_active_runs` (else SANDGATE_RUNS_PER_TEAM); the others wait here, in the database, not in the broker,
    so another team's next run is never behind more than that many of this team's in the execute queue.
    The team row's lock makes every start and end of the team's runs take turns: no two of them can give
    away the same slot.
    """
    cap = (
        Team.objects.select_for_update().filter(pk=team_id).values_list("max_active_runs", flat=True).first()
    )
    cap = cap or settings.SANDGATE_RUNS_PER_TEAM
    team_runs = Execution.objects.filter(request__team_id=team_id)
    free = cap - team_runs.filter(status__in=(Execution.Status.QUEUED, Execution.Status.RUNNING)).count()
    if free <= 0:
        return 0
    waiting = team_runs.filter(status=Execution.Status.WAITING).order_by("created_at", "pk")
    ids = list(waiting.values_list("pk", flat=True)[:free])
    Execution.objects.filter(pk__in=ids, status=Execution.Status.WAITING).update(
        status=Execution.Status.QUEUED, queued_at=timezone.now()
    )
    from ..tasks import run_execution

    for pk in ids:
        enqueue_on_commit(run_execution, str(pk))  # broker down: the reaper publishes it again
    return len(ids)


@transaction.atomic
def runs_release_waiting(*, team_id) -> int:
    """The reaper's turn at `runs_release` (a slot freed without a release, or the team's cap raised)."""
    return runs_release(team_id=team_id)


def execution_start_on_approval(*, request: ApprovalRequest, reviewer) -> None:
    """With SANDGATE_EXECUTE_ON_APPROVAL, queue the run in the approval's transaction (`request_approved`).

    Over a budget the approval stands and nothing is queued; `POST /api/execute` answers the 402 once someone
    tries to run it. The approved `request` is left saying what the row now says (queued).
    """
    if not settings.SANDGATE_EXECUTE_ON_APPROVAL:
        return
    try:
        with transaction.atomic():  # a savepoint: a refused run must not undo the approval
            execution, _ = execution_start(request=request, user=reviewer, on_approval=True)
    except BudgetExceeded:
        return
    request.status, request.updated_at = execution.request.status, execution.request.updated_at


def execution_limits(*, team: Team) -> Limits:
    """The sandbox limits of a run for `team`: the settings, overridden per team. The approval binds them."""
    return Limits.merged(settings.SANDBOX_LIMITS, team.sandbox_limits)


def execution_cost_ceiling(*, team: Team) -> Decimal:
    """The most one run for `team` can be charged, at the team's limits. A run's hold is this."""
    return sandbox_cost_ceiling(limits=execution_limits(team=team))


def sandbox_cost_ceiling(*, limits: Limits) -> Decimal:
    """The most one sandbox run at `limits` can be charged: the longest the backend counts it (wall limit,
    kill grace, reaping), at its memory limit, priced as its charge is priced (`_execution_finish`)."""
    return sandbox_cost(
        seconds=run_seconds_ceiling(limits, settings.SANDBOX_BACKEND),
        memory_mb=limits.memory_mb,
        backend=settings.SANDBOX_BACKEND,
    )


@transaction.atomic
def _execution_claim(*, execution_id) -> Execution | None:
    """Claim the run exactly once; a redelivered task finds nothing to claim."""
    now = timezone.now()
    claimed = Execution.objects.filter(pk=execution_id, status=Execution.Status.QUEUED).update(
        status=Execution.Status.RUNNING,
        started_at=now,
        lease_expires_at=now + timedelta(seconds=settings.SANDGATE_LEASE_SECONDS),
        heartbeat_at=now,
    )
    if claimed != 1:
        return None
    execution = Execution.objects.select_related("request", "request__team").get(pk=execution_id)
    approval_request_transition(request=execution.request, source=(Status.QUEUED,), target=Status.RUNNING)
    audit_log(action=Action.EXECUTION_STARTED, team=execution.request.team, target=execution)
    # In the claim's transaction: no moment where the run is claimed and its hold's lease is still the old
    # one (the sweeper could release it), and one commit fewer before the run starts.
    budget_lease_renew(request=execution.request, feature=CostSpan.Feature.EXECUTION)
    return execution


def _integrity_error(
    *, execution: Execution, copies: list[tuple[Dataset, LocalCopy]], limits: Limits
) -> str | None:
    """Recompute what the approval bound (code, datasets as storage holds them now, limits); None if
    unchanged."""
    request = execution.request
    actual = code_sha256(request.code)
    if not (actual == request.approved_code_sha256 == execution.code_sha256):
        return f"The code's SHA-256 ({actual[:12]}…) is not the approved one; refusing to run it."
    for dataset, copy in copies:
        if copy.path is None:
            return _dataset_changed(dataset=dataset, found=copy.sha256)
    hashed = [(dataset.name, copy.sha256) for dataset, copy in copies]
    digest = approval_digest(code_sha256=actual, datasets=hashed, limits=asdict(limits))
    if digest != request.approval_digest:
        return "The datasets or limits changed since the approval; refusing to run it."
    return None


def _dataset_changed(*, dataset: Dataset, found: str) -> str:
    if found == MISSING:
        return f"The dataset “{dataset.name}” is missing from storage; refusing to run it."
    now = f"its SHA-256 is now {found[:12]}…, approved {dataset.sha256[:12]}…" if len(found) == 64 else found
    return f"The dataset “{dataset.name}” in storage is not the one approved ({now}); refusing to run it."


def _local_copies(*, datasets: list[Dataset]) -> list[tuple[Dataset, LocalCopy]] | str:
    """Each dataset fetched from storage into the worker's cache and verified; or why that failed."""
    copies = []
    for dataset in datasets:
        try:
            copy = dataset_local_copy(
                storage=dataset.file.storage, name=dataset.file.name, expected_sha256=dataset.sha256
            )
        except Exception as exc:  # storage unreachable: the run ends, saying so
            logger.exception("could not fetch dataset %s", dataset.pk)
            return (
                f"Sandgate could not fetch the dataset “{dataset.name}” from storage ({exc}); it did not run."
            )
        copies.append((dataset, copy))
    return copies


def execution_run(*, execution_id) -> Execution | None:
    """Run an approved, queued execution in the sandbox; runs in the `execute` worker."""
    execution = _execution_claim(execution_id=execution_id)
    if execution is None:
        return None
    request = execution.request
    limits = execution_limits(team=request.team)
    if approval_is_expired(request=request):
        reason = "The approval expired before the run."
        return _execution_refuse(execution=execution, reason=reason, expired=True)
    copies = _local_copies(datasets=list(request.datasets.all()))
    if isinstance(copies, str):
        return _execution_refuse(execution=execution, reason=copies)
    refusal = _integrity_error(execution=execution, copies=copies, limits=limits)
    if refusal is not None:
        return _execution_refuse(execution=execution, reason=refusal)
    # Mounted read-only: the local copies just verified against the approval, never a path of the web's disk.
    mounts = [DatasetMount(name=dataset.name, host_path=str(copy.path)) for dataset, copy in copies]
    started = time.monotonic()
    logger.info("execution %s: claimed, running it in the %s sandbox", execution_id, execution.backend)
    watch = RunWatch(
        beat=lambda: execution_heartbeat(execution_id=execution_id),
        execution_id=execution_id,
        output_bytes=limits.output_bytes,
        wall_seconds=limits.wall_seconds,
    )
    with tracing.execution_span(request=request, backend=execution.backend) as traced:
        try:
            with watch:
                result = get_sandbox().run(
                    code=request.code,
                    code_sha256=execution.code_sha256,
                    datasets=mounts,
                    limits=limits,
                    on_output=watch.write,
                )
        except CodeIntegrityError as exc:  # the backend's own last-moment re-hash
            return _execution_refuse(execution=execution, reason=str(exc))
        except Exception as exc:  # the sandbox itself broke: the run still must end, visibly
            logger.exception("sandbox failure for execution %s", execution_id)
            result = SandboxResult(error={"name": "SandboxError", "value": str(exc), "traceback": ""})
        result.duration_ms = result.duration_ms or int((time.monotonic() - started) * 1000)
        drop_stale_connection()  # the run may outlast the connection: don't lose its result to a dead one
        result.limits = _limits_in_force(limits=limits, team=request.team, record=result.limits)
        status = _final_status(result)
        tracing.execution_span_finish(span=traced, status=status, duration_ms=result.duration_ms)
    return _execution_finish(execution=execution, result=result, limits=limits, output_seq=watch.seq)


def execution_heartbeat(*, execution_id) -> int:
    """The worker running this execution is alive (analysis.live.RunWatch renews it)."""
    running = Execution.objects.filter(pk=execution_id, status=Execution.Status.RUNNING)
    return running.update(heartbeat_at=timezone.now())


def _limits_in_force(*, limits: Limits, team: Team, record: dict) -> dict:
    """The limits applied (settings, then the team's overrides) plus what the backend says it enforced."""
    overrides = sorted(k for k, v in (team.sandbox_limits or {}).items() if getattr(limits, k, None) == v)
    return {**asdict(limits), **record, "team_overrides": overrides}


def _final_status(result: SandboxResult) -> str:
    if result.timed_out:
        return Execution.Status.TIMED_OUT
    return Execution.Status.SUCCEEDED if result.succeeded else Execution.Status.FAILED


@transaction.atomic
def _execution_finish(
    *, execution: Execution, result: SandboxResult, limits: Limits, output_seq: int = 0
) -> Execution:
    status = _final_status(result)
    Execution.objects.filter(pk=execution.pk, status=Execution.Status.RUNNING).update(
        output_seq=output_seq,
        status=status,
        stdout=result.stdout,
        stderr=result.stderr,
        error=result.error,
        results=result.results,
        limits=result.limits,
        finished_at=timezone.now(),
        duration_ms=result.duration_ms,
    )
    execution.refresh_from_db()
    live_output_end(execution_id=execution.pk)
    artifacts_store(execution=execution, result=result)
    request = approval_request_transition(request=execution.request, source=(Status.RUNNING,), target=status)
    cost_span_record_execution(
        request=request,
        backend=execution.backend,
        seconds=result.duration_ms / 1000,
        memory_mb=limits.memory_mb,
    )
    budget_settle_request(request=request, feature=CostSpan.Feature.EXECUTION)
    runs_release(team_id=request.team_id)  # its slot, to the team's next waiting run
    audit_log(
        action=Action.EXECUTION_FINISHED,
        team=request.team,
        target=execution,
        details={
            "status": status,
            "duration_ms": result.duration_ms,
            "code_sha256": execution.code_sha256,
            "artifacts": [{"name": a.name, "sha256": a.sha256} for a in result.artifacts],
        },
    )
    Message.objects.create(
        session_id=request.session_id,
        role=Message.Role.ASSISTANT,
        content=_summary(result, status),
        request=request,
    )
    Session.objects.filter(pk=request.session_id).update(last_activity_at=timezone.now())
    return execution


@transaction.atomic
def _execution_refuse(*, execution: Execution, reason: str, expired: bool = False) -> Execution:
    error = {"name": "ApprovalExpired" if expired else "IntegrityError", "value": reason, "traceback": ""}
    Execution.objects.filter(pk=execution.pk).update(
        status=Execution.Status.FAILED, error=error, finished_at=timezone.now(), duration_ms=0
    )
    if expired:
        approval_request_expire(request=execution.request, source=(Status.RUNNING,))
    else:
        approval_request_transition(request=execution.request, source=(Status.RUNNING,), target=Status.FAILED)
    budget_settle_request(request=execution.request, feature=CostSpan.Feature.EXECUTION)
    runs_release(team_id=execution.request.team_id)
    audit_log(
        action=Action.EXECUTION_REFUSED,
        team=execution.request.team,
        target=execution,
        details={"reason": reason},
    )
    execution.refresh_from_db()
    return execution


def _summary(result: SandboxResult, status: str) -> str:
    if result.timed_out:
        return "The analysis ran out of time and was stopped."
    if result.error:
        return f"The analysis failed: {result.error.get('name')}: {result.error.get('value')}"
    charts = sum(1 for r in result.results if "png" in r)
    text = result.stdout.strip()[:1000]
    return f"{text}\n\n{charts} chart(s)." if charts else text or f"The analysis {status}."
