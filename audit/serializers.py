"""JSON shapes of the audit trail; camelCase like the rest of the API."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import AuditEvent

# An event's details depend on its action; these keys mean the same, with the same type, wherever they are.
AUDIT_DETAILS = {
    "type": "object",
    "description": "What the event concerns; its keys depend on `action`. Those listed here mean the same "
    "wherever they appear; others are the action's own.",
    "properties": {
        "code_sha256": {"type": "string", "description": "The SHA-256 of the code concerned."},
        "reason": {"type": "string", "description": "Why (a rejection, a refusal, a failure)."},
        "changed": {
            "type": "array",
            "items": {"type": "string"},
            "description": "A change's fields that changed.",
        },
        "before": {
            "type": "object",
            "additionalProperties": {},
            "nullable": True,
            "description": "A change's fields before it (null: just created).",
        },
        "after": {
            "type": "object",
            "additionalProperties": {},
            "nullable": True,
            "description": "A change's fields after it.",
        },
    },
    "additionalProperties": {},
}


@extend_schema_field(AUDIT_DETAILS, component_name="AuditDetails")
class AuditDetailsField(serializers.JSONField):
    """The event's details as recorded."""


class AuditEventSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    position = serializers.IntegerField(allow_null=True)
    id = serializers.UUIDField()
    createdAt = serializers.DateTimeField(source="created_at")
    action = serializers.ChoiceField(choices=AuditEvent.Action.choices)
    actorId = serializers.IntegerField(source="actor_id", allow_null=True)
    actor = serializers.CharField(source="actor_label")
    teamId = serializers.UUIDField(source="team_id", allow_null=True)
    targetType = serializers.CharField(source="target_type")
    targetId = serializers.CharField(source="target_id")
    requestId = serializers.UUIDField(source="request_id", allow_null=True)
    ipAddress = serializers.CharField(source="ip_address", allow_null=True)
    userAgent = serializers.CharField(source="user_agent")
    details = AuditDetailsField()
    prevHash = serializers.CharField(source="prev_hash")
    hash = serializers.CharField()


class AuditListInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=AuditEvent.Action.choices, required=False)
    actor = serializers.CharField(required=False, max_length=150, help_text="username (the recorded label)")
    since = serializers.DateTimeField(required=False, help_text="inclusive")
    until = serializers.DateTimeField(required=False, help_text="exclusive")
    requestId = serializers.UUIDField(required=False)
