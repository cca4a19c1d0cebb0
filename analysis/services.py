"""Writes of the analysis app: datasets, sessions, submitting a question, generating code, running it."""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import re
import time
from dataclasses import asdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services import (
    approval_digest,
    approval_is_expired,
    approval_request_expire,
    approval_request_generation_fail,
    approval_request_generation_succeed,
    approval_request_needs_clarification,
    approval_request_transition,
    code_sha256,
    transition_refused,
)
from audit.models import AuditEvent
from audit.services import audit_log, audit_log_change, audit_who
from billing.models import CostSpan, Reservation, Team
from billing.selectors import ASKING_ROLES, generation_model_for, team_list_for_user
from billing.services import (
    UNPRICED_LLM_USD_PER_MTOK,
    UNPRICED_SANDBOX_USD,
    audit_budget_refusals,
    budget_lease_renew,
    budget_periods_warn,
    budget_refusal_from,
    budget_reserve,
    budget_settle_request,
    cost_span_record_execution,
    cost_span_record_llm,
    execution_cost_estimate,
    generation_cost_estimate,
    generation_tokens_estimate,
    request_cost_estimate,
    reservation_release,
    sandbox_units,
)
from config.exceptions import ApplicationError, Conflict, Forbidden, NotFound
from config.postgresql import call_function, refused_by_function

from . import dataset_formats, tracing
from .llm import get_generator
from .llm.base import CallUsage, GenerationConfigurationError, GenerationError, GenerationInput
from .llm.offline import MODEL as OFFLINE_MODEL
from .llm.prompt import build_messages
from .models import Artifact, Dataset, Execution, Message, Session
from .sandboxes import get_sandbox
from .sandboxes.base import CodeIntegrityError, DatasetMount, Limits, SandboxResult
from .selectors import dataset_context, dataset_preview_path, execution_get, request_revision, session_history

logger = logging.getLogger(__name__)
Status = ApprovalRequest.Status
Action = AuditEvent.Action
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,120}\.(csv|xlsx|parquet|json)$", re.IGNORECASE)


# --- datasets ---------------------------------------------------------------------------------


def dataset_create(
    *, team: Team, name: str, content: bytes, user=None, allow_sample_sharing: bool = False
) -> Dataset:
    """Validate, profile (XLSX/Parquet/JSON inside the sandbox, before any transaction), then store."""
    if not SAFE_NAME.match(name):
        accepted = dataset_formats.ACCEPTED
        message = f"Dataset names are plain file names ending in {accepted}."
        raise ApplicationError(message, code="invalid_dataset")
    if len(content) > settings.SANDGATE_MAX_DATASET_MB * 1024 * 1024:
        limit = settings.SANDGATE_MAX_DATASET_MB
        raise ApplicationError(f"The file is too large: the limit is {limit} MB.", code="dataset_too_large")
    if Dataset.objects.filter(team=team, name=name).exists():
        message = f"Your team already has a dataset named “{name}”; rename the file."
        raise Conflict(message, code="dataset_name_taken")
    try:
        dataset_formats.check_content(name=name, content=content)
        profile = dataset_formats.profile(name=name, content=content)
    except ValueError as exc:
        raise ApplicationError(str(exc), code="invalid_dataset") from exc
    with transaction.atomic():
        return _dataset_store(
            team=team, name=name, content=content, user=user, profile=profile, share=allow_sample_sharing
        )


def _dataset_store(*, team: Team, name: str, content: bytes, user, profile, share: bool) -> Dataset:
    row_count, columns = profile.row_count, profile.columns
    dataset = Dataset(
        team=team,
        name=name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        row_count=row_count,
        columns=columns,
        allow_sample_sharing=share,
        uploaded_by=user,
    )
    dataset.file.save(name, ContentFile(content), save=False)
    dataset.file.storage.save(dataset_preview_path(dataset), ContentFile(json.dumps(profile.preview)))
    dataset.save()
    audit_log(
        action=Action.DATASET_UPLOADED,
        actor=user,
        team=team,
        target=dataset,
        details={"name": name, "sha256": dataset.sha256, "size": dataset.size},
    )
    return dataset


