import uuid

from django.conf import settings
from django.db import models

from billing.money import usd_property


class ApprovalRequest(models.Model):
    """One question's way from generated code through human review to its single execution."""

    class Status(models.TextChoices):
        GENERATING = "generating", "Generating"
        GENERATION_FAILED = "generation_failed", "Generation failed"
        # The generator could not map the question to the data with confidence: no code, no review.
        NEEDS_CLARIFICATION = "needs_clarification", "Needs clarification"
        POLICY_BLOCKED = "policy_blocked", "Blocked by policy"
        PENDING_REVIEW = "pending_review", "Pending review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"
        SUPERSEDED = "superseded", "Superseded by an edit"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"
        # Its worker died while generating or running (heartbeat stale, lease past); settled by the reaper.
        INTERRUPTED = "interrupted", "Interrupted"

    FINAL_STATUSES = frozenset(
        {
            Status.GENERATION_FAILED,
            Status.NEEDS_CLARIFICATION,
            Status.POLICY_BLOCKED,
            Status.SUPERSEDED,
            Status.REJECTED,
            Status.CANCELLED,
            Status.EXPIRED,
            Status.SUCCEEDED,
            Status.FAILED,
            Status.TIMED_OUT,
            Status.INTERRUPTED,
        }
    )

    class Risk(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    query = models.TextField()
    code = models.TextField(blank=True)
    # One to four plain sentences from the generator: what the code computes, from which data, what it shows.
    plan = models.TextField(blank=True)
    # When no code was written: {"understood": str, "missing": str, "examples": [str, ...]}; else null.
    clarification = models.JSONField(null=True, blank=True, default=None)
    code_sha256 = models.CharField(max_length=64, blank=True)
    # The hash the reviewer approved; the worker refuses to run anything else.
    approved_code_sha256 = models.CharField(max_length=64, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_requests"
    )
    team = models.ForeignKey("billing.Team", on_delete=models.PROTECT, related_name="approval_requests")
    session = models.ForeignKey("analysis.Session", on_delete=models.PROTECT, related_name="requests")
    datasets = models.ManyToManyField("analysis.Dataset", blank=True, related_name="requests")
    # A reviewer's "ask for a new version" links the new request to the rejected one (version 2, 3, ...).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )
    version = models.PositiveIntegerField(default=1)
    # The reviewer whose edit produced this version; they may not be the one who approves it.
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The static policy check of this version's code (approvals/policy.py).
    risk_level = models.CharField(max_length=8, choices=Risk.choices, blank=True)
    findings = models.JSONField(default=list, blank=True)  # [{rule, severity, line, message}]
    policy_reason = models.TextField(blank=True)  # why the policy blocked it, shown to the analyst
    # SHA-256 over the code's hash, the datasets' hashes and the limits, bound when approved (see
    # services.approval_digest); the worker recomputes it and refuses to run on any difference.
    approval_digest = models.CharField(max_length=64, blank=True)
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    # What the request may cost at most (its generation and one run), in nano-dollars (billing/money.py).
    budget_estimate_nanos = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.GENERATING)
    provider = models.CharField(max_length=32, blank=True)
    model = models.CharField(max_length=100, blank=True)
    generation_error = models.TextField(blank=True)
    # Set when a generate worker claims the request: a redelivered task leaves a claimed request alone,
    # and past it a request still generating is presumed abandoned (the reaper).
    generation_lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Renewed every SANDGATE_HEARTBEAT_SECONDS while the generate worker lives; stale, the reaper interrupts.
    generation_heartbeat_at = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reviewed_requests",
    )
    rejection_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    budget_estimate = usd_property("budget_estimate_nanos", places=6)

    class Meta:
        ordering = ["-created_at"]
        # Plain b-trees: `db_index=True` would add a `_like` twin no query uses, written on every insert.
        indexes = [
            models.Index(fields=["status"], name="approval_request_status"),
            models.Index(fields=["risk_level"], name="approval_request_risk_level"),
        ]
        constraints = [
            # Defence in depth for the service's check: nobody reviews their own request.
            models.CheckConstraint(
                condition=models.Q(reviewer__isnull=True) | ~models.Q(reviewer=models.F("user")),
                name="reviewer_is_not_requester",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.query[:60]} ({self.status})"

    @property
    def is_offline(self) -> bool:
        return self.provider == "offline"


class ApprovalVote(models.Model):
    """One reviewer's approval of one version; a high-risk request needs the team's quorum of these."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="votes")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Copied from the request so the database itself can refuse a vote on one's own request.
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approval_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["request", "reviewer"], name="one_vote_per_reviewer"),
            models.CheckConstraint(
                condition=~models.Q(reviewer=models.F("requester")), name="voter_is_not_requester"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} approved {self.request_id}"


class PolicyRule(models.Model):
    """An admin's setting for one rule of the policy check; rules without a row use their defaults."""

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High (needs the team's quorum)"
        CRITICAL = "critical", "Critical (blocks before review)"

    code = models.SlugField(max_length=40, primary_key=True)
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    # Only for the "import-not-allowed" rule: one module per line ("os.path" allows only that submodule).
    allowed_modules = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code
