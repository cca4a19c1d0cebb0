"""JSON shapes of approval requests. Field names are camelCase, as the original clients expect.

Every nested answer has its own serializer, so the OpenAPI schema names it (`ApprovalCard`, `Decision`, …);
the card is built as a dict by `selectors.approval_request_card`, and its serializers here are its declared
shape.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.openapi import IgnoredIdentityField, component_ref

from .labels import status_label
from .models import ApprovalRequest, PolicyRule
from .plan_check import PlanFindingKind
from .selectors import approval_request_card

Status = ApprovalRequest.Status

# The statuses a version is left in when a next one is made: rejected (revise) and superseded (edit).
NEWER_VERSION_POSSIBLE = (ApprovalRequest.Status.REJECTED, ApprovalRequest.Status.SUPERSEDED)


@extend_schema_field(component_ref("ExecutionStatus"))
class ExecutionStatusField(serializers.CharField):
    """The analysis app's Execution.Status, by its schema name: approvals never imports analysis."""


class ExecutionSummarySerializer(serializers.Serializer):
    """The run of a request, without its output (`GET /api/executions/{id}` has that)."""

    executionId = serializers.UUIDField(source="id")
    status = ExecutionStatusField()
    backend = serializers.CharField(help_text="`local` or `e2b`; empty until a worker takes the run.")
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)


class DecisionSerializer(serializers.Serializer):
    """The reviewer's decision (for a high-risk request, the reviewer whose approval completed the quorum)."""

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
    severity = serializers.ChoiceField(choices=PolicyRule.Severity.choices)
    line = serializers.IntegerField()
    message = serializers.CharField()


# --- the approval card (approvals/selectors.py `approval_request_card`) -------------------------


class CardPlanFindingSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PlanFindingKind.choices)
    message = serializers.CharField()


class CardPlanSerializer(serializers.Serializer):
    """The request's plan and where the code differs from it (approvals/plan_check.py `check_plan`)."""

    text = serializers.CharField(help_text="The plan; empty when the generator gave none.")
    columns = serializers.ListField(
        child=serializers.CharField(), help_text="Columns of the selected datasets the plan names."
    )
    datasets = serializers.ListField(child=serializers.CharField(), help_text="Dataset files the plan names.")
    findings = CardPlanFindingSerializer(many=True, help_text="Where the plan and the code differ.")


class CardDatasetReadSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="The path the code reads, e.g. `/data/sales.csv`.")
    name = serializers.CharField()
    selected = serializers.BooleanField(help_text="Whether it is one of the request's datasets.")


class CardReadsSerializer(serializers.Serializer):
    datasets = CardDatasetReadSerializer(many=True)
    columns = serializers.ListField(child=serializers.CharField(), help_text="Columns the code names.")


class CardChartCallSerializer(serializers.Serializer):
    call = serializers.CharField(help_text="e.g. `plt.bar`")
    line = serializers.IntegerField()


class CardChartsSerializer(serializers.Serializer):
    expected = serializers.IntegerField(help_text="Figures the run should produce.")
    calls = CardChartCallSerializer(many=True)


class CardCostSerializer(serializers.Serializer):
    estimateUsd = serializers.FloatField()
    remainingBudgetUsd = serializers.FloatField(
        allow_null=True, help_text="Left in the tightest budget that applies; null when none applies."
    )
    note = serializers.CharField()


class CardUnseenSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    message = serializers.CharField()


class CardRiskSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=ApprovalRequest.Risk.choices, allow_blank=True)
    findings = FindingSerializer(many=True)
    approvalsNeeded = serializers.IntegerField(help_text="Distinct reviewers who must approve.")
    approvals = serializers.ListField(child=serializers.CharField(), help_text="Who approved so far.")
    notUnderstood = CardUnseenSerializer(
        many=True, help_text="Lines where the check could not see what the code does: read them yourself."
    )


class CardDiffSerializer(serializers.Serializer):
    previousRequestId = serializers.UUIDField()
    previousVersion = serializers.IntegerField()
    previousCodeSha256 = serializers.CharField()
    unified = serializers.CharField(help_text="A unified diff from the previous version's code.")


