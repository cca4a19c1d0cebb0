from django.conf import settings
from django.db.models import Prefetch
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.models import ApprovalRequest
from approvals.selectors import approval_request_to_act_on
from billing.selectors import budget_warning
from config.exceptions import ApplicationError
from config.pagination import Pagination
from config.throttling import AtomicScopedRateThrottle

from . import selectors
from .serializers import (
    AnalyzeInput,
    AnalyzeOutput,
    DatasetSerializer,
    DatasetSummarySerializer,
    DatasetUploadInput,
    ExecuteInput,
    ExecuteOutput,
    ExecutionSerializer,
    ExecutionWatchInput,
    SessionDetailSerializer,
    SessionSerializer,
)
from .services.artifacts import artifact_download
from .services.asking import analysis_submit
from .services.datasets import dataset_upload
from .services.execution import execution_start
from .services.sessions import session_archive

# The original clients' identity headers: declared so their clients keep type-checking, never read.
IGNORED_HEADERS = [
    OpenApiParameter(
        name,
        str,
        OpenApiParameter.HEADER,
        deprecated=True,
        description="Ignored: the original clients send it; identity comes from the token.",
    )
    for name in ("x-user-id", "x-team-id")
]


class AnalyzeApi(APIView):
    throttle_classes = [AtomicScopedRateThrottle]
    throttle_scope = "analyze"

    @extend_schema(
        operation_id="requests_analyze",
        tags=["requests"],
        request=AnalyzeInput,
        responses={202: AnalyzeOutput},
        parameters=IGNORED_HEADERS,
        description="Ask a question: a new request (or a follow-up in `sessionId`) whose code a worker "
        "writes; poll `GET /api/requests/{requestId}` until it waits for review.",
    )
    def post(self, request):
        data = AnalyzeInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        approval_request = analysis_submit(
            user=request.user,
            query=args["query"],
            session_id=args.get("sessionId"),
            dataset_ids=args.get("datasetIds"),
            team_id=args.get("teamId"),
        )
        above = approval_request.budget_above_soft_threshold
        warning = budget_warning(user=request.user, team=approval_request.team) if above else None
        body = AnalyzeOutput(approval_request, context={"budget_warning": warning}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ExecuteApi(APIView):
    @extend_schema(
        operation_id="executions_start",
        tags=["executions"],
        request=ExecuteInput,
        responses={202: ExecuteOutput},
        description="Run an approved request (its own analyst only). Idempotent: a second call answers the "
        "same execution, and the code runs once. Poll `GET /api/executions/{executionId}` for the result.",
    )
    def post(self, request):
        data = ExecuteInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        approval_request = approval_request_to_act_on(user=request.user, request_id=args["requestId"])
        session_id = args.get("sessionId")
        if session_id is not None and session_id != approval_request.session_id:
            raise ApplicationError("sessionId does not match the request's session.", code="session_mismatch")
        execution, _created = execution_start(request=approval_request, user=request.user)
        warning = budget_warning(user=request.user, team=approval_request.team)
        body = ExecuteOutput(execution, context={"budget_warning": warning}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ExecutionDetailApi(APIView):
    @extend_schema(
        operation_id="executions_get",
        tags=["executions"],
        parameters=[ExecutionWatchInput],
        responses=ExecutionSerializer,
        description="The run. While it runs, what it printed so far; poll with `after` set to the last "
        "`outputSeq` to get only what is new (docs/api.md, live output).",
    )
    def get(self, request, execution_id):
        query = ExecutionWatchInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        execution = selectors.execution_get_watched(
            user=request.user, execution_id=execution_id, after=query.validated_data.get("after", 0)
        )
        return Response(ExecutionSerializer(execution).data)


class ArtifactDownloadApi(APIView):
    @extend_schema(
        operation_id="executions_artifact_download",
        tags=["executions"],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, with its `contentType` as Content-Type."
            ),
            (200, "*/*"): OpenApiTypes.BINARY,
        },
        description="A file the code wrote to `/output/{name}`, as an attachment (never rendered). Audited.",
    )
    def get(self, request, execution_id, name):
        artifact = artifact_download(user=request.user, execution_id=execution_id, name=name)
        # Always an attachment, never rendered: an HTML artifact must not run in Sandgate's origin.
        response = FileResponse(
            artifact.file.open("rb"),
            as_attachment=True,
            filename=artifact.name,
            content_type=artifact.content_type,
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return response


class SessionListApi(APIView):
    pagination_class = Pagination  # declares the paginated answer in the schema

    @extend_schema(operation_id="sessions_list", tags=["sessions"], responses=SessionSerializer(many=True))
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.session_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(SessionSerializer(page, many=True).data)


class SessionDetailApi(APIView):
    @extend_schema(operation_id="sessions_get", tags=["sessions"], responses=SessionDetailSerializer)
    def get(self, request, session_id):
        session = selectors.session_get(user=request.user, session_id=session_id)
        requests = (
            ApprovalRequest.objects.select_related("user", "reviewer", "execution")
            .prefetch_related("datasets")
            .order_by("created_at")
        )
        session = (
            type(session)
            .objects.prefetch_related("messages", Prefetch("requests", queryset=requests))
            .get(pk=session.pk)
        )
        return Response(SessionDetailSerializer(session).data)


class DatasetListApi(APIView):
    pagination_class = Pagination  # declares the paginated answer in the schema
    parser_classes = [MultiPartParser]  # the upload; GET reads no body

    @extend_schema(
        operation_id="datasets_list", tags=["datasets"], responses=DatasetSummarySerializer(many=True)
    )
    def get(self, request):
        paginator = Pagination()
        datasets = selectors.dataset_list_summary(user=request.user)
        page = paginator.paginate_queryset(datasets, request, view=self)
        return paginator.get_paginated_response(DatasetSummarySerializer(page, many=True).data)

    @extend_schema(
        operation_id="datasets_upload",
        tags=["datasets"],
        request={"multipart/form-data": DatasetUploadInput},
        responses={
            201: OpenApiResponse(DatasetSerializer, description="A CSV, profiled now: `status` is `ready`."),
            202: OpenApiResponse(
                DatasetSerializer,
                description="Any other format: `status` is `profiling` (or `queued` behind the team's other "
                "uploads); poll `datasets_get` until `ready` or `failed`.",
            ),
        },
    )
    def post(self, request):
        """Upload a dataset: 201 with a CSV profiled and ready, 202 with any other format while a worker
        profiles it in the sandbox (poll `GET /api/datasets/{id}` until `status` is `ready` or `failed`)."""
        data = DatasetUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        upload = args["file"]
        dataset = dataset_upload(
            user=request.user,
            name=upload.name,
            # Never more than the size cap and one byte: enough to refuse a larger file, in bounded memory.
            content=upload.read(settings.SANDGATE_MAX_DATASET_MB * 1024 * 1024 + 1),
            allow_sample_sharing=args.get("allowSampleSharing", False),
            team_id=args.get("teamId"),
        )
        ready = dataset.status == dataset.Status.READY
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset.pk)
        answer = status.HTTP_201_CREATED if ready else status.HTTP_202_ACCEPTED
        return Response(DatasetSerializer(dataset).data, status=answer)


class DatasetDetailApi(APIView):
    @extend_schema(operation_id="datasets_get", tags=["datasets"], responses=DatasetSerializer)
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        return Response(DatasetSerializer(dataset).data)


class SessionArchiveApi(APIView):
    @extend_schema(
        operation_id="sessions_archive", tags=["sessions"], request=None, responses=SessionSerializer
    )
    def post(self, request, session_id):
        session = selectors.session_get(user=request.user, session_id=session_id)
        session = session_archive(session=session, user=request.user)
        return Response(SessionSerializer(session).data)
