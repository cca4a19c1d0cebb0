"""Each audited action writes exactly one event, with the right actor."""

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from analysis.demo import sales_csv
from analysis.models import Execution
from analysis.services.datasets import dataset_create
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from billing.models import Membership
from config.tokens import token_create
from tests.audit.conftest import events
from tests.factories import ApprovalRequestFactory, UserFactory

Action = AuditEvent.Action
BROWSER = "Mozilla/5.0 (audit test)"


@pytest.fixture
def browser():
    return Client(HTTP_USER_AGENT=BROWSER)


@pytest.fixture
def staff(db):
    user = UserFactory(username="sam", is_staff=True, is_superuser=True)
    user.save()  # the factory sets the password "pw" without saving it
    return user


def admin_login(client, username, password):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_a_successful_login_is_audited_with_ip_and_user_agent(browser, staff):
    assert admin_login(browser, "sam", "pw").status_code == 302
    (event,) = events(Action.LOGIN_SUCCEEDED)
    assert (event.actor, event.actor_label) == (staff, "sam")
    assert (event.ip_address, event.user_agent) == ("127.0.0.1", BROWSER)


def test_a_failed_login_is_audited_without_the_password(browser, staff):
    assert admin_login(browser, "sam", "wrong-password").status_code == 200
    (event,) = events(Action.LOGIN_FAILED)
    assert (event.actor, event.actor_label) == (None, "anonymous")
    assert event.details == {"username": "sam"}
    assert "wrong-password" not in str(event.details)
    assert event.ip_address == "127.0.0.1"
    assert not events(Action.LOGIN_SUCCEEDED).exists()


def test_a_logout_is_audited(browser, staff):
    admin_login(browser, "sam", "pw")
    browser.post("/admin/logout/")
    (event,) = events(Action.LOGGED_OUT)
    assert (event.actor, event.user_agent) == (staff, BROWSER)


def test_creating_an_api_token_is_audited_without_the_key(analyst):
    token, key = token_create(user=analyst)
    (event,) = events(Action.TOKEN_CREATED)
    assert (event.actor, event.actor_label) == (None, "system")
    assert (event.target_type, event.target_id) == ("auth.user", str(analyst.pk))
    assert event.details["token_id"] == token.digest[:16]
    assert key not in str(event.details) + event.target_id
    assert key[:15] not in str(event.details)  # not even knox's lookup prefix


def test_a_token_revoked_by_its_owner_over_the_api_is_audited_with_the_owner_as_actor(analyst):
    token, key = token_create(user=analyst)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.delete(f"/api/tokens/{token.digest[:16]}").status_code == 204
    (event,) = events(Action.TOKEN_REVOKED)
    assert (event.actor, event.details["expired"]) == (analyst, False)


def test_a_token_deleted_in_the_admin_records_the_admin_as_actor(admin_client, analyst):
    token, _ = token_create(user=analyst)
    url = f"/admin/knox/authtoken/{token.pk}/delete/"
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not AuthToken.objects.exists()
    (event,) = events(Action.TOKEN_REVOKED)
    assert event.actor_label == "admin"
    assert event.details["user"] == analyst.username


def _team_form(team, membership, **changes):
    data = {
        **{key: value for key, value in model_to_dict(team).items() if value is not None},
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": str(membership.pk),
        "memberships-0-team": str(team.pk),
        "memberships-0-user": str(membership.user_id),
        "memberships-0-role": membership.role,
    }
    return data | {f"memberships-0-{key}": value for key, value in changes.items()}


def test_membership_changes_in_the_admin_are_audited_with_the_admin_as_actor(admin_client, team, analyst):
    membership = Membership.objects.get(user=analyst, team=team)
    url = f"/admin/billing/team/{team.pk}/change/"
    assert admin_client.post(url, _team_form(team, membership, role="reviewer")).status_code == 302
    (updated,) = events(Action.MEMBERSHIP_UPDATED)
    assert (updated.actor_label, updated.team) == ("admin", team)
    assert updated.details == {
        "user": "ann",
        "user_id": analyst.pk,
        "role": "reviewer",
        "previous_role": "analyst",
    }
    membership.role = "reviewer"
    assert admin_client.post(url, _team_form(team, membership, DELETE="on")).status_code == 302
    (deleted,) = events(Action.MEMBERSHIP_DELETED)
    assert deleted.actor_label == "admin"


def test_a_membership_created_outside_a_request_is_labelled_system(team, analyst):
    (created,) = events(Action.MEMBERSHIP_CREATED)
    assert (created.actor, created.actor_label, created.team) == (None, "system", team)
    assert created.details["role"] == "analyst"


def test_saving_a_membership_without_a_change_is_not_audited(team, analyst):
    Membership.objects.get(user=analyst).save()
    assert not events(Action.MEMBERSHIP_UPDATED).exists()


def test_a_question_over_the_api_is_audited_with_the_analyst_and_the_request_id(as_user, analyst):
    response = as_user(analyst).post(
        "/api/analyze", {"query": "print hello"}, format="json", HTTP_USER_AGENT=BROWSER
    )
    assert response.status_code == 202
    (event,) = events(Action.REQUEST_CREATED)
    assert (event.actor, str(event.request_id)) == (analyst, response.json()["requestId"])
    assert (event.ip_address, event.user_agent) == ("127.0.0.1", BROWSER)


@pytest.mark.parametrize(
    "approved, action", [(True, Action.REQUEST_APPROVED), (False, Action.REQUEST_REJECTED)]
)
def test_a_decision_over_the_api_is_audited_with_the_reviewer(
    as_user, analyst, reviewer, team, approved, action
):
    pending = ApprovalRequestFactory(user=analyst, team=team)
    body = {"requestId": str(pending.pk), "approved": approved, "reason": "no"}
    assert as_user(reviewer).post("/api/approve", body, format="json").status_code == 200
    (event,) = events(action)
    assert (event.actor, event.request_id, event.team) == (reviewer, pending.pk, team)


def test_starting_an_execution_is_audited_with_the_request_id_derived_from_the_execution(
    as_user, analyst, team
):
    approved = ApprovalRequestFactory(user=analyst, team=team, status=ApprovalRequest.Status.APPROVED)
    body = {"requestId": str(approved.pk)}
    assert as_user(analyst).post("/api/execute", body, format="json").status_code == 202
    as_user(analyst).post("/api/execute", body, format="json")  # idempotent: no second event
    (event,) = events(Action.EXECUTION_QUEUED)
    execution = Execution.objects.get(request=approved)
    assert (event.actor, event.request_id, event.target_id) == (analyst, approved.pk, str(execution.pk))


def test_a_dataset_upload_is_audited(team, analyst):
    dataset_create(team=team, name="sales.csv", content=sales_csv(rows=10), user=analyst)
    (event,) = events(Action.DATASET_UPLOADED)
    assert (event.actor, event.team, event.details["name"]) == (analyst, team, "sales.csv")
