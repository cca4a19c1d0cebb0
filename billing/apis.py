"""Budget and spend reports: GET /api/budget, GET /api/spend (JSON) and GET /api/spend.csv (CSV)."""

from __future__ import annotations

import io

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.spreadsheets import SafeDictWriter

from . import selectors
from .serializers import BudgetListSerializer, BudgetStatusSerializer, SpendInput, SpendReportSerializer


class CSVRenderer(BaseRenderer):
    """The rows of a report as CSV, safe to open in a spreadsheet; an error becomes a `code,message` table."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        rows = data.get("results", []) if isinstance(data, dict) and "error" not in data else []
        if isinstance(data, dict) and "error" in data:
            rows = [{"code": data["error"]["code"], "message": data["error"]["message"]}]
        fieldnames = list(rows[0]) if rows else _empty_report_columns(data)
        out = io.StringIO()
        if fieldnames:
            writer = SafeDictWriter(out, fieldnames=fieldnames, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return out.getvalue().encode(self.charset)


def _empty_report_columns(data) -> list[str]:
    """An empty spend report is still a CSV with its header (an empty body would have no Content-Type)."""
    if isinstance(data, dict) and "groupBy" in data:
        return [data["groupBy"], *SPEND_COLUMNS]
    return []


# The columns of `selectors.spend_report` after its group column.
SPEND_COLUMNS = ["costUsd", "calls", "inputTokens", "outputTokens", "seconds", "unpricedCalls"]


class BudgetApi(APIView):
    @extend_schema(operation_id="budget_get", tags=["budget"], responses=BudgetListSerializer)
    def get(self, request):
        statuses = selectors.budget_status_list(user=request.user)
        return Response({"results": BudgetStatusSerializer(statuses, many=True).data})


def _spend_report(request) -> dict:
    # An empty parameter (`from=`) counts as absent, as HTML forms send them.
    data = SpendInput(data={name: value for name, value in request.query_params.items() if value})
    data.is_valid(raise_exception=True)
    args = data.validated_data
    group_by = args.get("groupBy", selectors.SpendGroup.DAY)
    rows = selectors.spend_report(
        user=request.user, group_by=group_by, start=args.get("from"), end=args.get("to")
    )
    return {"groupBy": group_by, "results": rows}


def _csv_attachment(response: Response, report: dict) -> Response:
    response["Content-Disposition"] = f'attachment; filename="spend-by-{report["groupBy"]}.csv"'
    return response


class SpendApi(APIView):
    # `Accept: text/csv` answers CSV here too, for the clients that ask so; `GET /api/spend.csv` is the
    # documented CSV operation (one media type per operation, so generated clients parse each right).
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        operation_id="spend_get",
        tags=["spend"],
        parameters=[SpendInput, OpenApiParameter("format", exclude=True)],
        responses={(200, "application/json"): SpendReportSerializer},
        description="Spend grouped by `groupBy`: analysts see their own, reviewers and auditors their "
        "teams'. The same report as CSV: `GET /api/spend.csv` (`Accept: text/csv` here answers CSV too).",
    )
    def get(self, request):
        report = _spend_report(request)
        response = Response(report)
        if request.accepted_renderer.format == "csv":
            return _csv_attachment(response, report)
        return response


class SpendCsvApi(APIView):
    """The spend report as CSV, always; its errors stay JSON in the API's error shape."""

    def perform_content_negotiation(self, request, force=False):
        return CSVRenderer(), CSVRenderer.media_type

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and isinstance(response, Response):
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        operation_id="spend_csv",
        tags=["spend"],
        parameters=[SpendInput],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        description="The spend report of `GET /api/spend` as a CSV attachment: a header row (the group, then "
        "costUsd, calls, inputTokens, outputTokens, seconds, unpricedCalls) and one row per group; cells a "
        "spreadsheet would run as a formula are neutralised.",
    )
    def get(self, request):
        report = _spend_report(request)
        return _csv_attachment(Response(report), report)
