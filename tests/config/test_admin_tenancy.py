"""One tenancy rule for the whole console, checked for every registered admin.

Two teams each get a row of every registered model. A reviewer and an auditor of the second team, staff
with *every* Django permission, must not find any row of the first team: not in a list, a change, history or
delete page, a search, a filter's choices, an autocomplete answer or a form's choices; and they change
nothing. A model registered later without a row here, or without `TenantAdmin`, fails these tests.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.forms import ModelChoiceField
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from analysis.models import Execution
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from audit.services import audit_log
from billing.models import Budget, CostSpan, Membership, Reservation, Team
from config.admin import GLOBAL, TenantAdmin, TenantInline
from config.tokens import token_create
from tests.factories import ApprovalRequestFactory, TeamFactory, demo_dataset, member

REGISTRY = admin.site._registry
SCOPED = [model for model, model_admin in REGISTRY.items() if getattr(model_admin, "team_path", "") != GLOBAL]
OUTSIDER_ROLES = [Membership.Role.REVIEWER, Membership.Role.AUDITOR]


def label(model) -> str:
    return model._meta.label


def team_rows(team: Team) -> dict[type, list]:
    """One row (or two) of every team-owned model registered in the console, all belonging to `team`."""
    analyst = member(team, Membership.Role.ANALYST, user__username=f"{team.slug}-analyst")
    request = ApprovalRequestFactory(
        user=analyst, team=team, query=f"{team.slug}-secret question", status=ApprovalRequest.Status.QUEUED
    )
    execution = Execution.objects.create(request=request, code_sha256=request.code_sha256, stdout="42")
    pending = ApprovalRequestFactory(user=analyst, team=team, query=f"{team.slug}-secret pending question")
    dataset = demo_dataset(team, rows=20)
    span = CostSpan.objects.create(provider="offline", tenant=team, user=analyst, feature="generation")
    budget = Budget.objects.create(team=team, limit_usd=Decimal("10"))
    reservation = Reservation.objects.create(
        team=team,
        user=analyst,
        feature="execution",
        amount_usd=Decimal("1"),
        lease_expires_at=timezone.now() + timedelta(hours=1),
    )
    event = audit_log(action=AuditEvent.Action.SESSION_CREATED, actor=analyst, team=team)
    login = audit_log(action=AuditEvent.Action.LOGIN_SUCCEEDED, actor=analyst, target=analyst)  # team-less
    token, _ = token_create(user=analyst)
    rows = {
        Team: [team],
        type(analyst): [analyst],
        "knox.AuthToken": [token],
        "analysis.Session": [request.session],
        ApprovalRequest: [request, pending],
        Execution: [execution],
        "analysis.Dataset": [dataset],
        CostSpan: [span],
        Budget: [budget],
        Reservation: [reservation],
        AuditEvent: [event, login],
    }
    return {(admin_model(key)): value for key, value in rows.items()}


def admin_model(key):
    if isinstance(key, str):
        from django.apps import apps

        return apps.get_model(key)
    return key


@pytest.fixture
def first_rows(team):
    return team_rows(team)


@pytest.fixture
def own_rows(other_team):
    return team_rows(other_team)


@pytest.fixture(params=OUTSIDER_ROLES)
def outsider(request, other_team):
    """Staff of the other team holding every permission Django has: only the tenancy rule stands between."""
    user = member(other_team, request.param, user__username=f"outsider-{request.param}")
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())
    user.role = request.param
    return user


def console(user):
    from django.test import Client

    client = Client()
    client.force_login(type(user).objects.get(pk=user.pk))  # the factory's password is not saved
    return client


def url(model, name: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)


def admin_id(row) -> str:
    """The id in a row's admin URL (a knox token's is its digest: not a secret)."""
    return quote(row.pk)


def rows_of(model, rows: dict) -> list:
    assert model in rows, f"no row of {label(model)} in team_rows(): add one so its tenancy is tested"
    return rows[model]


@pytest.mark.parametrize("model", REGISTRY, ids=label)
def test_every_registered_admin_follows_the_one_tenancy_rule(model):
    model_admin = REGISTRY[model]
    assert isinstance(model_admin, TenantAdmin), (
        f"{label(model)}'s admin must derive from config.admin.TenantAdmin"
    )
    for inline in model_admin.inlines:
        assert issubclass(inline, TenantInline), f"{inline.__qualname__} must derive from TenantInline"


@pytest.mark.parametrize("model", SCOPED, ids=label)
def test_staff_of_another_team_never_see_a_row_of_the_first_team(model, first_rows, own_rows, outsider):
    model_admin, client = REGISTRY[model], console(outsider)
    theirs, own = rows_of(model, first_rows), rows_of(model, own_rows)
    listing = client.get(url(model, "changelist"))
    if outsider.role in model_admin.view_roles:
        assert listing.status_code == 200
        listed = set(listing.context["cl"].queryset.values_list("pk", flat=True))
        assert not listed & {row.pk for row in theirs}
        assert {
            row.pk for row in own
        } <= listed  # their own team's rows are there: the list is not just empty
        for row in theirs:
            assert url(model, "change", admin_id(row)) not in listing.content.decode()
    else:
        assert listing.status_code == 403
    for row in theirs:
        for page in ("change", "history", "delete"):
            response = client.get(url(model, page, admin_id(row)))
            assert response.status_code in (403, 404), f"{page} page of another team's {label(model)}"
        assert client.post(url(model, "change", admin_id(row)), {}).status_code in (403, 404)
        assert client.post(url(model, "delete", admin_id(row)), {"post": "yes"}).status_code in (403, 404)
        assert model._default_manager.filter(pk=row.pk).exists()


@pytest.mark.parametrize("model", SCOPED, ids=label)
def test_no_action_reaches_another_teams_rows(model, first_rows, own_rows, outsider):
    """Every action the outsider is offered, posted with the first team's rows selected, changes nothing."""
    theirs = rows_of(model, first_rows)
    selected = [str(row.pk) for row in theirs]
    before = list(model._default_manager.filter(pk__in=selected).values())
    actions = REGISTRY[model].get_actions(_request(outsider))
    if model is ApprovalRequest and outsider.role == Membership.Role.REVIEWER:
        assert {"approve_selected", "reject_selected"} <= actions.keys()  # so this test is not vacuous
    for name in actions:
        form = {"action": name, "_selected_action": selected, "reason": "no", "post": "yes", "index": "0"}
        console(outsider).post(url(model, "changelist"), form)
    assert list(model._default_manager.filter(pk__in=selected).values()) == before


