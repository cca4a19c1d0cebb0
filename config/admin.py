"""Shared admin pieces."""


class ReadOnlyAdminMixin:
    """For records the app writes and nobody edits by hand: cost spans, reservations, audit events."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
