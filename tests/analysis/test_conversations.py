"""Conversations that continue: follow-ups see earlier turns (trimmed to a budget), archive, idle expiry,
and the reviewer's "ask for a new version" loop. Prompts are read where they arrive: at the fake
Mistral server, sent by the real mistralai SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from analysis.llm.base import Turn
from analysis.llm.prompt import turn_token_estimate
from analysis.models import Execution, Message, Session
from analysis.selectors import session_history
from analysis.services.asking import analysis_submit
from analysis.services.generation import request_generate_code
from analysis.services.sessions import session_expire_idle
from approvals.models import ApprovalRequest
from approvals.services import approval_request_reject
from audit.models import AuditEvent
from tests.factories import ApprovalRequestFactory, SessionFactory, demo_dataset
from tests.fakes.mistral_server import FakeMistralServer

KEY = "test-key-conversations"


def answer(code: str) -> str:
    return json.dumps({"plan": "Reads sales.csv and prints the first rows.", "code": code})


@pytest.fixture
def mistral(settings) -> Iterator[FakeMistralServer]:
    with FakeMistralServer(api_key=KEY) as fake:
        settings.MISTRAL_API_KEY = KEY
        settings.MISTRAL_SERVER_URL = fake.url
        settings.MISTRAL_TIMEOUT_SECONDS = 5.0
        yield fake


def _ask(*, user, query: str, session_id=None) -> ApprovalRequest:
    request = analysis_submit(user=user, query=query, session_id=session_id)
    return request_generate_code(request_id=request.pk)


def _ran(request: ApprovalRequest, stdout: str) -> None:
    """The first turn's result, as the execute worker would have stored it."""
    Execution.objects.create(
        request=request, code_sha256=request.code_sha256, status=Execution.Status.SUCCEEDED, stdout=stdout
    )
    ApprovalRequest.objects.filter(pk=request.pk).update(status=ApprovalRequest.Status.SUCCEEDED)


# --- follow-ups --------------------------------------------------------------------------------------


