"""The analyst withdraws a request still waiting for review: through the API and on the session page."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from analysis.services.asking import analysis_submit
from analysis.services.generation import request_generate_code
from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve, approval_request_cancel
from audit.models import AuditEvent
from billing.models import BudgetPeriod, CostSpan, Membership, Reservation
from config.exceptions import ApplicationError
from tests.billing.conftest import team_budget
from tests.factories import ApprovalRequestFactory, member
from tests.fakes.mistral_server import FakeMistralServer
from tests.threads import run_together

Status = ApprovalRequest.Status
KEY = "test-key-withdraw"
GOOD = '{"plan": "Prints ok.", "code": "print(\'ok\')"}'


def withdraw(client, request):
    return client.post(f"/api/requests/{request.pk}/cancel")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(type(user).objects.get(pk=user.pk))
    return client


@pytest.fixture
def waiting(analyst, team):
    return ApprovalRequestFactory(user=analyst, team=team)


def test_the_analyst_withdraws_a_request_waiting_for_review(as_user, analyst, waiting):
    response = withdraw(as_user(analyst), waiting)

    assert response.status_code == 200
    assert response.json()["requestId"] == str(waiting.pk)
    assert response.json()["status"] == Status.CANCELLED
    waiting.refresh_from_db()
    assert waiting.status == Status.CANCELLED
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.REQUEST_CANCELLED)
    assert (event.actor_id, event.target_id) == (analyst.pk, str(waiting.pk))


def test_withdrawing_a_request_still_generating_releases_its_generation_hold(
    as_user, analyst, team, prices, settings
):
    settings.MISTRAL_API_KEY = "configured"  # priced with mistral-large-latest, not the free offline model
    team_budget(team, "10")
    asked = analysis_submit(user=analyst, query="count the rows")
    hold = Reservation.objects.get(request=asked, feature=CostSpan.Feature.GENERATION)
    assert hold.status == Reservation.Status.ACTIVE and BudgetPeriod.objects.get().reserved_usd > 0

    response = withdraw(as_user(analyst), asked)

    assert response.status_code == 200 and response.json()["status"] == Status.CANCELLED
    hold.refresh_from_db()
    assert hold.status == Reservation.Status.RELEASED
    assert BudgetPeriod.objects.get().reserved_usd == 0
    assert AuditEvent.objects.get(action=AuditEvent.Action.REQUEST_CANCELLED).details == {
        "reservations_released": 1
    }
    # The generate task, delivered afterwards, finds nothing to generate.
    assert request_generate_code(request_id=asked.pk) is None
    assert not CostSpan.objects.filter(request=asked).exists()


@pytest.mark.django_db(transaction=True)
def test_a_generation_under_way_when_withdrawn_is_charged_and_the_request_stays_withdrawn(
    analyst, team, prices, settings, monkeypatch
):
    settings.MISTRAL_API_KEY, settings.MISTRAL_MODEL = KEY, "mistral-large-latest"
    team_budget(team, "10")
    asked = analysis_submit(user=analyst, query="count the rows")
    held = Reservation.objects.get(request=asked).amount_usd
    withdrawn: list = []
    with FakeMistralServer(api_key=KEY) as mistral:
        settings.MISTRAL_SERVER_URL = mistral.url
        mistral.reply(content=GOOD, prompt_tokens=700, completion_tokens=30)
        record = mistral._record

        def withdraw_while_mistral_writes(request):  # the server's thread: the analyst clicks meanwhile
            record(request)
            try:
                withdrawn.append(approval_request_cancel(request=asked, user=analyst).status)
            except Exception as exc:  # the assertion below shows it
                withdrawn.append(exc)
            finally:
                connection.close()

        monkeypatch.setattr(mistral, "_record", withdraw_while_mistral_writes)
        assert request_generate_code(request_id=asked.pk) is None

    assert withdrawn == [Status.CANCELLED]
    asked.refresh_from_db()
    assert asked.status == Status.CANCELLED and asked.code == ""
    span = CostSpan.objects.get(request=asked)
    assert (span.feature, span.input_tokens, span.output_tokens) == ("generation", 700, 30)
    hold = Reservation.objects.get(request=asked)
    assert held > span.cost_usd > 0  # the hold was released at the withdrawal; the settle charged the calls
    assert hold.status == Reservation.Status.SETTLED and hold.actual_usd == span.cost_usd
    period = BudgetPeriod.objects.get()
    assert (period.spent_usd, period.reserved_usd) == (span.cost_usd, Decimal(0))
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REQUEST_GENERATED).exists()


def test_a_teammates_request_answers_404_and_changes_nothing(as_user, team, waiting):
    response = withdraw(as_user(member(team)), waiting)
    assert response.status_code == 404
    waiting.refresh_from_db()
    assert waiting.status == Status.PENDING_REVIEW


def test_a_reviewer_of_the_team_cannot_withdraw_it(as_user, reviewer, waiting):
    response = withdraw(as_user(reviewer), waiting)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_your_request"
    waiting.refresh_from_db()
    assert waiting.status == Status.PENDING_REVIEW


def test_another_teams_request_answers_404(as_user, other_team, waiting):
    response = withdraw(as_user(member(other_team)), waiting)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "status", [Status.APPROVED, Status.REJECTED, Status.CANCELLED, Status.POLICY_BLOCKED]
)
def test_a_request_no_longer_waiting_for_review_answers_409(as_user, analyst, team, status):
    request = ApprovalRequestFactory(user=analyst, team=team, status=status)
    response = withdraw(as_user(analyst), request)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"
    request.refresh_from_db()
    assert request.status == status
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REQUEST_CANCELLED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_and_an_approval_at_once_exactly_one_wins(team):
    analyst = member(team)
    reviewer = member(team, Membership.Role.REVIEWER)
    request = ApprovalRequestFactory(user=analyst, team=team, risk_level="low")

    results = run_together(
        [
            lambda: approval_request_cancel(request=request, user=analyst),
            lambda: approval_request_approve(request=request, reviewer=reviewer),
        ]
    )

    won = [r for r in results if isinstance(r, ApprovalRequest)]
    lost = [r for r in results if isinstance(r, ApplicationError)]
    assert (len(won), len(lost)) == (1, 1), results
    assert lost[0].code == "invalid_state"
    request.refresh_from_db()
    assert request.status in (Status.CANCELLED, Status.APPROVED)
    decided = AuditEvent.objects.filter(action__in=["request.cancelled", "request.approved"])
    assert decided.count() == 1


def test_the_session_page_offers_withdraw_and_withdrawing_marks_the_request(analyst, waiting):
    client = logged_in(analyst)
    page = client.get(f"/sessions/{waiting.session_id}/").content.decode()
    action = f"/sessions/{waiting.session_id}/requests/{waiting.pk}/withdraw/"
    assert f'action="{action}"' in page and ">Withdraw</button>" in page

    response = client.post(action, follow=True)

    assert response.redirect_chain[-1][0] == f"/sessions/{waiting.session_id}/#req-{waiting.pk}"
    page = response.content.decode()
    assert "You withdrew the request." in page and "You withdrew this request." in page
    assert ">Withdraw</button>" not in page
    waiting.refresh_from_db()
    assert waiting.status == Status.CANCELLED
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REQUEST_CANCELLED, actor_id=analyst.pk).exists()


def test_a_request_past_review_has_no_withdraw_button_and_cannot_be_withdrawn_from_the_page(analyst, team):
    approved = ApprovalRequestFactory(user=analyst, team=team, status=Status.APPROVED)
    client = logged_in(analyst)
    assert ">Withdraw</button>" not in client.get(f"/sessions/{approved.session_id}/").content.decode()

    response = client.post(f"/sessions/{approved.session_id}/requests/{approved.pk}/withdraw/", follow=True)

    assert "so it cannot become cancelled" in response.content.decode()
    approved.refresh_from_db()
    assert approved.status == Status.APPROVED


def test_someone_elses_request_cannot_be_withdrawn_from_the_page(team, waiting):
    response = logged_in(member(team)).post(f"/sessions/{waiting.session_id}/requests/{waiting.pk}/withdraw/")
    assert response.status_code == 404
    waiting.refresh_from_db()
    assert waiting.status == Status.PENDING_REVIEW
