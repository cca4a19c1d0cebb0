"""Every transition of an approval request: checked, race-safe, audited in the same transaction."""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_log
from billing.models import Membership
from billing.selectors import membership_role
from config.exceptions import Conflict, Forbidden

from .models import ApprovalRequest

Status = ApprovalRequest.Status
Action = AuditEvent.Action


def code_sha256(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def approval_request_transition(
    *, request: ApprovalRequest, source: tuple[str, ...], target: str, **fields
) -> ApprovalRequest:
    """Move the request from one of `source` to `target` with one conditional UPDATE.

    Two reviewers clicking at once both reach this UPDATE; only one matches the expected status.
    Call inside a transaction that also writes the audit event.
    """
    updated = ApprovalRequest.objects.filter(pk=request.pk, status__in=source).update(
        status=target, updated_at=timezone.now(), **fields
    )
    if updated != 1:
        current = ApprovalRequest.objects.filter(pk=request.pk).values_list("status", flat=True).first()
        raise Conflict(
            f"The request is {current}, so it cannot become {target}.",
            code="invalid_state",
            extra={"status": current},
        )
    request.refresh_from_db()
    return request


@transaction.atomic
def approval_request_generation_succeed(
    *, request: ApprovalRequest, code: str, provider: str, model: str
) -> ApprovalRequest:
    request = approval_request_transition(
        request=request,
        source=(Status.GENERATING,),
        target=Status.PENDING_REVIEW,
        code=code,
        code_sha256=code_sha256(code),
        provider=provider,
        model=model,
    )
    audit_log(
        action=Action.REQUEST_GENERATED,
        team=request.team,
        target=request,
        details={"code_sha256": request.code_sha256, "provider": provider, "model": model},
    )
    return request


@transaction.atomic
def approval_request_generation_fail(*, request: ApprovalRequest, reason: str) -> ApprovalRequest:
    request = approval_request_transition(
        request=request, source=(Status.GENERATING,), target=Status.GENERATION_FAILED, generation_error=reason
    )
    audit_log(
        action=Action.REQUEST_GENERATION_FAILED, team=request.team, target=request, details={"reason": reason}
    )
    return request


def _check_reviewer(*, request: ApprovalRequest, reviewer) -> None:
    if membership_role(user=reviewer, team=request.team) != Membership.Role.REVIEWER:
        raise Forbidden("Only a reviewer of this team can decide on a request.", code="not_a_reviewer")
    if request.user_id == reviewer.pk:
        raise Forbidden("You cannot review your own request.", code="self_approval")


@transaction.atomic
def approval_request_approve(
    *, request: ApprovalRequest, reviewer, expected_sha256: str | None = None
) -> ApprovalRequest:
    """Approve exactly the code the reviewer saw: the approval binds to its SHA-256."""
    _check_reviewer(request=request, reviewer=reviewer)
    if expected_sha256 and expected_sha256 != request.code_sha256:
        raise Conflict("The code changed since you looked at it; review it again.", code="code_changed")
    request = approval_request_transition(
        request=request,
        source=(Status.PENDING_REVIEW,),
        target=Status.APPROVED,
        reviewer=reviewer,
        decided_at=timezone.now(),
        approved_code_sha256=request.code_sha256,
    )
    audit_log(
        action=Action.REQUEST_APPROVED,
        actor=reviewer,
        team=request.team,
        target=request,
        details={"code_sha256": request.approved_code_sha256},
    )
    _after_approval(request=request, reviewer=reviewer)
    return request


def _after_approval(*, request: ApprovalRequest, reviewer) -> None:
    from django.conf import settings

    if settings.SANDGATE_EXECUTE_ON_APPROVAL:
        from analysis.services import execution_start

        execution_start(request=request, user=reviewer)


@transaction.atomic
def approval_request_reject(*, request: ApprovalRequest, reviewer, reason: str) -> ApprovalRequest:
    _check_reviewer(request=request, reviewer=reviewer)
    request = approval_request_transition(
        request=request,
        source=(Status.PENDING_REVIEW,),
        target=Status.REJECTED,
        reviewer=reviewer,
        decided_at=timezone.now(),
        rejection_reason=reason,
    )
    audit_log(
        action=Action.REQUEST_REJECTED,
        actor=reviewer,
        team=request.team,
        target=request,
        details={"reason": reason},
    )
    return request


@transaction.atomic
def approval_request_cancel(*, request: ApprovalRequest, user) -> ApprovalRequest:
    if request.user_id != user.pk:
        raise Forbidden("Only the person who asked can cancel a request.")
    request = approval_request_transition(
        request=request,
        source=(Status.GENERATING, Status.PENDING_REVIEW, Status.APPROVED),
        target=Status.CANCELLED,
    )
    audit_log(action=Action.REQUEST_CANCELLED, actor=user, team=request.team, target=request)
    return request
