"""Asking a question: the team, session and datasets chosen, the estimate held, the request recorded."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from audit.services import audit_log
from billing.models import CostSpan, Team
from billing.selectors import ASKING_ROLES, team_list_for_user
from billing.services import audit_budget_refusals, budget_reserve
from config.enqueue import enqueue_on_commit
from config.exceptions import Conflict, Forbidden, NotFound

from ..models import Dataset, Message, Session
from .execution import execution_cost_ceiling
from .generation import generation_cost_ceiling, generation_input, generation_model_name
from .sessions import session_idle_cutoff

Action = AuditEvent.Action


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
    if dataset_ids:
        found = list(Dataset.objects.filter(team=team, pk__in=dataset_ids))
        if len(found) != len(set(map(str, dataset_ids))):
            raise NotFound("Dataset not found.")
        for dataset in found:
            _check_ready(dataset)
        return found
    team_datasets = Dataset.objects.filter(team=team, status=Dataset.Status.READY)
    mentioned = [d for d in team_datasets if d.name.lower() in query.lower()]
    if mentioned:
        return mentioned
    if session is not None:
        previous = ApprovalRequest.objects.filter(session=session).order_by("-created_at").first()
        if previous is not None:
            return list(previous.datasets.all())
    return list(team_datasets) if team_datasets.count() == 1 else []


def _check_ready(dataset: Dataset) -> None:
    """Only a profiled dataset can be chosen: its columns are what the code is written for."""
    if dataset.status == Dataset.Status.READY:
        return
    if dataset.status == Dataset.Status.FAILED:
        message = f"“{dataset.name}” could not be used: {dataset.failure_reason} Upload a corrected file."
    else:
        message = f"“{dataset.name}” is still being profiled; ask again once it is ready."
    extra = {"datasetId": str(dataset.pk), "datasetStatus": dataset.status}
    raise Conflict(message, code="dataset_not_ready", extra=extra)


@audit_budget_refusals
def analysis_submit(
    *, user, query: str, session_id=None, dataset_ids: list | None = None, team_id=None
) -> ApprovalRequest:
    """Record the question and hand code generation to a worker (never in the web request)."""
    request = _submit(user=user, query=query, session_id=session_id, dataset_ids=dataset_ids, team_id=team_id)
    from ..tasks import generate_code

    enqueue_on_commit(generate_code, str(request.pk))  # broker down: 202 all the same; the reaper enqueues it
    return request


@transaction.atomic
def _submit(*, user, query: str, session_id, dataset_ids: list | None, team_id) -> ApprovalRequest:
    team = _asking_team(user=user, team_id=team_id)
    existing_session = session_id is not None
    session = _session_for(user=user, team=team, session_id=session_id, query=query)
    datasets = _datasets_for(
        team=team, dataset_ids=dataset_ids, query=query, session=session if existing_session else None
    )
    # Priced before the row is written, at the most the generation can cost: the prompt it will send (the
    # question, its datasets, the session's earlier turns), with the model that will generate.
    request = ApprovalRequest(query=query, user=user, team=team, session=session, created_at=timezone.now())
    inp = generation_input(request=request, datasets=datasets, history=None if existing_session else [])
    generation = generation_cost_ceiling(inp=inp, model=generation_model_name(team=team, user=user))
    # What the request may cost at most: its generation and one run at the team's limits.
    request.budget_estimate = generation + execution_cost_ceiling(team=team)
    request.save(force_insert=True)
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