def test_a_follow_up_prompt_contains_the_previous_question_code_and_result(
    mistral: FakeMistralServer, analyst, team
) -> None:
    demo_dataset(team)
    first_code = 'df = pd.read_csv("/data/sales.csv")\nprint(df.groupby("region")["revenue"].sum())'
    mistral.reply(content=answer(first_code))
    first = _ask(user=analyst, query="total revenue by region in sales.csv")
    _ran(first, stdout="region\nNorth 1200.5\nSouth 990.0")
    mistral.reply(content=answer("print('by product')"))

    follow_up = _ask(user=analyst, query="now split that by product", session_id=first.session_id)

    assert follow_up.status == ApprovalRequest.Status.PENDING_REVIEW
    assert list(follow_up.datasets.values_list("name", flat=True)) == ["sales.csv"]  # carried over
    messages = mistral.requests[-1].json["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "total revenue by region in sales.csv"
    assert first_code in messages[2]["content"]
    assert "North 1200.5" in messages[2]["content"]  # a short summary of the result
    assert messages[3]["content"] == "now split that by product"


def test_an_over_long_session_is_trimmed_oldest_first_to_the_budget(settings, analyst, team) -> None:
    session = SessionFactory(user=analyst, team=team)
    start = timezone.now() - timedelta(hours=1)
    earlier = []
    for number in range(6):
        request = ApprovalRequestFactory(
            user=analyst, team=team, session=session, query=f"question {number}", code=f"x = {number}\n" * 300
        )
        ApprovalRequest.objects.filter(pk=request.pk).update(created_at=start + timedelta(minutes=number))
        earlier.append(request)
    current = ApprovalRequestFactory(user=analyst, team=team, session=session, status="generating", code="")
    one_turn = turn_token_estimate(
        turn=Turn(query="question 0", code="x = 0\n" * 300, result_summary="(not run: pending review)")
    )
    settings.SANDGATE_HISTORY_TOKEN_BUDGET = one_turn * 2 + one_turn // 2

    history = session_history(request=current)

    assert [turn.query for turn in history] == ["question 4", "question 5"]  # the newest two fit
    assert sum(turn_token_estimate(turn=turn) for turn in history) <= settings.SANDGATE_HISTORY_TOKEN_BUDGET
    assert [t.query for t in session_history(request=current, token_budget=10**6)] == [
        f"question {n}" for n in range(6)
    ]


def test_the_trimmed_history_is_what_reaches_the_model(
    settings, mistral: FakeMistralServer, analyst, team
) -> None:
    demo_dataset(team)
    mistral.reply(content=answer("print('old')"))
    first = _ask(user=analyst, query="an old question about sales.csv")
    mistral.reply(content=answer("print('recent')"))
    second = _ask(user=analyst, query="a recent question", session_id=first.session_id)
    settings.SANDGATE_HISTORY_TOKEN_BUDGET = turn_token_estimate(turn=session_history(request=second)[0]) + 30
    mistral.reply(content=answer("print('now')"))

    _ask(user=analyst, query="and now?", session_id=first.session_id)

    sent = [m["content"] for m in mistral.requests[-1].json["messages"][1:]]
    assert "a recent question" in sent
    assert "an old question about sales.csv" not in sent


# --- archive and idle expiry ---------------------------------------------------------------------------


def test_an_archived_session_takes_no_follow_ups(as_user, analyst, team) -> None:
    session = SessionFactory(user=analyst, team=team)

    response = as_user(analyst).post(f"/api/sessions/{session.pk}/archive")
    again = as_user(analyst).post(f"/api/sessions/{session.pk}/archive")
    follow_up = as_user(analyst).post(
        "/api/analyze", {"query": "more", "sessionId": str(session.pk)}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "archived"
    assert again.status_code == 200  # archiving twice changes nothing
    assert follow_up.status_code == 409
    assert follow_up.json()["error"]["code"] == "session_closed"
    assert (
        AuditEvent.objects.filter(action="session.archived", target_id=str(session.pk), actor=analyst).count()
        == 1
    )


def test_nobody_else_can_archive_a_session(as_user, analyst, reviewer, team) -> None:
    session = SessionFactory(user=analyst, team=team)

    response = as_user(reviewer).post(f"/api/sessions/{session.pk}/archive")

    assert response.status_code == 404
    assert Session.objects.get(pk=session.pk).status == Session.Status.ACTIVE


def test_idle_sessions_expire_and_active_ones_stay(settings, as_user, analyst, team) -> None:
    settings.SESSION_IDLE_EXPIRY_HOURS = 24
    with time_machine.travel(timezone.now() - timedelta(hours=30)):
        idle = SessionFactory(user=analyst, team=team)
    fresh = SessionFactory(user=analyst, team=team)

    follow_up = as_user(analyst).post(
        "/api/analyze", {"query": "more", "sessionId": str(idle.pk)}, format="json"
    )
    expired = session_expire_idle()

    assert follow_up.status_code == 409  # refused even before the periodic task has run
    assert expired == 1
    assert Session.objects.get(pk=idle.pk).status == Session.Status.EXPIRED
    assert Session.objects.get(pk=fresh.pk).status == Session.Status.ACTIVE
    assert AuditEvent.objects.filter(action="session.expired", target_id=str(idle.pk)).count() == 1
    assert session_expire_idle() == 0


def test_asking_in_a_session_records_its_last_activity(analyst, team) -> None:
    with time_machine.travel(timezone.now() - timedelta(hours=2)):
        session = SessionFactory(user=analyst, team=team)
    before = Session.objects.get(pk=session.pk).last_activity_at

    analysis_submit(user=analyst, query="count rows", session_id=session.pk)

    assert Session.objects.get(pk=session.pk).last_activity_at > before + timedelta(hours=1)


# --- the reviewer's feedback loop ------------------------------------------------------------------------


@pytest.fixture
def rejected(mistral: FakeMistralServer, analyst, reviewer, team) -> ApprovalRequest:
    demo_dataset(team)
    mistral.reply(content=answer('print(pd.read_csv("/data/sales.csv").head())'))
    request = _ask(user=analyst, query="show revenue by region in sales.csv")
    return approval_request_reject(request=request, reviewer=reviewer, reason="Use a bar chart, not a table.")


def test_a_reviewer_asks_for_a_new_version_that_sees_the_feedback(
    as_user,
    mistral: FakeMistralServer,
    rejected: ApprovalRequest,
    reviewer,
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = as_user(reviewer).post(f"/api/requests/{rejected.pk}/revise")

    assert response.status_code == 202
    assert len(callbacks) == 1  # generation is queued once the new request is committed
    revision = ApprovalRequest.objects.get(pk=response.json()["requestId"])
    assert (revision.parent, revision.version, revision.status) == (rejected, 2, "generating")
    old_detail = as_user(reviewer).get(f"/api/requests/{rejected.pk}").json()
    assert (old_detail["status"], old_detail["nextVersionId"]) == ("rejected", str(revision.pk))
    assert (revision.session_id, revision.query, revision.user_id) == (
        rejected.session_id,
        rejected.query,
        rejected.user_id,
    )
    assert list(revision.datasets.all()) == list(rejected.datasets.all())
    mistral.reply(content=answer("plt.bar([1], [2])"))

    revision = request_generate_code(request_id=revision.pk)

    assert revision.status == ApprovalRequest.Status.PENDING_REVIEW  # back to review
    messages = mistral.requests[-1].json["messages"]
    assert messages[-3] == {"role": "user", "content": rejected.query}
    assert rejected.code.strip() in messages[-2]["content"]
    assert "Use a bar chart, not a table." in messages[-1]["content"]
    assert "version 2" in messages[-1]["content"]
    # The rejected version is the revision's subject, not an extra history turn.
    assert sum(rejected.query == m["content"] for m in messages) == 1
    assert AuditEvent.objects.filter(
        action="request.revised", actor=reviewer, target_id=str(revision.pk)
    ).exists()
    assert Message.objects.filter(request=revision, role="system", content__contains="bar chart").exists()


def test_a_request_is_revised_once_and_only_by_its_analyst_or_a_reviewer(
    as_user, rejected: ApprovalRequest, analyst, reviewer, auditor
) -> None:
    by_auditor = as_user(auditor).post(f"/api/requests/{rejected.pk}/revise")
    first = as_user(analyst).post(f"/api/requests/{rejected.pk}/revise")
    second = as_user(reviewer).post(f"/api/requests/{rejected.pk}/revise")

    assert by_auditor.status_code == 403
    assert first.status_code == 202
    assert second.status_code == 409
    assert ApprovalRequest.objects.filter(parent=rejected).count() == 1


def test_only_rejected_requests_can_be_revised(as_user, analyst, reviewer, team) -> None:
    pending = ApprovalRequestFactory(user=analyst, team=team)

    response = as_user(reviewer).post(f"/api/requests/{pending.pk}/revise")

    assert response.status_code == 409
    assert not ApprovalRequest.objects.filter(parent=pending).exists()


def test_the_offline_generator_reads_the_feedback_too(settings, rejected: ApprovalRequest, reviewer) -> None:
    from approvals.services import approval_request_revise

    settings.MISTRAL_API_KEY = ""
    revision = approval_request_revise(request=rejected, user=reviewer)

    revision = request_generate_code(request_id=revision.pk)

    assert revision.status == ApprovalRequest.Status.PENDING_REVIEW
    assert "# Version 2, after reviewer feedback: Use a bar chart, not a table." in revision.code
    assert revision.code.startswith("# Generated offline (no LLM): sum revenue by region\n")
    assert "ax.bar(" in revision.code and "draws a bar chart" in revision.plan  # "bar chart" was heard
