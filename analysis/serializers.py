from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from approvals.models import ApprovalRequest
from approvals.serializers import ApprovalRequestSerializer
from billing.serializers import BudgetWarningSerializer
from config.openapi import DeprecatedTextField, IgnoredIdentityField

from .models import Dataset, Execution, Message, Session
from .selectors import dataset_first_columns


class TextField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class AnalyzeInput(serializers.Serializer):
    query = TextField(trim_whitespace=True)
    sessionId = serializers.UUIDField(required=False, allow_null=True)
    datasetIds = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=20)
    # The original clients send these. teamId only chooses among the caller's own teams.
    teamId = DeprecatedTextField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=100,
        help_text="The original clients' team. Only the id of one of your own teams is used (to choose which "
        "of them to ask in); anything else is ignored and your first team is asked.",
    )
    userId = IgnoredIdentityField(help_text="The analyst is the token's user.")

    def validate_query(self, value: str) -> str:
        limit = settings.SANDGATE_MAX_QUERY_CHARS
        if len(value) > limit:
            raise serializers.ValidationError(f"Keep the question under {limit} characters.")
        return value


class BudgetWarningMixin(serializers.Serializer):
    """`budgetWarning`: the soft-threshold warning the view passes in its context, or null."""

    budgetWarning = serializers.SerializerMethodField()

    @extend_schema_field(BudgetWarningSerializer(allow_null=True))
    def get_budgetWarning(self, obj) -> dict | None:
        return self.context.get("budget_warning")


class AnalyzeOutput(BudgetWarningMixin):
    """The new request, generating; `budgetWarning` once a budget is above its soft threshold."""

    requestId = serializers.UUIDField(source="id")
    sessionId = serializers.UUIDField(source="session_id")
    status = serializers.ChoiceField(choices=ApprovalRequest.Status.choices)


class ExecuteInput(serializers.Serializer):
    requestId = serializers.UUIDField()
    sessionId = serializers.UUIDField(required=False, allow_null=True)
    userId = IgnoredIdentityField(help_text="The analyst is the token's user.")


class ExecuteOutput(BudgetWarningMixin):
    """The run, queued (or as it is, when it was started before); `budgetWarning` as for analyze."""

    executionId = serializers.UUIDField(source="id")
    requestId = serializers.UUIDField(source="request_id")
    status = serializers.ChoiceField(choices=Execution.Status.choices)


# --- what a run produced (the sandbox's SandboxResult, stored as JSON on the execution) -------------


class ExecutionErrorSerializer(serializers.Serializer):
    """Why the code stopped, E2B's shape: the exception's name and value, and its traceback."""

    name = serializers.CharField(
        help_text="The code's exception (e.g. `KeyError`), or Sandgate's: `SandboxError`, `SandboxTimeout`, "
        "`CPULimitExceeded`, `MalformedResult` (the sandbox's report was refused), `IntegrityError`, "
        "`ApprovalExpired`, `WorkerLost`."
    )
    value = serializers.CharField()
    traceback = serializers.CharField()


class ResultItemSerializer(serializers.Serializer):
    """One displayed result: a chart (`png`), a table (`html` and `text`) or a value (`text`)."""

    png = serializers.CharField(required=False, help_text="A chart, a base64 PNG.")
    html = serializers.CharField(required=False, help_text="A table as HTML (from the analysed code).")
    text = serializers.CharField(required=False)


class ExecutionLimitsSerializer(serializers.Serializer):
    """The limits in force for the run, as the backend recorded them; empty until it ran.

    Sizes are whole numbers; null where the backend does not enforce that limit per run (E2B bounds CPU,
    memory, processes and disk by its VM). Backends add what they enforce besides (`caveats` says what not).
    """

    backend = serializers.CharField(required=False)
    cpu_seconds = serializers.IntegerField(required=False, allow_null=True)
    wall_seconds = serializers.IntegerField(required=False, allow_null=True)
    memory_mb = serializers.IntegerField(required=False, allow_null=True)
    output_bytes = serializers.IntegerField(required=False, allow_null=True)
    max_processes = serializers.IntegerField(required=False, allow_null=True)
    file_size_mb = serializers.IntegerField(required=False, allow_null=True)
    scratch_mb = serializers.IntegerField(required=False, allow_null=True)
    artifact_count = serializers.IntegerField(required=False, allow_null=True)
    artifact_mb = serializers.IntegerField(required=False, allow_null=True)
    results_mb = serializers.IntegerField(
        required=False, allow_null=True, help_text="All the run's results together, as stored JSON."
    )
    network = serializers.BooleanField(required=False)
    team_overrides = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Limits the team's settings changed."
    )
    caveats = serializers.ListField(child=serializers.CharField(), required=False)
    # The local sandbox (bubblewrap)
    open_files = serializers.IntegerField(required=False)
    core_dumps = serializers.BooleanField(required=False)
    user_namespaces_disabled = serializers.BooleanField(required=False)
    seccomp = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True, help_text="Denied system calls."
    )
    cgroup_version = serializers.IntegerField(required=False, allow_null=True)
    cgroup_memory = serializers.BooleanField(required=False)
    cgroup_pids = serializers.BooleanField(required=False)
    cgroup_cpu = serializers.BooleanField(
        required=False, help_text="CPU time counted for all the run's processes together (cpu_seconds)."
    )
    host_uid = serializers.IntegerField(required=False)
    # E2B
    template = serializers.CharField(required=False)
    sandbox_lifetime_seconds = serializers.IntegerField(required=False)


class ArtifactSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    contentType = serializers.CharField(source="content_type")
    url = serializers.SerializerMethodField()

    def get_url(self, artifact) -> str:
        return reverse("api:artifact-download", args=[artifact.execution_id, artifact.name])


class ExecutionWatchInput(serializers.Serializer):
    after = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="While the run runs: only the output after this `outputSeq` (what the last poll returned); "
        "absent, all of it.",
    )


class ExecutionSerializer(serializers.Serializer):
    executionId = serializers.UUIDField(source="id")
    requestId = serializers.UUIDField(source="request_id")
    status = serializers.ChoiceField(choices=Execution.Status.choices)
    backend = serializers.CharField(help_text="`local` or `e2b`; empty until a worker takes the run.")
    codeSha256 = serializers.CharField(source="code_sha256")
    stdout = serializers.CharField(
        help_text="While `running`: what the code printed so far (with `after`, only what is new). Once the "
        "run ended: all of its output, the record (a client shows it instead of what it gathered)."
    )
    stderr = serializers.CharField(help_text="As `stdout`.")
    outputSeq = serializers.IntegerField(
        source="output_seq",
        help_text="The number of the last chunk of output included; pass it as `after` on the next poll.",
    )
    error = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()
    limits = serializers.SerializerMethodField()
    artifacts = ArtifactSerializer(many=True, help_text="Files the code wrote to /output.")
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)

    # Stored as the backend reported them: the methods pass them through, the annotations declare them.
    @extend_schema_field(ExecutionErrorSerializer(allow_null=True))
    def get_error(self, execution: Execution) -> dict | None:
        return execution.error

    @extend_schema_field(ResultItemSerializer(many=True))
    def get_results(self, execution: Execution) -> list[dict]:
        return execution.results

    @extend_schema_field(ExecutionLimitsSerializer)
    def get_limits(self, execution: Execution) -> dict:
        return execution.limits


class MessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=Message.Role.choices)
    content = serializers.CharField()
    requestId = serializers.UUIDField(source="request_id", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")


class SessionSerializer(serializers.Serializer):
    sessionId = serializers.UUIDField(source="id")
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=Session.Status.choices)
    teamId = serializers.UUIDField(source="team_id")
    userId = serializers.IntegerField(source="user_id")
    metadata = serializers.DictField(help_text="Free-form, for clients; Sandgate stores it as given.")
    createdAt = serializers.DateTimeField(source="created_at")
    lastActivityAt = serializers.DateTimeField(source="last_activity_at")


class SessionDetailSerializer(SessionSerializer):
    messages = MessageSerializer(many=True)
    requests = ApprovalRequestSerializer(many=True)


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    dtype = serializers.CharField()


@extend_schema_field({"type": "string", "format": "binary"})
class UploadedFileField(serializers.FileField):
    """A multipart file part, its bytes and its file name (not the URL a FileField shows in an answer)."""


class DatasetUploadInput(serializers.Serializer):
    file = UploadedFileField(
        allow_empty_file=True, help_text="CSV, XLSX, Parquet or JSON; its file name is the dataset's name."
    )
    allowSampleSharing = serializers.BooleanField(
        required=False, help_text="Whether sample rows may reach the model's prompt (false when absent)."
    )
    teamId = serializers.UUIDField(
        required=False, allow_null=True, help_text="One of your own teams; without it, your first by slug."
    )


class DatasetSummarySerializer(serializers.Serializer):
    """A dataset in a list: its column count and first few columns, so the list stays small."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Dataset.Status.choices)
    failureReason = serializers.CharField(source="failure_reason")
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    rowCount = serializers.IntegerField(source="row_count")
    columnCount = serializers.IntegerField(source="column_count")
    firstColumns = serializers.SerializerMethodField()
    allowSampleSharing = serializers.BooleanField(source="allow_sample_sharing")
    createdAt = serializers.DateTimeField(source="created_at")

    @extend_schema_field(ColumnSerializer(many=True))
    def get_firstColumns(self, dataset) -> list[dict]:
        return dataset_first_columns(dataset)


class DatasetSerializer(serializers.Serializer):
    """A dataset's detail. Until `status` is `ready` its rows and columns are not known (0 and [])."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Dataset.Status.choices)
    failureReason = serializers.CharField(source="failure_reason")
    profiledAt = serializers.DateTimeField(source="profiled_at", allow_null=True)
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    rowCount = serializers.IntegerField(source="row_count")
    columnCount = serializers.SerializerMethodField()
    columns = ColumnSerializer(many=True)
    allowSampleSharing = serializers.BooleanField(source="allow_sample_sharing")
    createdAt = serializers.DateTimeField(source="created_at")

    def get_columnCount(self, dataset) -> int:
        return len(dataset.columns)