# --- sessions ---------------------------------------------------------------------------------


@transaction.atomic
def session_archive(*, session: Session, user) -> Session:
    """The analyst closes a conversation; follow-ups then start a new session. Archiving twice is a no-op."""
    if session.user_id != user.pk:
        raise Forbidden("Only the person who started a session can archive it.", code="not_your_session")
    archived = Session.objects.filter(pk=session.pk, status=Session.Status.ACTIVE).update(
        status=Session.Status.ARCHIVED
    )
    session.refresh_from_db()
    if archived == 1:
        audit_log(action=Action.SESSION_ARCHIVED, actor=user, team=session.team, target=session)
    elif session.status != Session.Status.ARCHIVED:
        raise Conflict(f"The session is {session.status}.", code="session_closed")
    return session


def session_idle_cutoff():
    return timezone.now() - timedelta(hours=settings.SESSION_IDLE_EXPIRY_HOURS)


def session_expire_idle(*, limit: int = 1000) -> int:
    """Expire active sessions idle for longer than SESSION_IDLE_EXPIRY_HOURS; returns how many."""
    cutoff = session_idle_cutoff()
    idle = Session.objects.filter(status=Session.Status.ACTIVE, last_activity_at__lt=cutoff)
    ids = list(idle.values_list("pk", flat=True)[:limit])
    return sum(_session_expire(session_id=pk, cutoff=cutoff) for pk in ids)


@transaction.atomic
def _session_expire(*, session_id, cutoff) -> int:
    # Conditional: a question asked meanwhile (fresh last_activity_at) keeps the session alive.
    expired = Session.objects.filter(
        pk=session_id, status=Session.Status.ACTIVE, last_activity_at__lt=cutoff
    ).update(status=Session.Status.EXPIRED)
    if expired == 1:
        session = Session.objects.select_related("team").get(pk=session_id)
        audit_log(
            action=Action.SESSION_EXPIRED,
            team=session.team,
            target=session,
            details={"idle_hours": settings.SESSION_IDLE_EXPIRY_HOURS},
        )
    return expired


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
        raise _no_team()
    return team


def _no_team() -> Forbidden:
    return Forbidden("You are not an analyst or reviewer in any team.", code="no_team")


def _session_closed(*, status: str) -> Conflict:
    """409 for a session that no longer takes questions; `status` "idle" for one idle too long."""
    if status == "idle":  # the periodic task marks it expired later
        return Conflict("The session expired after being idle; start a new one.", code="session_closed")
    return Conflict(f"The session is {status}; start a new one.", code="session_closed")


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
        raise _session_closed(status=session.status)
    if session.last_activity_at < session_idle_cutoff():
        raise _session_closed(status="idle")
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


@audit_budget_refusals
def analysis_submit(
    *, user, query: str, session_id=None, dataset_ids: list | None = None, team_id=None
) -> ApprovalRequest:
    """Record the question and hand code generation to a worker (never in the web request).

    On PostgreSQL one statement records it (`sandgate_analysis_submit`, analysis/migrations/0005) instead of
    some fifteen, each built in Python and each a round trip. Elsewhere (SQLite) the ORM path does, which is
    also the reference the function is tested against (tests/analysis/test_submit_function.py).
    """
    submit = _submit_in_database if connection.vendor == "postgresql" else _submit_with_orm
    request = submit(user=user, query=query, session_id=session_id, dataset_ids=dataset_ids, team_id=team_id)
    from .tasks import enqueue_on_commit, generate_code

    enqueue_on_commit(generate_code, str(request.pk))  # broker down: 202 all the same; the reaper enqueues it
    return request


# PostgreSQL rounds a value stored into a numeric column half up; the ORM path rounds the same way.
BUDGET_ESTIMATE_STEP = Decimal(1).scaleb(-ApprovalRequest._meta.get_field("budget_estimate").decimal_places)


