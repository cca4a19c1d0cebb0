"""Shaping rows for the analysts' pages: the status timeline, highlighted code, results in plain words."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.safestring import mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from approvals.models import ApprovalRequest
from approvals.plan_check import plan_html
from billing.models import CostSpan
from billing.selectors import cost_total, team_list_for_user

Status = ApprovalRequest.Status
IN_PROGRESS = (Status.GENERATING, Status.PENDING_REVIEW, Status.APPROVED, Status.QUEUED, Status.RUNNING)
STEPS = ("Generating", "Waiting for review", "Approved", "Running", "Done")
# Which step each status has reached; the last step's label changes with how the request ended.
_STEP_OF = {
    Status.GENERATING: 0,
    Status.GENERATION_FAILED: 0,
    Status.NEEDS_CLARIFICATION: 0,
    Status.POLICY_BLOCKED: 1,
    Status.PENDING_REVIEW: 1,
    Status.SUPERSEDED: 1,
    Status.REJECTED: 1,
    Status.CANCELLED: 1,
    Status.EXPIRED: 1,
    Status.APPROVED: 2,
    Status.QUEUED: 3,
    Status.RUNNING: 3,
    Status.SUCCEEDED: 4,
    Status.FAILED: 4,
    Status.TIMED_OUT: 4,
    Status.INTERRUPTED: 3,
}
_HEADLINE = {
    Status.GENERATING: "Writing the code…",
    Status.GENERATION_FAILED: "The code could not be written.",
    Status.NEEDS_CLARIFICATION: "Needs clarification: no code was written.",
    Status.POLICY_BLOCKED: "Blocked by the policy check before review.",
    Status.PENDING_REVIEW: "Waiting for review",
    Status.SUPERSEDED: "Replaced by a reviewer's edit; the next version follows.",
    Status.REJECTED: "The reviewer rejected this code.",
    Status.CANCELLED: "You withdrew this request.",
    Status.EXPIRED: "Expired before anyone reviewed it.",
    Status.APPROVED: "Approved — ready to run.",
    Status.QUEUED: "Approved — queued to run…",
    Status.RUNNING: "Running in the sandbox…",
    Status.SUCCEEDED: "Done.",
    Status.FAILED: "The analysis failed.",
    Status.TIMED_OUT: "The analysis ran out of time.",
    Status.INTERRUPTED: "Interrupted: the worker stopped. It was not run again; ask again.",
}
_EXPLAIN = {
    "FileNotFoundError": "The code looked for a file that is not there. "
    "Check the dataset's name, or upload it.",
    "KeyError": "The code used a column or key that the data does not have (names are case-sensitive).",
    "ModuleNotFoundError": "The code needs a library the sandbox does not have "
    "(it has pandas, numpy, matplotlib, scipy, seaborn, openpyxl and pyarrow).",
    "MemoryError": "The analysis needed more memory than a run may use. Try fewer rows or columns.",
    "ZeroDivisionError": "The code divided by zero, probably because a group or column was empty.",
    "ValueError": "A value in the data was not what the code expected (e.g. text where a number should be).",
    "TypeError": "The code combined values of incompatible types (e.g. text and numbers).",
    "IntegrityError": "The code to run was not exactly the approved code, so Sandgate refused to run it.",
    "SandboxError": "The sandbox itself failed; this is not your question's fault. Please try again.",
}
FORMATTER = HtmlFormatter(cssclass="highlight", linenos="inline", wrapcode=True)


@dataclass
class Step:
    label: str
    state: str  # "done", "current", "todo" or "stopped"


@dataclass
class Turn:
    request: ApprovalRequest
    headline: str
    final: bool
    steps: list[Step]
    code_html: str = ""
    plan_html: str = ""
    charts: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    error_explained: str = ""
    artifacts: list[dict] = field(default_factory=list)
    execution: object | None = None


def _steps(status: str) -> list[Step]:
    reached = _STEP_OF[status]
    stopped = status in ApprovalRequest.FINAL_STATUSES and status != Status.SUCCEEDED
    labels = list(STEPS)
    if stopped:
        labels[reached] = _HEADLINE[status].rstrip(".…")
    steps = []
    for index, label in enumerate(labels):
        if index < reached or (index == reached and status == Status.SUCCEEDED):
            state = "done"
        elif index == reached:
            state = "stopped" if stopped else "current"
        else:
            state = "todo"
        steps.append(Step(label=label, state=state))
    return steps[: reached + 1] if stopped else steps


def turn(request: ApprovalRequest) -> Turn:
    execution = getattr(request, "execution", None) if request.status in _RAN else None
    result = Turn(
        request=request,
        headline=_HEADLINE[request.status],
        final=request.status in ApprovalRequest.FINAL_STATUSES,
        steps=_steps(request.status),
        execution=execution,
    )
    if request.plan:
        result.plan_html = plan_html(request.plan)
    if request.code:
        result.code_html = mark_safe(highlight(request.code, PythonLexer(), FORMATTER))
    if execution is not None:
        if execution.status == "waiting":
            result.headline = "Approved — waiting for a run slot: your team's earlier runs go first…"
        _add_results(result, execution)
    return result


_RAN = (Status.QUEUED, Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.INTERRUPTED)


def _add_results(result: Turn, execution) -> None:
    for item in execution.results or []:
        if "png" in item:
            result.charts.append(f"data:image/png;base64,{item['png']}")
        elif item.get("text"):
            # HTML results come from the analysed code itself: shown as text, never as markup.
            result.texts.append(item["text"])
    if execution.status == "timed_out":
        result.error_explained = "It took longer than a run may take and was stopped. Try a smaller question."
    elif execution.error:
        name = str(execution.error.get("name", ""))
        result.error_explained = _EXPLAIN.get(name, "The code stopped with an error; the details are below.")
    manager = getattr(execution, "artifacts", None)  # the Artifact model, where it exists
    if manager is not None and hasattr(manager, "all"):
        result.artifacts = [
            {"name": a.name, "url": f"/api/executions/{execution.pk}/artifacts/{a.name}"}
            for a in manager.all()
        ]


@dataclass
class BudgetMeter:
    spent: Decimal
    period_start: object
    resets_on: object


def budget_meter(*, user) -> BudgetMeter:
    """This calendar month's spend of the user's teams, from the priced cost spans."""
    now = timezone.now()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(now.year, now.month)[1]
    spent = cost_total(
        spans=CostSpan.objects.filter(tenant__in=team_list_for_user(user=user), timestamp__gte=start)
    )
    return BudgetMeter(spent=spent, period_start=start, resets_on=start + timedelta(days=days))
