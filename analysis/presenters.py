"""Shaping rows for the analysts' pages: the status timeline, highlighted code, results in plain words."""

from __future__ import annotations

import ast
import calendar
import functools
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.safestring import mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer

from approvals.labels import APPROVED_STEP, GENERATING_STEP, STEPS, StatusText, status_text
from approvals.models import ApprovalRequest
from approvals.plan_check import plan_html
from approvals.services import code_diff
from billing.models import CostSpan
from billing.selectors import cost_total, team_list_for_user

from .models import Execution
from .tables import Table, table_from_html

Status = ApprovalRequest.Status
# How often a request's status is polled: quickly while a worker is on it, slowly while it waits for a
# person (SANDGATE_REVIEW_POLL_SECONDS: review can take hours); an unchanged status answers 204, so nothing
# on the page moves.
POLL_FAST_SECONDS = 1
# How often the output box of a run that may still print asks for new lines (`views.request_output`).
OUTPUT_POLL_MILLISECONDS = 500
_WAITING_FOR_A_PERSON = (Status.PENDING_REVIEW, Status.APPROVED, Status.REJECTED)

# What a run's own status says, under the request's status line.
EXECUTION_TEXT: dict[str, str] = {
    Execution.Status.WAITING: "Waiting for a run slot: your team's earlier runs go first, then it starts.",
    Execution.Status.QUEUED: "Queued: waiting for a sandbox.",
    Execution.Status.RUNNING: "Running in the sandbox.",
    Execution.Status.SUCCEEDED: "The run succeeded.",
    Execution.Status.FAILED: "The run failed.",
    Execution.Status.TIMED_OUT: "The run ran out of time and was stopped.",
    Execution.Status.INTERRUPTED: "The run was interrupted: its worker stopped. It was not run again.",
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
DIFF_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)
# A printed line the analyst reads as the answer: "Answer: …" wins; otherwise the last printed line when
# it is one short sentence or a labelled value ("Highest: North (1,234.00); lowest: …", the offline
# generator's final line), and not a table row (whose columns are padded with runs of spaces).
ANSWER_PREFIX = re.compile(r"^\s*answer\s*:\s*", re.IGNORECASE)
LABELLED_VALUE = re.compile(r"^(?=[^:]*(?:[^\W\d_]|#\d))[^:]{1,80}: \S")  # a label of words, or "#1"
ANSWER_MAX_CHARS = 240


@dataclass
class Step:
    label: str
    state: str  # "done", "current", "todo" or "stopped"


@dataclass
class Chart:
    src: str
    alt: str


@dataclass
class Turn:
    request: ApprovalRequest
    text: StatusText
    final: bool
    steps: list[Step]
    seen: str  # the request's version the page shows; the poll answers 204 while it is unchanged
    poll_seconds: int | None
    previous: ApprovalRequest | None = None
    next_version: ApprovalRequest | None = None
    can_ask_again: bool = False
    session_active: bool = True  # a follow-up (an example question, Ask again) can still be asked
    code_html: str = ""
    plan_html: str = ""
    diff_html: str = ""
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    answer: str = ""
    error_explained: str = ""
    artifacts: list[dict] = field(default_factory=list)
    execution: Execution | None = None
    execution_text: str = ""
    output_poll_ms: int = OUTPUT_POLL_MILLISECONDS

    @property
    def live_output(self) -> bool:
        """The run may still print: the page shows its output box, polled for new lines."""
        return self.execution is not None and self.execution.status not in Execution.FINAL_STATUSES

    @property
    def headline(self) -> str:
        return self.text.sentence


def _reached_step(request: ApprovalRequest, text: StatusText, execution) -> int:
    if request.status == Status.INTERRUPTED and execution is None:
        return GENERATING_STEP  # stopped while the code was being written
    if request.status == Status.EXPIRED and request.approved_code_sha256:
        return APPROVED_STEP  # approved, then not run before the approval expired
    return text.step


def _steps(request: ApprovalRequest, text: StatusText, execution) -> list[Step]:
    reached = _reached_step(request, text, execution)
    succeeded = request.status == Status.SUCCEEDED
    stopped = request.status in ApprovalRequest.FINAL_STATUSES and not succeeded
    labels = list(STEPS)
    if stopped:
        labels[reached] = text.label
    steps = []
    for index, label in enumerate(labels):
        if index < reached or (index == reached and succeeded):
            state = "done"
        elif index == reached:
            state = "stopped" if stopped else "current"
        else:
            state = "todo"
        steps.append(Step(label=label, state=state))
    return steps[: reached + 1] if stopped else steps


def next_version_of(request: ApprovalRequest) -> ApprovalRequest | None:
    """The version that follows this one (a reviewer's edit, or a revision after a rejection)."""
    prefetched = getattr(request, "_prefetched_objects_cache", {}).get("revisions")
    if prefetched is not None:
        return max(prefetched, key=lambda r: r.version, default=None)
    return request.revisions.order_by("-version").first()


