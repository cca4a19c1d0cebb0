import pytest
from django.contrib.auth.models import Permission

from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from billing.models import Membership
from tests.factories import ApprovalRequestFactory, member

Status = ApprovalRequest.Status


@pytest.fixture
def staff_reviewer(reviewer):
    reviewer.is_staff = True
    reviewer.save()
    for codename in ("view_approvalrequest", "change_approvalrequest"):
        reviewer.user_permissions.add(Permission.objects.get(codename=codename))
    return reviewer


@pytest.fixture
def pending(analyst, team):
    return ApprovalRequestFactory(user=analyst, team=team, code="import pandas as pd\nprint(1)\n")


def test_console_lists_only_the_reviewers_teams(client, staff_reviewer, pending, other_team):
    foreign = ApprovalRequestFactory(team=other_team, query="another team's secret question")
    client.force_login(staff_reviewer)
    page = client.get("/admin/approvals/approvalrequest/?status__exact=pending_review")
    assert page.status_code == 200
    assert pending.query in page.content.decode()
    assert foreign.query not in page.content.decode()
    assert client.get(f"/admin/approvals/approvalrequest/{foreign.pk}/change/").status_code == 404


def test_change_page_shows_highlighted_code_and_the_decision_forms(client, staff_reviewer, pending):
    client.force_login(staff_reviewer)
    html = client.get(f"/admin/approvals/approvalrequest/{pending.pk}/change/").content.decode()
    assert 'class="sg-code"' in html
    assert ">Approve</button>" in html and "Reject with reason" in html and "Edit the code" in html
    assert 'name="_save"' not in html  # no raw save: decisions go through the services


def test_approve_button_approves_as_the_logged_in_reviewer(client, staff_reviewer, pending):
    client.force_login(staff_reviewer)
    response = client.post(
        f"/admin/approvals/approvalrequest/{pending.pk}/approve/", {"code_sha256": pending.code_sha256}
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert (pending.status, pending.reviewer) == (Status.APPROVED, staff_reviewer)
    assert AuditEvent.objects.get(action="request.approved").actor == staff_reviewer


def test_reject_button_needs_a_reason(client, staff_reviewer, pending):
    client.force_login(staff_reviewer)
    blank = client.post(f"/admin/approvals/approvalrequest/{pending.pk}/reject/", {"reason": ""})
    assert blank.status_code == 200  # the form again, with its error
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_REVIEW
    client.post(f"/admin/approvals/approvalrequest/{pending.pk}/reject/", {"reason": "uses the wrong column"})
    pending.refresh_from_db()
    assert (pending.status, pending.rejection_reason) == (Status.REJECTED, "uses the wrong column")


def test_admin_refuses_self_approval_with_a_message(client, staff_reviewer, team):
    own = ApprovalRequestFactory(user=staff_reviewer, team=team)
    client.force_login(staff_reviewer)
    response = client.post(f"/admin/approvals/approvalrequest/{own.pk}/approve/", follow=True)
    assert "cannot review your own request" in response.content.decode()
    own.refresh_from_db()
    assert own.status == Status.PENDING_REVIEW


def test_bulk_actions_approve_and_reject_through_the_services(client, staff_reviewer, analyst, team):
    first, second = (
        ApprovalRequestFactory(user=analyst, team=team),
        ApprovalRequestFactory(user=analyst, team=team),
    )
    client.force_login(staff_reviewer)
    url = "/admin/approvals/approvalrequest/"
    confirm = client.post(url, {"action": "approve_selected", "_selected_action": [str(first.pk)]})
    assert "Approve these requests?" in confirm.content.decode()  # nothing approved before confirming
    first.refresh_from_db()
    assert first.status == Status.PENDING_REVIEW
    client.post(
        url,
        {
            "action": "approve_selected",
            "_selected_action": [str(first.pk)],
            "confirm": "yes",
            f"sha_{first.pk}": first.code_sha256,
        },
    )
    asked = client.post(url, {"action": "reject_selected", "_selected_action": [str(second.pk)]})
    assert "Reason" in asked.content.decode()
    client.post(
        url, {"action": "reject_selected", "_selected_action": [str(second.pk)], "reason": "duplicate"}
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Status.APPROVED, Status.REJECTED)
    assert second.reviewer == staff_reviewer


def test_reviewer_of_another_team_cannot_decide_in_the_admin(client, other_team, pending):
    outsider = member(other_team, Membership.Role.REVIEWER)
    outsider.is_staff = True
    outsider.save()
    outsider.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_approvalrequest", "change_approvalrequest"])
    )
    client.force_login(outsider)
    response = client.post(f"/admin/approvals/approvalrequest/{pending.pk}/approve/")
    assert response.status_code == 404
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_REVIEW


def test_approving_in_the_console_runs_on_approval_when_configured(client, staff_reviewer, pending, settings):
    from analysis.models import Execution

    settings.SANDGATE_EXECUTE_ON_APPROVAL = True
    client.force_login(staff_reviewer)
    with_hash = {"code_sha256": pending.code_sha256}
    client.post(f"/admin/approvals/approvalrequest/{pending.pk}/approve/", with_hash)

    pending.refresh_from_db()
    assert pending.status == Status.QUEUED
    execution = Execution.objects.get(request=pending)
    assert execution.code_sha256 == pending.approved_code_sha256
    assert AuditEvent.objects.get(action="execution.queued").actor == staff_reviewer


def test_asking_for_a_new_version_in_the_console_queues_its_generation(
    client, staff_reviewer, analyst, team, django_capture_on_commit_callbacks
):
    from analysis.models import Message

    rejected = ApprovalRequestFactory(
        user=analyst, team=team, status=Status.REJECTED, rejection_reason="Use a bar chart."
    )
    client.force_login(staff_reviewer)
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(f"/admin/approvals/approvalrequest/{rejected.pk}/revise/")

    revision = ApprovalRequest.objects.get(parent=rejected)
    assert (revision.version, revision.status) == (2, Status.GENERATING)
    assert len(callbacks) == 1  # the generate task, published once the revision is committed
    note = Message.objects.get(request=revision)
    assert (note.role, note.content) == ("system", "A reviewer asked for version 2: Use a bar chart.")
