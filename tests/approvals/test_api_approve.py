import threading

import pytest
from django.db import connection

from analysis.models import Execution
from approvals import selectors
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from billing.models import Membership
from config.exceptions import NotFound
from tests.factories import ApprovalRequestFactory, member

Status = ApprovalRequest.Status


@pytest.fixture
def pending(analyst, team):
    return ApprovalRequestFactory(user=analyst, team=team)


def approve(client, request, **extra):
    return client.post(
        "/api/approve", {"requestId": str(request.pk), "approved": True, **extra}, format="json"
    )


def test_reviewer_approves_a_pending_request_bound_to_its_code_hash(as_user, reviewer, pending):
    response = approve(as_user(reviewer), pending)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved"
    assert body["decision"]["approved"] is True
    assert body["reviewer"] == reviewer.username
    pending.refresh_from_db()
    assert pending.approved_code_sha256 == pending.code_sha256
    assert AuditEvent.objects.filter(action="request.approved", actor=reviewer).count() == 1


def test_reviewer_cannot_approve_own_request(as_user, reviewer, team):
    own = ApprovalRequestFactory(user=reviewer, team=team)
    response = approve(as_user(reviewer), own)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "self_approval"
    own.refresh_from_db()
    assert own.status == Status.PENDING_REVIEW


def test_database_refuses_a_reviewer_equal_to_the_requester(analyst, team):
    from django.db import IntegrityError, transaction

    request = ApprovalRequestFactory(user=analyst, team=team)
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalRequest.objects.filter(pk=request.pk).update(reviewer=analyst)


def test_analyst_cannot_approve(as_user, analyst, pending):
    response = approve(as_user(analyst), pending)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_reviewer"


def test_approving_twice_answers_409(as_user, reviewer, pending):
    assert approve(as_user(reviewer), pending).status_code == 200
    second = approve(as_user(reviewer), pending)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "invalid_state"