def _poll_seconds(request: ApprovalRequest, *, final: bool, can_ask_again: bool) -> int | None:
    if final and not can_ask_again:
        return None
    waiting = request.status in _WAITING_FOR_A_PERSON
    return settings.SANDGATE_REVIEW_POLL_SECONDS if waiting else POLL_FAST_SECONDS


def turn(request: ApprovalRequest, *, seen: str, session_active: bool = True) -> Turn:
    """One question's turn; `seen` is the request's version (approvals.selectors.approval_request_versions)
    that the live status's poll sends back."""
    execution = getattr(request, "execution", None)
    text = status_text(request.status)
    final = request.status in ApprovalRequest.FINAL_STATUSES
    next_version = next_version_of(request)
    can_ask_again = (
        session_active
        and request.status == Status.REJECTED
        and bool(request.rejection_reason.strip())
        and next_version is None
    )
    result = Turn(
        request=request,
        text=text,
        final=final,
        steps=_steps(request, text, execution),
        seen=seen,
        poll_seconds=_poll_seconds(request, final=final, can_ask_again=can_ask_again),
        previous=request.parent if request.parent_id else None,
        next_version=next_version,
        can_ask_again=can_ask_again,
        session_active=session_active,
        execution=execution,
    )
    if request.plan:
        result.plan_html = plan_html(request.plan)
    if request.code:
        result.code_html = mark_safe(highlight(request.code, PythonLexer(), FORMATTER))
    if result.previous is not None and result.previous.code and request.code:
        previous = result.previous
        diff = code_diff(
            old=previous.code, new=request.code, old_label=f"version {previous.version}",
            new_label=f"version {request.version}",
        )  # fmt: skip
        result.diff_html = mark_safe(highlight(diff or "(no change)\n", DiffLexer(), DIFF_FORMATTER))
    if execution is not None:
        _add_results(result, execution)
    return result


def _add_results(result: Turn, execution: Execution) -> None:
    result.execution_text = EXECUTION_TEXT.get(execution.status, execution.get_status_display())
    titles = chart_titles(result.request.code)
    pngs = [item for item in execution.results or [] if "png" in item]
    for number, item in enumerate(pngs, start=1):
        title = titles[number - 1] if len(titles) == len(pngs) else ""
        alt = f"Chart: {title}" if title else f"Chart {number} answering “{_short(result.request.query)}”"
        result.charts.append(Chart(src=f"data:image/png;base64,{item['png']}", alt=alt))
    for item in execution.results or []:
        if "png" in item:
            continue
        table = table_from_html(item.get("html", "")) if item.get("html") else None
        if table is not None:
            result.tables.append(table)  # the DataFrame once, as a table: not its text dump too
        elif item.get("text"):
            # Results come from the analysed code itself: shown as text, never as markup.
            result.texts.append(item["text"])
    if execution.status == Execution.Status.SUCCEEDED:
        result.answer = answer_line(execution.stdout)
    if execution.status == Execution.Status.TIMED_OUT:
        result.error_explained = "It took longer than a run may take and was stopped. Try a smaller question."
    elif execution.error:
        name = str(execution.error.get("name", ""))
        result.error_explained = _EXPLAIN.get(name, "The code stopped with an error; the details are below.")
    manager = getattr(execution, "artifacts", None)
    if manager is not None and hasattr(manager, "all"):
        result.artifacts = [
            {"name": a.name, "url": f"/api/executions/{execution.pk}/artifacts/{a.name}"}
            for a in manager.all()
        ]


def _short(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def answer_line(stdout: str) -> str:
    """The one line that answers the question, when the code printed one (see ANSWER_PREFIX)."""
    lines = [line.strip() for line in (stdout or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if ANSWER_PREFIX.match(line):
            answer = ANSWER_PREFIX.sub("", line)
            return answer if len(answer) <= ANSWER_MAX_CHARS else ""
    if not lines:
        return ""
    last = lines[-1]
    if len(last) > ANSWER_MAX_CHARS or "  " in last:
        return ""
    return last if last.endswith((".", "!", "?")) or LABELLED_VALUE.match(last) else ""


TITLE_CALLS = {"set_title", "title", "suptitle"}


@functools.lru_cache(maxsize=128)
def chart_titles(code: str) -> tuple[str, ...]:
    """The literal titles the code gives its charts (ax.set_title("…"), plt.title("…")), in source order."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return ()
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in TITLE_CALLS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, _short(node.args[0].value, 160)))
    return tuple(title for _, title in sorted(found))


def session_turns(requests: list[ApprovalRequest], *, versions: dict, session_active: bool) -> list[Turn]:
    """The session's turns, each version right after the one it replaces (v1, v2, …, then the next);
    `versions` are the requests' versions by id."""
    by_id = {r.pk: r for r in requests}

    def root(request: ApprovalRequest) -> ApprovalRequest:
        seen = set()
        while request.parent_id in by_id and request.pk not in seen:
            seen.add(request.pk)
            request = by_id[request.parent_id]
        return request

    ordered = sorted(requests, key=lambda r: (root(r).created_at, r.version, r.created_at))
    return [turn(r, seen=versions.get(r.pk, ""), session_active=session_active) for r in ordered]


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
