"""Shared admin pieces, and the API tokens' admin."""

from django.contrib import admin


class ReadOnlyAdminMixin:
    """For records the app writes and nobody edits by hand: cost spans, reservations, audit events."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens in the console: whose, when made, when they expire; never the key (it is not stored).

    No add: a token is made by its owner, from their session (POST /api/tokens). Deleting one revokes it
    (audited `token.revoked`). Registered in place of knox's own admin, which lists the digest and lets an
    administrator make tokens for anyone.
    """

    list_display = ("token_id", "user", "created", "expiry")
    list_filter = ("expiry",)
    search_fields = ("user__username",)
    fields = ("token_id", "user", "created", "expiry")
    readonly_fields = fields
    list_select_related = ("user",)
    ordering = ("-created",)

    @admin.display(description="token id")
    def token_id(self, token) -> str:
        from config.tokens import token_id

        return token_id(token)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_queryset(self, request, queryset):
        for token in queryset:  # one by one, so each revocation sends its signal and is audited
            token.delete()
