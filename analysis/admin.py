from django.contrib import admin

from .models import Dataset, Execution, Message, Session


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("created_at", "role", "content", "request")
    readonly_fields = fields


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "team", "status", "last_activity_at")
    list_filter = ("status", "team")
    list_select_related = ("user", "team")
    readonly_fields = ("user", "team", "created_at", "last_activity_at", "metadata")
    inlines = [MessageInline]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "row_count", "size", "allow_sample_sharing", "created_at")
    list_filter = ("team", "allow_sample_sharing")
    readonly_fields = ("file", "size", "sha256", "row_count", "columns", "uploaded_by", "created_at")


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ("id", "request", "status", "backend", "duration_ms", "started_at")
    list_filter = ("status", "backend")
    list_select_related = ("request",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
