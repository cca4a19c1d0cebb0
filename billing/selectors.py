from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    FilteredRelation,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import AMOUNT_PLACES, Budget, CostSpan, Membership, Price, Team
from .money import nanos_to_usd, usd_text
from .periods import period_end, period_start

ASKING_ROLES = (Membership.Role.ANALYST, Membership.Role.REVIEWER)


def team_list_for_user(*, user, roles: tuple[str, ...] | None = None) -> QuerySet[Team]:
    memberships = Membership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return Team.objects.filter(pk__in=memberships.values("team_id"))


def membership_role(*, user, team: Team) -> str | None:
    return Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()


# --- prices -----------------------------------------------------------------------------------

# This process's copy of the price table: (read at, by time.monotonic(); the rows). Every call that prices
# something reads it (an analyze prices its generation and its run); the table changes when an admin says.
_prices: tuple[float, tuple[Price, ...]] | None = None


def price_list(*, kind: str) -> list[Price]:
    """The prices of one kind, from this process's copy of the table: read again once older than
    SANDGATE_PRICES_MAX_AGE_SECONDS, or after a price was saved in this process (`prices_forget`)."""
    global _prices
    copy = _prices
    if copy is None or time.monotonic() - copy[0] > settings.SANDGATE_PRICES_MAX_AGE_SECONDS:
        copy = _prices = (time.monotonic(), tuple(Price.objects.all()))
    return [price for price in copy[1] if price.kind == kind]


def prices_forget(**kwargs) -> None:
    """Drop this process's copy of the price table (a price was saved or deleted here)."""
    global _prices
    _prices = None


# --- budgets and spend ------------------------------------------------------------------------


class SpendGroup(models.TextChoices):
    """What a spend report's rows are grouped by (`groupBy`); each row names its group under this key."""

    USER = "user", "User"
    TEAM = "team", "Team"
    MODEL = "model", "Model"
    FEATURE = "feature", "Feature"
    DAY = "day", "Day (UTC)"


SPEND_GROUPS = {
    SpendGroup.USER: "user__username",
    SpendGroup.TEAM: "tenant__slug",
    SpendGroup.MODEL: "model",
    SpendGroup.FEATURE: "feature",
    SpendGroup.DAY: "day",
}
USD_PLACES = Decimal(1).scaleb(-AMOUNT_PLACES)  # costUsd's format: 8 decimals
SEEING_TEAM_SPEND = (Membership.Role.REVIEWER, Membership.Role.AUDITOR)


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    spent: Decimal
    reserved: Decimal
    resets_at: datetime | None

    @property
    def remaining(self) -> Decimal:
        return max(self.budget.limit_usd - self.spent - self.reserved, Decimal(0))

    @property
    def above_soft_threshold(self) -> bool:
        return self.spent + self.reserved >= self.budget.limit_usd * self.budget.soft_threshold


def budget_status_list(*, user, team: Team | None = None, now=None) -> list[BudgetStatus]:
    """Every active budget that applies to the user (their teams' and their own), with current totals.

    One query: each budget joined to its current period's row (which may not exist yet), whose start
    depends on the budget's kind of period. It runs on every analyze, execute and request detail. For one
    team the budgets come without a join to their team and user: they are the ones asked about.
    """
    day = (now or timezone.now()).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    budgets = _budgets_with_current_period(day=day, related=team is None)
    teams = Q(team=team) if team is not None else Q(team__in=team_list_for_user(user=user).values("pk"))
    budgets = budgets.filter(teams).filter(Q(scope=Budget.Scope.TEAM) | Q(scope=Budget.Scope.USER, user=user))
    statuses = []
    for b in budgets:
        if team is not None:
            b.team = team
            if b.user_id is not None:
                b.user = user
        start = period_start(period=b.period, at=day)
        spent, reserved = (nanos_to_usd(n or 0, places=AMOUNT_PLACES) for n in (b.spent, b.reserved))
        resets_at = period_end(period=b.period, start=start)
        statuses.append(BudgetStatus(budget=b, spent=spent, reserved=reserved, resets_at=resets_at))
    return statuses


@functools.lru_cache(maxsize=4)
def _budgets_with_current_period(*, day: datetime, related: bool) -> QuerySet[Budget]:
    """Active budgets with the totals of the period current on `day` (every kind of period starts at a UTC
    midnight), built once per day and process (never evaluated itself): building it is most of its cost."""
    current_start = Case(
        *[When(period=kind, then=Value(period_start(period=kind, at=day))) for kind in Budget.Period.values],
        output_field=DateTimeField(),
    )
    budgets = (
        Budget.objects.filter(is_active=True)
        .annotate(current=FilteredRelation("periods", condition=Q(periods__period_start=current_start)))
        .annotate(spent=F("current__spent_nanos"), reserved=F("current__reserved_nanos"))
        .order_by("team__slug", "scope", "pk")
    )
    return budgets.select_related("team", "user") if related else budgets


def budget_status_version(*, team: str, user: str) -> dict[str, Subquery]:
    """Annotations that change whenever `budget_status_list(user=<user>, team=<team>)` can, for a queryset
    whose columns `team` and `user` name them: the applying budgets' latest save (every save, the first
    included, moves `updated_at`; budgets are deactivated, never deleted) and the sum of their periods'
    `version` (every hold, release and charge adds 1). The current periods also change with the day (a
    daily budget resets): the caller adds today's date.
    """
    applying = Budget.objects.filter(
        Q(scope=Budget.Scope.TEAM) | Q(scope=Budget.Scope.USER, user=OuterRef(user)), team=OuterRef(team)
    )
    one_group = applying.order_by().values("team")
    return {
        "budgets_saved": Subquery(one_group.annotate(at=Max("updated_at")).values("at")),
        "budgets_moved": Subquery(one_group.annotate(v=Sum("periods__version")).values("v")),
    }


