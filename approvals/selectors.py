from __future__ import annotations

import functools
import hashlib

from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from billing.models import Membership
from billing.selectors import budget_status_version
from config.exceptions import NotFound

from .models import ApprovalRequest, ApprovalVote, PolicyRule
from .plan_check import check_plan
from .policy import (
    DEFAULT_ALLOWED_MODULES,
    NOT_UNDERSTOOD_RULES,
    RULES,
    PolicyConfig,
    at_least,
    describe_code,
)

OVERSIGHT_ROLES = (Membership.Role.REVIEWER, Membership.Role.AUDITOR)


def approval_request_visible_q(*, user, prefix: str = "") -> Q:
    """Analysts see their own requests; reviewers and auditors see their teams' requests.

    One join to the user's membership of the request's team (at most one: one membership per team and
    user), used in one `filter()` call so both conditions read the same membership.
    """
    membership = f"{prefix}team__memberships__"
    return Q(**{f"{membership}user": user}) & (
        Q(**{f"{prefix}user": user}) | Q(**{f"{membership}role__in": OVERSIGHT_ROLES})
    )


# What a run produced: large (charts travel as base64 in `results`) and shown only where the output is.
EXECUTION_OUTPUT = ("stdout", "stderr", "error", "results", "limits")


def approval_request_list(
    *, user, status: str | None = None, execution_output: bool = False
) -> QuerySet[ApprovalRequest]:
    """Requests the user may see, with their execution's summary; its output only when asked for."""
    qs = (
        ApprovalRequest.objects.filter(approval_request_visible_q(user=user))
        .select_related("user", "reviewer", "team", "execution")  # not "parent": few have one, loaded lazily
        .prefetch_related("datasets")
    )
    if not execution_output:
        qs = qs.defer(*(f"execution__{name}" for name in EXECUTION_OUTPUT))
    if status:
        qs = qs.filter(status=status)
    return qs


def approval_request_get(*, user, request_id) -> ApprovalRequest:
    """One request the user may see, with what its serializers read; anything else is a 404."""
    return _visible_get(approval_request_list(user=user), request_id=request_id)


def approval_request_to_act_on(*, user, request_id) -> ApprovalRequest:
    """The request row and its team if the user may see it (else 404), for a service to act on.

    Services lock and re-read the row; the joins and prefetch of `approval_request_list` would be built,
    run and thrown away (on `POST /api/approve` they were about a third of its CPU).
    """
    visible = ApprovalRequest.objects.filter(approval_request_visible_q(user=user)).select_related("team")
    return _visible_get(visible, request_id=request_id)


def _visible_get(visible: QuerySet[ApprovalRequest], *, request_id) -> ApprovalRequest:
    """Anything not visible, including another team's request or a malformed id, is a 404."""
    try:
        return visible.get(pk=request_id)
    except (ApprovalRequest.DoesNotExist, ValueError, ValidationError):
        raise NotFound("Request not found.") from None


# --- versions: what a poller's ETag and the session page's live status are made of -------------------
#
# The one rule: a request's version is read from the columns of every row its answers show that can change
# after it is created, in one query. The request row's `updated_at` stands for the request's own fields:
# every UPDATE of a field the answers show sets it (`services.approval_request_transition` does for every
# transition; a generation's lease is not shown).
# The run's fields are read as they are (the analysis app writes them with conditional UPDATEs); votes are
# only ever added (their count); a next version is a new row (its id); the session's status says whether
# the session page still offers to ask again. What does not change once the request exists is left out: its
# datasets, the previous version (final when a next one is made), user names.
VERSION_COLUMNS = (
    "pk",
    "status",
    "updated_at",
    "session__status",
    "execution__status",
    "execution__backend",
    "execution__started_at",
    "execution__finished_at",
    "execution__duration_ms",
)

CARD_VERSION_COLUMNS = (
    "team__high_risk_quorum",
    "votes_count",
    "budgets_saved",
    "budgets_moved",
)


def approval_request_versions(where: Q, *, card: bool = False) -> dict:
    """{pk: version} of the requests `where` selects. With `card`, also what the approval card reads beyond
    the row: the votes, the team's quorum and the requester's budgets
    (`billing.selectors.budget_status_version`)."""
    rows = _versions_base(card=card).filter(where)
    today = timezone.now().date().isoformat() if card else ""  # a daily budget resets at midnight (UTC)
    return {row[0]: _version(row, today) for row in rows}


@functools.cache
def _versions_base(*, card: bool) -> QuerySet:
    """The version columns and subqueries, built once per process (never evaluated itself): building them
    is most of a version's cost in Python, and the poll that answers 304 does little else."""
    newest = ApprovalRequest.objects.filter(parent=OuterRef("pk")).order_by("-version").values("pk")[:1]
    base = ApprovalRequest.objects.order_by().annotate(next_id=Subquery(newest))
    if not card:
        return base.values_list(*VERSION_COLUMNS, "next_id")
    votes = ApprovalVote.objects.filter(request=OuterRef("pk")).order_by().values("request")
    base = base.annotate(
        votes_count=Subquery(votes.annotate(n=Count("pk")).values("n")),
        **budget_status_version(team="team_id", user="user_id"),
    )
    return base.values_list(*VERSION_COLUMNS, "next_id", *CARD_VERSION_COLUMNS)


def _version(row: tuple, salt: str) -> str:
    return hashlib.blake2b(repr((row, salt)).encode(), digest_size=12).hexdigest()


