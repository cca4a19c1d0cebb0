from django.utils.decorators import method_decorator
from django.views.decorators.http import etag
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import Pagination

from . import selectors, services
from .serializers import (
    ApprovalRequestDetailSerializer,
    ApprovalRequestSerializer,
    ApproveInput,
    RequestListInput,
)


def _detail(*, user, request_id) -> dict:
    """One request as `GET /api/requests/{id}` shows it, with its card; another team's is a 404."""
    return ApprovalRequestDetailSerializer(
        selectors.approval_request_get(user=user, request_id=request_id)
    ).data


class RequestListApi(APIView):
    pagination_class = Pagination  # declares the paginated answer in the schema

    @extend_schema(
        operation_id="requests_list",
        tags=["requests"],
        parameters=[RequestListInput],
        responses=ApprovalRequestSerializer(many=True),
        description="Analysts see their own requests, reviewers and auditors their teams', newest first.",
    )
    def get(self, request):
        params = RequestListInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = selectors.approval_request_list(user=request.user, status=params.validated_data.get("status"))
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ApprovalRequestSerializer(page, many=True).data)


def _detail_version(request, request_id) -> str:
    """The detail's ETag, read before the answer is built: a change in between only makes it older than
    the body, and the next poll then gets the body again. Another team's request is a 404 here."""
    return selectors.approval_request_version(user=request.user, request_id=request_id)


class RequestDetailApi(APIView):
    @extend_schema(
        operation_id="requests_get",
        tags=["requests"],
        responses=ApprovalRequestDetailSerializer,
        description="Answers with an `ETag`; a poller sends it back in `If-None-Match` and gets 304 Not "
        "Modified (no body) until something the answer shows changes: the request's status or fields, its "
        "run, votes, next version, or the budgets its cost card reads.",
    )
    @method_decorator(etag(_detail_version))
    def get(self, request, request_id):
        return Response(_detail(user=request.user, request_id=request_id))


class ApproveApi(APIView):
    @extend_schema(
        operation_id="requests_approve",
        tags=["requests"],
        request=ApproveInput,
        responses=ApprovalRequestDetailSerializer,
        description="A reviewer of the team (never of their own request) approves or rejects a request that "
        "waits for review. A high-risk request stays `pending_review` until the team's quorum approved.",
    )
    def post(self, request):
        data = ApproveInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        approval_request = selectors.approval_request_to_act_on(
            user=request.user, request_id=args["requestId"]
        )
        if args["approved"]:
            approval_request = services.approval_request_approve(
                request=approval_request, reviewer=request.user, expected_sha256=args.get("codeSha256")
            )
        else:
            approval_request = services.approval_request_reject(
                request=approval_request, reviewer=request.user, reason=args.get("reason", "")
            )
        return Response(_detail(user=request.user, request_id=approval_request.pk), status=status.HTTP_200_OK)


class ReviseApi(APIView):
    """A new version of a request rejected with a reason, generated with the feedback: asked for by the
    request's analyst ("ask again") or a reviewer of its team."""

    @extend_schema(
        operation_id="requests_revise",
        tags=["requests"],
        request=None,
        responses={202: ApprovalRequestSerializer},
    )
    def post(self, request, request_id):
        rejected = selectors.approval_request_to_act_on(user=request.user, request_id=request_id)
        revision = services.approval_request_revise(request=rejected, user=request.user)
        revision = selectors.approval_request_get(user=request.user, request_id=revision.pk)
        return Response(ApprovalRequestSerializer(revision).data, status=status.HTTP_202_ACCEPTED)


class CancelApi(APIView):
    """The analyst who asked withdraws a request still waiting for review."""

    @extend_schema(
        operation_id="requests_cancel",
        tags=["requests"],
        request=None,
        responses=ApprovalRequestDetailSerializer,
        description="The request's own analyst withdraws it while it waits for review (`generating` or "
        "`pending_review`); it becomes `cancelled`.",
    )
    def post(self, request, request_id):
        waiting = selectors.approval_request_to_act_on(user=request.user, request_id=request_id)
        cancelled = services.approval_request_cancel(request=waiting, user=request.user)
        return Response(_detail(user=request.user, request_id=cancelled.pk))
