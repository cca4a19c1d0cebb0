"""The API's token authentication (DEFAULT_AUTHENTICATION_CLASSES); the tokens themselves: config/tokens.py.

Imported by DRF while its settings load, so it imports nothing of ours.
"""

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.signals import token_expired
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's authentication, one query per request like DRF's: knox also sweeps all of the user's other
    expired tokens on every request (a second query); here only the presented token's expiry is checked
    (an expired one is deleted and refused), and `config.tokens.token_create` sweeps the rest.
    A header that is not UTF-8 is a bad token (401), not a server error."""

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


class TokenScheme(KnoxTokenScheme):
    """The schema's security scheme for it: `Authorization: Token <key>` (drf-spectacular's knox scheme)."""

    target_class = TokenAuthentication
    name = "tokenAuth"
