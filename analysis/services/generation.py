"""Generating code in the `generate` worker, and generating again after a reviewer asked for a new version."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services import (
    approval_request_generation_fail,
    approval_request_generation_succeed,
    approval_request_needs_clarification,
    code_sha256,
)
from audit.models import AuditEvent
from audit.services import audit_log
from billing.models import CostSpan, Reservation, Team
from billing.selectors import generation_model_for
from billing.services import (
    BudgetExceeded,
    budget_lease_renew,
    budget_reserve,
    budget_settle_request,
    cost_span_record_llm,
    llm_calls_cost,
    reservation_hold_more,
)
from config.connections import drop_stale_connection
from config.enqueue import enqueue_on_commit
from config.exceptions import Conflict

from .. import tracing
from ..live import RunWatch
from ..llm import get_generator
from ..llm.base import CallUsage, GenerationConfigurationError, GenerationError, GenerationInput
from ..llm.offline import MODEL as OFFLINE_MODEL
from ..llm.prompt import build_messages, generation_tokens_ceiling
from ..models import Message, Session
from ..selectors import dataset_context, request_revision, session_history
from .execution import execution_cost_ceiling

logger = logging.getLogger(__name__)
Status = ApprovalRequest.Status
Action = AuditEvent.Action


def request_generate_code(*, request_id) -> ApprovalRequest | None:
    """Ask the LLM (or the offline generator) for code; runs in the `generate` worker, its heartbeat renewed
    meanwhile (a worker that dies leaves it stale: the reaper)."""
    if not _request_generation_claim(request_id=request_id):
        return None  # a redelivered task (another worker has it or had it), or a request cancelled meanwhile
    with RunWatch(beat=lambda: request_generation_heartbeat(request_id=request_id)):
        return _request_generate_claimed(request_id=request_id)


def request_generation_heartbeat(*, request_id) -> int:
    """The worker generating this request's code is alive (analysis.live.RunWatch renews it)."""
    generating = ApprovalRequest.objects.filter(pk=request_id, status=Status.GENERATING)
    return generating.update(generation_heartbeat_at=timezone.now())


def _request_generate_claimed(*, request_id) -> ApprovalRequest | None:
    request = ApprovalRequest.objects.select_related("team", "user", "parent").get(pk=request_id)
    generator = get_generator()
    choice = generation_model_for(team=request.team, user=request.user)
    if choice.downgraded_from and generator.provider == "mistral":
        generator.model = choice.model  # above a budget's soft threshold: the team's cheaper model
    budget_lease_renew(request=request, feature=CostSpan.Feature.GENERATION)
    inp = generation_input(request=request)
    try:
        _generation_hold_enough(request=request, inp=inp, model=generator.model)
    except BudgetExceeded as refused:
        return _request_generation_failed(
            request=request, error=GenerationError(refused.message), provider=generator.provider
        )
    trace = tracing.request_trace(request=request, name="generate")
    with trace, _traced_generation(generator=generator, inp=inp) as traced:
        try:
            output = generator.generate(inp)
        except GenerationError as exc:
            drop_stale_connection()
            traced.update(level="ERROR", status_message=str(exc))
            return _request_generation_failed(request=request, error=exc, provider=generator.provider)
        drop_stale_connection()  # an LLM call may outlast the connection
        with transaction.atomic():
            spans = _llm_cost_spans_record(request=request, provider=output.provider, calls=_calls_of(output))
            if output.clarification is not None:
                stored = _clarification_store(request=request, output=output)
            else:
                stored = _code_store(request=request, output=output, downgraded_from=choice.downgraded_from)
            budget_settle_request(request=request, feature=CostSpan.Feature.GENERATION)
        traced.update(
            output=output.code or output.clarification.message,
            model=output.model,
            usage_details={"input": output.input_tokens, "output": output.output_tokens},
            cost_details={"total": float(sum(span.cost_usd for span in spans))},
        )
    return stored


