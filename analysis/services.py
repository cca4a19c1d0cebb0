"""Writes of the analysis app: datasets, sessions, submitting a question, generating code, running it."""

from __future__ import annotations

import hashlib
import logging
import re
import time

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services import (
    approval_request_generation_fail,
    approval_request_generation_succeed,
    approval_request_transition,
    code_sha256,
)
from audit.models import AuditEvent
from audit.services import audit_log
from billing.models import CostSpan, Team
from billing.selectors import ASKING_ROLES, team_list_for_user
from billing.services import cost_span_record_execution, cost_span_record_llm, request_cost_estimate
from config.exceptions import ApplicationError, Conflict, Forbidden, NotFound

from .datasets import profile_csv
from .llm import get_generator
from .llm.base import GenerationError, GenerationInput
from .models import Dataset, Execution, Message, Session
from .sandboxes import get_sandbox
from .sandboxes.base import DatasetMount, Limits, SandboxResult
from .selectors import dataset_context, session_history

logger = logging.getLogger(__name__)
Status = ApprovalRequest.Status
Action = AuditEvent.Action
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,120}\.(csv)$")


# --- datasets ---------------------------------------------------------------------------------


@transaction.atomic
def dataset_create(*, team: Team, name: str, content: bytes, user=None) -> Dataset:
    if not SAFE_NAME.match(name):
        raise ApplicationError("Dataset names are plain file names ending in .csv.", code="invalid_dataset")
    if len(content) > settings.SANDGATE_MAX_DATASET_MB * 1024 * 1024:
        raise ApplicationError("The file is too large.", code="dataset_too_large")
    try:
        row_count, columns = profile_csv(content)
    except ValueError as exc:
        raise ApplicationError(str(exc), code="invalid_dataset") from exc
    dataset = Dataset(
        team=team,
        name=name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        row_count=row_count,
        columns=columns,
        uploaded_by=user,
    )
    dataset.file.save(name, ContentFile(content), save=False)
    dataset.save()
    audit_log(
        action=Action.DATASET_UPLOADED,
        actor=user,
        team=team,
        target=dataset,
        details={"name": name, "sha256": dataset.sha256, "size": dataset.size},
    )
    return dataset


# --- asking -----------------------------------------------------------------------------------


def _asking_team(*, user, team_id) -> Team:
    """The team the question is asked for: only ever one the user belongs to."""
    teams = team_list_for_user(user=user, roles=ASKING_ROLES).order_by("slug")
    if team_id:
        team = teams.filter(pk=team_id).first() if _is_uuid(team_id) else None
        if team is not None:
            return team
    team = teams.first()
    if team is None:
        raise Forbidden("You are not an analyst or reviewer in any team.", code="no_team")
    return team


def _is_uuid(value) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _session_for(*, user, team: Team, session_id, query: str) -> Session:
    if session_id is None:
        session = Session.objects.create(user=user, team=team, title=query[:200])
        audit_log(action=Action.SESSION_CREATED, actor=user, team=team, target=session)
        return session
    session = Session.objects.select_for_update().filter(pk=session_id, user=user, team=team).first()
    if session is None:
        raise NotFound("Session not found.")
    if session.status != Session.Status.ACTIVE:
        raise Conflict(f"The session is {session.status}; start a new one.", code="session_closed")
    return session


def _datasets_for(
    *, team: Team, dataset_ids: list | None, query: str, session: Session | None
) -> list[Dataset]:
    team_datasets = Dataset.objects.filter(team=team)
    if dataset_ids:
        found = list(team_datasets.filter(pk__in=dataset_ids))
        if len(found) != len(set(map(str, dataset_ids))):
            raise NotFound("Dataset not found.")
        return found
    mentioned = [d for d in team_datasets if d.name.lower() in query.lower()]
    if mentioned:
        return mentioned
    if session is not None:
        previous = ApprovalRequest.objects.filter(session=session).order_by("-created_at").first()
        if previous is not None:
            return list(previous.datasets.all())
    return list(team_datasets) if team_datasets.count() == 1 else []


@transaction.atomic
def analysis_submit(
    *, user, query: str, session_id=None, dataset_ids: list | None = None, team_id=None
) -> ApprovalRequest:
    """Record the question and hand code generation to a worker (never in the web request)."""
    team = _asking_team(user=user, team_id=team_id)
    existing_session = session_id is not None
    session = _session_for(user=user, team=team, session_id=session_id, query=query)
    datasets = _datasets_for(
        team=team, dataset_ids=dataset_ids, query=query, session=session if existing_session else None
    )
    request = ApprovalRequest.objects.create(
        query=query,
        user=user,
        team=team,
        session=session,
        budget_estimate=request_cost_estimate(
            query=query,
            model=settings.MISTRAL_MODEL if settings.MISTRAL_API_KEY else "offline-rules-v1",
            wall_seconds=settings.SANDBOX_LIMITS["wall_seconds"],
            memory_mb=settings.SANDBOX_LIMITS["memory_mb"],
        ),
    )
    request.datasets.set(datasets)
    Message.objects.create(session=session, role=Message.Role.USER, content=query, request=request)
    Session.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())
    audit_log(
        action=Action.REQUEST_CREATED,
        actor=user,
        team=team,
        target=request,
        details={"session_id": str(session.pk), "datasets": [d.name for d in datasets]},
    )
    from .tasks import generate_code

    transaction.on_commit(lambda: generate_code.delay(str(request.pk)))
    return request


# --- generating -------------------------------------------------------------------------------


