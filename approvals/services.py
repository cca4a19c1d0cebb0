"""Every transition of an approval request: checked, race-safe, audited in the same transaction."""

from __future__ import annotations

import difflib
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_log
from billing.models import CostSpan, Membership
from billing.selectors import membership_role
from billing.services import audit_budget_refusals, budget_release_request
from config.enqueue import enqueue_on_commit
from config.exceptions import ApplicationError, Conflict, Forbidden

from .models import ApprovalRequest, ApprovalVote, PolicyRule
from .policy import RULES_BY_CODE, PolicyResult, at_least, policy_check
from .selectors import policy_config
from .signals import request_approved, request_revised, run_limits_wanted

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
    written = {"status": target, "updated_at": timezone.now(), **fields}
    updated = ApprovalRequest.objects.filter(pk=request.pk, status__in=source).update(**written)
    if updated != 1:
        current = ApprovalRequest.objects.filter(pk=request.pk).values_list("status", flat=True).first()
        raise transition_refused(current=current, target=target)
    if any(hasattr(value, "resolve_expression") for value in written.values()):
        request.refresh_from_db()  # the database computed a value: read it back
    else:  # the row is what the UPDATE wrote; no read, and the loaded relations (team...) stay loaded
        for name, value in written.items():
            setattr(request, name, value)
    return request


def transition_refused(*, current: str, target: str) -> Conflict:
    """The 409 of a transition the request's current status does not allow."""
    message = f"The request is {current}, so it cannot become {target}."
    return Conflict(message, code="invalid_state", extra={"status": current})


