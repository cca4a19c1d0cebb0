"""`GET /api/requests/{id}` answers conditional requests: its ETag changes with every change its answer shows,
a current `If-None-Match` gets 304 with no body (and no serializer work), a stale one the new answer."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analysis.models import Execution
from analysis.services.asking import analysis_submit
from analysis.services.execution import _execution_claim, execution_run, execution_start
from analysis.services.generation import request_generate_code
from analysis.services.reaper import reap_stuck
from approvals.models import ApprovalRequest
from approvals.services import (
    approval_request_approve,
    approval_request_cancel,
    approval_request_edit,
    approval_request_reject,
    approval_request_revise,
)
from billing.models import Budget, Membership
from billing.services import budget_reserve, budget_save
from tests.factories import ApprovalRequestFactory, demo_dataset, member

Status = ApprovalRequest.Status
HIGH_RISK_CODE = "import sklearn\nprint('hello')\n"


class Poller:
    """A client polling one request's detail the way a generated client does, with its last ETag."""

    def __init__(self, client, request_id):
        self.client, self.url, self.etag = client, f"/api/requests/{request_id}", None

    def first(self) -> dict:
        answer = self.client.get(self.url)
        assert answer.status_code == 200
        self.etag = answer["ETag"]
        self.assert_unchanged()
        return answer.json()

    def assert_unchanged(self) -> None:
        answer = self.client.get(self.url, HTTP_IF_NONE_MATCH=self.etag)
        assert answer.status_code == 304
        assert answer.content == b""
        assert answer["ETag"] == self.etag

    def changed(self) -> dict:
        """The stale ETag gets 200 with the new answer and a new ETag, which then gets 304."""
        answer = self.client.get(self.url, HTTP_IF_NONE_MATCH=self.etag)
        assert answer.status_code == 200, "the answer changed but the ETag did not"
        assert answer["ETag"] != self.etag
        self.etag = answer["ETag"]
        self.assert_unchanged()
        return answer.json()


@pytest.fixture
def second_reviewer(team):
    return member(team, Membership.Role.REVIEWER, user__username="ravi")


@pytest.fixture
def dataset(team):
    return demo_dataset(team, rows=20)


def pending(*, team, analyst, dataset, code="print('hello')\n", risk="low") -> ApprovalRequest:
    request = ApprovalRequestFactory(user=analyst, team=team, code=code, risk_level=risk)
    request.datasets.set([dataset])
    return request


def test_the_etag_follows_a_question_from_submit_to_its_succeeded_run(
    as_user, analyst, reviewer, team, dataset, prices
):
    submitted = analysis_submit(user=analyst, query="Total revenue by region", dataset_ids=[dataset.pk])
    poller = Poller(as_user(analyst), submitted.pk)
    assert poller.first()["status"] == Status.GENERATING

    request_generate_code(request_id=submitted.pk)
    assert poller.changed()["status"] == Status.PENDING_REVIEW

    approval_request_approve(request=submitted, reviewer=reviewer)
    assert poller.changed()["status"] == Status.APPROVED

    execution, _ = execution_start(request=ApprovalRequest.objects.get(pk=submitted.pk), user=analyst)
    assert poller.changed()["execution"]["status"] == Execution.Status.QUEUED

    execution_run(execution_id=execution.pk)
    body = poller.changed()
    assert (body["status"], body["execution"]["status"]) == (Status.SUCCEEDED, Execution.Status.SUCCEEDED)


def test_the_etag_changes_when_a_run_starts_and_when_its_worker_is_found_dead(
    as_user, analyst, reviewer, team, dataset, prices
):
    request = pending(team=team, analyst=analyst, dataset=dataset)
    approval_request_approve(request=request, reviewer=reviewer)
    execution, _ = execution_start(request=request, user=analyst)
    poller = Poller(as_user(analyst), request.pk)
    poller.first()

    _execution_claim(execution_id=execution.pk)  # what the worker does first
    assert poller.changed()["status"] == Status.RUNNING

    reap_stuck(now=timezone.now() + timedelta(hours=2))  # its lease long expired: the worker died
    body = poller.changed()
    assert (body["status"], body["execution"]["status"]) == (Status.INTERRUPTED, Execution.Status.INTERRUPTED)


def test_the_etag_changes_when_a_run_fails(as_user, analyst, reviewer, team, dataset, prices):
    request = pending(team=team, analyst=analyst, dataset=dataset, code="raise ValueError('no')\n")
    approval_request_approve(request=request, reviewer=reviewer)
    execution, _ = execution_start(request=request, user=analyst)
    poller = Poller(as_user(analyst), request.pk)
    poller.first()

    execution_run(execution_id=execution.pk)
    assert poller.changed()["execution"]["status"] == Execution.Status.FAILED


def test_the_etag_changes_with_a_rejection_and_again_when_a_new_version_is_asked_for(
    as_user, analyst, reviewer, team, dataset, prices
):
    request = pending(team=team, analyst=analyst, dataset=dataset)
    poller = Poller(as_user(reviewer), request.pk)
    poller.first()

    approval_request_reject(request=request, reviewer=reviewer, reason="Group by month too.")
    assert poller.changed()["status"] == Status.REJECTED

    revision = approval_request_revise(request=request, user=analyst)
    assert poller.changed()["nextVersionId"] == str(revision.pk)