def generation_input(
    *, request: ApprovalRequest, datasets: list | None = None, history: list | None = None
) -> GenerationInput:
    """What the model is sent for `request`: the question, its datasets, the session's earlier turns and,
    for a new version, the rejected code and the reviewer's feedback. `datasets` and `history`, when the
    caller has them already (a question being asked), save reading them again."""
    if datasets is None:
        datasets = list(request.datasets.all())
    return GenerationInput(
        query=request.query,
        datasets=[dataset_context(dataset=d) for d in datasets],
        history=session_history(request=request) if history is None else history,
        revision=request_revision(request=request),
    )


def generation_model_name(*, team: Team, user) -> str:
    """The model a generation for `user` in `team` will use now (the offline generator without a key)."""
    if not settings.MISTRAL_API_KEY.strip():
        return OFFLINE_MODEL
    return generation_model_for(team=team, user=user).model


def generation_cost_ceiling(*, inp: GenerationInput, model: str) -> Decimal:
    """The most one generation of `inp` with `model` can be charged: a first call and a repair round, each
    at its prompt's largest token count and an answer of MISTRAL_MAX_OUTPUT_TOKENS, priced (and rounded)
    as each call's cost span will be. A generation's hold is this."""
    calls = generation_tokens_ceiling(inp=inp, max_output_tokens=settings.MISTRAL_MAX_OUTPUT_TOKENS)
    return llm_calls_cost(model=model, calls=calls)


def generation_reserve(*, request: ApprovalRequest, inp: GenerationInput | None = None) -> Reservation:
    """Hold the most `request`'s generation can cost, before it is queued (asking, or a new version); over
    a budget, BudgetExceeded (402) and nothing held."""
    inp = inp or generation_input(request=request)
    return budget_reserve(
        team=request.team,
        user=request.user,
        feature=CostSpan.Feature.GENERATION,
        amount=generation_cost_ceiling(
            inp=inp, model=generation_model_name(team=request.team, user=request.user)
        ),
        request=request,
    )


def _generation_hold_enough(*, request: ApprovalRequest, inp: GenerationInput, model: str) -> None:
    """Before the first call: raise the request's hold to the worst case of the prompt as it is now (earlier
    turns may have finished meanwhile, the model may have changed with a soft threshold). Over a budget,
    BudgetExceeded (audited) and no call is made."""
    held = Reservation.objects.filter(
        request=request, feature=CostSpan.Feature.GENERATION, status=Reservation.Status.ACTIVE
    ).values_list("pk", flat=True)
    ceiling = generation_cost_ceiling(inp=inp, model=model)
    for reservation_id in held:
        reservation_hold_more(reservation_id=reservation_id, amount=ceiling, actor=request.user)


def _code_store(*, request: ApprovalRequest, output, downgraded_from: str) -> ApprovalRequest | None:
    """Check and store the code and tell the analyst; None if the request stopped generating meanwhile (the
    analyst withdrew it, or the reaper interrupted it): its calls are charged all the same."""
    try:
        with transaction.atomic():  # a savepoint: the cost spans recorded before it stay
            with tracing.span("policy-check", input={"code_sha256": code_sha256(output.code)}) as checked:
                request = approval_request_generation_succeed(
                    request=request,
                    code=output.code,
                    provider=output.provider,
                    model=output.model,
                    plan=output.plan,
                )
                tracing.policy_span_finish(span=checked, request=request)
    except Conflict as refused:
        logger.info("request %s became %s while its code was generated", request.pk, refused.extra["status"])
        return None
    label = "offline generator" if output.provider == "offline" else output.model
    if downgraded_from and output.provider == "mistral":
        label += f" (downgraded from {downgraded_from}: a budget is above its soft threshold)"
    Message.objects.create(
        session_id=request.session_id,
        role=Message.Role.ASSISTANT,
        content=f"Generated code with the {label}; {_next_step(request)}",
        request=request,
    )
    return request


