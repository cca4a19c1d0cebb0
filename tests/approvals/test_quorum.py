"""High-risk requests need the team's quorum of distinct reviewers; votes are counted safely."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from approvals.models import ApprovalRequest, ApprovalVote
from approvals.services import approval_request_approve
from audit.models import AuditEvent
from billing.models import Membership
from config.exceptions import Conflict
from tests.factories import ApprovalRequestFactory, member

Status = ApprovalRequest.Status


@pytest.fixture
def high_risk(analyst, team):
    return ApprovalRequestFactory(user=analyst, team=team, risk_level="high")


@pytest.fixture
def second_reviewer(team):
    return member(team, Membership.Role.REVIEWER, user__username="sam")


def approve(as_user, user, request):
    body = {"requestId": str(request.pk), "approved": True}
    return as_user(user).post("/api/approve", body, format="json")


def test_a_high_risk_request_waits_for_a_second_reviewer(as_user, reviewer, second_reviewer, high_risk):
    first = approve(as_user, reviewer, high_risk)
    assert first.status_code == 200
    assert first.json()["status"] == "pending_review"
    assert first.json()["card"]["risk"]["approvals"] == [reviewer.username]
    second = approve(as_user, second_reviewer, high_risk)
    assert second.json()["status"] == "approved"
    high_risk.refresh_from_db()
    assert high_risk.reviewer == second_reviewer
    assert AuditEvent.objects.filter(action="request.vote_recorded").count() == 2
    (approved,) = AuditEvent.objects.filter(action="request.approved")
    assert sorted(approved.details["reviewers"]) == sorted([reviewer.username, second_reviewer.username])


def test_the_same_reviewer_cannot_count_twice(as_user, reviewer, high_risk):
    approve(as_user, reviewer, high_risk)
    again = approve(as_user, reviewer, high_risk)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "voted"
    high_risk.refresh_from_db()
    assert high_risk.status == Status.PENDING_REVIEW


def test_the_quorum_is_configurable_per_team(team, reviewer, second_reviewer, high_risk):
    team.high_risk_quorum = 3
    team.save()
    third = member(team, Membership.Role.REVIEWER)
    for person in (reviewer, second_reviewer):
        assert approval_request_approve(request=high_risk, reviewer=person).status == Status.PENDING_REVIEW
    assert approval_request_approve(request=high_risk, reviewer=third).status == Status.APPROVED


def test_low_and_medium_risk_need_one_reviewer(analyst, team, reviewer):
    medium = ApprovalRequestFactory(user=analyst, team=team, risk_level="medium")
    assert approval_request_approve(request=medium, reviewer=reviewer).status == Status.APPROVED


def test_the_database_refuses_a_vote_by_the_requester(analyst, high_risk):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalVote.objects.create(
            request=high_risk, reviewer=analyst, requester=analyst, approval_digest="x"
        )


def test_the_database_refuses_a_second_vote_by_one_reviewer(reviewer, analyst, high_risk):
    ApprovalVote.objects.create(request=high_risk, reviewer=reviewer, requester=analyst, approval_digest="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalVote.objects.create(
            request=high_risk, reviewer=reviewer, requester=analyst, approval_digest="x"
        )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_votes_reach_the_quorum(team):
    requester = member(team)
    reviewers = [member(team, Membership.Role.REVIEWER) for _ in range(2)]
    request = ApprovalRequestFactory(user=requester, team=team, risk_level="high")
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def vote(reviewer):
        barrier.wait()
        try:
            approval_request_approve(request=request, reviewer=reviewer)
        except Conflict as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=vote, args=(r,)) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    request.refresh_from_db()
    assert request.status == Status.APPROVED
    assert request.votes.count() == 2
    assert AuditEvent.objects.filter(action="request.approved").count() == 1