@pytest.mark.parametrize("model", REGISTRY, ids=label)
def test_no_form_of_the_console_offers_another_teams_rows_as_choices(model, first_rows, own_rows, outsider):
    """The foreign-key and many-to-many choices of every admin's form and inline forms."""
    model_admin = REGISTRY[model]
    request = RequestFactory().get("/admin/")
    request.user = outsider
    forms = [model_admin.get_form(request, None, change=False)]
    forms += [inline(model, admin.site).get_formset(request).form for inline in model_admin.inlines]
    theirs = {(type(row), row.pk) for rows in first_rows.values() for row in rows}
    for form in forms:
        for name, field in form.base_fields.items():
            if isinstance(field, ModelChoiceField):
                offered = {(field.queryset.model, pk) for pk in field.queryset.values_list("pk", flat=True)}
                assert not offered & theirs, f"{label(model)}.{name} offers another team's rows"


@pytest.mark.parametrize("model", REGISTRY, ids=label)
def test_no_list_filter_offers_another_team(model, first_rows, own_rows, outsider):
    page = console(outsider).get(url(model, "changelist"))
    if not REGISTRY[model].has_view_permission(_request(outsider)):
        assert page.status_code == 403  # no list, so no filter
        return
    changelist = page.context["cl"]
    theirs = {str(row.pk) for rows in first_rows.values() for row in rows}
    for spec in changelist.filter_specs:
        if not isinstance(spec, admin.RelatedFieldListFilter):
            continue  # choices and values of the model's own column: the list's rows, already scoped
        offered = {str(value) for value, _ in spec.lookup_choices}
        assert not offered & theirs, f"{label(model)}'s filter {spec.title} offers another team's rows"


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_the_team_filter_lists_only_the_users_teams(team, other_team, outsider):
    """`list_filter = ("team",)` offers the outsider's own teams only (two, so Django shows the filter)."""
    third = TeamFactory(slug="initech")
    Membership.objects.create(team=third, user=outsider, role=outsider.role)
    team_rows(team)
    team_rows(other_team)
    page = console(outsider).get(url(admin_model("analysis.Session"), "changelist"))
    (team_filter,) = [spec for spec in page.context["cl"].filter_specs if spec.field_path == "team"]
    assert sorted(name for _, name in team_filter.lookup_choices) == ["globex", "initech"]
    html = page.content.decode()
    assert f"team__id__exact={other_team.pk}" in html and f"team__id__exact={third.pk}" in html
    assert f"team__id__exact={team.pk}" not in html


