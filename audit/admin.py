from django.contrib import admin

from config.admin import ReadOnlyAdminMixin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the trail is written by the services and signals, never by hand."""

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
