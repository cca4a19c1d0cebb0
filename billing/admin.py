from django.contrib import admin

from .models import CostSpan, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")
    inlines = [MembershipInline]


@admin.register(CostSpan)
class CostSpanAdmin(admin.ModelAdmin):
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
    )
    list_filter = ("feature", "provider", "tenant")
    list_select_related = ("tenant", "user")
    date_hierarchy = "timestamp"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
