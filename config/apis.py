"""The owner's API tokens: create (from a logged-in session), list (never the key), revoke one, revoke all."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from config import tokens
from config.exceptions import Forbidden


class TokenSerializer(serializers.Serializer):
    tokenId = serializers.SerializerMethodField()
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(allow_null=True)
    current = serializers.SerializerMethodField(help_text="Whether this request authenticated with it.")

    def get_tokenId(self, token) -> str:
        return tokens.token_id(token)

    def get_current(self, token) -> bool:
        return token.digest == getattr(self.context.get("auth"), "digest", None)


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="The key, shown only this once: `Authorization: Token <token>`.")


class TokenListApi(APIView):
    @extend_schema(
        operation_id="tokens_list",
        tags=["tokens"],
        responses={200: inline_serializer("TokenList", {"results": TokenSerializer(many=True)})},
    )
    def get(self, request):
        listed = TokenSerializer(
            tokens.token_list(user=request.user), many=True, context={"auth": request.auth}
        )
        return Response({"results": listed.data})

    @extend_schema(
        operation_id="tokens_create", tags=["tokens"], request=None, responses={201: NewTokenSerializer}
    )
    def post(self, request):
        # A token may not make tokens: a stolen one could otherwise outlive its own expiry forever.
        if not isinstance(request.successful_authenticator, SessionAuthentication):
            raise Forbidden(
                "Create API tokens from a logged-in session (the web app or /admin/), not with a token.",
                code="session_required",
            )
        token, key = tokens.token_create(user=request.user)
        body = {**TokenSerializer(token).data, "token": key}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="tokens_revoke_all",
        tags=["tokens"],
        request=None,
        responses={200: inline_serializer("TokensRevoked", {"revoked": serializers.IntegerField()})},
    )
    def delete(self, request):
        return Response({"revoked": tokens.token_revoke_all(user=request.user)})


class TokenDetailApi(APIView):
    @extend_schema(operation_id="tokens_revoke", tags=["tokens"], request=None, responses={204: None})
    def delete(self, request, token_id):
        tokens.token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
