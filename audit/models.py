import uuid

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One thing that happened. Rows are only ever appended; the actor label outlives deleted users."""

    class Action(models.TextChoices):
        REQUEST_CREATED = "request.created", "Request created"
        REQUEST_GENERATED = "request.generated", "Code generated"
        REQUEST_GENERATION_FAILED = "request.generation_failed", "Code generation failed"
        REQUEST_APPROVED = "request.approved", "Request approved"
        REQUEST_REJECTED = "request.rejected", "Request rejected"
        REQUEST_CANCELLED = "request.cancelled", "Request cancelled"
        EXECUTION_QUEUED = "execution.queued", "Execution queued"
        EXECUTION_STARTED = "execution.started", "Execution started"
        EXECUTION_FINISHED = "execution.finished", "Execution finished"
        EXECUTION_REFUSED = "execution.refused", "Execution refused"
        DATASET_UPLOADED = "dataset.uploaded", "Dataset uploaded"
        SESSION_CREATED = "session.created", "Session created"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.CharField(max_length=64, choices=Action.choices, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    team = models.ForeignKey("billing.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")
