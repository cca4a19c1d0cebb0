"""The API's token authentication (DEFAULT_AUTHENTICATION_CLASSES); the tokens themselves: config/tokens.py.

Imported by DRF while its settings load, so it imports nothing of ours.
"""

from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's authentication; a header that is not UTF-8 is a bad token (401), not a server error."""

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)


class TokenScheme(KnoxTokenScheme):
    """The schema's security scheme for it: `Authorization: Token <key>` (drf-spectacular's knox scheme)."""

    target_class = TokenAuthentication
    name = "tokenAuth"