def test_rejecting_records_the_reason(as_user, reviewer, pending):
    response = as_user(reviewer).post(
        "/api/approve",
        {"requestId": str(pending.pk), "approved": False, "reason": "reads too much"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["rejectionReason"] == "reads too much"


def test_approval_with_a_stale_code_hash_answers_409(as_user, reviewer, pending):
    response = approve(as_user(reviewer), pending, codeSha256="0" * 64)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "code_changed"


def test_reviewer_of_another_team_gets_404(as_user, other_team, pending):
    outsider = member(other_team, Membership.Role.REVIEWER)
    assert approve(as_user(outsider), pending).status_code == 404
    assert as_user(outsider).get(f"/api/requests/{pending.pk}").status_code == 404


def test_reviewer_id_in_body_is_never_trusted(as_user, analyst, reviewer, pending):
    response = approve(as_user(analyst), pending, reviewerId=reviewer.pk)
    assert response.status_code == 403


def test_approve_requires_the_approved_flag(as_user, reviewer, pending):
    response = as_user(reviewer).post("/api/approve", {"requestId": str(pending.pk)}, format="json")
    assert response.status_code == 400
    assert "approved" in response.json()["error"]["fields"]


def test_executing_an_unapproved_request_answers_409(as_user, analyst, pending):
    response = as_user(analyst).post("/api/execute", {"requestId": str(pending.pk)}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_approved"
    assert not Execution.objects.exists()


def test_execute_twice_returns_the_same_execution(
    as_user, analyst, reviewer, pending, django_capture_on_commit_callbacks
):
    approve(as_user(reviewer), pending)
    with django_capture_on_commit_callbacks() as callbacks:
        first = as_user(analyst).post("/api/execute", {"requestId": str(pending.pk)}, format="json")
        second = as_user(analyst).post("/api/execute", {"requestId": str(pending.pk)}, format="json")
    assert first.status_code == second.status_code == 202
    assert first.json()["executionId"] == second.json()["executionId"]
    assert len(callbacks) == 1  # the run is enqueued once
    assert Execution.objects.count() == 1


def test_execute_on_approval_setting_queues_the_run(as_user, reviewer, pending, settings):
    settings.SANDGATE_EXECUTE_ON_APPROVAL = True
    response = approve(as_user(reviewer), pending)
    assert response.json()["status"] == "queued"
    assert response.json()["execution"]["status"] == "queued"


def test_request_list_is_scoped_by_role(
    as_user, analyst, reviewer, team, other_team, django_assert_max_num_queries
):
    mine = ApprovalRequestFactory(user=analyst, team=team)
    teammates = ApprovalRequestFactory(user=member(team), team=team)
    ApprovalRequestFactory(team=other_team)
    client = as_user(analyst)
    with django_assert_max_num_queries(4):  # token, count, page, datasets
        as_analyst = client.get("/api/requests").json()["results"]
    as_reviewer = as_user(reviewer).get("/api/requests?status=pending_review").json()["results"]
    assert [r["requestId"] for r in as_analyst] == [str(mine.pk)]
    assert {r["requestId"] for r in as_reviewer} == {str(mine.pk), str(teammates.pk)}


def test_request_list_rejects_an_unknown_status(as_user, analyst):
    response = as_user(analyst).get("/api/requests?status=bogus")
    assert response.status_code == 400


def test_analyst_cannot_see_a_teammates_request(as_user, analyst, team):
    theirs = ApprovalRequestFactory(user=member(team), team=team)
    assert as_user(analyst).get(f"/api/requests/{theirs.pk}").status_code == 404


def test_execute_and_revise_of_another_teams_request_answer_404_and_change_nothing(as_user, other_team, team):
    outsider = member(other_team, Membership.Role.REVIEWER)
    approved = ApprovalRequestFactory(user=member(team), team=team, status=Status.APPROVED)
    rejected = ApprovalRequestFactory(
        user=member(team), team=team, status=Status.REJECTED, rejection_reason="Use the 2024 file."
    )
    client = as_user(outsider)
    assert client.post("/api/execute", {"requestId": str(approved.pk)}, format="json").status_code == 404
    assert client.post(f"/api/requests/{rejected.pk}/revise").status_code == 404
    assert not Execution.objects.filter(request=approved).exists()
    assert not rejected.revisions.exists()


def test_a_request_to_act_on_is_read_with_its_team_in_one_query(reviewer, pending, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = selectors.approval_request_to_act_on(user=reviewer, request_id=pending.pk)
        assert found.team.slug == pending.team.slug


@pytest.mark.parametrize("request_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_a_request_to_act_on_that_is_malformed_or_unknown_is_not_found(reviewer, request_id):
    with pytest.raises(NotFound):
        selectors.approval_request_to_act_on(user=reviewer, request_id=request_id)


@pytest.mark.django_db(transaction=True)
def test_concurrent_approve_and_reject_exactly_one_wins(team):
    from approvals import services
    from config.exceptions import Conflict

    requester = member(team)
    reviewers = [member(team, Membership.Role.REVIEWER) for _ in range(2)]
    request = ApprovalRequestFactory(user=requester, team=team)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def decide(reviewer, approve_it: bool):
        barrier.wait()
        try:
            if approve_it:
                services.approval_request_approve(request=request, reviewer=reviewer)
            else:
                services.approval_request_reject(request=request, reviewer=reviewer, reason="no")
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(r, i == 0)) for i, r in enumerate(reviewers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "won"]
    request.refresh_from_db()
    assert request.status in (Status.APPROVED, Status.REJECTED)
    assert AuditEvent.objects.filter(action__in=["request.approved", "request.rejected"]).count() == 1


def test_approval_stands_when_the_automatic_run_does_not_fit_the_budget(
    as_user, reviewer, pending, team, settings
):
    from decimal import Decimal

    from billing.models import Budget

    settings.SANDGATE_EXECUTE_ON_APPROVAL = True
    Budget.objects.create(
        scope=Budget.Scope.TEAM, team=team, period=Budget.Period.TOTAL, limit_usd=Decimal("0")
    )
    response = approve(as_user(reviewer), pending)
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert not Execution.objects.exists()


def test_the_run_queued_on_approval_is_in_the_approvals_transaction(reviewer, pending, settings):
    from django.db import transaction

    from approvals.services import approval_request_approve
    from billing.models import Reservation

    settings.SANDGATE_EXECUTE_ON_APPROVAL = True

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        approved = approval_request_approve(request=pending, reviewer=reviewer)
        assert approved.status == Status.QUEUED and Execution.objects.filter(request=pending).exists()
        raise Undo

    pending.refresh_from_db()
    assert pending.status == Status.PENDING_REVIEW
    assert not Execution.objects.exists() and not Reservation.objects.exists()