def approval_request_version(*, user, request_id) -> str:
    """The version of `GET /api/requests/{id}`'s answer (its ETag); another team's request is a 404."""
    try:
        visible = approval_request_visible_q(user=user) & Q(pk=request_id)
        versions = approval_request_versions(visible, card=True)
    except (ValueError, ValidationError):
        versions = {}
    if not versions:
        raise NotFound("Request not found.")
    return next(iter(versions.values()))


def policy_config() -> PolicyConfig:
    """The policy as the admins set it; a rule without a row keeps its default.

    A rule with a floor (the "could not follow this" rules) is never off nor below its floor, whatever its
    row says: the service refuses such a change, and this keeps a row edited past it from opening the check.
    """
    rows = {rule.code: rule for rule in PolicyRule.objects.all()}
    severities = {}
    for rule in RULES:
        row = rows.get(rule.code)
        if row is None or row.enabled or rule.floor:
            severities[rule.code] = at_least(row.severity if row else rule.severity, rule.floor)
    imports = rows.get("import-not-allowed")
    allowed = imports.allowed_modules.split() if imports and imports.allowed_modules.strip() else None
    return PolicyConfig(allowed_modules=frozenset(allowed or DEFAULT_ALLOWED_MODULES), severities=severities)


def _cost_card(*, request: ApprovalRequest) -> dict:
    """The estimate against the tightest budget that applies to the requester in the request's team."""
    from billing.selectors import budget_status_list

    statuses = budget_status_list(user=request.user, team=request.team)
    tightest = min(statuses, key=lambda s: s.remaining, default=None)
    return {
        "estimateUsd": float(request.budget_estimate),
        "remainingBudgetUsd": float(tightest.remaining) if tightest else None,
        "note": f"{tightest.budget.scope} {tightest.budget.period} budget"
        if tightest
        else "No budget applies.",
    }


def approval_request_card(*, request: ApprovalRequest) -> dict:
    """What a reviewer needs to decide: the plan and where the code differs from it, what the code reads,
    writes, imports and draws (from its AST), then cost and risk, then the diff to the previous version."""
    from .services import approvals_needed, code_diff

    seen = describe_code(code=request.code)
    datasets = list(request.datasets.all())
    selected_paths = {f"/data/{d.name}" for d in datasets}
    known_columns = {c.get("name") for d in datasets for c in d.columns}
    columns = [k for k in seen["subscripts"] if k in known_columns] if known_columns else seen["subscripts"]
    parent = request.parent
    facts = [{"name": d.name, "columns": d.columns} for d in datasets]
    return {
        "plan": check_plan(plan=request.plan, datasets=facts, read_columns=columns, read_paths=seen["paths"]),
        "reads": {
            "datasets": [
                {"path": path, "name": path.removeprefix("/data/"), "selected": path in selected_paths}
                for path in seen["paths"]
            ],
            "columns": columns,
        },
        "writes": seen["writes"],
        "libraries": seen["libraries"],
        "charts": {"expected": _charts_expected(seen["charts"]), "calls": seen["charts"]},
        "cost": _cost_card(request=request),
        "risk": {
            "level": request.risk_level,
            "findings": request.findings,
            "approvalsNeeded": approvals_needed(request=request),
            "approvals": list(request.votes.values_list("reviewer__username", flat=True)),
            "notUnderstood": _not_understood(request.findings or []),
        },
        "diff": None
        if parent is None
        else {
            "previousRequestId": str(parent.pk),
            "previousVersion": parent.version,
            "previousCodeSha256": parent.code_sha256,
            "unified": code_diff(
                old=parent.code,
                new=request.code,
                old_label=f"v{parent.version}",
                new_label=f"v{request.version}",
            ),
        },
    }


def _not_understood(findings: list[dict]) -> list[dict]:
    """The findings where the check says it could not see what the code does: the reviewer reads those
    lines themselves."""
    unseen = [f for f in findings if f.get("rule") in NOT_UNDERSTOOD_RULES]
    return [{"line": f["line"], "message": f["message"]} for f in unseen]


def _charts_expected(calls: list[dict]) -> int:
    """Figures the run should produce: each figure created, or one when something is drawn without one."""
    created = sum(
        1 for c in calls if c["call"].rsplit(".", 1)[-1] in ("figure", "subplots", "subplot_mosaic")
    )
    return created or (1 if calls else 0)


REVIEW_QUEUE_LOOKAHEAD = 50


def approval_request_review_queue(*, user) -> QuerySet[ApprovalRequest]:
    """Requests waiting for this reviewer, oldest first: their teams', pending, not their own, not already
    approved by them, not their own edit (an edit of an earlier version is caught when they open it)."""
    teams = Membership.objects.filter(user=user, role=Membership.Role.REVIEWER).values("team_id")
    return (
        ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING_REVIEW, team__in=teams)
        .exclude(user=user)
        .exclude(votes__reviewer=user)
        .exclude(edited_by=user)
        .select_related("team")
        .order_by("created_at")
    )


def approval_request_next_for_reviewer(*, user, exclude=()) -> ApprovalRequest | None:
    """The oldest request this reviewer can approve now (none of whose code they wrote), else None."""
    from .services import approval_refusal

    for request in approval_request_review_queue(user=user).exclude(pk__in=exclude)[:REVIEW_QUEUE_LOOKAHEAD]:
        if approval_refusal(request=request, reviewer=user) is None:
            return request
    return None
