from django.contrib import admin

from config.admin import AUDITORS, ReadOnlyAdminMixin, TenantAdmin

from .models import AuditEvent
from .selectors import audit_event_visible_q


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """Read-only: the trail is written by the services and signals, never by hand."""

    team_path = "team"
    view_roles = AUDITORS

    list_display = (
        "sequence",
        "created_at",
        "actor_label",
        "action",
        "team",
        "target_type",
        "target_id",
        "request_id",
        "ip_address",
        "position",
    )
    list_filter = ("action", "team", "created_at", "target_type")
    list_select_related = ("team",)
    search_fields = ("actor_label", "target_id")
    date_hierarchy = "created_at"
    ordering = ("-sequence",)
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def team_q(self, teams: list):
        # As GET /api/audit: the teams' events, and the team-less ones (logins, tokens) of their members.
        return audit_event_visible_q(teams=teams)
