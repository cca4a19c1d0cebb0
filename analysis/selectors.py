from __future__ import annotations

from django.db.models import QuerySet

from approvals.models import ApprovalRequest
from approvals.selectors import approval_request_visible_q
from billing.selectors import team_list_for_user
from config.exceptions import NotFound

from .llm.base import DatasetContext, Turn
from .models import Dataset, Execution, Session

SAMPLE_ROWS_SHARED = 5
RESULT_SUMMARY_CHARS = 600


def session_list(*, user) -> QuerySet[Session]:
    return Session.objects.filter(user=user, team__in=team_list_for_user(user=user)).select_related("team")


def session_get(*, user, session_id) -> Session:
    try:
        return session_list(user=user).get(pk=session_id)
    except (Session.DoesNotExist, ValueError):
        raise NotFound("Session not found.") from None


def dataset_list(*, user) -> QuerySet[Dataset]:
    return Dataset.objects.filter(team__in=team_list_for_user(user=user))


def execution_get(*, user, execution_id) -> Execution:
    visible = Execution.objects.filter(approval_request_visible_q(user=user, prefix="request__"))
    try:
        return visible.select_related("request").get(pk=execution_id)
    except (Execution.DoesNotExist, ValueError):
        raise NotFound("Execution not found.") from None


def dataset_context(*, dataset: Dataset) -> DatasetContext:
    return DatasetContext(
        name=dataset.name,
        path=f"/data/{dataset.name}",
        row_count=dataset.row_count,
        columns=dataset.columns,
        sample_rows=_sample_rows(dataset) if dataset.allow_sample_sharing else None,
    )


def _sample_rows(dataset: Dataset) -> list[dict] | None:
    if not dataset.name.lower().endswith(".csv"):
        return None
    import csv

    with dataset.file.open("rb") as fh:
        lines = fh.read(64_000).decode("utf-8-sig", errors="replace").splitlines()
    return list(csv.DictReader(lines))[:SAMPLE_ROWS_SHARED]


def session_history(*, request: ApprovalRequest) -> list[Turn]:
    """Earlier questions of the same session that produced code, oldest first."""
    earlier = (
        ApprovalRequest.objects.filter(session_id=request.session_id, created_at__lt=request.created_at)
        .exclude(code="")
        .select_related("execution")
        .order_by("created_at")
    )
    return [Turn(query=r.query, code=r.code, result_summary=_result_summary(r)) for r in earlier]


def _result_summary(request: ApprovalRequest) -> str:
    execution = getattr(request, "execution", None)
    if execution is None:
        return f"(not run: {request.get_status_display().lower()})"
    if execution.error:
        return f"failed: {execution.error.get('name')}: {execution.error.get('value')}"[:RESULT_SUMMARY_CHARS]
    charts = sum(1 for r in execution.results if "png" in r)
    summary = execution.stdout.strip()[:RESULT_SUMMARY_CHARS]
    return f"{summary}\n({charts} chart(s))" if charts else summary
