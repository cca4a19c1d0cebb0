"""JSON shapes of approval requests. Field names are camelCase, as the original clients expect."""

from rest_framework import serializers

from .labels import status_label
from .models import ApprovalRequest
from .selectors import approval_request_card

# The statuses a version is left in when a next one is made: rejected (revise) and superseded (edit).
NEWER_VERSION_POSSIBLE = (ApprovalRequest.Status.REJECTED, ApprovalRequest.Status.SUPERSEDED)


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


class FindingSerializer(serializers.Serializer):
    rule = serializers.CharField()
    severity = serializers.CharField()
    line = serializers.IntegerField()
    message = serializers.CharField()


class ClarificationSerializer(serializers.Serializer):
    """Why no code was written: what was understood, what is missing, questions that would work."""

    understood = serializers.CharField()
    missing = serializers.CharField()
    examples = serializers.ListField(child=serializers.CharField())


class ApprovalRequestSerializer(serializers.Serializer):
    requestId = serializers.UUIDField(source="id")
    query = serializers.CharField()
    plan = serializers.CharField(help_text="What the code computes, from which data, and what it shows.")
    code = serializers.CharField()
    codeSha256 = serializers.CharField(source="code_sha256")
    status = serializers.CharField()
    statusLabel = serializers.SerializerMethodField(help_text="The status in plain words, as pages say it.")
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
    clarification = ClarificationSerializer(
        allow_null=True, help_text="Set when the request ended needs_clarification (no code was written)."
    )
    reviewerId = serializers.IntegerField(source="reviewer_id", allow_null=True)
    reviewer = serializers.CharField(source="reviewer.username", allow_null=True, default=None)
    rejectionReason = serializers.CharField(source="rejection_reason")
    decision = serializers.SerializerMethodField()
    execution = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)
    version = serializers.IntegerField()
    parentId = serializers.UUIDField(source="parent_id", allow_null=True)
    editedById = serializers.IntegerField(source="edited_by_id", allow_null=True)
    riskLevel = serializers.CharField(source="risk_level")
    findings = FindingSerializer(many=True)
    policyReason = serializers.CharField(source="policy_reason")
    approvalExpiresAt = serializers.DateTimeField(source="approval_expires_at", allow_null=True)

    def get_statusLabel(self, obj: ApprovalRequest) -> str:
        return status_label(obj.status)

    def get_decision(self, obj: ApprovalRequest) -> dict | None:
        return DecisionSerializer(obj).data if obj.decided_at else None

    def get_execution(self, obj: ApprovalRequest) -> dict | None:
        execution = getattr(obj, "execution", None)
        return ExecutionSummarySerializer(execution).data if execution else None


class VersionSerializer(serializers.Serializer):
    requestId = serializers.UUIDField(source="id")
    version = serializers.IntegerField()
    status = serializers.CharField()
    code = serializers.CharField()
    codeSha256 = serializers.CharField(source="code_sha256")


class ApprovalRequestDetailSerializer(ApprovalRequestSerializer):
    """One request with its approval card and, for an edited or revised version, the previous one."""

    card = serializers.SerializerMethodField()
    previousVersion = serializers.SerializerMethodField()
    nextVersionId = serializers.SerializerMethodField()

    def get_card(self, obj: ApprovalRequest) -> dict:
        return approval_request_card(request=obj)

    def get_previousVersion(self, obj: ApprovalRequest) -> dict | None:
        return VersionSerializer(obj.parent).data if obj.parent_id else None

    def get_nextVersionId(self, obj: ApprovalRequest) -> str | None:
        if obj.status not in NEWER_VERSION_POSSIBLE:
            return None  # no query: only a revise (of a rejection) or an edit (superseding) makes a new one
        newest = obj.revisions.order_by("-version").values_list("pk", flat=True).first()
        return str(newest) if newest else None


class RequestListInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=ApprovalRequest.Status.choices, required=False)


class ApproveInput(serializers.Serializer):
    requestId = serializers.UUIDField()
    approved = serializers.BooleanField()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    codeSha256 = serializers.RegexField(r"^[0-9a-f]{64}$", required=False)
    # Accepted for compatibility with the original clients, never trusted: identity is the token's.
    reviewerId = serializers.JSONField(required=False)
