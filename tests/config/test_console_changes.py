"""Every change made in the console is checked and audited, before and after; the rest is read-only."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.forms import MultiWidget

from analysis.models import Execution, Session
from analysis.sandboxes import Limits, run_seconds_ceiling
from analysis.services.execution import execution_start
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from billing.models import Budget, Membership, Price, Reservation, Team
from billing.services import sandbox_cost
from tests.factories import ApprovalRequestFactory, SessionFactory, demo_dataset, member

Action = AuditEvent.Action


def events(action: str):
    return AuditEvent.objects.filter(action=action)


def form_data(page) -> dict:
    """What a browser posts back from an admin change page left as it is (main form and inlines)."""
    data = {}
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
        forms += formset.forms
    for form in forms:
        for name, field in form.fields.items():
            key, value = form.add_prefix(name), form[name].value()
            if isinstance(field.widget, MultiWidget):
                for n, part in enumerate(field.widget.decompress(value)):
                    data[f"{key}_{n}"] = "" if part is None else str(part)
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, (list, tuple)):
                data[key] = [str(v) for v in value]
            elif value is not None:
                data[key] = value if isinstance(value, str) else field.widget.format_value(value)
    return data


def change(client, url: str, **changes):
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return client.post(url, {**form_data(page), **changes})


# --- teams ------------------------------------------------------------------------------------


def test_a_teams_quorum_and_limits_changed_in_the_console_are_audited_before_and_after(
    admin_client, admin_user, team
):
    url = f"/admin/billing/team/{team.pk}/change/"
    response = change(
        admin_client, url, high_risk_quorum="3", sandbox_limits='{"wall_seconds": 60, "memory_mb": 512}'
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.high_risk_quorum, team.sandbox_limits) == (3, {"wall_seconds": 60, "memory_mb": 512})
    (event,) = events(Action.TEAM_CHANGED)
    assert (event.actor, event.team, event.target_id) == (admin_user, team, str(team.pk))
    assert event.details["changed"] == ["high_risk_quorum", "sandbox_limits"]
    assert (event.details["before"]["high_risk_quorum"], event.details["after"]["high_risk_quorum"]) == (2, 3)
    assert event.details["before"]["sandbox_limits"] == {}
    assert event.details["after"]["sandbox_limits"] == {"wall_seconds": 60, "memory_mb": 512}


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("sandbox_limits", '{"wall_seconds": 0}', "wall_seconds must be a whole number above 0, not 0."),
        ("sandbox_limits", '{"wall_seconds": -5}', "wall_seconds must be a whole number above 0"),
        ("sandbox_limits", '{"wall_seconds": "60"}', "wall_seconds must be a whole number above 0"),
        ("sandbox_limits", '{"wall_seconds": 600}', "wall_seconds may be at most 120 on this server"),
        ("sandbox_limits", '{"memory_mb": 1000000000}', "memory_mb may be at most 10240 on this server"),
        ("sandbox_limits", '{"wal_seconds": 60}', "“wal_seconds” is not a sandbox limit"),
        ("sandbox_limits", "[60]", "Sandbox limits are a JSON object"),
        ("high_risk_quorum", "0", "greater than or equal to 1"),
        ("high_risk_quorum", "50", "less than or equal to 10"),
    ],
)
def test_bad_team_settings_get_a_clear_form_error_and_change_nothing(
    admin_client, team, field, value, message
):
    response = change(admin_client, f"/admin/billing/team/{team.pk}/change/", **{field: value})
    assert response.status_code == 200  # the form again
    assert message in response.content.decode()
    team.refresh_from_db()
    assert (team.sandbox_limits, team.high_risk_quorum) == ({}, 2)
    assert not events(Action.TEAM_CHANGED).exists()


def test_a_team_created_in_the_console_is_audited(admin_client, admin_user):
    form = {
        "slug": "initech",
        "name": "Initech",
        "sandbox_limits": "{}",
        "high_risk_quorum": "2",
        "budget_downgrade_model": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    assert admin_client.post("/admin/billing/team/add/", form).status_code == 302
    team = Team.objects.get(slug="initech")
    (event,) = events(Action.TEAM_CREATED)
    assert (event.actor, event.team, event.details["before"]) == (admin_user, team, None)
    assert event.details["after"]["name"] == "Initech"


def test_a_teams_slug_is_fixed_once_created(admin_client, team):
    change(admin_client, f"/admin/billing/team/{team.pk}/change/", slug="renamed", name="Acme Corp")
    team.refresh_from_db()
    assert (team.slug, team.name) == ("acme", "Acme Corp")


def test_a_stored_limit_of_zero_is_held_as_the_run_gets_it_not_as_free(analyst, team, prices):
    """A row written before validation (or by hand): the hold follows the limits the sandbox applies."""
    Team.objects.filter(pk=team.pk).update(sandbox_limits={"wall_seconds": 0})
    approved = ApprovalRequestFactory(user=analyst, team=team, status=ApprovalRequest.Status.APPROVED)
    execution_start(request=approved, user=analyst)
    hold = Reservation.objects.get(request=approved)
    assert hold.amount_usd > 0
    # The server's default limits: 120 s of wall time, its kill grace and reaping, at 1024 MB.
    assert hold.amount_usd == sandbox_cost(seconds=run_seconds_ceiling(Limits()), memory_mb=1024)


# --- datasets and sessions ------------------------------------------------------------------------


def test_a_datasets_sample_sharing_changed_in_the_console_is_audited_and_its_name_and_team_are_fixed(
    admin_client, admin_user, team, other_team
):
    dataset = demo_dataset(team, rows=20)
    url = f"/admin/analysis/dataset/{dataset.pk}/change/"
    response = change(
        admin_client, url, allow_sample_sharing="on", name="renamed.csv", team=str(other_team.pk)
    )
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert (dataset.allow_sample_sharing, dataset.name, dataset.team) == (True, "sales.csv", team)
    (event,) = events(Action.DATASET_CHANGED)
    assert (event.actor, event.team, event.details["name"]) == (admin_user, team, "sales.csv")
    assert event.details["before"] == {"allow_sample_sharing": False}
    assert event.details["after"] == {"allow_sample_sharing": True}


def test_datasets_are_not_added_or_deleted_in_the_console(admin_client, team):
    dataset = demo_dataset(team, rows=20)
    assert admin_client.get("/admin/analysis/dataset/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/analysis/dataset/{dataset.pk}/delete/", {"post": "yes"}).status_code == 403
    )


def test_an_archived_session_cannot_be_reopened_in_the_console(admin_client, analyst, team):
    session = SessionFactory(user=analyst, team=team, status=Session.Status.ARCHIVED)
    url = f"/admin/analysis/session/{session.pk}/change/"
    assert change(admin_client, url, status="active").status_code == 403  # readable, not writable
    session.refresh_from_db()
    assert session.status == Session.Status.ARCHIVED


def test_a_run_is_never_resaved_from_the_console(admin_client, analyst, team):
    request = ApprovalRequestFactory(user=analyst, team=team, status=ApprovalRequest.Status.RUNNING)
    execution = Execution.objects.create(request=request, code_sha256=request.code_sha256, status="running")
    url = f"/admin/analysis/execution/{execution.pk}/change/"
    assert admin_client.post(url, {}).status_code == 403
    Execution.objects.filter(pk=execution.pk).update(status="succeeded")  # the worker finishes meanwhile
    assert admin_client.post(url, {}).status_code == 403
    execution.refresh_from_db()
    assert execution.status == "succeeded"


# --- approval requests --------------------------------------------------------------------------


@pytest.fixture
def staff_reviewer(reviewer):
    reviewer.is_staff = True
    reviewer.save()
    reviewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_approvalrequest", "change_approvalrequest"])
    )
    return type(reviewer).objects.get(pk=reviewer.pk)


def test_a_raw_post_to_a_requests_change_form_changes_nothing(client, staff_reviewer, analyst, team):
    pending = ApprovalRequestFactory(user=analyst, team=team)
    before = ApprovalRequest.objects.values().get(pk=pending.pk)
    client.force_login(staff_reviewer)
    url = f"/admin/approvals/approvalrequest/{pending.pk}/change/"
    assert client.get(url).status_code == 200  # the reviewer reads it, with the decision forms
    raw = {"status": "approved", "code": "import os", "approved_code_sha256": "0" * 64, "_save": "Save"}
    assert client.post(url, raw).status_code == 403
    assert ApprovalRequest.objects.values().get(pk=pending.pk) == before  # not even updated_at moved
    assert not AuditEvent.objects.filter(request_id=pending.pk).exists()


def test_not_even_a_superuser_saves_a_requests_generic_form(admin_client, analyst, team):
    pending = ApprovalRequestFactory(user=analyst, team=team)
    before = ApprovalRequest.objects.values().get(pk=pending.pk)
    assert admin_client.post(f"/admin/approvals/approvalrequest/{pending.pk}/change/", {}).status_code == 403
    assert ApprovalRequest.objects.values().get(pk=pending.pk) == before


# --- budgets and prices -----------------------------------------------------------------------------


def test_a_budget_changed_in_the_console_is_audited_before_and_after(
    admin_client, admin_user, team, other_team
):
    budget = Budget.objects.create(team=team, limit_usd=Decimal("10"))
    url = f"/admin/billing/budget/{budget.pk}/change/"
    response = change(admin_client, url, limit_usd="25", team=str(other_team.pk))
    assert response.status_code == 302
    budget.refresh_from_db()
    assert (budget.limit_usd, budget.team) == (Decimal("25"), team)  # whose budget it is stays
    (event,) = events(Action.BUDGET_CHANGED)
    assert (event.actor, event.team, event.details["changed"]) == (admin_user, team, ["limit_usd"])
    assert (event.details["before"]["limit_usd"], event.details["after"]["limit_usd"]) == (
        "10.000000",
        "25.000000",
    )


def test_a_price_changed_in_the_console_is_audited_before_and_after(admin_client, admin_user, prices):
    price = Price.objects.get(name="mistral-small-latest")
    response = change(admin_client, f"/admin/billing/price/{price.pk}/change/", output_usd_per_mtok="0.9")
    assert response.status_code == 302
    (event,) = events(Action.PRICE_CHANGED)
    assert (event.actor, event.details["name"], event.details["changed"]) == (
        admin_user,
        "mistral-small-latest",
        ["output_usd_per_mtok"],
    )
    assert (
        event.details["before"]["output_usd_per_mtok"],
        event.details["after"]["output_usd_per_mtok"],
    ) == (
        "0.600000",
        "0.9",
    )


# --- users and groups -------------------------------------------------------------------------------


def test_a_users_permissions_and_flags_changed_in_the_console_are_audited(admin_client, admin_user, team):
    analyst = member(team, Membership.Role.ANALYST, user__username="ann")
    export = Permission.objects.get(codename="view_auditevent")
    response = change(
        admin_client,
        f"/admin/auth/user/{analyst.pk}/change/",
        is_staff="on",
        user_permissions=[str(export.pk)],
    )
    assert response.status_code == 302
    analyst.refresh_from_db()
    assert analyst.is_staff and analyst.has_perm("audit.view_auditevent")
    (event,) = events(Action.USER_CHANGED)
    assert (event.actor, event.target_id, event.details["user"]) == (admin_user, str(analyst.pk), "ann")
    assert event.details["changed"] == ["is_staff", "permissions"]
    assert (event.details["before"]["permissions"], event.details["after"]["permissions"]) == (
        [],
        ["audit.view_auditevent"],
    )
    assert (event.details["before"]["is_staff"], event.details["after"]["is_staff"]) == (False, True)


def test_a_password_set_in_the_console_is_audited_without_any_secret(admin_client, admin_user, team):
    analyst = member(team, Membership.Role.ANALYST, user__username="ann")
    url = f"/admin/auth/user/{analyst.pk}/password/"
    new = "a-long-new-pass-9317"
    response = admin_client.post(url, {"password1": new, "password2": new, "usable_password": "true"})
    assert response.status_code == 302
    analyst.refresh_from_db()
    assert analyst.check_password(new)
    (event,) = events(Action.USER_PASSWORD_CHANGED)
    assert (event.actor, event.target_id) == (admin_user, str(analyst.pk))
    assert event.details == {
        "user": "ann",
        "before": {"usable_password": True},
        "after": {"usable_password": True},
    }
    assert new not in json.dumps(event.details) and analyst.password not in json.dumps(event.details)


def test_a_user_created_in_the_console_is_audited(admin_client, admin_user):
    form = {"username": "newbie", "password1": "a-long-new-pass-9317", "password2": "a-long-new-pass-9317"}
    assert admin_client.post("/admin/auth/user/add/", {**form, "usable_password": "true"}).status_code == 302
    (event,) = events(Action.USER_CREATED)
    assert (event.actor, event.details["user"], event.details["usable_password"]) == (
        admin_user,
        "newbie",
        True,
    )
    assert event.details["before"] is None and event.details["after"]["username"] == "newbie"


def test_users_are_deactivated_not_deleted_in_the_console(admin_client, team):
    analyst = member(team, Membership.Role.ANALYST)
    assert admin_client.post(f"/admin/auth/user/{analyst.pk}/delete/", {"post": "yes"}).status_code == 403


def test_a_groups_permissions_changed_or_deleted_in_the_console_are_audited(admin_client, admin_user, team):
    group = Group.objects.create(name="reviewers")
    group.user_set.add(member(team, Membership.Role.REVIEWER, user__username="rita"))
    view = Permission.objects.get(codename="view_approvalrequest")
    response = change(admin_client, f"/admin/auth/group/{group.pk}/change/", permissions=[str(view.pk)])
    assert response.status_code == 302
    (changed,) = events(Action.GROUP_CHANGED)
    assert changed.actor == admin_user
    assert changed.details["before"] == {"name": "reviewers", "permissions": []}
    assert changed.details["after"] == {
        "name": "reviewers",
        "permissions": ["approvals.view_approvalrequest"],
    }
    assert admin_client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"}).status_code == 302
    (deleted,) = events(Action.GROUP_DELETED)
    assert deleted.details["members"] == ["rita"]
    assert deleted.details["before"]["permissions"] == ["approvals.view_approvalrequest"]
    assert not Group.objects.filter(pk=group.pk).exists()


def test_a_console_save_that_changes_nothing_writes_no_event(admin_client, team):
    assert change(admin_client, f"/admin/billing/team/{team.pk}/change/").status_code == 302
    assert not events(Action.TEAM_CHANGED).exists()
