"""A reviewer's edit becomes a new version: checked again, shown beside the original, approved on its own."""

import pytest
from django.contrib.auth.models import Permission

from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve, approval_request_edit
from audit.models import AuditEvent
from billing.models import Membership
from config.exceptions import Conflict, Forbidden
from tests.factories import ApprovalRequestFactory, demo_dataset, member

Status = ApprovalRequest.Status
ORIGINAL = "import pandas as pd\ndf = pd.read_csv('/data/sales.csv')\nprint(df['revenue'].sum())\n"
EDITED = "import pandas as pd\ndf = pd.read_csv('/data/sales.csv')\nprint(df['revenue'].mean())\n"


@pytest.fixture
def pending(analyst, team):
    request = ApprovalRequestFactory(user=analyst, team=team, code=ORIGINAL, risk_level="low")
    request.datasets.set([demo_dataset(team, rows=20)])
    return request


@pytest.fixture
def second_reviewer(team):
    return member(team, Membership.Role.REVIEWER, user__username="sam")


def test_an_edit_becomes_the_next_version_and_supersedes_the_original(pending, reviewer, analyst):
    edited = approval_request_edit(request=pending, reviewer=reviewer, code=EDITED)
    pending.refresh_from_db()
    assert pending.status == Status.SUPERSEDED
    assert (edited.parent, edited.version, edited.edited_by, edited.user) == (pending, 2, reviewer, analyst)
    assert edited.status == Status.PENDING_REVIEW
    assert edited.code_sha256 != pending.code_sha256
    assert list(edited.datasets.all()) == list(pending.datasets.all())
    (event,) = AuditEvent.objects.filter(action="request.edited")
    assert event.actor == reviewer
    assert "-print(df['revenue'].sum())" in event.details["diff"]
    assert "+print(df['revenue'].mean())" in event.details["diff"]


def test_the_approval_applies_to_the_edited_version_only(pending, reviewer, second_reviewer):
    edited = approval_request_edit(request=pending, reviewer=reviewer, code=EDITED)
    with pytest.raises(Conflict):
        approval_request_approve(request=pending, reviewer=second_reviewer)
    with pytest.raises(Forbidden):
        approval_request_approve(request=edited, reviewer=reviewer)  # four eyes: not the editor
    with pytest.raises(Conflict):
        approval_request_approve(
            request=edited, reviewer=second_reviewer, expected_sha256=pending.code_sha256
        )
    approved = approval_request_approve(request=edited, reviewer=second_reviewer)
    assert approved.approved_code_sha256 == edited.code_sha256


def test_an_edit_is_checked_again_by_the_policy(pending, reviewer):
    edited = approval_request_edit(request=pending, reviewer=reviewer, code=ORIGINAL + "import socket\n")
    assert edited.status == Status.POLICY_BLOCKED
    assert edited.findings[0]["rule"] == "network"
    assert AuditEvent.objects.filter(action="policy.blocked", request_id=edited.pk).exists()


def test_the_requester_sees_the_edit_beside_the_original(pending, reviewer, as_user, analyst):
    edited = approval_request_edit(request=pending, reviewer=reviewer, code=EDITED)
    body = as_user(analyst).get(f"/api/requests/{edited.pk}").json()
    assert body["previousVersion"]["code"] == ORIGINAL
    assert body["previousVersion"]["requestId"] == str(pending.pk)
    assert body["version"] == 2 and body["editedById"] == reviewer.pk
    assert "+print(df['revenue'].mean())" in body["card"]["diff"]["unified"]
    original = as_user(analyst).get(f"/api/requests/{pending.pk}").json()
    assert (original["status"], original["nextVersionId"]) == ("superseded", str(edited.pk))


def test_an_unchanged_edit_or_an_edit_by_an_analyst_is_refused(pending, reviewer, analyst):
    from config.exceptions import ApplicationError

    with pytest.raises(ApplicationError):
        approval_request_edit(request=pending, reviewer=reviewer, code=ORIGINAL)
    with pytest.raises(Forbidden):
        approval_request_edit(request=pending, reviewer=analyst, code=EDITED)
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_REVIEW


def test_the_admin_edit_page_saves_a_new_version_and_shows_the_diff(client, reviewer, pending):
    reviewer.is_staff = True
    reviewer.save()
    reviewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_approvalrequest", "change_approvalrequest"])
    )
    client.force_login(reviewer)
    url = f"/admin/approvals/approvalrequest/{pending.pk}/edit/"
    assert "revenue&#x27;].sum()" in client.get(url).content.decode()
    response = client.post(url, {"code": EDITED}, follow=True)
    edited = ApprovalRequest.objects.get(parent=pending)
    html = response.content.decode()
    assert "Saved as <a" in html and "version 2</a>" in html
    assert "Nothing else is waiting for your review." in html  # the editor cannot approve their own edit
    assert edited.edited_by == reviewer
    version_page = client.get(f"/admin/approvals/approvalrequest/{edited.pk}/change/").content.decode()
    assert "Changes from version 1" in version_page and "mean" in version_page
    assert "You cannot approve this version" in version_page


def test_the_admin_asks_for_a_new_version_of_a_rejected_request(client, reviewer, analyst, team):
    reviewer.is_staff = True
    reviewer.save()
    reviewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_approvalrequest", "change_approvalrequest"])
    )
    rejected = ApprovalRequestFactory(user=analyst, team=team, status="rejected", rejection_reason="use mean")
    client.force_login(reviewer)
    page = client.get(f"/admin/approvals/approvalrequest/{rejected.pk}/change/").content.decode()
    assert "Ask for a new version" in page
    client.post(f"/admin/approvals/approvalrequest/{rejected.pk}/revise/")
    revision = ApprovalRequest.objects.get(parent=rejected)
    assert (revision.version, revision.status, revision.user) == (2, Status.GENERATING, analyst)
