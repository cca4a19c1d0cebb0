"""The console's one tenancy rule (`TenantAdmin`, `TenantInline`), read-only records, the auth admins.

Every ModelAdmin of every app derives from `TenantAdmin`; `tests/config/test_admin_tenancy.py` walks
`admin.site._registry` and fails for any admin that does not, or that lets another team's staff see a row.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path, lookup_spawns_duplicates
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db.models import Model, Q, QuerySet
from django.http import Http404
from knox.models import AuthToken

from audit.middleware import current_http_request
from billing.models import Membership, Team
from billing.selectors import team_list_for_user

from . import accounts

# `team_path` of a model that holds no team's data: staff with Django's view permission read it, and only
# superusers add, change or delete it (prices, policy rules, groups).
GLOBAL = "global"
# `view_roles`: who, in a team, sees its rows in the console. Analysts use the web app and the API.
OVERSIGHT = (Membership.Role.REVIEWER, Membership.Role.AUDITOR)
AUDITORS = (Membership.Role.AUDITOR,)
SUPERUSERS_ONLY = ()


class TenantAdmin(admin.ModelAdmin):
    """The console's tenancy rule, one for every admin.

    * Superusers see and change everything (each change through an audited service).
    * Staff see only the rows of the teams where they hold one of `view_roles`, and only what Django's view
      permission also allows: in lists, change, history and delete pages (another team's row is a 404),
      actions, search results, filter choices, autocomplete and raw-id lookups, and the choices of
      foreign-key and many-to-many fields. A relation to a model the console does not scope offers nothing.
    * Staff never add, change or delete in the console, whatever Django permissions they hold: changes are
      for superusers. Reviewers decide on requests through the review pages (approvals' services).
    * `team_path = GLOBAL`: the model holds no team's data; staff with the view permission read it.

    Each admin declares `team_path`, the lookup from its model to its team ("team", "request__team",
    "tenant"; "pk" on Team itself), and `view_roles`. An admin whose rows reach a team in more than one way
    (audit events) overrides `team_q`.
    """

    team_path: str = ""
    view_roles: tuple[str, ...] | None = None

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        _check_tenancy(self)

    # --- which rows -----------------------------------------------------------------------------

    def visible_teams(self, request) -> list:
        """Ids of the teams whose rows this admin shows the (non-superuser) user; cached per request."""
        cache = request.__dict__.setdefault("_tenant_teams", {})
        roles = tuple(sorted(self.view_roles or ()))
        if roles not in cache:
            teams = team_list_for_user(user=request.user, roles=roles) if roles else Team.objects.none()
            cache[roles] = list(teams.values_list("pk", flat=True))
        return cache[roles]

    def team_q(self, teams: list) -> Q:
        """The rows of these teams."""
        return Q(**{f"{self.team_path}__in": teams})

    def get_queryset(self, request) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser or self.team_path == GLOBAL:
            return qs
        condition = self.team_q(self.visible_teams(request))
        if lookup_spawns_duplicates(self.opts, self.team_path):  # e.g. a user in several teams
            return qs.filter(pk__in=self.model._default_manager.filter(condition).values("pk"))
        return qs.filter(condition)

    def related_queryset(self, request, model: type[Model]) -> QuerySet:
        """What a non-superuser may pick, or filter by, in a relation to `model`: the rows they may see."""
        if model is Team:
            return Team.objects.filter(pk__in=self.visible_teams(request))
        related_admin = self.admin_site._registry.get(model)
        if isinstance(related_admin, TenantAdmin):
            return related_admin.get_queryset(request)
        return model._default_manager.none()

    def get_field_queryset(self, db, db_field, request):
        if request.user.is_superuser:
            return super().get_field_queryset(db, db_field, request)
        return self.related_queryset(request, db_field.remote_field.model).using(db)

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return [_scoped_filter(self.model, item) for item in filters]

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects to the index with "… doesn't exist"; another team's id is a plain 404 instead.
        raise Http404(f"{opts.verbose_name.capitalize()} not found.")

    # --- what they may do -----------------------------------------------------------------------

    def has_view_permission(self, request, obj=None) -> bool:
        if not super().has_view_permission(request, obj):
            return False
        if request.user.is_superuser or self.team_path == GLOBAL:
            return True
        if obj is not None:
            return self.get_queryset(request).filter(pk=obj.pk).exists()
        return bool(self.visible_teams(request))

    def has_add_permission(self, request, *args) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class TenantInline:
    """For inlines: choices scoped as their parent admin scopes them; staff only read them."""

    def get_field_queryset(self, db, db_field, request):
        if request.user.is_superuser:
            return super().get_field_queryset(db, db_field, request)
        parent = self.admin_site._registry[self.parent_model]
        return parent.related_queryset(request, db_field.remote_field.model).using(db)

    def has_add_permission(self, request, obj) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A relation's filter offering only what the user may see (the admin's `related_queryset`)."""

    def field_choices(self, field, request, model_admin):
        qs = model_admin.related_queryset(request, field.remote_field.model)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            qs = qs.order_by(*ordering)
        attname = field.target_field.attname
        return [(getattr(obj, attname), str(obj)) for obj in qs]


def _scoped_filter(model: type[Model], item):
    """A list_filter entry on a relation becomes a ScopedRelatedFilter; other entries stay."""
    if isinstance(item, str):
        if get_fields_from_path(model, item)[-1].is_relation:
            return (item, ScopedRelatedFilter)
    elif isinstance(item, (tuple, list)) and issubclass(item[1], admin.RelatedFieldListFilter):
        return (item[0], ScopedRelatedFilter)
    return item


def _check_tenancy(model_admin: TenantAdmin) -> None:
    """An admin must say how its model reaches a team and who sees it; its inlines must be scoped too."""
    name = type(model_admin).__qualname__
    path = model_admin.team_path
    if not path:
        raise ImproperlyConfigured(f"{name} must declare team_path (a lookup to its Team, or GLOBAL).")
    if path != GLOBAL:
        if model_admin.view_roles is None:
            raise ImproperlyConfigured(f"{name} must declare view_roles (OVERSIGHT, AUDITORS, …).")
        if path == "pk" and model_admin.model is not Team:
            raise ImproperlyConfigured(f"{name}: team_path 'pk' is only for Team itself.")
        if path != "pk":
            try:
                target = get_fields_from_path(model_admin.model, path)[-1].related_model
            except FieldDoesNotExist as error:
                raise ImproperlyConfigured(f"{name}: team_path {path!r}: {error}") from error
            if target is not Team:
                raise ImproperlyConfigured(f"{name}: team_path {path!r} does not end at a Team.")
    for inline in model_admin.inlines:
        if not issubclass(inline, TenantInline):
            raise ImproperlyConfigured(f"{name}: inline {inline.__qualname__} must derive from TenantInline.")


class ReadOnlyAdminMixin:
    """For records the app writes and nobody edits by hand: cost spans, reservations, audit events, runs."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- Django's and knox's own admins, under the same rule ------------------------------------------

User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.unregister(AuthToken)  # knox's lists the digest and lets an administrator make anyone a token


class AuditedPasswordChangeForm(AdminPasswordChangeForm):
    """The admin's "set password" form, saved through the audited service."""

    def save(self, commit=True):
        usable = self.cleaned_data.get("set_usable_password", True)
        http_request = current_http_request.get()  # Django's view builds the form without its request
        return accounts.user_password_set(
            user=self.user,
            actor=getattr(http_request, "user", None),
            password=self.cleaned_data["password1"] if usable else None,
        )


@admin.register(User)
class UserAdmin(TenantAdmin, DjangoUserAdmin):
    """Staff see the members of their teams; superusers change users, each change audited."""

    team_path = "memberships__team"
    view_roles = OVERSIGHT
    change_password_form = AuditedPasswordChangeForm

    def save_model(self, request, obj, form, change):
        accounts.user_save(
            user=obj,
            actor=request.user,
            groups=form.cleaned_data.get("groups"),
            permissions=form.cleaned_data.get("user_permissions"),
        )

    def save_related(self, request, form, formsets, change):
        # The groups and permissions were saved, and audited, by the service with the user.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # their requests and trail name them: deactivate (is_active) instead


@admin.register(Group)
class GroupAdmin(TenantAdmin, DjangoGroupAdmin):
    """Groups hold permissions, not a team's data; superusers change them, each change audited."""

    team_path = GLOBAL

    def save_model(self, request, obj, form, change):
        accounts.group_save(group=obj, actor=request.user, permissions=form.cleaned_data.get("permissions"))

    def save_related(self, request, form, formsets, change):
        for formset in formsets:  # the permissions were saved, and audited, by the service
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        accounts.group_delete(group=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for group in queryset:
            accounts.group_delete(group=group, actor=request.user)


@admin.register(AuthToken)
class ApiTokenAdmin(TenantAdmin):
    """API tokens (django-rest-knox): superusers only. Whose, when made, when they expire; never the key
    (it is not stored) nor knox's lookup prefix. No add: a token is made by its owner, from their session
    (POST /api/tokens). Deleting one revokes it (audited `token.revoked`)."""

    team_path = "user__memberships__team"
    view_roles = SUPERUSERS_ONLY
    list_display = ("token_id", "user", "created", "expiry")
    list_filter = ("expiry",)
    search_fields = ("user__username",)
    fields = ("token_id", "user", "created", "expiry")
    readonly_fields = fields
    list_select_related = ("user",)
    ordering = ("-created",)

    @admin.display(description="token id")
    def token_id(self, token) -> str:
        from config.tokens import token_id

        return token_id(token)

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_queryset(self, request, queryset):
        for token in queryset:  # one by one, so each revocation sends its signal and is audited
            token.delete()
