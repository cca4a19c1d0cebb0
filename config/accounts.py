"""Services for Django's users and groups as the console changes them, each change audited before and after.

Users and groups belong to Django's auth app; these are the writes the console makes to them (config/admin.py
calls them, superusers only). Never a password or its hash in an event: only whether one is usable.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import QuerySet

from audit.models import AuditEvent
from audit.services import audit_log, audit_log_change

Action = AuditEvent.Action
USER_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")


@transaction.atomic
def user_save(
    *,
    user,
    actor,
    groups: QuerySet[Group] | None = None,
    permissions: QuerySet[Permission] | None = None,
):
    """Create or change a user with their groups and permissions (None: leave them as they are)."""
    created = user._state.adding
    before = None if created else _user_state(get_user_model().objects.select_for_update().get(pk=user.pk))
    user.save()
    if groups is not None:
        user.groups.set(groups)
    if permissions is not None:
        user.user_permissions.set(permissions)
    details = {"user": user.get_username()}
    if created:
        details["usable_password"] = user.has_usable_password()
    audit_log_change(
        action=Action.USER_CREATED if created else Action.USER_CHANGED,
        actor=actor,
        target=user,
        before=before,
        after=_user_state(user),
        details=details,
    )
    return user


@transaction.atomic
def user_password_set(*, user, actor, password: str | None):
    """An administrator sets a user's password, or disables password logins for them (None)."""
    locked = get_user_model().objects.select_for_update().get(pk=user.pk)
    before = {"usable_password": locked.has_usable_password()}
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save(update_fields=["password"])
    audit_log(
        action=Action.USER_PASSWORD_CHANGED,
        actor=actor,
        target=user,
        details={
            "user": user.get_username(),
            "before": before,
            "after": {"usable_password": user.has_usable_password()},
        },
    )
    return user


def _user_state(user) -> dict:
    return {
        **{name: getattr(user, name) for name in USER_FIELDS},
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": _permission_names(user.user_permissions.all()),
    }


@transaction.atomic
def group_save(*, group: Group, actor, permissions: QuerySet[Permission] | None = None) -> Group:
    """Create or change a group and its permissions (None: leave them as they are)."""
    created = group._state.adding
    before = None if created else _group_state(Group.objects.select_for_update().get(pk=group.pk))
    group.save()
    if permissions is not None:
        group.permissions.set(permissions)
    audit_log_change(
        action=Action.GROUP_CREATED if created else Action.GROUP_CHANGED,
        actor=actor,
        target=group,
        before=before,
        after=_group_state(group),
    )
    return group


@transaction.atomic
def group_delete(*, group: Group, actor) -> None:
    """Delete a group: its members lose its permissions; the event keeps what it granted and to whom."""
    group = Group.objects.select_for_update().get(pk=group.pk)
    members = sorted(group.user_set.values_list("username", flat=True))
    audit_log(
        action=Action.GROUP_DELETED,
        actor=actor,
        target=group,
        details={"before": _group_state(group), "members": members},
    )
    group.delete()


def _group_state(group: Group) -> dict:
    return {"name": group.name, "permissions": _permission_names(group.permissions.all())}


def _permission_names(permissions: QuerySet[Permission]) -> list[str]:
    return sorted(
        f"{app}.{codename}"
        for app, codename in permissions.values_list("content_type__app_label", "codename")
    )
