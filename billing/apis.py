"""Budget and spend reports: GET /api/budget, GET /api/spend (JSON, or CSV with Accept: text/csv)."""

from __future__ import annotations

import io

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.spreadsheets import SafeDictWriter

from . import selectors


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


class BudgetStatusSerializer(serializers.Serializer):
    budgetId = serializers.IntegerField(source="budget.pk")
    scope = serializers.CharField(source="budget.scope")
    team = serializers.CharField(source="budget.team.slug")
    user = serializers.CharField(source="budget.user.username", default=None)
    period = serializers.CharField(source="budget.period")
    limitUsd = serializers.DecimalField(source="budget.limit_usd", max_digits=14, decimal_places=6)
    softThreshold = serializers.DecimalField(source="budget.soft_threshold", max_digits=4, decimal_places=3)
    spentUsd = serializers.DecimalField(source="spent", max_digits=14, decimal_places=6)
    reservedUsd = serializers.DecimalField(source="reserved", max_digits=14, decimal_places=6)
    remainingUsd = serializers.DecimalField(source="remaining", max_digits=14, decimal_places=6)
    aboveSoftThreshold = serializers.BooleanField(source="above_soft_threshold")
    resetsAt = serializers.DateTimeField(source="resets_at", allow_null=True)


class BudgetListSerializer(serializers.Serializer):
    results = BudgetStatusSerializer(many=True)


class BudgetApi(APIView):
    @extend_schema(responses=BudgetListSerializer)
    def get(self, request):
        statuses = selectors.budget_status_list(user=request.user)
        return Response({"results": BudgetStatusSerializer(statuses, many=True).data})


class SpendInput(serializers.Serializer):
    groupBy = serializers.ChoiceField(choices=list(selectors.SPEND_GROUPS), default="day")
    # `from`/`to` are Python keywords: read by their query names below.
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)


class SpendApi(APIView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("groupBy", enum=list(selectors.SPEND_GROUPS)),
            OpenApiParameter("from", str, description="ISO date or date-time, inclusive (UTC)"),
            OpenApiParameter("to", str, description="ISO date or date-time, exclusive (UTC)"),
        ],
        responses={(200, "application/json"): dict, (200, "text/csv"): str},
    )
    def get(self, request):
        params = request.query_params
        data = SpendInput(
            data={
                k: v
                for k, v in {
                    "groupBy": params.get("groupBy"),
                    "start": params.get("from"),
                    "end": params.get("to"),
                }.items()
                if v
            }
        )
        data.is_valid(raise_exception=True)
        args = data.validated_data
        rows = selectors.spend_report(
            user=request.user, group_by=args["groupBy"], start=args.get("start"), end=args.get("end")
        )
        response = Response({"groupBy": args["groupBy"], "results": rows})
        if request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="spend-by-{args["groupBy"]}.csv"'
        return response
