from datetime import timedelta
from decimal import Decimal

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from config.admin import GLOBAL, OVERSIGHT, ReadOnlyAdminMixin, TenantAdmin, TenantInline

from . import selectors, services
from .models import Budget, BudgetPeriod, CostSpan, Membership, Price, Reservation, Team

CHART_WIDTH, CHART_HEIGHT, CHART_DAYS = 600, 120, 30


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
    team_path = "tenant"
    view_roles = OVERSIGHT
    list_display = (
        "timestamp",
        "tenant",
        "user",
        "feature",
        "provider",
        "model",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "unpriced",
    )
    list_filter = ("feature", "provider", "unpriced", "tenant")
    list_select_related = ("tenant", "user")
    date_hierarchy = "timestamp"

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


class BudgetPeriodInline(TenantInline, admin.TabularInline):
    model = BudgetPeriod
    extra = 0
    fields = ("period_start", "spent_usd", "reserved_usd", "warned")
    readonly_fields = fields
    ordering = ("-period_start",)
    can_delete = False  # the running totals that holds and settlements move: nobody deletes them

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(TenantAdmin):
    team_path = "team"
    view_roles = OVERSIGHT
    list_display = ("team", "scope", "user", "period", "limit_usd", "soft_threshold", "is_active")
    list_filter = ("scope", "period", "is_active", "team")
    list_select_related = ("team", "user")
    autocomplete_fields = ("user",)
    inlines = [BudgetPeriodInline]

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
