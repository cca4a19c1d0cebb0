from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from approvals.serializers import ApprovalRequestSerializer

from .models import Dataset
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
    # Used only to choose among the caller's own teams; the original clients send these.
    teamId = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=100)
    userId = serializers.JSONField(required=False)

    def validate_query(self, value: str) -> str:
        limit = settings.SANDGATE_MAX_QUERY_CHARS
        if len(value) > limit:
            raise serializers.ValidationError(f"Keep the question under {limit} characters.")
        return value


class AnalyzeOutput(serializers.Serializer):
    requestId = serializers.UUIDField(source="id")
    sessionId = serializers.UUIDField(source="session_id")
    status = serializers.CharField()


class ExecuteInput(serializers.Serializer):
    requestId = serializers.UUIDField()
    sessionId = serializers.UUIDField(required=False, allow_null=True)
    userId = serializers.JSONField(required=False)


class ExecuteOutput(serializers.Serializer):
    executionId = serializers.UUIDField(source="id")
    requestId = serializers.UUIDField(source="request_id")
    status = serializers.CharField()


class ExecutionSerializer(serializers.Serializer):
    executionId = serializers.UUIDField(source="id")
    requestId = serializers.UUIDField(source="request_id")
    status = serializers.CharField()
    backend = serializers.CharField()
    codeSha256 = serializers.CharField(source="code_sha256")
    stdout = serializers.CharField()
    stderr = serializers.CharField()
    error = serializers.JSONField(allow_null=True)
    results = serializers.JSONField()
    limits = serializers.JSONField()
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)


class ArtifactSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    contentType = serializers.CharField(source="content_type")
    url = serializers.SerializerMethodField()

    def get_url(self, artifact) -> str:
        return reverse("api:artifact-download", args=[artifact.execution_id, artifact.name])


class MessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    role = serializers.CharField()
    content = serializers.CharField()
    requestId = serializers.UUIDField(source="request_id", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")


class SessionSerializer(serializers.Serializer):
    sessionId = serializers.UUIDField(source="id")
    title = serializers.CharField()
    status = serializers.CharField()
    teamId = serializers.UUIDField(source="team_id")
    userId = serializers.IntegerField(source="user_id")
    metadata = serializers.JSONField()
    createdAt = serializers.DateTimeField(source="created_at")
    lastActivityAt = serializers.DateTimeField(source="last_activity_at")


class SessionDetailSerializer(SessionSerializer):
    messages = MessageSerializer(many=True)
    requests = ApprovalRequestSerializer(many=True)


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    dtype = serializers.CharField()


class DatasetUploadInput(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    allowSampleSharing = serializers.BooleanField(required=False, default=False)
    # One of the caller's own teams; without it, their first team by slug.
    teamId = serializers.UUIDField(required=False, allow_null=True)


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
