from __future__ import annotations

from django.conf import settings
from django.db.models import Func, IntegerField, Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import JSONArray

from approvals.models import ApprovalRequest
from approvals.selectors import approval_request_versions, approval_request_visible_q
from billing.selectors import team_list_for_user
from config.exceptions import NotFound

from .live import live_output_read
from .llm.base import DatasetContext, Revision, Turn
from .llm.prompt import turn_token_estimate
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


def request_version_own(*, user, session_id, request_id) -> str:
    """The version of one of the user's own requests in one of their sessions, as its live status shows it
    (one query); anything else is a 404."""
    own = approval_request_visible_q(user=user) & Q(
        user=user, session_id=session_id, session__in=session_list(user=user).values("pk"), pk=request_id
    )
    versions = approval_request_versions(own)
    if not versions:
        raise NotFound("Request not found.")
    return next(iter(versions.values()))


def request_list_latest(*, user) -> QuerySet[ApprovalRequest]:
    """The user's own requests, newest first, each question once: a version replaced by a newer one
    (edited or asked again) is left out, a rejected one without a newer version stays with its state."""
    return (
        ApprovalRequest.objects.filter(approval_request_visible_q(user=user), user=user)
        .filter(revisions__isnull=True)
        .select_related("session")
        .order_by("-created_at")
    )


def dataset_list(*, user) -> QuerySet[Dataset]:
    return Dataset.objects.filter(team__in=team_list_for_user(user=user))


def dataset_list_ready(*, user) -> QuerySet[Dataset]:
    """The datasets a question may use: profiled and ready."""
    return dataset_list(user=user).filter(status=Dataset.Status.READY)


def dataset_list_in_progress(*, user) -> QuerySet[Dataset]:
    """Uploads still waiting to be profiled or being profiled."""
    return dataset_list(user=user).filter(status__in=(Dataset.Status.QUEUED, Dataset.Status.PROFILING))


LISTED_COLUMNS = 5  # how many of a dataset's columns a list shows beside its column count


class JSONArrayLength(Func):
    function = "JSON_ARRAY_LENGTH"  # SQLite
    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="JSONB_ARRAY_LENGTH", **extra)


def dataset_list_summary(*, user) -> QuerySet[Dataset]:
    """The datasets with `column_count` and `first_columns` (read by the database) instead of all their
    columns: a list stays small however wide a dataset is; the detail has every column."""
    first = [KeyTransform(str(i), "columns") for i in range(LISTED_COLUMNS)]
    return (
        dataset_list(user=user)
        .defer("columns")
        .annotate(column_count=JSONArrayLength("columns"), first_columns=JSONArray(*first))
    )


def dataset_first_columns(dataset: Dataset) -> list[dict]:
    """A summary's first columns ({name, dtype}); a dataset with fewer columns has nulls in their place."""
    return [column for column in dataset.first_columns if column is not None]


def dataset_get(*, user, dataset_id) -> Dataset:
    try:
        return dataset_list(user=user).get(pk=dataset_id)
    except (Dataset.DoesNotExist, ValueError):
        raise NotFound("Dataset not found.") from None


def dataset_preview_path(dataset: Dataset) -> str:
    """The first rows, profiled at upload, kept beside the file (outside what the sandbox mounts)."""
    return f"datasets/{dataset.team_id}/{dataset.id}/preview.json"


def dataset_preview(*, dataset: Dataset) -> list[list]:
    import json

    storage = dataset.file.storage
    path = dataset_preview_path(dataset)
    if not storage.exists(path):
        return []
    with storage.open(path, "rb") as fh:
        return json.load(fh)


def execution_get(*, user, execution_id) -> Execution:
    visible = Execution.objects.filter(approval_request_visible_q(user=user, prefix="request__"))
    try:
        return visible.select_related("request").get(pk=execution_id)
    except (Execution.DoesNotExist, ValueError):
        raise NotFound("Execution not found.") from None


def execution_id_of_own_request(*, user, session_id, request_id):
    """The id of the run of one of the user's own questions in their session; None before it has one."""
    own = Execution.objects.filter(
        request_id=request_id, request__session_id=session_id, request__user=user
    ).values_list("pk", flat=True)
    return own.first()


def execution_get_watched(*, user, execution_id, after: int = 0) -> Execution:
    """The execution as a watcher sees it. While it runs, `stdout` and `stderr` are what it printed after live
    chunk `after` (all of it with 0) and `output_seq` the last chunk's number; once it ended, they are its
    record, whatever `after`."""
    execution = execution_get(user=user, execution_id=execution_id)
    if execution.status != Execution.Status.RUNNING:
        return execution
    live = live_output_read(execution_id=execution.pk, after=after)
    if not Execution.objects.filter(pk=execution.pk, status=Execution.Status.RUNNING).exists():
        return execution_get(user=user, execution_id=execution_id)  # it ended meanwhile: its record
    execution.stdout, execution.stderr, execution.output_seq = live.stdout, live.stderr, live.seq
    return execution


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


def session_history(*, request: ApprovalRequest, token_budget: int | None = None) -> list[Turn]:
    """Earlier questions of the same session that produced code, oldest first, trimmed to a token budget.

    When the session is too long for the budget, the oldest turns are dropped first: the newest
    turns are what a follow-up like "now split that by product" refers to.
    """
    budget = settings.SANDGATE_HISTORY_TOKEN_BUDGET if token_budget is None else token_budget
    earlier = (
        ApprovalRequest.objects.filter(session_id=request.session_id, created_at__lt=request.created_at)
        .exclude(code="")
        .exclude(pk__in=_ancestor_ids(request=request))  # earlier versions come in as the revision
        .select_related("execution")
        .order_by("created_at")
    )
    turns = [Turn(query=r.query, code=r.code, result_summary=_result_summary(r)) for r in earlier]
    return _newest_within_budget(turns=turns, budget=budget)


def _newest_within_budget(*, turns: list[Turn], budget: int) -> list[Turn]:
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        used += turn_token_estimate(turn=turn)
        if used > budget:
            break
        kept.append(turn)
    return kept[::-1]


def _ancestor_ids(*, request: ApprovalRequest) -> list:
    ids = []
    parent_id = request.parent_id
    while parent_id is not None and parent_id not in ids:
        ids.append(parent_id)
        parent_id = ApprovalRequest.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
    return ids


def request_revision(*, request: ApprovalRequest) -> Revision | None:
    """For version 2, 3, ...: the rejected version's code and the reviewer's feedback on it."""
    parent = request.parent
    if parent is None:
        return None
    return Revision(previous_code=parent.code, feedback=parent.rejection_reason, version=request.version)


def _result_summary(request: ApprovalRequest) -> str:
    execution = getattr(request, "execution", None)
    if execution is None:
        return f"(not run: {request.get_status_display().lower()})"
    if execution.error:
        return f"failed: {execution.error.get('name')}: {execution.error.get('value')}"[:RESULT_SUMMARY_CHARS]
    charts = sum(1 for r in execution.results if "png" in r)
    summary = execution.stdout.strip()[:RESULT_SUMMARY_CHARS]
    return f"{summary}\n({charts} chart(s))" if charts else summary