@pytest.mark.parametrize(
    "model, term",
    [(ApprovalRequest, "secret"), ("auth.User", "analyst"), (Team, "e")],
)
def test_search_finds_only_the_users_teams_rows(team, other_team, model, term):
    reviewer = _staff(other_team, Membership.Role.REVIEWER)
    first, own = team_rows(team), team_rows(other_team)
    model = admin_model(model)
    found = console(reviewer).get(url(model, "changelist"), {"q": term}).context["cl"].queryset
    assert set(found) == set(own[model])
    assert not set(found) & set(first[model])


@pytest.mark.parametrize(
    "source, field, term",
    [
        ("billing.Budget", "user", "analyst"),
        ("billing.Membership", "user", "a"),
        ("billing.Budget", "team", ""),
    ],
)
def test_autocomplete_answers_only_the_users_teams_rows(team, other_team, source, field, term):
    reviewer = _staff(other_team, Membership.Role.REVIEWER)
    first, own = team_rows(team), team_rows(other_team)
    app_label, model_name = source.lower().split(".")
    query = {"app_label": app_label, "model_name": model_name, "field_name": field, "term": term}
    response = console(reviewer).get("/admin/autocomplete/", query)
    assert response.status_code == 200
    remote = admin_model(source)._meta.get_field(field).related_model
    ids = {item["id"] for item in response.json()["results"]}
    assert ids & {str(row.pk) for row in own[remote]}, "the reviewer finds their own team's rows"
    assert not ids & {str(row.pk) for row in first[remote]}


def test_a_raw_id_lookup_lists_only_the_users_teams_members(team, other_team):
    reviewer = _staff(other_team, Membership.Role.REVIEWER)
    first, own = team_rows(team), team_rows(other_team)
    users = admin_model("auth.User")
    page = console(reviewer).get(url(users, "changelist"), {"_to_field": "id", "_popup": "1"})
    listed = set(page.context["cl"].queryset)
    assert set(own[users]) <= listed and not listed & set(first[users])


def test_the_first_teams_auditor_sees_its_events_and_its_members_logins(team, other_team):
    auditor = _staff(team, Membership.Role.AUDITOR)
    first, own = team_rows(team), team_rows(other_team)
    listed = set(console(auditor).get(url(AuditEvent, "changelist")).context["cl"].queryset)
    assert set(first[AuditEvent]) <= listed  # the team's event and its analyst's team-less login
    assert not listed & set(own[AuditEvent])


def test_a_superuser_sees_every_teams_rows(team, other_team, admin_user):
    first, own = team_rows(team), team_rows(other_team)
    client = console(admin_user)
    for model in SCOPED:
        listed = set(client.get(url(model, "changelist")).context["cl"].queryset.values_list("pk", flat=True))
        assert {row.pk for row in first[model] + own[model]} <= listed, label(model)
        for row in first[model]:  # the URLs the outsiders were refused are the right ones
            assert client.get(url(model, "change", admin_id(row))).status_code == 200, label(model)


@pytest.mark.parametrize("model", [m for m in REGISTRY if m not in SCOPED], ids=label)
def test_global_settings_are_read_by_staff_and_changed_only_by_superusers(model, outsider):
    """Prices, policy rules and groups hold no team's data; changing them is for superusers."""
    model_admin = REGISTRY[model]
    assert model_admin.has_view_permission(_request(outsider))
    assert console(outsider).get(url(model, "changelist")).status_code == 200
    assert not model_admin.has_change_permission(_request(outsider))
    assert not model_admin.has_add_permission(_request(outsider))
    assert not model_admin.has_delete_permission(_request(outsider))
    assert console(outsider).post(url(model, "add"), {}).status_code == 403


def test_the_tenancy_test_fails_an_admin_registered_without_the_rule(team, other_team):
    """The check above has teeth: a plain ModelAdmin lists another team's rows to the outsider."""
    site = admin.AdminSite(name="plain")
    site.register(Budget, admin.ModelAdmin)
    reviewer = _staff(other_team, Membership.Role.REVIEWER)
    theirs = Budget.objects.create(team=team, limit_usd=Decimal("1"))
    assert not isinstance(site._registry[Budget], TenantAdmin)
    assert theirs in site._registry[Budget].get_queryset(_request(reviewer))


def _staff(team: Team, role: str):
    user = member(team, role, user__username=f"staff-{team.slug}-{role}")
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())
    return user


def test_a_new_team_appears_to_nobody_but_superusers(outsider):
    lonely = TeamFactory(slug="lonely")
    assert lonely not in REGISTRY[Team].get_queryset(_request(outsider))
