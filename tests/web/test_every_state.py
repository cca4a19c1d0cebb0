"""No page breaks on any state: every request status and every run status, on every page that shows one.

The statuses come from the models' `TextChoices`, so a status added later is tested here at once, and the
first two tests fail until the one table of words (approvals/labels.py, analysis/presenters.py) names it.
"""

import base64
from datetime import timedelta

import nbformat
import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from analysis.models import Execution
from analysis.presenters import EXECUTION_TEXT
from approvals.labels import STATUS_TEXT, status_text
from approvals.models import ApprovalRequest
from billing.models import Membership
from tests.factories import ApprovalRequestFactory, demo_dataset, member

Status = ApprovalRequest.Status
CODE = "import pandas as pd\ndf = pd.read_csv('/data/sales.csv')\nprint(df['revenue'].sum())\n"
PLAN = "Adds up `revenue` in sales.csv and prints the total."
PLAN_WORDS = "in sales.csv and prints the total."  # as plain text on every page (the name is in <code>)
CLARIFICATION = {
    "understood": "a question about the weather",
    "missing": "weather data: sales.csv holds sales",
    "examples": ["Total revenue by region", "Monthly revenue", "Top 3 products by revenue"],
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
TABLE = (
    '<table border="1" class="dataframe"><thead><tr style="text-align: right;"><th></th><th>region</th>'
    "<th>revenue</th></tr></thead><tbody><tr><th>0</th><td>North</td><td>1234567.5</td></tr>"
    "<tr><th>1</th><td>South</td><td>89.25</td></tr></tbody></table>"
)
APPROVED_BEFORE = {
    Status.APPROVED, Status.QUEUED, Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT,
    Status.INTERRUPTED, Status.EXPIRED,
}  # fmt: skip
RAN = {Status.QUEUED, Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.INTERRUPTED}


def test_every_request_status_has_its_words():
    assert set(STATUS_TEXT) == set(Status.values)
    for text in STATUS_TEXT.values():
        assert text.label and text.sentence


def test_every_run_status_has_its_words():
    assert set(EXECUTION_TEXT) == set(Execution.Status.values)


@pytest.fixture
def people(team):
    analyst = member(team, Membership.Role.ANALYST, user__username="ann")
    reviewer = member(team, Membership.Role.REVIEWER, user__username="rita")
    reviewer.is_staff = True
    reviewer.save()
    for codename in ("view_approvalrequest", "change_approvalrequest"):
        reviewer.user_permissions.add(Permission.objects.get(codename=codename))
    return analyst, reviewer


def request_in(
    status: str, *, team, analyst, reviewer, execution_status: str | None = None
) -> ApprovalRequest:
    """A request as the services leave it in `status` (with its run, its decision, its next version)."""
    now = timezone.now()
    fields = {"query": f"How much revenue ({status})?", "code": CODE, "plan": PLAN, "risk_level": "low"}
    if status in (Status.GENERATING, Status.GENERATION_FAILED, Status.NEEDS_CLARIFICATION):
        fields.update(code="", code_sha256="", plan="", risk_level="")
    if status == Status.NEEDS_CLARIFICATION:
        fields["clarification"] = CLARIFICATION
    if status == Status.GENERATION_FAILED:
        fields["generation_error"] = "The code generator did not answer."
    if status == Status.POLICY_BLOCKED:
        finding = {"rule": "network", "severity": "critical", "line": 4, "message": "Uses the network."}
        fields.update(code=CODE + "import socket\n", findings=[finding], policy_reason="It uses the network.")
    if status in APPROVED_BEFORE:
        fields.update(reviewer=reviewer, decided_at=now, approval_digest="d" * 64)
        fields["approval_expires_at"] = now + timedelta(hours=1)
    if status == Status.REJECTED:
        fields.update(reviewer=reviewer, decided_at=now, rejection_reason="Please use the median.")
    request = ApprovalRequestFactory(user=analyst, team=team, status=status, **fields)
    request.datasets.set([demo_dataset(team, rows=5)])
    if status in APPROVED_BEFORE:
        ApprovalRequest.objects.filter(pk=request.pk).update(approved_code_sha256=request.code_sha256)
    if status == Status.SUPERSEDED:
        ApprovalRequestFactory(
            user=analyst, team=team, session=request.session, parent=request, version=2,
            edited_by=member(team, Membership.Role.REVIEWER), code=CODE + "# reviewed\n",
        )  # fmt: skip
    if status in RAN:
        run(request, execution_status or status)
    request.refresh_from_db()
    return request


def run(request: ApprovalRequest, status: str) -> Execution:
    final = status in Execution.FINAL_STATUSES
    error = {"name": "KeyError", "value": "'revenue'", "traceback": "Traceback ..."}
    return Execution.objects.create(
        request=request,
        status=status,
        code_sha256=request.code_sha256,
        stdout="Revenue by region:\nHighest: North (1,234,567.50).\n" if status == "succeeded" else "",
        results=[{"png": PNG}, {"html": TABLE, "text": "the frame as text"}] if status == "succeeded" else [],
        error=error if status == "failed" else None,
        started_at=timezone.now() if status not in ("waiting", "queued") else None,
        finished_at=timezone.now() if final else None,
        duration_ms=120 if final else None,
    )


def client_for(user, *, htmx: bool = False) -> Client:
    client = Client(headers={"HX-Request": "true"} if htmx else {})
    client.force_login(type(user).objects.get(pk=user.pk))
    return client


def check_every_page(request: ApprovalRequest, analyst, reviewer, as_user, *, says: list[str]) -> None:
    """Each page answers 200 and says, in plain words, what state the request is in."""
    session, label = f"/sessions/{request.session_id}/", status_text(request.status).label
    analyst_client = client_for(analyst)

    page = analyst_client.get(session)
    assert page.status_code == 200, request.status
    for words in says:
        assert escape(words) in page.content.decode(), (request.status, words)

    fragment = client_for(analyst, htmx=True).get(f"{session}requests/{request.pk}/")
    assert fragment.status_code == 200, request.status
    for words in says:
        assert escape(words) in fragment.content.decode(), (request.status, words)

    home = analyst_client.get("/")
    assert home.status_code == 200
    if request.status != Status.SUPERSEDED:  # its next version is listed instead
        assert escape(label) in home.content.decode(), request.status

    detail = as_user(analyst).get(f"/api/requests/{request.pk}")
    assert detail.status_code == 200, request.status
    assert (detail.json()["status"], detail.json()["statusLabel"]) == (request.status, label)

    console = client_for(reviewer).get(f"/admin/approvals/approvalrequest/{request.pk}/change/")
    assert console.status_code == 200, request.status
    assert escape(label) in console.content.decode(), request.status
    for words in _plan_or_clarification(request):
        assert escape(words) in console.content.decode(), (request.status, words)

    notebook = analyst_client.get(f"{session}notebook.ipynb")
    assert notebook.status_code == 200, request.status
    nbformat.validate(nbformat.reads(notebook.content.decode(), as_version=4))
    assert label in notebook.content.decode(), request.status

    script = analyst_client.get(f"{session}script.py")
    assert script.status_code == 200, request.status
    assert f"# Status: {label}.\n" in script.content.decode(), request.status
    if request.plan:
        assert f"# Plan: {request.plan}\n" in script.content.decode(), request.status
    if request.clarification:
        assert f"# Missing: {CLARIFICATION['missing']}\n" in script.content.decode(), request.status
    compile(script.content.decode(), "session.py", "exec")


def _plan_or_clarification(request: ApprovalRequest) -> list[str]:
    """What a request with code says first (its plan), or one that asked instead (what is missing)."""
    if request.clarification:
        return [CLARIFICATION["missing"], *CLARIFICATION["examples"]]
    return [PLAN_WORDS] if request.plan else []


@pytest.mark.parametrize("status", Status.values)
def test_every_page_shows_a_request_in_every_status(status, team, people, as_user):
    analyst, reviewer = people
    request = request_in(status, team=team, analyst=analyst, reviewer=reviewer)
    says = [status_text(status).sentence, *_plan_or_clarification(request)]
    check_every_page(request, analyst, reviewer, as_user, says=says)


@pytest.mark.parametrize("status", Execution.Status.values)
def test_every_page_shows_a_run_in_every_status(status, team, people, as_user):
    analyst, reviewer = people
    # A run waiting for one of its team's run slots belongs to a queued request.
    request_status = Status.QUEUED if status == Execution.Status.WAITING else status
    request = request_in(
        request_status, team=team, analyst=analyst, reviewer=reviewer, execution_status=status
    )
    says = [status_text(request_status).sentence, EXECUTION_TEXT[status]]
    check_every_page(request, analyst, reviewer, as_user, says=says)
    execution = as_user(analyst).get(f"/api/executions/{request.execution.pk}")
    assert (execution.status_code, execution.json()["status"]) == (200, status)


def test_a_finished_run_s_table_is_shown_once_as_a_table_with_the_answer_above_it(team, people):
    analyst, reviewer = people
    request = request_in(Status.SUCCEEDED, team=team, analyst=analyst, reviewer=reviewer)

    body = client_for(analyst).get(f"/sessions/{request.session_id}/").content.decode()

    assert '<p class="answer"><strong>Answer:</strong> Highest: North (1,234,567.50).</p>' in body
    assert '<th scope="col" class="num">revenue</th>' in body
    assert '<td class="num" data-sort="1234567.5">1,234,567.5</td>' in body
    assert "the frame as text" not in body  # the DataFrame once: as the table, not its text dump too
    assert body.index('class="answer"') < body.index('class="result-table')
    assert 'alt="Chart 1 answering' in body