def budget_warning(*, user, team: Team) -> dict | None:
    """The soft-threshold warning shown with analyze/execute answers, or None below every threshold."""
    above = [s for s in budget_status_list(user=user, team=team) if s.above_soft_threshold]
    if not above:
        return None
    worst = max(above, key=lambda s: (s.spent + s.reserved) / (s.budget.limit_usd or Decimal(1)))
    used = worst.spent + worst.reserved
    return {
        "scope": worst.budget.scope,
        "limitUsd": usd_text(worst.budget.limit_usd),
        "usedUsd": usd_text(used),
        "remainingUsd": usd_text(worst.remaining),
        "resetsAt": worst.resets_at.isoformat() if worst.resets_at else None,
        "message": (
            f"{int(worst.budget.soft_threshold * 100)}% of the {worst.budget.period} "
            f"{worst.budget.scope} budget is used (${used:.2f} of ${worst.budget.limit_usd:.2f})."
        ),
    }


@dataclass(frozen=True)
class GenerationModel:
    model: str
    downgraded_from: str = ""


def generation_model_for(*, team: Team, user=None) -> GenerationModel:
    """The model to generate with: the team's cheaper model once a budget is above its soft threshold."""
    model = settings.MISTRAL_MODEL
    cheaper = team.budget_downgrade_model
    if not cheaper or cheaper == model:
        return GenerationModel(model=model)
    statuses = budget_status_list(user=user, team=team) if user is not None else []
    if any(s.above_soft_threshold for s in statuses):
        return GenerationModel(model=cheaper, downgraded_from=model)
    return GenerationModel(model=model)


def cost_span_list_visible(*, user) -> QuerySet[CostSpan]:
    """Analysts see their own spend; reviewers and auditors their teams' spend."""
    overseen = team_list_for_user(user=user, roles=SEEING_TEAM_SPEND)
    return CostSpan.objects.filter(Q(tenant__in=overseen) | Q(user=user))


def spend_report(*, user, group_by: str, start=None, end=None) -> list[dict]:
    spans = cost_span_list_visible(user=user)
    if start is not None:
        spans = spans.filter(timestamp__gte=start)
    if end is not None:
        spans = spans.filter(timestamp__lt=end)
    key = SPEND_GROUPS[group_by]
    rows = (
        spans.annotate(day=TruncDate("timestamp", tzinfo=UTC))
        .values(key)
        .annotate(
            cost=Sum("cost_nanos"),
            calls=Count("id"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            seconds=Sum("seconds"),
            unpriced=Count("id", filter=Q(unpriced=True)),
        )
        .order_by(key)
    )
    return [
        {
            group_by: str(row[key]) if row[key] is not None else "",
            "costUsd": _usd_text(row["cost"]),
            "calls": row["calls"],
            "inputTokens": row["input_tokens"],
            "outputTokens": row["output_tokens"],
            "seconds": round(row["seconds"] or 0, 3),
            "unpricedCalls": row["unpriced"],
        }
        for row in rows
    ]


def _usd_text(nanos) -> str:
    """An amount as costUsd shows it: 8 decimals (rounded half up), never in exponent form ("0E-8")."""
    return f"{nanos_to_usd(nanos).quantize(USD_PLACES, rounding=ROUND_HALF_UP):f}"


def spend_daily_by_team(*, teams: QuerySet[Team], days: int = 30, now=None) -> dict[Team, list[tuple]]:
    """Each team's spend per UTC day over the last `days` days, zeros included (for the admin chart)."""
    today = (now or timezone.now()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    rows = (
        CostSpan.objects.filter(tenant__in=teams, timestamp__date__gte=first)
        .annotate(day=TruncDate("timestamp", tzinfo=UTC))
        .values("tenant_id", "day")
        .annotate(cost=Sum("cost_nanos"))
    )
    totals = {(r["tenant_id"], r["day"]): nanos_to_usd(r["cost"], places=AMOUNT_PLACES) for r in rows}
    dates = [first + timedelta(days=n) for n in range(days)]
    return {t: [(d, totals.get((t.pk, d), Decimal(0))) for d in dates] for t in teams.order_by("slug")}


def spend_top_spenders(*, teams: QuerySet[Team], start, limit: int = 10) -> list[dict]:
    rows = (
        CostSpan.objects.filter(tenant__in=teams, timestamp__gte=start, user__isnull=False)
        .values("user__username", "tenant__slug")
        .annotate(cost=Sum("cost_nanos"), calls=Count("id"))
        .order_by("-cost")[:limit]
    )
    return [{**row, "cost": nanos_to_usd(row["cost"], places=AMOUNT_PLACES)} for row in rows]


def cost_total(*, spans: QuerySet[CostSpan]) -> Decimal:
    """What these cost spans cost together, exactly (summed in whole nano-dollars)."""
    return nanos_to_usd(spans.aggregate(total=Sum("cost_nanos"))["total"] or 0, places=AMOUNT_PLACES)
