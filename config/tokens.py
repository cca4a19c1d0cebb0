"""API tokens (django-rest-knox): `Authorization: Token <key>`, stored as a SHA-512 digest, expiring.

The key is shown once, when it is made; the database keeps its digest (the primary key) and knox's lookup
prefix (`token_key`, the key's first 15 of 64 hex characters, which cannot authenticate alone). A token
lives `SANDGATE_API_TOKEN_TTL_HOURS`; an expired token is deleted when it is presented (and refused), and the
user's other expired ones when they make a new token.
Tokens are named by `token_id`, the digest's first 16 hex characters: enough to tell one's own apart,
nothing to log in with. Creating and deleting a token is audited (audit/signals.py).
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from knox.models import AuthToken

from config.exceptions import Conflict, NotFound

TOKEN_ID_LENGTH = 16
TOKEN_ID = re.compile(rf"^[0-9a-f]{{{TOKEN_ID_LENGTH}}}$")


def token_id(token: AuthToken) -> str:
    return token.digest[:TOKEN_ID_LENGTH]


def token_ttl() -> timedelta:
    return timedelta(hours=settings.SANDGATE_API_TOKEN_TTL_HOURS)


# --- selectors ----------------------------------------------------------------------------------
def token_list(*, user) -> QuerySet[AuthToken]:
    """The user's tokens that still work, newest first."""
    live = Q(expiry__isnull=True) | Q(expiry__gt=timezone.now())
    return AuthToken.objects.filter(live, user=user).order_by("-created")


# --- services -----------------------------------------------------------------------------------
@transaction.atomic
def token_create(*, user) -> tuple[AuthToken, str]:
    """A new token for `user`; returns it and its key, which is never stored and never shown again."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # one count at a time per user
    for expired in AuthToken.objects.filter(user=user, expiry__lte=timezone.now()):
        expired.delete()  # one by one: each is audited (token.revoked, expired)
    limit = settings.SANDGATE_API_TOKENS_PER_USER
    if token_list(user=user).count() >= limit:
        raise Conflict(
            f"You already have {limit} API tokens: revoke one (DELETE /api/tokens/<tokenId>) first.",
            code="too_many_tokens",
        )
    return AuthToken.objects.create(user=user, expiry=token_ttl())


@transaction.atomic
def token_revoke(*, user, token_id: str) -> None:
    """Delete one of the user's own tokens; anyone else's, or an unknown id, is 404."""
    if not TOKEN_ID.match(token_id):
        raise NotFound("No such token.")
    tokens = list(AuthToken.objects.filter(user=user, digest__startswith=token_id))
    if len(tokens) != 1:
        raise NotFound("No such token.")
    tokens[0].delete()


@transaction.atomic
def token_revoke_all(*, user) -> int:
    """Delete every token of the user (each deletion is audited); returns how many there were."""
    tokens = list(AuthToken.objects.filter(user=user))
    for token in tokens:
        token.delete()
    return len(tokens)