@transaction.atomic
def _submit_with_orm(*, user, query: str, session_id, dataset_ids: list | None, team_id) -> ApprovalRequest:
    team = _asking_team(user=user, team_id=team_id)
    existing_session = session_id is not None
    session = _session_for(user=user, team=team, session_id=session_id, query=query)
    datasets = _datasets_for(
        team=team, dataset_ids=dataset_ids, query=query, session=session if existing_session else None
    )
    # Priced once, with the model that will generate (the team's cheaper one above a soft threshold).
    generation = generation_cost_estimate(query=query, model=_generation_model_name(team=team, user=user))
    estimate = request_cost_estimate(
        generation=generation,
        wall_seconds=settings.SANDBOX_LIMITS["wall_seconds"],
        memory_mb=settings.SANDBOX_LIMITS["memory_mb"],
    )
    request = ApprovalRequest.objects.create(
        query=query,
        user=user,
        team=team,
        session=session,
        budget_estimate=estimate.quantize(BUDGET_ESTIMATE_STEP, rounding=ROUND_HALF_UP),
    )
    request.datasets.add(*datasets)  # a new row has none: add() skips the read that set() makes first
    # Held in this transaction: over a budget, the analyst gets 402 at once and nothing is written.
    reservation = budget_reserve(
        team=team, user=user, feature=CostSpan.Feature.GENERATION, amount=generation, request=request
    )
    # Not stored: tells the answer whether to look up the budget warning (the same budgets were just held).
    request.budget_above_soft_threshold = reservation.above_soft_threshold
    Message.objects.create(session=session, role=Message.Role.USER, content=query, request=request)
    if existing_session:  # a session created above has just been stamped by auto_now_add
        Session.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())
    audit_log(
        action=Action.REQUEST_CREATED,
        actor=user,
        team=team,
        target=request,
        details={"session_id": str(session.pk), "datasets": [d.name for d in datasets]},
    )
    return request


SUBMIT_SQL = (
    "SELECT request_id, session_id, team_id, budget_estimate, warn_period_ids, above_period_ids "
    "FROM sandgate_analysis_submit(%s::integer, %s::text, %s::text, %s::uuid, %s::uuid[], %s::uuid, "
    "%s::text[], %s::text, %s::boolean, %s::integer[], %s::text, %s::numeric, %s::numeric, %s::numeric[], "
    "%s::timestamptz, %s::timestamptz, %s::timestamptz, %s::text, %s::inet, %s::text)"
)


def _submit_in_database(
    *, user, query: str, session_id, dataset_ids: list | None, team_id
) -> ApprovalRequest:
    now = timezone.now()
    limits = settings.SANDBOX_LIMITS
    wall_seconds, memory_gib = sandbox_units(seconds=limits["wall_seconds"], memory_mb=limits["memory_mb"])
    who = audit_who(actor=user)
    params = [
        user.pk, query, query.lower(), session_id, list(dataset_ids or []),
        team_id if team_id and _is_uuid(team_id) else None, list(ASKING_ROLES),
        # The configured model; the function picks the team's cheaper one above a soft threshold (Mistral).
        settings.MISTRAL_MODEL if settings.MISTRAL_API_KEY else OFFLINE_MODEL, bool(settings.MISTRAL_API_KEY),
        list(generation_tokens_estimate(query=query)), settings.SANDBOX_BACKEND, wall_seconds, memory_gib,
        [*UNPRICED_LLM_USD_PER_MTOK, *UNPRICED_SANDBOX_USD],
        session_idle_cutoff(), now, now + timedelta(seconds=settings.BUDGET_LEASE_SECONDS),
        who["actor_label"], who["ip_address"], who["user_agent"],
    ]  # fmt: skip
    try:  # in a caller's transaction, a savepoint: a refusal leaves it usable (the 402 reads the budget)
        request_id, session_id, team_id, estimate, warn_period_ids, above_period_ids = call_function(
            SUBMIT_SQL, params
        )
    except DatabaseError as error:
        raise _submit_refusal(error) or error from None
    request = ApprovalRequest(
        id=request_id, query=query, user=user, team_id=team_id, session_id=session_id,
        budget_estimate=estimate, status=Status.GENERATING, created_at=now, updated_at=now,
    )  # fmt: skip
    request._state.adding, request._state.db = False, connection.alias  # as if loaded from the row
    request.budget_above_soft_threshold = bool(above_period_ids)
    # Outside a caller's transaction this runs after the commit, in one of its own: a warning lost to a
    # crash here is not lost for good, since the period stays unwarned and the next hold above it warns.
    budget_periods_warn(period_ids=warn_period_ids, actor=user)
    return request


