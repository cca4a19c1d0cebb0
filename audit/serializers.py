"""JSON shapes of the audit trail; camelCase like the rest of the API."""

from rest_framework import serializers

from .models import AuditEvent


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
    details = serializers.DictField(help_text="What the action concerned; its keys depend on `action`.")
    prevHash = serializers.CharField(source="prev_hash")
    hash = serializers.CharField()


class AuditListInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=AuditEvent.Action.choices, required=False)
    actor = serializers.CharField(required=False, max_length=150, help_text="username (the recorded label)")
    since = serializers.DateTimeField(required=False, help_text="inclusive")
    until = serializers.DateTimeField(required=False, help_text="exclusive")
    requestId = serializers.UUIDField(required=False)