def _clarification_store(*, request: ApprovalRequest, output) -> ApprovalRequest | None:
    """No code: the request ends needs_clarification (no review, no reviewer told) and the analyst reads what
    was understood, what is missing and questions that would work; None if it stopped generating meanwhile."""
    try:
        with transaction.atomic():  # a savepoint: the cost spans recorded before it stay
            request = approval_request_needs_clarification(
                request=request,
                clarification=output.clarification.as_dict(),
                provider=output.provider,
                model=output.model,
            )
    except Conflict as refused:
        logger.info("request %s became %s while its code was generated", request.pk, refused.extra["status"])
        return None
    Message.objects.create(
        session_id=request.session_id,
        role=Message.Role.ASSISTANT,
        content=output.clarification.message,
        request=request,
    )
    return request


def request_regenerate(*, revision: ApprovalRequest, feedback: str, asked_by_analyst: bool = False) -> None:
    """A new version was asked for after a rejection (`approval_request_revise`): hold what generating it may
    cost, say so in the conversation and generate it, all in the revision's transaction.

    Over a budget this raises BudgetExceeded (402): the revision rolls back, the rejected request stays as
    it was.
    """
    inp = generation_input(request=revision)
    reservation = generation_reserve(request=revision, inp=inp)
    # What the new version may cost at most: its generation (its prompt carries the rejected code and the
    # feedback) and one run.
    revision.budget_estimate = reservation.amount_usd + execution_cost_ceiling(team=revision.team)
    ApprovalRequest.objects.filter(pk=revision.pk).update(
        budget_estimate_nanos=revision.budget_estimate_nanos, updated_at=timezone.now()
    )
    who = "The analyst asked again" if asked_by_analyst else "A reviewer asked"
    Message.objects.create(
        session_id=revision.session_id,
        role=Message.Role.SYSTEM,
        content=f"{who} for version {revision.version}: {feedback.strip()}",
        request=revision,
    )
    Session.objects.filter(pk=revision.session_id).update(last_activity_at=timezone.now())
    from ..tasks import generate_code

    enqueue_on_commit(generate_code, str(revision.pk))  # broker down: the reaper enqueues it later


def _request_generation_claim(*, request_id) -> bool:
    """Claim the generation once, with a lease: a second task for the same request finds it claimed."""
    now = timezone.now()
    lease_expires_at = now + timedelta(seconds=settings.SANDGATE_LEASE_SECONDS)
    claimed = ApprovalRequest.objects.filter(
        pk=request_id, status=Status.GENERATING, generation_lease_expires_at__isnull=True
    ).update(generation_lease_expires_at=lease_expires_at, generation_heartbeat_at=now)
    return claimed == 1


# Shown to analysts when the provider refuses our credentials; admins get the details (audit, ERROR log).
GENERATION_MISCONFIGURED_MESSAGE = (
    "Code generation is not configured correctly; an administrator has been told."
)


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
) -> ApprovalRequest | None:
    _llm_cost_spans_record(request=request, provider=provider, calls=error.calls)
    budget_settle_request(request=request, feature=CostSpan.Feature.GENERATION)
    reason = str(error)
    if isinstance(error, GenerationConfigurationError):
        logger.error("Code generation is misconfigured (request %s): %s", request.pk, error)
        audit_log(
            action=Action.GENERATION_MISCONFIGURED,
            team=request.team,
            target=request,
            details={"provider": provider, "reason": reason},
        )
        reason = GENERATION_MISCONFIGURED_MESSAGE
    try:
        with transaction.atomic():  # a savepoint: the cost spans recorded before it stay
            return approval_request_generation_fail(request=request, reason=reason)
    except Conflict as refused:  # withdrawn or interrupted meanwhile
        logger.info("request %s became %s while its code was generated", request.pk, refused.extra["status"])
        return None


def _next_step(request: ApprovalRequest) -> str:
    if request.status == Status.POLICY_BLOCKED:
        return f"the policy check blocked it before review: {request.policy_reason}"
    return "waiting for a reviewer's approval."
