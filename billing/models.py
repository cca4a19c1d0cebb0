import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .money import usd_property, usd_text
from .validators import MAX_ACTIVE_RUNS, MAX_HIGH_RISK_QUORUM, validate_sandbox_limits

# Amounts are whole nano-dollars (billing/money.py); each has a USD view shown with these decimals.
LIMIT_PLACES = 6
AMOUNT_PLACES = 8


class Team(models.Model):
    """A tenant: datasets, requests, spend and budgets all belong to one team."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    # Per-team overrides of settings.SANDBOX_LIMITS, e.g. {"wall_seconds": 60}.
    sandbox_limits = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_sandbox_limits],
        help_text='Overrides of the server\'s sandbox limits, e.g. {"wall_seconds": 60, "memory_mb": 512}.',
    )
    # Distinct reviewers needed to approve a high-risk request.
    high_risk_quorum = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(MAX_HIGH_RISK_QUORUM)]
    )
    # Above a budget's soft threshold, generate with this cheaper model instead (empty: never downgrade).
    budget_downgrade_model = models.CharField(max_length=100, blank=True)
    # The team's runs queued for or running on a worker at once; the rest wait in the database (empty: the
    # server's SANDGATE_RUNS_PER_TEAM).
    max_active_runs = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_ACTIVE_RUNS)],
        help_text="Runs of this team queued or running at once; the others wait their turn. "
        "Empty: the server's default (SANDGATE_RUNS_PER_TEAM).",
    )
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
        PROFILING = "profiling", "Profiling an upload"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=100, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)
    cost_nanos = models.BigIntegerField(default=0)
    # No Price row for the model: priced like the dearest model and flagged, never silently free.
    unpriced = models.BooleanField(default=False)
    tenant = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="cost_spans", verbose_name="team")
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

    cost_usd = usd_property("cost_nanos", places=AMOUNT_PLACES)

    class Meta:
        indexes = [models.Index(fields=["tenant", "timestamp"])]

    def __str__(self) -> str:
        return f"{self.feature} {self.model} ${usd_text(self.cost_usd)}"


class Price(models.Model):
    """What one unit costs, in USD: an LLM model's tokens, or the sandbox's vCPU- and GiB-seconds."""

    class Kind(models.TextChoices):
        LLM = "llm", "LLM model"
        SANDBOX = "sandbox", "Sandbox"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LLM)
    # The model name for LLM prices ("mistral-large-latest"); the backend for sandbox prices ("local", "e2b").
    name = models.CharField(max_length=100, unique=True)
    input_usd_per_mtok = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    output_usd_per_mtok = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    usd_per_vcpu_second = models.DecimalField(max_digits=14, decimal_places=10, default=0)
    usd_per_gib_second = models.DecimalField(max_digits=14, decimal_places=10, default=0)
    source = models.CharField(max_length=300, help_text="Where the price comes from (a URL or a contract).")
    as_of = models.DateField(help_text="The day the source said so.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class Budget(models.Model):
    """A hard spending limit for a team, or for one user within a team, per UTC calendar period."""

    class Scope(models.TextChoices):
        TEAM = "team", "Team"
        USER = "user", "User"

    class Period(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly (from Monday)"
        MONTHLY = "monthly", "Monthly"
        TOTAL = "total", "Total (never resets)"

    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.TEAM)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="budgets")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.MONTHLY)
    limit_nanos = models.BigIntegerField()
    soft_threshold = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.800"),
        help_text="Warn above this share of the limit: 0.8 is 80%.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Every save of a budget moves it (budget_save): part of what a budget status's version reads.
    updated_at = models.DateTimeField(auto_now=True)

    limit_usd = usd_property("limit_nanos", places=LIMIT_PLACES)

    class Meta:
        ordering = ["team", "scope", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(scope="team", user__isnull=True) | models.Q(scope="user", user__isnull=False)
                ),
                name="budget_user_matches_scope",
            ),
            models.CheckConstraint(condition=models.Q(limit_nanos__gte=0), name="budget_limit_not_negative"),
        ]

    def __str__(self) -> str:
        who = self.team.slug if self.user_id is None else f"{self.user} in {self.team.slug}"
        return f"{self.period} budget of {who}: ${usd_text(self.limit_usd)}"


class BudgetPeriod(models.Model):
    """One budget's running totals for one period; created on first use, locked by reservations."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="periods")
    period_start = models.DateTimeField()
    spent_nanos = models.BigIntegerField(default=0)
    reserved_nanos = models.BigIntegerField(default=0)
    # Whether the soft-threshold warning went out for this period (sent once).
    warned = models.BooleanField(default=False)
    # Counts the changes of spent and reserved (each hold, release and charge adds 1), so a version read
    # from it changes with every change of the totals, even when a hold and a release cancel out.
    version = models.PositiveBigIntegerField(default=0)

    spent_usd = usd_property("spent_nanos", places=AMOUNT_PLACES)
    reserved_usd = usd_property("reserved_nanos", places=AMOUNT_PLACES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["budget", "period_start"], name="one_row_per_budget_period"),
            models.CheckConstraint(condition=models.Q(reserved_nanos__gte=0), name="reserved_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.budget} from {self.period_start:%Y-%m-%d}"


class Reservation(models.Model):
    """Money held against budgets before an LLM call or a run, settled with the actual cost afterwards."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SETTLED = "settled", "Settled"
        RELEASED = "released", "Released"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="reservations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="reservations"
    )
    request = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reservations",
    )
    feature = models.CharField(max_length=20, choices=CostSpan.Feature.choices)
    amount_nanos = models.BigIntegerField()
    actual_nanos = models.BigIntegerField(null=True, blank=True)
    # The BudgetPeriod rows holding the amount, in lock order (ascending primary key).
    period_ids = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # The sweeper releases an active reservation after this: its owner (a worker) is presumed dead.
    lease_expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    amount_usd = usd_property("amount_nanos", places=AMOUNT_PLACES)
    actual_usd = usd_property("actual_nanos", places=AMOUNT_PLACES)

    class Meta:
        # Plain b-trees: `db_index=True` would add a `_like` twin no query uses, written on every insert.
        indexes = [models.Index(fields=["status"], name="reservation_status")]

    def __str__(self) -> str:
        return f"{self.feature} ${usd_text(self.amount_usd)} ({self.status})"
