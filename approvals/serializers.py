"""JSON shapes of approval requests. Field names are camelCase, as the original clients expect."""

from rest_framework import serializers

from .models import ApprovalRequest


class ExecutionSummarySerializer(serializers.Serializer):
    executionId = serializers.UUIDField(source="id")
    status = serializers.CharField()
    backend = serializers.CharField()
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)


class DecisionSerializer(serializers.Serializer):
    approved = serializers.SerializerMethodField()
    reviewer = serializers.CharField(source="reviewer.username")
    reviewerId = serializers.IntegerField(source="reviewer_id")
    reason = serializers.CharField(source="rejection_reason")
    decidedAt = serializers.DateTimeField(source="decided_at")

    def get_approved(self, obj) -> bool:
        return obj.approved_code_sha256 != ""


class DatasetRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class ApprovalRequestSerializer(serializers.Serializer):
    requestId = serializers.UUIDField(source="id")
    query = serializers.CharField()
    code = serializers.CharField()
    codeSha256 = serializers.CharField(source="code_sha256")
    status = serializers.CharField()
    approvalStatus = serializers.CharField(source="status")
    userId = serializers.IntegerField(source="user_id")
    user = serializers.CharField(source="user.username")
    teamId = serializers.UUIDField(source="team_id")
    sessionId = serializers.UUIDField(source="session_id")
    datasets = DatasetRefSerializer(many=True)
    budgetEstimate = serializers.FloatField(source="budget_estimate")
    provider = serializers.CharField()
    model = serializers.CharField()
    offline = serializers.BooleanField(source="is_offline")
    generationError = serializers.CharField(source="generation_error")
    reviewerId = serializers.IntegerField(source="reviewer_id", allow_null=True)
    reviewer = serializers.CharField(source="reviewer.username", allow_null=True, default=None)
    rejectionReason = serializers.CharField(source="rejection_reason")
    decision = serializers.SerializerMethodField()
    execution = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)

    def get_decision(self, obj: ApprovalRequest) -> dict | None:
        return DecisionSerializer(obj).data if obj.decided_at else None

    def get_execution(self, obj: ApprovalRequest) -> dict | None:
        execution = getattr(obj, "execution", None)
        return ExecutionSummarySerializer(execution).data if execution else None


class RequestListInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=ApprovalRequest.Status.choices, required=False)


class ApproveInput(serializers.Serializer):
    requestId = serializers.UUIDField()
    approved = serializers.BooleanField()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    codeSha256 = serializers.RegexField(r"^[0-9a-f]{64}$", required=False)
    # Accepted for compatibility with the original clients, never trusted: identity is the token's.
    reviewerId = serializers.JSONField(required=False)
