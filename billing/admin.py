from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from config import money
from config.admin import GLOBAL, OVERSIGHT, ReadOnlyAdminMixin, TenantAdmin, TenantInline
from config.money import percent

from . import selectors, services
from .models import Budget, BudgetPeriod, CostSpan, Membership, Price, Reservation, Team
from .money import usd_text

CHART_WIDTH, CHART_HEIGHT, CHART_DAYS = 600, 120, 30


def usd_column(name: str):
    """An amount's USD property (`cost_usd`) as a column or read-only field: in fixed-point notation with its
    decimals, "-" when empty, sorted by its nano-dollar column."""

    @admin.display(description=name.replace("_", " "), ordering=name.removesuffix("_usd") + "_nanos")
    def column(self, obj) -> str:
        value = getattr(obj, name)
        return self.get_empty_value_display() if value is None else usd_text(value)

    column.__name__ = name
    return column


class MembershipInline(TenantInline, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Team)
class TeamAdmin(TenantAdmin):
    team_path = "pk"  # a team is its own tenant
    view_roles = OVERSIGHT
    list_display = (
        "slug",
        "name",
        "high_risk_quorum",
        "max_active_runs",
        "budget_downgrade_model",
        "created_at",
    )
    search_fields = ("slug", "name")
    ordering = ("slug",)
    inlines = [MembershipInline]  # memberships are audited by audit/signals.py

    def get_readonly_fields(self, request, obj=None):
        return ("slug",) if obj is not None else ()  # a team's identifier in exports and the audit trail

    def save_model(self, request, obj, form, change):
        services.team_save(team=obj, actor=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # its requests, spend and trail stay: remove its members instead


@admin.register(CostSpan)
class CostSpanAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """Priced LLM calls and sandbox runs, newest first; the spend report is linked from the list."""

    team_path = "tenant"
    view_roles = OVERSIGHT
    change_list_template = "admin/billing/costspan/change_list.html"
    list_display = (
        "timestamp",
        "team",
        "user",
        "feature",
        "provider",
        "model",
        "input_tokens",
        "output_tokens",
        "cost",
        "unpriced",
    )
    list_filter = ("feature", "provider", "unpriced", "tenant")
    list_select_related = ("tenant", "user")
    date_hierarchy = "timestamp"
    ordering = ("-timestamp",)
    # The cost in USD on the change page; the row stores it in nano-dollars.
    fields = (
        "provider",
        "model",
        "input_tokens",
        "output_tokens",
        "seconds",
        "cost_usd",
        "unpriced",
        "tenant",
        "user",
        "feature",
        "request",
    )
    readonly_fields = ("cost_usd",)
    cost_usd = usd_column("cost_usd")

    @admin.display(description="Team", ordering="tenant__slug")
    def team(self, obj: CostSpan) -> str:
        return obj.tenant.name

    @admin.display(description="Cost", ordering="cost_nanos")
    def cost(self, obj: CostSpan) -> str:
        return money.usd(obj.cost_usd)

    def get_urls(self):
        spend = path("spend/", self.admin_site.admin_view(self.spend_view), name="billing_spend")
        return [spend, *super().get_urls()]

    def spend_view(self, request):
        """Each team's spend per day (inline SVG bars, no JavaScript) and the top spenders."""
        teams = Team.objects.all()
        if not request.user.is_superuser:
            teams = selectors.team_list_for_user(user=request.user, roles=selectors.SEEING_TEAM_SPEND)
        daily = selectors.spend_daily_by_team(teams=teams, days=CHART_DAYS)
        since = timezone.now() - timedelta(days=CHART_DAYS)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Spend over the last {CHART_DAYS} days",
            "charts": [_chart(team, days) for team, days in daily.items()],
            "top_spenders": selectors.spend_top_spenders(teams=teams, start=since),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/billing/spend.html", context)


def _chart(team: Team, days: list[tuple]) -> dict:
    """Bars of one team's daily spend, scaled to the dearest day."""
    peak = max((cost for _, cost in days), default=Decimal(0)) or Decimal(1)
    width = CHART_WIDTH / len(days)
    bars = []
    for n, (day, cost) in enumerate(days):
        height = float(cost / peak) * (CHART_HEIGHT - 10)
        bars.append(
            {
                "x": round(n * width, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "w": round(width - 2, 1),
                "h": round(height, 1),
                "day": day,
                "cost": cost,
            }
        )
    return {
        "team": team,
        "bars": bars,
        "total": sum(c for _, c in days),
        "peak": peak,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
    }


@admin.register(Price)
class PriceAdmin(TenantAdmin):
    team_path = GLOBAL
    list_display = (
        "name",
        "kind",
        "input_usd_per_mtok",
        "output_usd_per_mtok",
        "usd_per_vcpu_second",
        "usd_per_gib_second",
        "source",
        "as_of",
        "updated_at",
    )
    list_filter = ("kind",)
    search_fields = ("name",)

    def save_model(self, request, obj, form, change):
        services.price_save(price=obj, actor=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a model without a price would be priced as the dearest one: change it instead


class BudgetForm(forms.ModelForm):
    """The limit is edited in USD (6 decimals, as ever) and stored in nano-dollars (billing/money.py)."""

    limit_usd = forms.DecimalField(label="Limit usd", max_digits=12, decimal_places=6, min_value=0)

    class Meta:
        model = Budget
        fields = ("team", "scope", "user", "period", "soft_threshold", "is_active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.limit_nanos is not None:
            self.initial.setdefault("limit_usd", self.instance.limit_usd)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("limit_usd") is not None:
            self.instance.limit_usd = cleaned["limit_usd"]
        return cleaned


class BudgetPeriodInline(TenantInline, admin.TabularInline):
    model = BudgetPeriod
    extra = 0
    fields = ("period_start", "spent_usd", "reserved_usd", "warned")
    readonly_fields = fields
    spent_usd = usd_column("spent_usd")
    reserved_usd = usd_column("reserved_usd")
    ordering = ("-period_start",)
    can_delete = False  # the running totals that holds and settlements move: nobody deletes them

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(TenantAdmin):
    team_path = "team"
    view_roles = OVERSIGHT
    form = BudgetForm
    fields = ("team", "scope", "user", "period", "limit_usd", "soft_threshold", "is_active")
    list_display = ("team", "scope", "user", "period", "limit", "threshold", "is_active")
    list_filter = ("scope", "period", "is_active", "team")
    list_select_related = ("team", "user")
    autocomplete_fields = ("user",)
    inlines = [BudgetPeriodInline]

    @admin.display(description="Limit", ordering="limit_nanos")
    def limit(self, obj: Budget) -> str:
        return money.usd(obj.limit_usd)

    @admin.display(description="Warns at", ordering="soft_threshold")
    def threshold(self, obj: Budget) -> str:
        return percent(obj.soft_threshold)

    def get_readonly_fields(self, request, obj=None):
        # Whose budget it is and its period are its identity (its periods' totals hang on them): to change
        # those, deactivate it and add another.
        return ("team", "scope", "user", "period") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        services.budget_save(budget=obj, actor=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deactivate instead: the history of holds and spend stays


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdminMixin, TenantAdmin):
    team_path = "team"
    view_roles = OVERSIGHT
    list_display = (
        "created_at",
        "team",
        "user",
        "feature",
        "amount_usd",
        "actual_usd",
        "status",
        "lease_expires_at",
    )
    list_filter = ("status", "feature", "team")
    list_select_related = ("team", "user")
    # Amounts in USD; the row stores them in nano-dollars.
    fields = (
        "team",
        "user",
        "request",
        "feature",
        "amount_usd",
        "actual_usd",
        "period_ids",
        "status",
        "lease_expires_at",
        "finished_at",
    )
    readonly_fields = ("amount_usd", "actual_usd")
    amount_usd = usd_column("amount_usd")
    actual_usd = usd_column("actual_usd")
