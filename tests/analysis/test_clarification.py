"""A question the generator cannot answer with confidence ends `needs_clarification`: no code, no review.

The offline generator runs for real on the demo sales data; Mistral's clarification goes through the fake
Mistral server and the real SDK. What must hold: the request is final with what was understood, what is
missing and three example questions (stored, on the analyst's page, in the API); no reviewer is told and
none can act on it; its generation hold is settled; it is audited once. And an answered question carries
its plan to the API, the analyst's page, the approval card and both exports.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator

import nbformat
import pytest
from django.contrib.auth.models import Permission
from django.template.loader import render_to_string

from analysis import presenters
from analysis.llm import get_generator
from analysis.llm.base import DatasetContext, GenerationInput
from analysis.llm.offline import OfflineGenerator
from analysis.models import Message
from analysis.services.asking import analysis_submit
from analysis.services.generation import request_generate_code
from analysis.templatetags.sandgate import pending_review_count
from approvals import tasks
from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve
from audit.models import AuditEvent
from billing.models import BudgetPeriod, CostSpan, Reservation
from config.exceptions import Conflict
from tests.billing.conftest import team_budget
from tests.factories import ApprovalRequestFactory, demo_dataset
from tests.fakes.mistral_server import FakeMistralServer

Status = ApprovalRequest.Status
WEATHER = "What will the weather be in Paris tomorrow?"


@pytest.fixture
def offline(settings) -> None:
    settings.MISTRAL_API_KEY = ""


@pytest.fixture
def notifications(monkeypatch) -> list:
    """Reviewer notifications published (recorded instead of reaching a broker)."""
    sent: list = []
    for task in (tasks.notify_reviewers_by_email, tasks.notify_reviewers_by_webhook):
        monkeypatch.setattr(task, "apply_async", lambda args, name=task.name, **_: sent.append((name, *args)))
    return sent


def _login(client, user) -> None:
    client.force_login(type(user).objects.get(pk=user.pk))  # the factory's password is not saved


def _asked(user, team, query: str, **kwargs) -> ApprovalRequest:
    demo_dataset(team, rows=60)
    return analysis_submit(user=user, query=query, **kwargs)


def test_a_question_the_generator_cannot_answer_never_reaches_a_reviewer(
    offline, analyst, team, reviewer, prices, notifications, django_capture_on_commit_callbacks
):
    team_budget(team, "5.00")
    request = _asked(analyst, team, WEATHER)

    with django_capture_on_commit_callbacks(execute=True):
        request = request_generate_code(request_id=request.pk)

    request.refresh_from_db()
    assert request.status == Status.NEEDS_CLARIFICATION
    assert request.status in ApprovalRequest.FINAL_STATUSES
    assert (request.code, request.code_sha256, request.plan, request.findings) == ("", "", "", [])
    assert "“weather”, “Paris”" in request.clarification["missing"]
    assert len(request.clarification["examples"]) == 3
    assert notifications == []  # neither email nor webhook
    assert pending_review_count(reviewer) == 0
    with pytest.raises(Conflict):
        approval_request_approve(request=request, reviewer=reviewer)
    (event,) = AuditEvent.objects.filter(target_id=str(request.pk), action="request.needs_clarification")
    assert event.details["provider"] == "offline"
    assert not AuditEvent.objects.filter(target_id=str(request.pk), action="policy.checked").exists()
    # The generation hold is settled, at the offline generator's price: nothing stays reserved.
    (hold,) = Reservation.objects.filter(request=request)
    assert hold.status == Reservation.Status.SETTLED
    assert BudgetPeriod.objects.get().reserved_usd == 0
    assert CostSpan.objects.filter(request=request, feature="generation").count() == 1
    (said,) = Message.objects.filter(request=request, role=Message.Role.ASSISTANT)
    assert said.content.startswith("I understood: ")
    assert request.clarification["examples"][0] in said.content


def test_each_example_question_of_a_clarification_is_answered_by_the_same_generator(offline, analyst, team):
    request = request_generate_code(request_id=_asked(analyst, team, "How many unicorns did we sell?").pk)
    assert request.status == Status.NEEDS_CLARIFICATION

    for example in request.clarification["examples"]:
        follow_up = analysis_submit(user=analyst, query=example, session_id=request.session_id)
        answered = request_generate_code(request_id=follow_up.pk)
        assert answered.status == Status.PENDING_REVIEW, (example, answered.clarification)
        assert answered.plan and answered.code


def test_the_api_shows_the_clarification_and_a_plan(offline, as_user, analyst, team):
    unclear = request_generate_code(request_id=_asked(analyst, team, WEATHER).pk)
    clear = analysis_submit(user=analyst, query="total revenue by region", session_id=unclear.session_id)
    clear = request_generate_code(request_id=clear.pk)

    unclear_doc = as_user(analyst).get(f"/api/requests/{unclear.pk}").json()
    clear_doc = as_user(analyst).get(f"/api/requests/{clear.pk}").json()

    assert unclear_doc["status"] == "needs_clarification"
    assert unclear_doc["clarification"] == unclear.clarification
    assert set(unclear_doc["clarification"]) == {"understood", "missing", "examples"}
    assert unclear_doc["plan"] == "" and unclear_doc["code"] == ""
    assert clear_doc["clarification"] is None
    assert (
        clear_doc["plan"] == "Adds up `revenue` for each `region` in sales.csv. Shows a table, largest first."
    )
    assert clear_doc["card"]["plan"]["findings"] == []  # the offline plan names what its code reads
    assert clear_doc["card"]["plan"]["columns"] == ["region", "revenue"]
    listed = as_user(analyst).get("/api/requests?status=needs_clarification").json()
    assert [r["requestId"] for r in listed["results"]] == [str(unclear.pk)]


def test_the_analysts_page_shows_the_plan_first_and_the_clarification_with_its_examples(
    offline, client, analyst, team
):
    unclear = request_generate_code(request_id=_asked(analyst, team, WEATHER).pk)
    clear = analysis_submit(user=analyst, query="total revenue by region", session_id=unclear.session_id)
    clear = request_generate_code(request_id=clear.pk)
    _login(client, analyst)

    html = client.get(f"/sessions/{unclear.session_id}/").content.decode()

    unclear_card = html[html.index(f'id="req-{unclear.pk}"') :]
    unclear_card = unclear_card[: unclear_card.index("</article>")]
    assert "Needs clarification: no code was written." in unclear_card
    assert "nothing went to a reviewer" in unclear_card
    for example in unclear.clarification["examples"]:
        assert f'name="query" value="{example}"' in unclear_card  # one click asks it in this session
    clear_card = html[html.index(f'id="req-{clear.pk}"') :]
    assert (
        clear_card.index('class="plan"') < clear_card.index('class="timeline"') < clear_card.index("The code")
    )
    assert "Adds up <code>revenue</code> for each <code>region</code>" in clear_card


def test_an_example_posted_from_the_page_is_asked_in_the_same_session(offline, client, analyst, team):
    unclear = request_generate_code(request_id=_asked(analyst, team, WEATHER).pk)
    _login(client, analyst)

    page = client.get(f"/sessions/{unclear.session_id}/").content.decode()
    (dataset,) = unclear.datasets.all()
    example = unclear.clarification["examples"][0]
    form = page[page.index(f'name="query" value="{example}"') :]
    assert f'name="datasets" value="{dataset.pk}"' in form[: form.index("</form>")]  # asked on the same data

    response = client.post(
        f"/sessions/{unclear.session_id}/", {"query": example, "datasets": [str(dataset.pk)]}
    )

    assert response.status_code == 302
    asked = ApprovalRequest.objects.exclude(pk=unclear.pk).get()
    assert (asked.session_id, asked.query) == (unclear.session_id, unclear.clarification["examples"][0])


def test_both_exports_carry_the_plan_and_the_clarification(offline, client, analyst, team):
    unclear = request_generate_code(request_id=_asked(analyst, team, WEATHER).pk)
    clear = analysis_submit(user=analyst, query="total revenue by region", session_id=unclear.session_id)
    clear = request_generate_code(request_id=clear.pk)
    _login(client, analyst)

    notebook = nbformat.reads(
        client.get(f"/sessions/{unclear.session_id}/notebook.ipynb").content.decode(), as_version=4
    )
    script = client.get(f"/sessions/{unclear.session_id}/script.py").content.decode()

    markdown = html.unescape("\n".join(c.source for c in notebook.cells if c.cell_type == "markdown"))
    assert f"Plan: {clear.plan}" in markdown
    assert markdown.index(f"Plan: {clear.plan}") < markdown.index("Not approved, so it is not code here")
    assert f"Missing: {unclear.clarification['missing']}" in markdown
    assert f"# Plan: {clear.plan}" in script
    assert f"# Missing: {unclear.clarification['missing']}" in script
    assert (
        "# Questions that would work on this data: " + "; ".join(unclear.clarification["examples"]) in script
    )
    compile(script, "script.py", "exec")  # the plan and the clarification are comments, never code


def test_the_reviewer_console_puts_the_plan_first_on_the_card(offline, client, analyst, team, reviewer):
    request = request_generate_code(request_id=_asked(analyst, team, "total revenue by region").pk)
    reviewer.is_staff = True
    reviewer.save()
    reviewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_approvalrequest"]))
    _login(client, reviewer)

    html = client.get(f"/admin/approvals/approvalrequest/{request.pk}/change/").content.decode()

    page = html[html.index('id="review"') :]
    assert page.index('class="sg-question"') < page.index('class="sg-plan"') < page.index('id="risk-h"')
    assert "Adds up <code>revenue</code> for each <code>region</code>" in page
    assert "The code reads the columns and datasets the plan names (region, revenue)." in page


# --- with Mistral --------------------------------------------------------------------------------

KEY = "test-key-clarification"


@pytest.fixture
def mistral(settings) -> Iterator[FakeMistralServer]:
    with FakeMistralServer(api_key=KEY) as fake:
        settings.MISTRAL_API_KEY = KEY
        settings.MISTRAL_MODEL = "mistral-large-latest"
        settings.MISTRAL_SERVER_URL = fake.url
        settings.MISTRAL_TIMEOUT_SECONDS = 2
        yield fake


def test_mistrals_clarification_ends_the_request_too_and_its_call_is_billed(
    mistral, analyst, team, prices, notifications, django_capture_on_commit_callbacks
):
    clarification = {
        "understood": "a question about the weather",
        "missing": "sales.csv holds sales, not weather",
        "examples": ["Total revenue by region", "Monthly revenue", "Top 3 products by revenue"],
    }
    mistral.reply(
        content=json.dumps({"clarification": clarification}), prompt_tokens=900, completion_tokens=60
    )
    request = _asked(analyst, team, WEATHER)

    with django_capture_on_commit_callbacks(execute=True):
        request = request_generate_code(request_id=request.pk)

    assert request.status == Status.NEEDS_CLARIFICATION
    assert request.clarification == clarification
    assert notifications == []
    (span,) = CostSpan.objects.filter(request=request, provider="mistral")
    assert (span.input_tokens, span.output_tokens) == (900, 60) and span.cost_usd > 0


def test_mistrals_plan_is_stored_with_its_code(mistral, analyst, team):
    code = 'import pandas as pd\nprint(pd.read_csv("/data/sales.csv")["revenue"].sum())\n'
    plan = "Adds up `revenue` over all rows of sales.csv and prints the total."
    mistral.reply(content=json.dumps({"plan": plan, "code": code}))

    request = request_generate_code(request_id=_asked(analyst, team, "total revenue").pk)

    assert (request.status, request.plan, request.code) == (Status.PENDING_REVIEW, plan, code)


# --- every status on every page that names statuses ----------------------------------------------


@pytest.mark.parametrize("status", list(Status))
def test_every_status_has_a_timeline_a_headline_and_a_label(status, analyst, team, rf):
    request = ApprovalRequestFactory(user=analyst, team=team, status=status, plan="Counts rows.")
    turn = presenters.turn(request, seen="v1")
    http = rf.get("/")
    http.user = analyst

    html = render_to_string("analysis/_turn.html", {"turn": turn}, request=http)

    assert turn.headline and turn.steps
    assert f"status-{status}" in html and "Counts rows." in html
    assert request.get_status_display() != status  # a label, not the raw value


def test_the_offline_generator_is_what_runs_without_a_key(offline):
    assert isinstance(get_generator(), OfflineGenerator)
    output = get_generator().generate(
        GenerationInput(query=WEATHER, datasets=[DatasetContext("sales.csv", "/data/sales.csv", 1, [])])
    )
    assert output.code == "" and output.clarification is not None


def test_a_request_withdrawn_while_mistral_answers_with_a_clarification_stays_withdrawn(
    transactional_db, mistral, analyst, team, prices, monkeypatch, settings
):
    from django.db import connection

    settings.MISTRAL_TIMEOUT_SECONDS = 30  # the withdrawal waits for the database while the call is open

    from approvals.services import approval_request_cancel

    asked = _asked(analyst, team, WEATHER)
    clarification = {"understood": "the weather", "missing": "weather data", "examples": []}
    mistral.reply(
        content=json.dumps({"clarification": clarification}), prompt_tokens=500, completion_tokens=20
    )
    record = mistral._record

    withdrawn: list = []

    def withdraw_while_mistral_answers(request):  # the server's thread: the analyst withdraws meanwhile
        record(request)
        try:
            withdrawn.append(approval_request_cancel(request=asked, user=analyst).status)
        except Exception as exc:  # the assertion below shows it
            withdrawn.append(exc)
        finally:
            connection.close()

    monkeypatch.setattr(mistral, "_record", withdraw_while_mistral_answers)

    result = request_generate_code(request_id=asked.pk)
    asked.refresh_from_db()
    assert withdrawn == [Status.CANCELLED]
    assert result is None, asked.generation_error
    assert (asked.status, asked.clarification) == (Status.CANCELLED, None)
    assert not AuditEvent.objects.filter(
        target_id=str(asked.pk), action="request.needs_clarification"
    ).exists()
    assert CostSpan.objects.get(request=asked).input_tokens == 500  # the call is charged all the same