def test_the_etag_changes_when_a_reviewer_edits_the_code(as_user, analyst, reviewer, team, dataset):
    request = pending(team=team, analyst=analyst, dataset=dataset)
    poller = Poller(as_user(analyst), request.pk)
    poller.first()

    edited = approval_request_edit(request=request, reviewer=reviewer, code="print('edited')\n")
    body = poller.changed()
    assert (body["status"], body["nextVersionId"]) == (Status.SUPERSEDED, str(edited.pk))


def test_the_etag_changes_when_the_analyst_withdraws(as_user, analyst, team, dataset):
    request = pending(team=team, analyst=analyst, dataset=dataset)
    poller = Poller(as_user(analyst), request.pk)
    poller.first()

    approval_request_cancel(request=request, user=analyst)
    assert poller.changed()["status"] == Status.CANCELLED


def test_the_etag_changes_with_each_vote_of_a_high_risk_quorum(
    as_user, analyst, reviewer, second_reviewer, team, dataset
):
    request = pending(team=team, analyst=analyst, dataset=dataset, code=HIGH_RISK_CODE, risk="high")
    poller = Poller(as_user(analyst), request.pk)
    assert poller.first()["card"]["risk"]["approvalsNeeded"] == 2

    approval_request_approve(request=request, reviewer=reviewer)
    body = poller.changed()
    assert (body["status"], body["card"]["risk"]["approvals"]) == (Status.PENDING_REVIEW, ["rita"])

    team.high_risk_quorum = 3  # an admin raises the quorum meanwhile
    team.save()
    assert poller.changed()["card"]["risk"]["approvalsNeeded"] == 3

    team.high_risk_quorum = 2
    team.save()
    poller.changed()
    approval_request_approve(request=request, reviewer=second_reviewer)
    assert poller.changed()["status"] == Status.APPROVED


def test_the_etag_changes_with_the_budgets_the_cost_card_reads(
    as_user, analyst, reviewer, team, dataset, time_machine
):
    time_machine.move_to("2026-12-02 12:00:00+00:00")  # the clock runs: each save is later
    request = pending(team=team, analyst=analyst, dataset=dataset)
    poller = Poller(as_user(analyst), request.pk)
    assert poller.first()["card"]["cost"]["remainingBudgetUsd"] is None

    budget = Budget(scope=Budget.Scope.TEAM, team=team, period=Budget.Period.DAILY, limit_usd=Decimal("5"))
    budget_save(budget=budget, actor=reviewer)
    assert poller.changed()["card"]["cost"]["remainingBudgetUsd"] == pytest.approx(5.0)

    budget.limit_usd = Decimal("4")
    budget_save(budget=budget, actor=reviewer)
    assert poller.changed()["card"]["cost"]["remainingBudgetUsd"] == pytest.approx(4.0)

    other = member(team, Membership.Role.ANALYST, user__username="olga")
    held = budget_reserve(team=team, user=other, feature="execution", amount=Decimal("1"))
    assert poller.changed()["card"]["cost"]["remainingBudgetUsd"] == pytest.approx(3.0)

    from billing.services import reservation_release

    reservation_release(reservation_id=held.pk)
    assert poller.changed()["card"]["cost"]["remainingBudgetUsd"] == pytest.approx(4.0)

    budget_reserve(team=team, user=other, feature="execution", amount=Decimal("1"))
    assert poller.changed()["card"]["cost"]["remainingBudgetUsd"] == pytest.approx(3.0)

    time_machine.move_to("2026-12-03 00:00:01+00:00")  # a new day: the daily budget resets
    assert poller.changed()["card"]["cost"]["remainingBudgetUsd"] == pytest.approx(4.0)


def test_another_teams_request_is_a_404_whatever_the_if_none_match(
    as_user, analyst, team, other_team, dataset
):
    request = pending(team=team, analyst=analyst, dataset=dataset)
    etag = as_user(analyst).get(f"/api/requests/{request.pk}")["ETag"]
    outsider = as_user(member(other_team, Membership.Role.REVIEWER, user__username="gus"))

    for sent in ({}, {"HTTP_IF_NONE_MATCH": etag}, {"HTTP_IF_NONE_MATCH": "*"}):
        answer = outsider.get(f"/api/requests/{request.pk}", **sent)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
        assert not answer.has_header("ETag")


def test_an_analyst_gets_a_404_for_a_teammates_request_even_with_its_etag(
    as_user, analyst, reviewer, team, dataset
):
    request = pending(team=team, analyst=analyst, dataset=dataset)
    etag = as_user(reviewer).get(f"/api/requests/{request.pk}")["ETag"]
    teammate = as_user(member(team, Membership.Role.ANALYST, user__username="tom"))
    assert teammate.get(f"/api/requests/{request.pk}", HTTP_IF_NONE_MATCH=etag).status_code == 404


def test_the_detail_costs_a_fixed_number_of_queries_and_the_304_two(
    as_user, analyst, team, dataset, django_assert_num_queries
):
    request = pending(team=team, analyst=analyst, dataset=dataset, code=HIGH_RISK_CODE, risk="high")
    client = as_user(analyst)
    # token; the version; the request with its user, team, reviewer and run; its datasets; the budgets with
    # their current periods; the votes
    with django_assert_num_queries(6):
        answer = client.get(f"/api/requests/{request.pk}")
    assert answer.status_code == 200
    # token; the version
    with django_assert_num_queries(2):
        assert client.get(f"/api/requests/{request.pk}", HTTP_IF_NONE_MATCH=answer["ETag"]).status_code == 304