def _submit_refusal(error: DatabaseError) -> ApplicationError | None:
    """The answer a refusal of sandgate_analysis_submit stands for (its SQLSTATE and MESSAGE say which)."""
    refusal = budget_refusal_from(error)
    if refusal is not None:
        return refusal
    refused = refused_by_function(error)
    if refused is None:
        return None
    if refused.sqlstate == "SG403":
        return _no_team()
    if refused.sqlstate == "SG404":
        return NotFound("Session not found." if refused.message == "session" else "Dataset not found.")
    if refused.sqlstate == "SG409":
        return _session_closed(status=refused.message)
    return None


def _generation_model_name(*, team: Team, user) -> str:
    if not settings.MISTRAL_API_KEY:
        return OFFLINE_MODEL
    return generation_model_for(team=team, user=user).model


# --- generating -------------------------------------------------------------------------------


def request_generate_code(*, request_id) -> ApprovalRequest | None:
    """Ask the LLM (or the offline generator) for code; runs in the `generate` worker."""
    if not _request_generation_claim(request_id=request_id):
        return None  # a redelivered task (another worker has it or had it), or a request cancelled meanwhile
    request = ApprovalRequest.objects.select_related("team", "user", "parent").get(pk=request_id)
    generator = get_generator()
    choice = generation_model_for(team=request.team, user=request.user)
    if choice.downgraded_from and generator.provider == "mistral":
        generator.model = choice.model  # above a budget's soft threshold: the team's cheaper model
    budget_lease_renew(request=request, feature=CostSpan.Feature.GENERATION)
    inp = GenerationInput(
        query=request.query,
        datasets=[dataset_context(dataset=d) for d in request.datasets.all()],
        history=session_history(request=request),
        revision=request_revision(request=request),
    )
    trace = tracing.request_trace(request=request, name="generate")
    with trace, _traced_generation(generator=generator, inp=inp) as traced:
        try:
            output = generator.generate(inp)
        except GenerationError as exc:
            _drop_stale_connection()
            traced.update(level="ERROR", status_message=str(exc))
            return _request_generation_failed(request=request, error=exc, provider=generator.provider)
        _drop_stale_connection()  # an LLM call may outlast the connection
        if output.clarification is not None:
            traced.update(output=output.clarification.message, model=output.model)
            return _request_needs_clarification(request=request, output=output)
        with transaction.atomic():
            spans = _llm_cost_spans_record(request=request, provider=output.provider, calls=_calls_of(output))
            with tracing.span("policy-check", input={"code_sha256": code_sha256(output.code)}) as checked:
                request = approval_request_generation_succeed(
                    request=request,
                    code=output.code,
                    provider=output.provider,
                    model=output.model,
                    plan=output.plan,
                )
                tracing.policy_span_finish(span=checked, request=request)
            budget_settle_request(request=request, feature=CostSpan.Feature.GENERATION)
            label = "offline generator" if output.provider == "offline" else output.model
            if choice.downgraded_from and output.provider == "mistral":
                label += f" (downgraded from {choice.downgraded_from}: a budget is above its soft threshold)"
            Message.objects.create(
                session_id=request.session_id,
                role=Message.Role.ASSISTANT,
                content=f"Generated code with the {label}; {_next_step(request)}",
                request=request,
            )
        traced.update(
            output=output.code,
            model=output.model,
            usage_details={"input": output.input_tokens, "output": output.output_tokens},
            cost_details={"total": float(sum(span.cost_usd for span in spans))},
        )
    return request


