import uuid

from django.conf import settings
from django.db import models


class Team(models.Model):
    """A tenant: datasets, requests, spend and budgets all belong to one team."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    # Per-team overrides of settings.SANDBOX_LIMITS, e.g. {"wall_seconds": 300}.
    sandbox_limits = models.JSONField(default=dict, blank=True)
    # Distinct reviewers needed to approve a high-risk request.
    high_risk_quorum = models.PositiveSmallIntegerField(default=2)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        ANALYST = "analyst", "Analyst"
        REVIEWER = "reviewer", "Reviewer"
        AUDITOR = "auditor", "Auditor"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANALYST)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class CostSpan(models.Model):
    """One priced unit of spend: an LLM call or a sandbox run."""

    class Feature(models.TextChoices):
        GENERATION = "generation", "Generation"
        REPAIR = "repair", "Repair"
        EXECUTION = "execution", "Execution"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=100, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    tenant = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="cost_spans")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="cost_spans"
    )
    feature = models.CharField(max_length=20, choices=Feature.choices)
    request = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cost_spans",
    )
    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "timestamp"])]

    def __str__(self) -> str:
        return f"{self.feature} {self.model} ${self.cost_usd}"
