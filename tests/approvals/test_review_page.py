"""The reviewer's page decides first, and after a decision the next waiting request opens."""

import pytest
from django.contrib.auth.models import Permission

from approvals.models import ApprovalRequest
from approvals.services import approval_request_edit
from billing.models import Membership
from tests.factories import ApprovalRequestFactory, member

Status = ApprovalRequest.Status
CODE = "import pandas as pd\ndf = pd.read_csv('/data/sales.csv')\nprint(df['revenue'].sum())\n"
URL = "/admin/approvals/approvalrequest/"


def console(user):
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_approvalrequest", "change_approvalrequest"])
    )
    return user


@pytest.fixture
def rita(reviewer):
    return console(reviewer)


@pytest.fixture
def waiting(analyst, team):
    """Three requests waiting, oldest first."""
    return [
        ApprovalRequestFactory(user=analyst, team=team, code=CODE, risk_level="low", query=f"question {n}")
        for n in range(3)
    ]


def test_the_page_shows_the_question_the_decision_the_facts_then_the_code_then_the_record(
    client, rita, waiting
):
    client.force_login(rita)
    page = client.get(f"{URL}{waiting[0].pk}/change/").content.decode()
    order = [
        '<h1 class="sg-question">question 0</h1>',
        ">Approve</button>",
        "Reject with reason</button>",
        "Edit the code</a>",
        "Reads and writes",
        "/data/sales.csv",
        "estimated",
        "Risk",
        'id="line-1"',
        "The record",
    ]
    positions = [page.index(text) for text in order]
    assert positions == sorted(positions)
    assert "<details><summary>" in page[page.index("The record") - 200 :]  # the record is folded


def test_after_approving_the_next_waiting_request_opens(client, rita, waiting):
    client.force_login(rita)
    response = client.post(f"{URL}{waiting[0].pk}/approve/", {"code_sha256": waiting[0].code_sha256})
    assert response["Location"] == f"{URL}{waiting[1].pk}/change/?next=1"
    response = client.post(f"{URL}{waiting[1].pk}/reject/", {"reason": "Use the median."})
    assert response["Location"] == f"{URL}{waiting[2].pk}/change/?next=1"
    response = client.post(
        f"{URL}{waiting[2].pk}/approve/", {"code_sha256": waiting[2].code_sha256}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"{URL}?waiting_for=you"
    page = response.content.decode()
    assert "Nothing else is waiting for your review." in page  # the message
    assert "Nothing is waiting for your review." in page  # the empty queue
    statuses = [ApprovalRequest.objects.get(pk=r.pk).status for r in waiting]
    assert statuses == [Status.APPROVED, Status.REJECTED, Status.APPROVED]


def test_the_next_request_skips_what_this_reviewer_may_not_approve(client, rita, waiting, analyst, team):
    second = console(member(team, Membership.Role.REVIEWER, user__username="sam"))
    edited = approval_request_edit(request=waiting[1], reviewer=rita, code=CODE + "# edited\n")
    ApprovalRequestFactory(user=rita, team=team, code=CODE)  # rita's own question
    client.force_login(rita)
    response = client.post(f"{URL}{waiting[0].pk}/approve/", {"code_sha256": waiting[0].code_sha256})
    assert response["Location"] == f"{URL}{waiting[2].pk}/change/?next=1"  # not her edit, not her own

    page = client.get(f"{URL}{edited.pk}/change/").content.decode()
    assert ">Approve</button>" not in page
    assert "You cannot approve this version" in page and "another reviewer must approve it" in page
    assert "Reject with reason" in page  # she may still reject or edit it
    client.force_login(second)
    assert ">Approve</button>" in client.get(f"{URL}{edited.pk}/change/").content.decode()


def test_auditors_read_the_page_without_the_decision(client, auditor, waiting):
    console(auditor)
    client.force_login(auditor)
    page = client.get(f"{URL}{waiting[0].pk}/change/").content.decode()
    assert "question 0" in page and 'id="line-1"' in page
    assert "Reject with reason" not in page and ">Approve</button>" not in page


def test_bulk_approval_lists_each_question_and_risk_and_leaves_high_risk_out(
    client, rita, waiting, analyst, team
):
    high = ApprovalRequestFactory(user=analyst, team=team, code=CODE, risk_level="high", query="a risky one")
    client.force_login(rita)
    chosen = [str(waiting[0].pk), str(high.pk)]

    confirm = client.post(URL, {"action": "approve_selected", "_selected_action": chosen}).content.decode()

    assert "Approve these requests?" in confirm
    assert "question 0" in confirm and "<td>low</td>" in confirm
    assert "Not approved in bulk" in confirm and "a risky one" in confirm
    assert f'name="sha_{high.pk}"' not in confirm
    form = {"action": "approve_selected", "_selected_action": chosen, "confirm": "yes"}
    form[f"sha_{waiting[0].pk}"] = waiting[0].code_sha256
    form[f"sha_{high.pk}"] = high.code_sha256  # even if posted: high risk is never approved in bulk
    client.post(URL, form)
    assert ApprovalRequest.objects.get(pk=waiting[0].pk).status == Status.APPROVED
    assert ApprovalRequest.objects.get(pk=high.pk).status == Status.PENDING_REVIEW


def test_bulk_approval_of_only_high_risk_requests_is_not_offered(client, rita, analyst, team):
    high = ApprovalRequestFactory(user=analyst, team=team, code=CODE, risk_level="high")
    client.force_login(rita)
    response = client.post(
        URL, {"action": "approve_selected", "_selected_action": [str(high.pk)]}, follow=True
    )
    assert "not approved in bulk" in response.content.decode()
    assert ApprovalRequest.objects.get(pk=high.pk).status == Status.PENDING_REVIEW


def test_bulk_approval_approves_only_the_code_the_confirmation_showed(client, rita, waiting):
    client.force_login(rita)
    form = {"action": "approve_selected", "_selected_action": [str(waiting[0].pk)], "confirm": "yes"}
    form[f"sha_{waiting[0].pk}"] = "0" * 64  # the code changed since the page was shown
    response = client.post(URL, form, follow=True)
    assert "The code changed since you looked at it" in response.content.decode()
    assert ApprovalRequest.objects.get(pk=waiting[0].pk).status == Status.PENDING_REVIEW
