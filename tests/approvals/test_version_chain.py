"""The loop's rules hold across versions: edits, revisions and their audit trail."""

import pytest

from analysis.models import Session
from approvals.models import ApprovalRequest
from approvals.services import approval_refusal, approval_request_edit, approval_request_reject
from audit.models import AuditEvent
from billing.models import Membership
from tests.factories import ApprovalRequestFactory, demo_dataset, member

Status = ApprovalRequest.Status
ORIGINAL = "import pandas as pd\ndf = pd.read_csv('/data/sales.csv')\nprint(df['revenue'].sum())\n"
PAYLOAD = ORIGINAL + "print(df.to_dict())  # the payload\n"


@pytest.fixture
def pending(analyst, team):
    request = ApprovalRequestFactory(user=analyst, team=team, code=ORIGINAL, risk_level="low")
    request.datasets.set([demo_dataset(team, rows=20)])
    return request


@pytest.fixture
def reviewer2(team):
    return member(team, Membership.Role.REVIEWER, user__username="reviewer2")


def test_a_reviewer_who_edited_an_earlier_version_cannot_approve_a_trivial_later_edit(
    as_user, pending, reviewer, reviewer2
):
    """reviewer2 edits v1 into v2 (adding a payload); reviewer adds a comment (v3); reviewer2 is refused."""
    v2 = approval_request_edit(request=pending, reviewer=reviewer2, code=PAYLOAD)
    refused_v2 = as_user(reviewer2).post(
        "/api/approve", {"requestId": str(v2.pk), "approved": True}, format="json"
    )
    assert refused_v2.status_code == 403 and refused_v2.json()["error"]["code"] == "own_edit"

    v3 = approval_request_edit(request=v2, reviewer=reviewer, code=PAYLOAD + "# reviewed\n")
    refused_v3 = as_user(reviewer2).post(
        "/api/approve", {"requestId": str(v3.pk), "approved": True}, format="json"
    )

    assert refused_v3.status_code == 403
    assert refused_v3.json()["error"]["code"] == "own_edit"
    v3.refresh_from_db()
    assert (v3.status, v3.approved_code_sha256, v3.votes.count()) == (Status.PENDING_REVIEW, "", 0)
    assert approval_refusal(request=v3, reviewer=reviewer2) == "own_edit"
    assert approval_refusal(request=v3, reviewer=reviewer) == "own_edit"  # the v3 editor, too


def test_a_reviewer_who_wrote_no_version_approves_the_chain_s_newest(
    as_user, pending, reviewer, reviewer2, team
):
    v2 = approval_request_edit(request=pending, reviewer=reviewer2, code=PAYLOAD)
    v3 = approval_request_edit(request=v2, reviewer=reviewer, code=PAYLOAD + "# reviewed\n")
    third = member(team, Membership.Role.REVIEWER, user__username="third")
    assert approval_refusal(request=v3, reviewer=third) is None

    approved = as_user(third).post("/api/approve", {"requestId": str(v3.pk), "approved": True}, format="json")

    assert approved.status_code == 200
    assert approved.json()["status"] == Status.APPROVED


def test_the_analyst_asks_again_with_the_reviewers_feedback(as_user, pending, analyst, reviewer):
    approval_request_reject(request=pending, reviewer=reviewer, reason="Use the mean, not the sum.")

    response = as_user(analyst).post(f"/api/requests/{pending.pk}/revise")

    assert response.status_code == 202
    revision = ApprovalRequest.objects.get(pk=response.json()["requestId"])
    assert (revision.parent_id, revision.version, revision.user) == (pending.pk, 2, analyst)
    event = AuditEvent.objects.get(action="request.revised", request_id=revision.pk)
    assert (event.actor, event.details["feedback"]) == (analyst, "Use the mean, not the sum.")
    assert revision.messages.filter(role="system", content__contains="asked again").exists()


def test_another_analyst_of_the_team_cannot_ask_again_for_someone_else(as_user, pending, reviewer, team):
    approval_request_reject(request=pending, reviewer=reviewer, reason="Use the mean.")
    colleague = member(team, Membership.Role.ANALYST)

    response = as_user(colleague).post(f"/api/requests/{pending.pk}/revise")

    assert response.status_code == 404  # another analyst's request is not theirs to see
    auditor = member(team, Membership.Role.AUDITOR)
    assert as_user(auditor).post(f"/api/requests/{pending.pk}/revise").status_code == 403
    assert not ApprovalRequest.objects.filter(parent=pending).exists()


def test_a_revision_in_an_archived_session_is_refused_like_a_follow_up(as_user, pending, analyst, reviewer):
    approval_request_reject(request=pending, reviewer=reviewer, reason="Use the mean.")
    Session.objects.filter(pk=pending.session_id).update(status=Session.Status.ARCHIVED)

    by_analyst = as_user(analyst).post(f"/api/requests/{pending.pk}/revise")
    by_reviewer = as_user(reviewer).post(f"/api/requests/{pending.pk}/revise")
    follow_up = as_user(analyst).post(
        "/api/analyze", {"query": "again", "sessionId": str(pending.session_id)}, format="json"
    )

    for response in (by_analyst, by_reviewer, follow_up):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "session_closed"
    assert not ApprovalRequest.objects.filter(parent=pending).exists()


def test_a_superseded_version_s_own_trail_says_what_became_of_it(as_user, pending, reviewer, auditor):
    v2 = approval_request_edit(request=pending, reviewer=reviewer, code=PAYLOAD)

    trail = as_user(auditor).get("/api/audit", {"requestId": str(pending.pk)}).json()["results"]

    superseded = [e for e in trail if e["action"] == "request.superseded"]
    assert len(superseded) == 1
    assert superseded[0]["details"]["next_request_id"] == str(v2.pk)
    assert superseded[0]["details"]["next_version"] == 2
    assert superseded[0]["actor"] == reviewer.username
    assert {e["action"] for e in trail} >= {"request.superseded"}