@transaction.atomic
def _request_needs_clarification(*, request: ApprovalRequest, output) -> ApprovalRequest:
    """No code: the calls are billed, the generation hold settled, the analyst told what to ask instead."""
    _llm_cost_spans_record(request=request, provider=output.provider, calls=_calls_of(output))
    budget_settle_request(request=request, feature=CostSpan.Feature.GENERATION)
    request = approval_request_needs_clarification(
        request=request,
        clarification=output.clarification.as_dict(),
        provider=output.provider,
        model=output.model,
    )
    Message.objects.create(
        session_id=request.session_id,
        role=Message.Role.ASSISTANT,
        content=output.clarification.message,
        request=request,
    )
    return request


def _request_generation_claim(*, request_id) -> bool:
    """Claim the generation once, with a lease: a second task for the same request finds it claimed."""
    lease_expires_at = timezone.now() + timedelta(seconds=settings.SANDGATE_LEASE_SECONDS)
    claimed = ApprovalRequest.objects.filter(
        pk=request_id, status=Status.GENERATING, generation_lease_expires_at__isnull=True
    ).update(generation_lease_expires_at=lease_expires_at)
    return claimed == 1


# Shown to analysts when the provider refuses our credentials; admins get the details (audit, ERROR log).
GENERATION_MISCONFIGURED_MESSAGE = (
    "Code generation is not configured correctly; an administrator has been told."
)


def _drop_stale_connection() -> None:
    """After a long call outside any transaction, let Django reconnect if the database dropped us."""
    if not connection.in_atomic_block:
        close_old_connections()


def _traced_generation(*, generator, inp: GenerationInput):
    return tracing.generation(
        "code-generation",
        model=getattr(generator, "model", ""),
        input=build_messages(inp=inp),
        provider=generator.provider,
    )


def _calls_of(output) -> list[CallUsage]:
    # A generator that reports no per-call usage (the offline rules) still leaves one span.
    if output.calls:
        return output.calls
    usage = CallUsage(
        feature=CostSpan.Feature.GENERATION,
        model=output.model,
        input_tokens=output.input_tokens,
        output_tokens=output.output_tokens,
    )
    return [usage]


def _llm_cost_spans_record(
    *, request: ApprovalRequest, provider: str, calls: list[CallUsage]
) -> list[CostSpan]:
    """One cost span per model call: the first as generation, the repair round as repair."""
    return [
        cost_span_record_llm(
            request=request,
            user=request.user,
            provider=provider,
            model=call.model,
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
            feature=call.feature,
        )
        for call in calls
    ]


@transaction.atomic
def _request_generation_failed(
    *, request: ApprovalRequest, error: GenerationError, provider: str
) -> ApprovalRequest:
    _llm_cost_spans_record(request=request, provider=provider, calls=error.calls)
    budget_settle_request(request=request, feature=CostSpan.Feature.GENERATION)
    if not isinstance(error, GenerationConfigurationError):
        return approval_request_generation_fail(request=request, reason=str(error))
    logger.error("Code generation is misconfigured (request %s): %s", request.pk, error)
    audit_log(
        action=Action.GENERATION_MISCONFIGURED,
        team=request.team,
        target=request,
        details={"provider": provider, "reason": str(error)},
    )
    return approval_request_generation_fail(request=request, reason=GENERATION_MISCONFIGURED_MESSAGE)


