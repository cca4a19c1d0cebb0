"""Audit events for what happens outside the services: logins, logouts, API tokens, memberships.

Actor: the user of the HTTP request being served when there is one (admin, API), else "system"
(a management command, a migration, the shell).
"""

from __future__ import annotations

from django.contrib.auth import signals as auth_signals
from django.contrib.auth.models import AnonymousUser
from django.db.models import signals as model_signals
from django.dispatch import receiver
from django.utils import timezone
from knox.models import AuthToken

from billing.models import Membership

from .middleware import current_http_request
from .models import AuditEvent
from .services import audit_log

Action = AuditEvent.Action


def _request_user():
    http_request = current_http_request.get()
    user = getattr(http_request, "user", None)
    return user if user is not None and user.is_authenticated else None


@receiver(auth_signals.user_logged_in, dispatch_uid="audit_login")
def audit_login(sender, request, user, **kwargs):
    audit_log(action=Action.LOGIN_SUCCEEDED, actor=user, target=user, http_request=request)


@receiver(auth_signals.user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; keep only the name that was tried.
    audit_log(
        action=Action.LOGIN_FAILED,
        actor=AnonymousUser(),
        details={"username": str(credentials.get("username", ""))[:150]},
        http_request=request,
    )


@receiver(auth_signals.user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is not None:  # logging out an anonymous session changes nothing
        audit_log(action=Action.LOGGED_OUT, actor=user, target=user, http_request=request)


@receiver(model_signals.post_save, sender=AuthToken, dispatch_uid="audit_token_created")
def audit_token_created(sender, instance: AuthToken, created: bool, **kwargs):
    if created:
        # The target is the token's user; the details name the token by its id, never by its key.
        audit_log(
            action=Action.TOKEN_CREATED,
            actor=_request_user(),
            target=instance.user,
            details=_token_details(instance),
        )


@receiver(model_signals.post_delete, sender=AuthToken, dispatch_uid="audit_token_revoked")
def audit_token_revoked(sender, instance: AuthToken, **kwargs):
    # Deleted by its owner (the API), an administrator (the console), or knox once it expired.
    expired = instance.expiry is not None and instance.expiry <= timezone.now()
    audit_log(
        action=Action.TOKEN_REVOKED,
        actor=_request_user(),
        target=instance.user,
        details={**_token_details(instance), "expired": expired},
    )


def _token_details(token: AuthToken) -> dict:
    from config.tokens import token_id

    expiry = token.expiry.isoformat() if token.expiry else None
    return {"user": token.user.get_username(), "token_id": token_id(token), "expiry": expiry}


@receiver(model_signals.pre_save, sender=Membership, dispatch_uid="audit_membership_before")
def remember_membership_role(sender, instance: Membership, **kwargs):
    existing = Membership.objects.filter(pk=instance.pk) if instance.pk else Membership.objects.none()
    instance._audit_previous_role = existing.values_list("role", flat=True).first()


@receiver(model_signals.post_save, sender=Membership, dispatch_uid="audit_membership_saved")
def audit_membership_saved(sender, instance: Membership, created: bool, **kwargs):
    previous = getattr(instance, "_audit_previous_role", None)
    if not created and previous == instance.role:
        return  # saved without a change
    details = _membership_details(instance)
    if not created:
        details["previous_role"] = previous
    action = Action.MEMBERSHIP_CREATED if created else Action.MEMBERSHIP_UPDATED
    audit_log(action=action, actor=_request_user(), team=instance.team, target=instance, details=details)


@receiver(model_signals.post_delete, sender=Membership, dispatch_uid="audit_membership_deleted")
def audit_membership_deleted(sender, instance: Membership, **kwargs):
    audit_log(
        action=Action.MEMBERSHIP_DELETED,
        actor=_request_user(),
        team=instance.team,
        target=instance,
        details=_membership_details(instance),
    )


def _membership_details(membership: Membership) -> dict:
    return {"user": membership.user.get_username(), "user_id": membership.user_id, "role": membership.role}
