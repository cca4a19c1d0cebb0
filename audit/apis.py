from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from config.pagination import Pagination

from . import selectors, services
from .serializers import AuditEventSerializer, AuditListInput


class AuditListApi(APIView):
    """The audit trail of the caller's audited teams; auditors only (403 for everyone else)."""

    pagination_class = Pagination  # declares the paginated answer in the schema

    @extend_schema(
        operation_id="audit_list",
        tags=["audit"],
        parameters=[AuditListInput],
        responses=AuditEventSerializer(many=True),
    )
    def get(self, request):
        params = AuditListInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        args = params.validated_data
        selectors.audited_teams(user=request.user)  # refuse before doing any work
        services.audit_chain_pending()  # readers always see a complete chain
        qs = selectors.audit_event_list(
            user=request.user,
            action=args.get("action"),
            actor=args.get("actor"),
            since=args.get("since"),
            until=args.get("until"),
            request_id=args.get("requestId"),
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)
