from django.contrib import admin

from config.admin import OVERSIGHT, ReadOnlyAdminMixin, TenantAdmin, TenantInline

from .models import Dataset, Execution, Message, Session
from .services.datasets import dataset_sharing_set


class MessageInline(TenantInline, admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("created_at", "role", "content", "request")
    readonly_fields = fields


@admin.register(Session)
class SessionAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """The analyst's conversation: only its analyst archives it (web, API), and idle ones expire."""

    team_path = "team"
    view_roles = OVERSIGHT
    list_display = ("title", "user", "team", "status", "last_activity_at")
    list_filter = ("status", "team")
    list_select_related = ("user", "team")
    readonly_fields = ("user", "team", "created_at", "last_activity_at", "metadata")
    inlines = [MessageInline]


@admin.register(Dataset)
class DatasetAdmin(TenantAdmin):
    team_path = "team"
    view_roles = OVERSIGHT
    list_display = ("name", "team", "status", "row_count", "size", "allow_sample_sharing", "created_at")
    list_filter = ("team", "status", "allow_sample_sharing")
    # Sample sharing is the one setting changed here. The name is the path approved code reads
    # (/data/<name>) and the team its tenant: neither changes once uploaded.
    readonly_fields = (
        "name",
        "team",
        "status",
        "failure_reason",
        "stored_as",
        "size",
        "sha256",
        "row_count",
        "columns",
        "uploaded_by",
        "created_at",
        "profiled_at",
    )
    fields = ("name", "team", "allow_sample_sharing", *readonly_fields[2:])

    @admin.display(description="stored as")
    def stored_as(self, obj) -> str:
        # The storage name only: a FileField would link to a file URL (a signed bucket URL with a bucket).
        return obj.file.name

    def save_model(self, request, obj, form, change):
        dataset_sharing_set(dataset=obj, actor=request.user, allow_sample_sharing=obj.allow_sample_sharing)

    def has_add_permission(self, request) -> bool:
        return False  # uploads go through the web page or the API, which check and profile the file

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # approved requests and their runs name it


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """A run's record, written by the worker; nobody edits it."""

    team_path = "request__team"
    view_roles = OVERSIGHT
    list_display = ("id", "request", "status", "backend", "duration_ms", "started_at")
    list_filter = ("status", "backend")
    list_select_related = ("request",)
    readonly_fields = [field.name for field in Execution._meta.fields]