# --- executing --------------------------------------------------------------------------------

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
    # Over a budget: 402 here, nothing queued, and the request stays approved. Held at the limits the run
    # will get, merged as the sandbox merges them.
    limits = Limits.merged(settings.SANDBOX_LIMITS, request.team.sandbox_limits)
    budget_reserve(
        team=request.team,
        user=request.user,
        feature=CostSpan.Feature.EXECUTION,
        amount=execution_cost_estimate(wall_seconds=limits.wall_seconds, memory_mb=limits.memory_mb),
        request=request,
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
    from .tasks import enqueue_on_commit, run_execution

    enqueue_on_commit(run_execution, str(execution.pk))  # broker down: the reaper enqueues it
    return execution, True


def _next_step(request: ApprovalRequest) -> str:
    if request.status == Status.POLICY_BLOCKED:
        return f"the policy check blocked it before review: {request.policy_reason}"
    return "waiting for a reviewer's approval."


def _execution_claim(*, execution_id) -> Execution | None:
    """Claim the run exactly once; a redelivered task finds nothing to claim.

    On PostgreSQL one statement claims it (`sandgate_execution_claim`, analysis/migrations/0007) instead of
    five plus BEGIN and COMMIT, before the run's first line. Elsewhere (SQLite) the ORM path does, which is
    also the reference the function is tested against (tests/analysis/test_claim_function.py).
    """
    claim = _execution_claim_in_database if connection.vendor == "postgresql" else _execution_claim_with_orm
    return claim(execution_id=execution_id)


@transaction.atomic
def _execution_claim_with_orm(*, execution_id) -> Execution | None:
    now = timezone.now()
    claimed = Execution.objects.filter(pk=execution_id, status=Execution.Status.QUEUED).update(
        status=Execution.Status.RUNNING,
        started_at=now,
        lease_expires_at=now + timedelta(seconds=settings.SANDGATE_LEASE_SECONDS),
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


EXECUTION_CLAIM_SQL = (
    "SELECT sandgate_execution_claim(%s::uuid, %s::timestamptz, %s::timestamptz, %s::timestamptz)"
)


def _execution_claim_in_database(*, execution_id) -> Execution | None:
    now = timezone.now()
    params = [
        execution_id,
        now,
        now + timedelta(seconds=settings.SANDGATE_LEASE_SECONDS),
        # The hold's lease renewed in the claim, as on the ORM path: the sweeper never sees it stale.
        now + timedelta(seconds=settings.BUDGET_LEASE_SECONDS),
    ]
    try:  # its own transaction: no BEGIN and COMMIT round trips before the run
        (claimed,) = call_function(EXECUTION_CLAIM_SQL, params)
    except DatabaseError as error:
        raise _execution_claim_refusal(error) or error from None
    if not claimed:
        return None
    return Execution.objects.select_related("request", "request__team").get(pk=execution_id)


def _execution_claim_refusal(error: DatabaseError) -> Conflict | None:
    """SG409, the request not queued (its status the MESSAGE): approval_request_transition's refusal."""
    refused = refused_by_function(error)
    if refused is None or refused.sqlstate != "SG409":
        return None
    return transition_refused(current=refused.message, target=Status.RUNNING)


def _integrity_error(*, execution: Execution, datasets: list[Dataset], limits: Limits) -> str | None:
    """Recompute what the approval bound (code, datasets as stored on disk now, limits); None if unchanged."""
    request = execution.request
    actual = code_sha256(request.code)
    if not (actual == request.approved_code_sha256 == execution.code_sha256):
        return f"The code's SHA-256 ({actual[:12]}…) is not the approved one; refusing to run it."
    hashed = [(d.name, _file_sha256(d.file.path)) for d in datasets]
    digest = approval_digest(code_sha256=actual, datasets=hashed, limits=asdict(limits))
    if digest != request.approval_digest:
        return "The datasets or limits changed since the approval; refusing to run it."
    return None


def _file_sha256(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return "missing"


def execution_run(*, execution_id) -> Execution | None:
    """Run an approved, queued execution in the sandbox; runs in the `execute` worker."""
    execution = _execution_claim(execution_id=execution_id)
    if execution is None:
        return None
    request = execution.request
    limits = Limits.merged(settings.SANDBOX_LIMITS, request.team.sandbox_limits)
    datasets = list(request.datasets.all())
    mounts = [DatasetMount(name=d.name, host_path=d.file.path) for d in datasets]
    if approval_is_expired(request=request):
        reason = "The approval expired before the run."
        return _execution_refuse(execution=execution, reason=reason, expired=True)
    refusal = _integrity_error(execution=execution, datasets=datasets, limits=limits)
    if refusal is not None:
        return _execution_refuse(execution=execution, reason=refusal)
    started = time.monotonic()
    logger.info("execution %s: claimed, running it in the %s sandbox", execution_id, execution.backend)
    with tracing.execution_span(request=request, backend=execution.backend) as traced:
        try:
            result = get_sandbox().run(
                code=request.code, code_sha256=execution.code_sha256, datasets=mounts, limits=limits
            )
        except CodeIntegrityError as exc:  # the backend's own last-moment re-hash
            return _execution_refuse(execution=execution, reason=str(exc))
        except Exception as exc:  # the sandbox itself broke: the run still must end, visibly
            logger.exception("sandbox failure for execution %s", execution_id)
            result = SandboxResult(error={"name": "SandboxError", "value": str(exc), "traceback": ""})
        result.duration_ms = result.duration_ms or int((time.monotonic() - started) * 1000)
        _drop_stale_connection()  # the run may outlast the connection: don't lose its result to a dead one
        result.limits = _limits_in_force(limits=limits, team=request.team, record=result.limits)
        status = _final_status(result)
        tracing.execution_span_finish(span=traced, status=status, duration_ms=result.duration_ms)
    return _execution_finish(execution=execution, result=result, limits=limits)


def _limits_in_force(*, limits: Limits, team: Team, record: dict) -> dict:
    """The limits applied (settings, then the team's overrides) plus what the backend says it enforced."""
    overrides = sorted(k for k, v in (team.sandbox_limits or {}).items() if getattr(limits, k, None) == v)
    return {**asdict(limits), **record, "team_overrides": overrides}


def _artifacts_store(*, execution: Execution, result: SandboxResult) -> None:
    for produced in result.artifacts:
        artifact = Artifact(
            execution=execution,
            name=produced.name,
            size=len(produced.content),
            sha256=produced.sha256,
            content_type=mimetypes.guess_type(produced.name)[0] or "application/octet-stream",
        )
        artifact.file.save(produced.name, ContentFile(produced.content), save=False)
        artifact.save()


@transaction.atomic
def artifact_download(*, user, execution_id, name: str) -> Artifact:
    """An artifact of an execution the user may see; every download is audited."""
    execution = execution_get(user=user, execution_id=execution_id)
    artifact = Artifact.objects.filter(execution=execution, name=name).first()
    if artifact is None:
        raise NotFound("Artifact not found.")
    audit_log(
        action=Action.ARTIFACT_DOWNLOADED,
        actor=user,
        team=execution.request.team,
        target=execution,
        details={"name": artifact.name, "sha256": artifact.sha256, "size": artifact.size},
    )
    return artifact


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
    _artifacts_store(execution=execution, result=result)
    request = approval_request_transition(request=execution.request, source=(Status.RUNNING,), target=status)
    cost_span_record_execution(
        request=request,
        backend=execution.backend,
        seconds=result.duration_ms / 1000,
        memory_mb=limits.memory_mb,
    )
    budget_settle_request(request=request, feature=CostSpan.Feature.EXECUTION)
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


# --- reaping ----------------------------------------------------------------------------------

INTERRUPTED_MESSAGE = (
    "The worker handling this stopped (it crashed or was restarted) before it finished. "
    "It was not run again; ask again to retry."
)


def reap_stuck(*, now=None, limit: int = 500) -> dict[str, int]:
    """The periodic reaper: settle rows whose worker died, re-enqueue tasks that never reached the broker."""
    now = now or timezone.now()
    counts = {
        "executions_interrupted": _executions_interrupt_expired(now=now, limit=limit),
        "requests_interrupted": _requests_interrupt_expired(now=now, limit=limit),
        "executions_requeued": _executions_requeue_unclaimed(now=now, limit=limit),
        "requests_requeued": _requests_requeue_unclaimed(now=now, limit=limit),
    }
    if any(counts.values()):
        logger.warning("reaper: %s", counts)
    return counts


def _executions_interrupt_expired(*, now, limit: int) -> int:
    expired = Execution.objects.filter(status=Execution.Status.RUNNING, lease_expires_at__lt=now)
    ids = list(expired.values_list("pk", flat=True)[:limit])
    return sum(execution_interrupt(execution_id=pk, now=now) for pk in ids)


@transaction.atomic
def execution_interrupt(*, execution_id, now) -> int:
    """A running execution whose lease expired ends `interrupted`, its budget hold released; never re-run."""
    error = {"name": "WorkerLost", "value": INTERRUPTED_MESSAGE, "traceback": ""}
    interrupted = Execution.objects.filter(
        pk=execution_id, status=Execution.Status.RUNNING, lease_expires_at__lt=now
    ).update(status=Execution.Status.INTERRUPTED, error=error, finished_at=now)
    if interrupted != 1:
        return 0  # finished (or reaped) meanwhile
    execution = Execution.objects.select_related("request", "request__team").get(pk=execution_id)
    request = approval_request_transition(
        request=execution.request, source=(Status.RUNNING, Status.QUEUED), target=Status.INTERRUPTED
    )
    released = _reservations_release(request=request, feature=CostSpan.Feature.EXECUTION)
    details = {"lease_expired_at": execution.lease_expires_at.isoformat(), "reservations_released": released}
    audit_log(action=Action.EXECUTION_INTERRUPTED, team=request.team, target=execution, details=details)
    _interrupted_message(request=request)
    return 1


def _requests_interrupt_expired(*, now, limit: int) -> int:
    expired = ApprovalRequest.objects.filter(status=Status.GENERATING, generation_lease_expires_at__lt=now)
    ids = list(expired.values_list("pk", flat=True)[:limit])
    return sum(request_interrupt(request_id=pk, now=now) for pk in ids)


@transaction.atomic
def request_interrupt(*, request_id, now) -> int:
    """A request whose generation lease expired ends `interrupted`, its budget hold released."""
    interrupted = ApprovalRequest.objects.filter(
        pk=request_id, status=Status.GENERATING, generation_lease_expires_at__lt=now
    ).update(status=Status.INTERRUPTED, generation_error=INTERRUPTED_MESSAGE, updated_at=now)
    if interrupted != 1:
        return 0
    request = ApprovalRequest.objects.select_related("team").get(pk=request_id)
    released = _reservations_release(request=request, feature=CostSpan.Feature.GENERATION)
    details = {
        "lease_expired_at": request.generation_lease_expires_at.isoformat(),
        "reservations_released": released,
    }
    audit_log(action=Action.REQUEST_INTERRUPTED, team=request.team, target=request, details=details)
    _interrupted_message(request=request)
    return 1


def _reservations_release(*, request: ApprovalRequest, feature: str) -> int:
    held = Reservation.objects.filter(request=request, feature=feature, status=Reservation.Status.ACTIVE)
    return sum(reservation_release(reservation_id=pk) for pk in held.values_list("pk", flat=True))


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
    from .tasks import run_execution

    unclaimed = Execution.objects.filter(status=Execution.Status.QUEUED, created_at__lt=_requeue_cutoff(now))
    return _publish_each(task=run_execution, ids=list(unclaimed.values_list("pk", flat=True)[:limit]))


def _requests_requeue_unclaimed(*, now, limit: int) -> int:
    from .tasks import generate_code

    unclaimed = ApprovalRequest.objects.filter(
        status=Status.GENERATING,
        generation_lease_expires_at__isnull=True,
        created_at__lt=_requeue_cutoff(now),
    )
    return _publish_each(task=generate_code, ids=list(unclaimed.values_list("pk", flat=True)[:limit]))


def _publish_each(*, task, ids: list) -> int:
    """Enqueue again; a duplicate of a message still waiting in the queue is harmless (the claim)."""
    for pk in ids:
        task.delay(str(pk))
        logger.warning("re-enqueued %s(%s): it was never claimed", task.name, pk)
    return len(ids)


# --- console changes --------------------------------------------------------------------------


@transaction.atomic
def dataset_sharing_set(*, dataset: Dataset, actor, allow_sample_sharing: bool) -> Dataset:
    """Whether a few sample rows go to the LLM: the one dataset setting the console changes, audited."""
    dataset = Dataset.objects.select_for_update().select_related("team").get(pk=dataset.pk)
    before = {"allow_sample_sharing": dataset.allow_sample_sharing}
    dataset.allow_sample_sharing = allow_sample_sharing
    dataset.save(update_fields=["allow_sample_sharing"])
    audit_log_change(
        action=Action.DATASET_CHANGED,
        actor=actor,
        team=dataset.team,
        target=dataset,
        before=before,
        after={"allow_sample_sharing": allow_sample_sharing},
        details={"name": dataset.name},
    )
    return dataset