def approval_digest(*, code_sha256: str, datasets: list[tuple[str, str]], limits: dict) -> str:
    """What an approval binds: the code's hash, each dataset's (name, hash), and the run's limits."""
    payload = {
        "code_sha256": code_sha256,
        "datasets": sorted([name, sha] for name, sha in datasets),
        "limits": limits,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def request_limits(*, request: ApprovalRequest) -> dict:
    """The sandbox limits a run of this request gets, as the app that runs it says (`run_limits_wanted`)."""
    answers = [limits for _, limits in run_limits_wanted.send(sender=ApprovalRequest, request=request)]
    if len(answers) != 1:  # fail closed: nothing is approved without knowing what it would run with
        raise ImproperlyConfigured(f"Expected one answer to run_limits_wanted, got {len(answers)}.")
    return answers[0]


def approval_request_digest(*, request: ApprovalRequest) -> str:
    return approval_digest(
        code_sha256=code_sha256(request.code),
        datasets=[(d.name, d.sha256) for d in request.datasets.all()],
        limits=request_limits(request=request),
    )


def _policy_fields(*, code: str) -> tuple[PolicyResult, dict]:
    """Check the code with the admins' policy; the result and the fields to store on the request."""
    result = policy_check(code=code, config=policy_config())
    fields = {
        "code": code,
        "code_sha256": code_sha256(code),
        "findings": [f.as_dict() for f in result.findings],
        "risk_level": result.risk_level,
        "policy_reason": result.reason,
    }
    return result, fields


def _audit_policy(*, request: ApprovalRequest, result: PolicyResult, actor=None) -> None:
    details = {
        "code_sha256": request.code_sha256,
        "risk_level": result.risk_level,
        "findings": [f.as_dict() for f in result.findings],
    }
    audit_log(action=Action.POLICY_CHECKED, actor=actor, team=request.team, target=request, details=details)
    if result.blocked:
        audit_log(
            action=Action.POLICY_BLOCKED,
            actor=actor,
            team=request.team,
            target=request,
            details={"code_sha256": request.code_sha256, "reason": result.reason},
        )


@transaction.atomic
def approval_request_generation_succeed(
    *, request: ApprovalRequest, code: str, provider: str, model: str, plan: str = ""
) -> ApprovalRequest:
    """Store the generated code and its plan and check the code: critical findings block it, the rest waits
    for review."""
    result, fields = _policy_fields(code=code)
    request = approval_request_transition(
        request=request,
        source=(Status.GENERATING,),
        target=Status.POLICY_BLOCKED if result.blocked else Status.PENDING_REVIEW,
        provider=provider,
        model=model,
        plan=plan.strip(),
        **fields,
    )
    audit_log(
        action=Action.REQUEST_GENERATED,
        team=request.team,
        target=request,
        details={"code_sha256": request.code_sha256, "provider": provider, "model": model},
    )
    _audit_policy(request=request, result=result)
    _notify_if_waiting(request=request)
    return request


def _notify_if_waiting(*, request: ApprovalRequest) -> None:
    if request.status != Status.PENDING_REVIEW:
        return
    from .tasks import notify_reviewers_by_email, notify_reviewers_by_webhook

    for task in (notify_reviewers_by_email, notify_reviewers_by_webhook):
        enqueue_on_commit(task, str(request.pk))  # routed to "generate"; a broker outage only logs


@transaction.atomic
def approval_request_generation_fail(*, request: ApprovalRequest, reason: str) -> ApprovalRequest:
    request = approval_request_transition(
        request=request, source=(Status.GENERATING,), target=Status.GENERATION_FAILED, generation_error=reason
    )
    audit_log(
        action=Action.REQUEST_GENERATION_FAILED, team=request.team, target=request, details={"reason": reason}
    )
    return request


@transaction.atomic
def approval_request_needs_clarification(
    *, request: ApprovalRequest, clarification: dict, provider: str, model: str
) -> ApprovalRequest:
    """The generator could not answer with confidence: the request ends here, with no code, and no
    reviewer is told (nothing waits for review). `clarification` says what was understood, what is
    missing, and example questions that would work."""
    request = approval_request_transition(
        request=request,
        source=(Status.GENERATING,),
        target=Status.NEEDS_CLARIFICATION,
        provider=provider,
        model=model,
        clarification=clarification,
    )
    audit_log(
        action=Action.REQUEST_NEEDS_CLARIFICATION,
        team=request.team,
        target=request,
        details={"provider": provider, "model": model, "missing": clarification.get("missing", "")},
    )
    return request


def _check_reviewer(*, request: ApprovalRequest, reviewer) -> None:
    refused = _reviewer_refusal(request=request, reviewer=reviewer)
    if refused:
        raise _refusal(refused)


def _reviewer_refusal(*, request: ApprovalRequest, reviewer) -> str | None:
    """Who may decide on a request at all: a reviewer of its team who did not ask it."""
    if membership_role(user=reviewer, team=request.team) != Membership.Role.REVIEWER:
        return "not_a_reviewer"
    if request.user_id == reviewer.pk:
        return "self_approval"
    return None


def _involvement_refusal(*, request: ApprovalRequest, reviewer) -> str | None:
    """A reviewer who wrote code of this version, or already approved it, does not approve it (again)."""
    if reviewer.pk in edit_chain_editor_ids(request=request):
        return "own_edit"
    if request.votes.filter(reviewer=reviewer).exists():
        return "voted"
    return None


# An approval's refusals by code.
APPROVAL_REFUSALS = {
    "not_a_reviewer": (Forbidden, "Only a reviewer of this team can decide on a request."),
    "self_approval": (Forbidden, "You cannot review your own request."),
    "own_edit": (
        Forbidden,
        "You wrote code of this version (an edit of it or of an earlier version); "
        "another reviewer must approve it.",
    ),
    "code_changed": (Conflict, "The code changed since you looked at it; review it again."),
    "voted": (Conflict, "You already approved this request; it waits for another reviewer."),
}


def _refusal(code: str, status: str = "") -> ApplicationError:
    if code == "invalid_state":
        return transition_refused(current=status, target=Status.APPROVED)
    error, message = APPROVAL_REFUSALS[code]
    return error(message, code=code)


def edit_chain_editor_ids(*, request: ApprovalRequest) -> set[int]:
    """Everyone whose edit wrote code of this version: its editor and the editors of every earlier version.

    A reviewer who edited version 1 into 2 wrote part of every version after it, however small the next
    edits are, so they approve none of them (`own_edit`).
    """
    editors: set[int] = set()
    seen: set = set()
    edited_by_id, parent_id = request.edited_by_id, request.parent_id
    while True:
        if edited_by_id is not None:
            editors.add(edited_by_id)
        if parent_id is None or parent_id in seen:
            return editors
        seen.add(parent_id)
        row = ApprovalRequest.objects.filter(pk=parent_id).values_list("edited_by_id", "parent_id").first()
        if row is None:
            return editors
        edited_by_id, parent_id = row


def approval_refusal(*, request: ApprovalRequest, reviewer) -> str | None:
    """Why this reviewer may not approve this request now (a code of APPROVAL_REFUSALS), or None.

    The checks `approval_request_approve` makes before it records a vote (the same functions), for pages
    that offer the Approve button only to someone who may press it.
    """
    refused = _reviewer_refusal(request=request, reviewer=reviewer)
    if refused:
        return refused
    if request.status != Status.PENDING_REVIEW:
        return "invalid_state"
    return _involvement_refusal(request=request, reviewer=reviewer)


def approval_refusal_message(code: str, *, status: str = "") -> str:
    return _refusal(code, status).message


def approvals_needed(*, request: ApprovalRequest) -> int:
    """Distinct reviewers whose approval makes the request approved: the team's quorum when high risk."""
    if request.risk_level == ApprovalRequest.Risk.HIGH:
        return max(1, request.team.high_risk_quorum)
    return 1


@transaction.atomic
def approval_request_approve(
    *, request: ApprovalRequest, reviewer, expected_sha256: str | None = None
) -> ApprovalRequest:
    """Record this reviewer's approval of exactly the code they saw; approve once the quorum is reached."""
    _check_reviewer(request=request, reviewer=reviewer)
    # The row lock makes concurrent votes count one after the other: the last of a quorum sees the others.
    request = ApprovalRequest.objects.select_for_update().select_related("team").get(pk=request.pk)
    if request.status != Status.PENDING_REVIEW:
        raise _refusal("invalid_state", request.status)
    if expected_sha256 and expected_sha256 != request.code_sha256:
        raise _refusal("code_changed")
    refused = _involvement_refusal(request=request, reviewer=reviewer)
    if refused:
        raise _refusal(refused)
    digest = approval_request_digest(request=request)
    ApprovalVote.objects.create(
        request=request, reviewer=reviewer, requester_id=request.user_id, approval_digest=digest
    )
    votes = request.votes.filter(approval_digest=digest).count()
    needed = approvals_needed(request=request)
    audit_log(
        action=Action.REQUEST_VOTED,
        actor=reviewer,
        team=request.team,
        target=request,
        details={"code_sha256": request.code_sha256, "votes": votes, "needed": needed},
    )
    if votes < needed:
        return request
    return _approve(request=request, reviewer=reviewer, digest=digest)


def _approve(*, request: ApprovalRequest, reviewer, digest: str) -> ApprovalRequest:
    now = timezone.now()
    request = approval_request_transition(
        request=request,
        source=(Status.PENDING_REVIEW,),
        target=Status.APPROVED,
        **_approved_fields(request=request, reviewer=reviewer, digest=digest, now=now),
    )
    audit_log(
        action=Action.REQUEST_APPROVED,
        actor=reviewer,
        team=request.team,
        target=request,
        details={
            "code_sha256": request.approved_code_sha256,
            "approval_digest": digest,
            "reviewers": list(request.votes.values_list("reviewer__username", flat=True)),
            "expires_at": request.approval_expires_at.isoformat(),
        },
    )
    # With SANDGATE_EXECUTE_ON_APPROVAL analysis queues the run here, in this transaction.
    request_approved.send(sender=ApprovalRequest, request=request, reviewer=reviewer)
    return request


def _approved_fields(*, request: ApprovalRequest, reviewer, digest: str, now) -> dict:
    return {
        "reviewer": reviewer,
        "decided_at": now,
        "approved_code_sha256": request.code_sha256,
        "approval_digest": digest,
        "approval_expires_at": now + timedelta(hours=settings.APPROVAL_TTL_HOURS),
    }


def approval_is_expired(*, request: ApprovalRequest) -> bool:
    return request.approval_expires_at is None or timezone.now() >= request.approval_expires_at


@transaction.atomic
def approval_request_expire(*, request: ApprovalRequest, source: tuple[str, ...]) -> ApprovalRequest:
    request = approval_request_transition(request=request, source=source, target=Status.EXPIRED)
    audit_log(
        action=Action.REQUEST_EXPIRED,
        team=request.team,
        target=request,
        details={"expires_at": str(request.approval_expires_at)},
    )
    return request


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


# What an analyst may withdraw: a request still waiting for review (its code being written, or written).
WITHDRAWABLE = (Status.GENERATING, Status.PENDING_REVIEW)


@transaction.atomic
def approval_request_cancel(*, request: ApprovalRequest, user) -> ApprovalRequest:
    """The analyst who asked withdraws a request still waiting for review; its generation hold is released.

    A generation already under way finishes, is charged for its calls, and leaves the request withdrawn.
    """
    if request.user_id != user.pk:
        raise Forbidden("Only the person who asked can withdraw a request.", code="not_your_request")
    request = approval_request_transition(request=request, source=WITHDRAWABLE, target=Status.CANCELLED)
    released = budget_release_request(request=request, feature=CostSpan.Feature.GENERATION)
    audit_log(
        action=Action.REQUEST_CANCELLED,
        actor=user,
        team=request.team,
        target=request,
        details={"reservations_released": released},
    )
    return request


def _next_version(*, old: ApprovalRequest, **fields) -> ApprovalRequest:
    """The next version of a request: same asker, question, session and datasets, linked by `parent`."""
    new = ApprovalRequest.objects.create(
        query=old.query,
        user_id=old.user_id,
        team_id=old.team_id,
        session_id=old.session_id,
        parent=old,
        version=old.version + 1,
        budget_estimate=old.budget_estimate,
        **fields,
    )
    new.datasets.set(old.datasets.all())
    return new


REVISE_REFUSED = "Only the person who asked, or a reviewer of the team, can ask for a new version."


@audit_budget_refusals(actor="user")
@transaction.atomic
def approval_request_revise(*, request: ApprovalRequest, user) -> ApprovalRequest:
    """Ask again with the reviewer's feedback: a new version of a request rejected with a reason.

    The analyst who asked ("Ask again with this feedback") or a reviewer of the team may. The new request
    (version n+1, linked by `parent`) asks the same question on the same session and datasets; its prompt
    carries the rejected code and the feedback; it goes through review again (analysis holds what generating
    it may cost and generates it on `request_revised`). Like a follow-up, it needs the session to be open
    (409 `session_closed`). Over a budget the hold is refused (402, audited): no new version, the rejected
    request unchanged.
    """
    is_reviewer = membership_role(user=user, team=request.team) == Membership.Role.REVIEWER
    if request.user_id != user.pk and not is_reviewer:
        raise Forbidden(REVISE_REFUSED, code="not_allowed")
    # Locked so two clicks on "ask again" make one revision, not two.
    request = ApprovalRequest.objects.select_for_update().select_related("session", "team").get(pk=request.pk)
    if request.status != Status.REJECTED or not request.rejection_reason.strip():
        raise Conflict(
            "Only a request rejected with a reason can be revised.",
            code="invalid_state",
            extra={"status": request.status},
        )
    session = request.session
    if session.status != "active":  # analysis' Session.Status.ACTIVE (approvals does not import analysis)
        raise Conflict(f"The session is {session.status}; start a new one.", code="session_closed")
    if request.revisions.exists():
        raise Conflict("A new version of this request was already asked for.", code="already_revised")
    revision = _next_version(old=request)
    audit_log(
        action=Action.REQUEST_REVISED,
        actor=user,
        team=request.team,
        target=revision,
        details={
            "parent_id": str(request.pk),
            "version": revision.version,
            "feedback": request.rejection_reason,
        },
    )
    request_revised.send(
        sender=ApprovalRequest,
        revision=revision,
        feedback=request.rejection_reason,
        asked_by_analyst=user.pk == request.user_id,
    )
    return revision


@transaction.atomic
def approval_request_edit(*, request: ApprovalRequest, reviewer, code: str) -> ApprovalRequest:
    """A reviewer's edit becomes the next version: checked again by the policy, reviewed and approved anew.

    The edited version is a new request (parent = this one, version + 1) by the same analyst; this one
    becomes superseded, so no approval can ever apply to the code the reviewer replaced.
    """
    _check_reviewer(request=request, reviewer=reviewer)
    code = code.replace("\r\n", "\n")
    if not code.strip():
        raise ApplicationError("The edited code is empty.", code="empty_code")
    old = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    if old.status != Status.PENDING_REVIEW:
        raise Conflict(
            f"The request is {old.status}; only code waiting for review can be edited.",
            code="invalid_state",
            extra={"status": old.status},
        )
    if code == old.code:
        raise ApplicationError("The code is unchanged.", code="unchanged")
    approval_request_transition(request=old, source=(Status.PENDING_REVIEW,), target=Status.SUPERSEDED)
    result, fields = _policy_fields(code=code)
    new = _next_version(
        old=old,
        edited_by=reviewer,
        provider=old.provider,
        model=old.model,
        plan=old.plan,  # the plan stays the generator's; the card checks the edited code against it
        status=Status.POLICY_BLOCKED if result.blocked else Status.PENDING_REVIEW,
        **fields,
    )
    audit_log(
        action=Action.REQUEST_EDITED,
        actor=reviewer,
        team=new.team,
        target=new,
        details={
            "parent_id": str(old.pk),
            "version": new.version,
            "old_code_sha256": old.code_sha256,
            "code_sha256": new.code_sha256,
            "diff": code_diff(
                old=old.code, new=new.code, old_label=f"v{old.version}", new_label=f"v{new.version}"
            ),
        },
    )
    audit_log(
        action=Action.REQUEST_SUPERSEDED,
        actor=reviewer,
        team=old.team,
        target=old,  # filed under the replaced version too: its own trail says what became of it
        details={"next_request_id": str(new.pk), "next_version": new.version, "code_sha256": old.code_sha256},
    )
    _audit_policy(request=new, result=result, actor=reviewer)
    _notify_if_waiting(request=new)
    return new


def code_diff(*, old: str, new: str, old_label: str = "before", new_label: str = "after") -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_label, tofile=new_label
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@transaction.atomic
def policy_rule_update(
    *, rule: PolicyRule, actor, enabled: bool, severity: str, allowed_modules: str = ""
) -> PolicyRule:
    """An admin's change to one rule; the before and after go to the audit log."""
    if rule.code not in RULES_BY_CODE:
        raise ApplicationError(f"Unknown policy rule {rule.code}.", code="unknown_rule")
    if severity not in PolicyRule.Severity.values:
        raise ApplicationError(f"Unknown severity {severity}.", code="invalid_severity")
    floor = RULES_BY_CODE[rule.code].floor
    if floor and (not enabled or at_least(severity, floor) != severity):
        raise ApplicationError(
            f"The rule {rule.code} keeps the check failing closed: it stays on, at {floor} or above.",
            code="rule_floor",
        )
    modules = "\n".join(sorted({m.strip() for m in allowed_modules.split() if m.strip()}))
    current = PolicyRule.objects.select_for_update().filter(pk=rule.code).first()
    before = _rule_state(current)
    rule, _ = PolicyRule.objects.update_or_create(
        code=rule.code,
        defaults={
            "enabled": enabled,
            "severity": severity,
            "allowed_modules": modules,
            "description": RULES_BY_CODE[rule.code].description,
        },
    )
    after = _rule_state(rule)
    if before != after:
        audit_log(
            action=Action.POLICY_RULE_CHANGED,
            actor=actor,
            target=rule,
            details={"rule": rule.code, "before": before, "after": after},
        )
    return rule


def _rule_state(rule: PolicyRule | None) -> dict | None:
    if rule is None:
        return None
    return {
        "enabled": rule.enabled,
        "severity": rule.severity,
        "allowed_modules": rule.allowed_modules.split(),
    }