def request_generate_code(*, request_id) -> ApprovalRequest | None:
    """Ask the LLM (or the offline generator) for code; runs in the `generate` worker."""
    request = ApprovalRequest.objects.select_related("team", "user").filter(pk=request_id).first()
    if request is None or request.status != Status.GENERATING:
        return None  # a redelivered task, or a request cancelled meanwhile
    generator = get_generator()
    inp = GenerationInput(
        query=request.query,
        datasets=[dataset_context(dataset=d) for d in request.datasets.all()],
        history=session_history(request=request),
    )
    try:
        output = generator.generate(inp)
    except GenerationError as exc:
        return approval_request_generation_fail(request=request, reason=str(exc))
    with transaction.atomic():
        cost_span_record_llm(
            request=request,
            user=request.user,
            provider=output.provider,
            model=output.model,
            input_tokens=output.input_tokens,
            output_tokens=output.output_tokens,
            feature=CostSpan.Feature.GENERATION,
        )
        request = approval_request_generation_succeed(
            request=request, code=output.code, provider=output.provider, model=output.model
        )
        label = "offline generator" if output.provider == "offline" else output.model
        Message.objects.create(
            session_id=request.session_id,
            role=Message.Role.ASSISTANT,
            content=f"Generated code with the {label}; waiting for a reviewer's approval.",
            request=request,
        )
    return request


# --- executing --------------------------------------------------------------------------------


@transaction.atomic
def execution_start(*, request: ApprovalRequest, user) -> tuple[Execution, bool]:
    """Queue the one execution of an approved request. Calling it again returns the same execution."""
    request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    existing = Execution.objects.filter(request=request).first()
    if existing is not None:
        return existing, False
    if request.status != Status.APPROVED:
        raise Conflict(
            f"Only approved requests can run; this one is {request.status}.",
            code="not_approved",
            extra={"status": request.status},
        )
    execution = Execution.objects.create(
        request=request, code_sha256=request.approved_code_sha256, backend=settings.SANDBOX_BACKEND
    )
    approval_request_transition(request=request, source=(Status.APPROVED,), target=Status.QUEUED)
    audit_log(
        action=Action.EXECUTION_QUEUED,
        actor=user,
        team=request.team,
        target=execution,
        details={"request_id": str(request.pk), "code_sha256": execution.code_sha256},
    )
    from .tasks import run_execution

    transaction.on_commit(lambda: run_execution.delay(str(execution.pk)))
    return execution, True


@transaction.atomic
def _execution_claim(*, execution_id) -> Execution | None:
    """Claim the run exactly once; a redelivered task finds nothing to claim."""
    claimed = Execution.objects.filter(pk=execution_id, status=Execution.Status.QUEUED).update(
        status=Execution.Status.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return None
    execution = Execution.objects.select_related("request", "request__team").get(pk=execution_id)
    approval_request_transition(request=execution.request, source=(Status.QUEUED,), target=Status.RUNNING)
    audit_log(action=Action.EXECUTION_STARTED, team=execution.request.team, target=execution)
    return execution


def _integrity_error(*, execution: Execution) -> str | None:
    request = execution.request
    actual = code_sha256(request.code)
    if not (actual == request.approved_code_sha256 == execution.code_sha256):
        return f"The code's SHA-256 ({actual[:12]}…) is not the approved one; refusing to run it."
    return None


def execution_run(*, execution_id) -> Execution | None:
    """Run an approved, queued execution in the sandbox; runs in the `execute` worker."""
    execution = _execution_claim(execution_id=execution_id)
    if execution is None:
        return None
    request = execution.request
    limits = Limits(**settings.SANDBOX_LIMITS)
    mounts = [DatasetMount(name=d.name, host_path=d.file.path) for d in request.datasets.all()]
    refusal = _integrity_error(execution=execution)
    if refusal is not None:
        return _execution_refuse(execution=execution, reason=refusal)
    started = time.monotonic()
    try:
        result = get_sandbox().run(code=request.code, datasets=mounts, limits=limits)
    except Exception as exc:  # the sandbox itself broke: the run still must end, visibly
        logger.exception("sandbox failure for execution %s", execution_id)
        result = SandboxResult(error={"name": "SandboxError", "value": str(exc), "traceback": ""})
    result.duration_ms = result.duration_ms or int((time.monotonic() - started) * 1000)
    return _execution_finish(execution=execution, result=result, limits=limits)


def _final_status(result: SandboxResult) -> str:
    if result.timed_out:
        return Execution.Status.TIMED_OUT
    return Execution.Status.SUCCEEDED if result.succeeded else Execution.Status.FAILED


@transaction.atomic
def _execution_finish(*, execution: Execution, result: SandboxResult, limits: Limits) -> Execution:
    status = _final_status(result)
    Execution.objects.filter(pk=execution.pk, status=Execution.Status.RUNNING).update(
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
    request = approval_request_transition(request=execution.request, source=(Status.RUNNING,), target=status)
    cost_span_record_execution(
        request=request,
        backend=execution.backend,
        seconds=result.duration_ms / 1000,
        memory_mb=limits.memory_mb,
    )
    audit_log(
        action=Action.EXECUTION_FINISHED,
        team=request.team,
        target=execution,
        details={"status": status, "duration_ms": result.duration_ms, "code_sha256": execution.code_sha256},
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
def _execution_refuse(*, execution: Execution, reason: str) -> Execution:
    error = {"name": "IntegrityError", "value": reason, "traceback": ""}
    Execution.objects.filter(pk=execution.pk).update(
        status=Execution.Status.FAILED, error=error, finished_at=timezone.now(), duration_ms=0
    )
    approval_request_transition(request=execution.request, source=(Status.RUNNING,), target=Status.FAILED)
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