class ApprovalCardSerializer(serializers.Serializer):
    """What a reviewer needs to decide: the plan, reads, writes, libraries, charts, cost, risk, the diff."""

    plan = CardPlanSerializer()
    reads = CardReadsSerializer()
    writes = serializers.ListField(child=serializers.CharField(), help_text="Paths the code writes.")
    libraries = serializers.ListField(child=serializers.CharField())
    charts = CardChartsSerializer()
    cost = CardCostSerializer()
    risk = CardRiskSerializer()
    diff = CardDiffSerializer(allow_null=True, help_text="To the previous version; null for version 1.")


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
    status = serializers.ChoiceField(choices=Status.choices)
    statusLabel = serializers.SerializerMethodField(help_text="The status in plain words, as pages say it.")
    approvalStatus = serializers.ChoiceField(choices=Status.choices, source="status", help_text="= status")
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
    reviewer = serializers.SerializerMethodField()
    rejectionReason = serializers.CharField(source="rejection_reason")
    decision = serializers.SerializerMethodField()
    execution = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)
    version = serializers.IntegerField()
    parentId = serializers.UUIDField(source="parent_id", allow_null=True)
    editedById = serializers.IntegerField(source="edited_by_id", allow_null=True)
    riskLevel = serializers.ChoiceField(
        choices=ApprovalRequest.Risk.choices,
        source="risk_level",
        allow_blank=True,
        help_text="Empty until checked.",
    )
    findings = FindingSerializer(many=True)
    policyReason = serializers.CharField(source="policy_reason")
    approvalExpiresAt = serializers.DateTimeField(source="approval_expires_at", allow_null=True)

    def get_statusLabel(self, obj: ApprovalRequest) -> str:
        return status_label(obj.status)

    def get_reviewer(self, obj: ApprovalRequest) -> str | None:
        return obj.reviewer.username if obj.reviewer_id else None

    @extend_schema_field(DecisionSerializer(allow_null=True))
    def get_decision(self, obj: ApprovalRequest) -> dict | None:
        return DecisionSerializer(obj).data if obj.decided_at else None

    @extend_schema_field(ExecutionSummarySerializer(allow_null=True))
    def get_execution(self, obj: ApprovalRequest) -> dict | None:
        execution = getattr(obj, "execution", None)
        return ExecutionSummarySerializer(execution).data if execution else None


class RequestVersionSerializer(serializers.Serializer):
    """The version a request was made from (a revision's rejected request, an edit's superseded one)."""

    requestId = serializers.UUIDField(source="id")
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)
    code = serializers.CharField()
    codeSha256 = serializers.CharField(source="code_sha256")


class ApprovalRequestDetailSerializer(ApprovalRequestSerializer):
    """One request with its approval card and, for an edited or revised version, the previous one."""

    card = serializers.SerializerMethodField()
    previousVersion = serializers.SerializerMethodField()
    nextVersionId = serializers.SerializerMethodField()

    @extend_schema_field(ApprovalCardSerializer)
    def get_card(self, obj: ApprovalRequest) -> dict:
        return approval_request_card(request=obj)

    @extend_schema_field(RequestVersionSerializer(allow_null=True))
    def get_previousVersion(self, obj: ApprovalRequest) -> dict | None:
        return RequestVersionSerializer(obj.parent).data if obj.parent_id else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_nextVersionId(self, obj: ApprovalRequest) -> str | None:
        if obj.status not in NEWER_VERSION_POSSIBLE:
            return None  # no query: only a revise (of a rejection) or an edit (superseding) makes a new one
        newest = obj.revisions.order_by("-version").values_list("pk", flat=True).first()
        return str(newest) if newest else None


class RequestListInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)


class ApproveInput(serializers.Serializer):
    requestId = serializers.UUIDField()
    approved = serializers.BooleanField()
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="Why it was rejected (empty if absent)."
    )
    codeSha256 = serializers.RegexField(
        r"^[0-9a-f]{64}$",
        required=False,
        help_text="Refuse (409 `code_changed`) unless this is the code's hash.",
    )
    reviewerId = IgnoredIdentityField(help_text="The reviewer is the token's user.")
