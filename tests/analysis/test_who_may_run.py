"""Only the request's own analyst starts its run: through the API, the web page and the service alike."""

import pytest

from analysis.models import Execution
from analysis.services.execution import execution_start
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from billing.models import Membership
from config.exceptions import Forbidden
from tests.factories import ApprovalRequestFactory, member

Status = ApprovalRequest.Status


@pytest.fixture
def approved(analyst, team):
    return ApprovalRequestFactory(user=analyst, team=team, status=Status.APPROVED)


@pytest.mark.parametrize("role", [Membership.Role.REVIEWER, Membership.Role.AUDITOR])
def test_a_reviewer_or_auditor_of_the_team_cannot_start_an_analysts_run_over_the_api(
    as_user, team, approved, role
):
    overseer = member(team, role)
    response = as_user(overseer).post("/api/execute", {"requestId": str(approved.pk)}, format="json")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "not_your_request"
    assert "Only the analyst who asked this question can start its run" in error["message"]
    approved.refresh_from_db()
    assert approved.status == Status.APPROVED
    assert not Execution.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXECUTION_QUEUED).exists()


def test_the_requests_own_analyst_starts_its_run_over_the_api(as_user, analyst, approved):
    response = as_user(analyst).post("/api/execute", {"requestId": str(approved.pk)}, format="json")
    assert response.status_code == 202
    assert Execution.objects.get().request == approved


@pytest.mark.parametrize("role", [Membership.Role.REVIEWER, Membership.Role.AUDITOR])
def test_nobody_else_can_press_the_run_button_of_an_analysts_request(client, team, approved, role):
    overseer = member(team, role)
    client.force_login(type(overseer).objects.get(pk=overseer.pk))  # the factory's password is not saved
    response = client.post(f"/sessions/{approved.session_id}/requests/{approved.pk}/run/")
    assert response.status_code == 404  # not their session: it does not exist for them
    assert not Execution.objects.exists()


def test_the_service_itself_refuses_anyone_but_the_requester(team, reviewer, approved):
    with pytest.raises(Forbidden) as refused:
        execution_start(request=approved, user=reviewer)
    assert refused.value.code == "not_your_request"
    assert not Execution.objects.exists()


def test_the_system_start_on_approval_is_only_for_the_approving_reviewer(team, reviewer, approved):
    """`on_approval` is not a way around the rule: only the reviewer who approved is its actor."""
    approved.reviewer = member(team, Membership.Role.REVIEWER)
    approved.save()
    with pytest.raises(Forbidden):
        execution_start(request=approved, user=reviewer, on_approval=True)
    assert not Execution.objects.exists()


def test_run_on_approval_still_queues_the_run_with_the_reviewer_as_actor(
    as_user, analyst, reviewer, team, settings
):
    settings.SANDGATE_EXECUTE_ON_APPROVAL = True
    pending = ApprovalRequestFactory(user=analyst, team=team)
    body = {"requestId": str(pending.pk), "approved": True}
    assert as_user(reviewer).post("/api/approve", body, format="json").json()["status"] == "queued"
    execution = Execution.objects.get(request=pending)
    queued = AuditEvent.objects.get(action=AuditEvent.Action.EXECUTION_QUEUED)
    assert (queued.actor, queued.target_id) == (reviewer, str(execution.pk))
