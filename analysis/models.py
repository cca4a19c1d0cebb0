import uuid

from django.conf import settings
from django.db import models


class Session(models.Model):
    """A conversation: follow-up questions in the same session see the earlier turns."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="analysis_sessions"
    )
    team = models.ForeignKey("billing.Team", on_delete=models.PROTECT, related_name="sessions")
    title = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-last_activity_at"]

    def __str__(self) -> str:
        return self.title or str(self.id)


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"
        SYSTEM = "system", "System"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    request = models.ForeignKey(
        "approvals.ApprovalRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


def dataset_upload_to(instance: "Dataset", filename: str) -> str:
    return f"datasets/{instance.team_id}/{instance.id}/{filename}"


class Dataset(models.Model):
    """A team's data file; the sandbox sees it read-only at /data/<name>.

    A CSV is profiled in the upload's request and is `ready` at once. XLSX, Parquet and JSON are profiled by
    a worker, in the sandbox: `queued` (waiting for one of its team's profiling slots, in the database) →
    `profiling` (a slot taken, the task published, then claimed) → `ready` | `failed` (with its reason).
    Only ready datasets can be chosen for a question.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to be profiled"
        PROFILING = "profiling", "Profiling"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("billing.Team", on_delete=models.PROTECT, related_name="datasets")
    name = models.CharField(max_length=200)
    file = models.FileField(upload_to=dataset_upload_to, max_length=500)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    row_count = models.PositiveIntegerField(default=0)
    columns = models.JSONField(default=list, blank=True)  # [{"name": ..., "dtype": ...}]
    allow_sample_sharing = models.BooleanField(
        default=False, help_text="Send a few sample rows to the LLM. Off: only names, types and counts."
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    # Why profiling failed, in words for the analyst (empty unless failed).
    failure_reason = models.TextField(blank=True)
    # When a profiling slot of the team was given and the task published; then when a worker claimed it (past
    # the lease the reaper presumes the worker dead), and when the profile ended.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    profiling_started_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    profiled_at = models.DateTimeField(null=True, blank=True)
    # The budget hold for profiling in the sandbox, settled with its cost span when the profile ends.
    reservation = models.ForeignKey(
        "billing.Reservation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            # A failed upload stays as the record of why; its name is free for the corrected file.
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=~models.Q(status="failed"),
                name="dataset_name_unique_per_team",
            )
        ]
        indexes = [models.Index(fields=["team", "status"], name="dataset_team_status")]

    def __str__(self) -> str:
        return self.name


class Execution(models.Model):
    """The one run of an approved request. One per request: a second run is impossible by construction."""

    class Status(models.TextChoices):
        # In the database only, until one of its team's run slots frees (SANDGATE_RUNS_PER_TEAM).
        WAITING = "waiting", "Waiting for a run slot"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"
        # Its worker died mid-run (heartbeat stale or lease expired); settled by the reaper, never run again.
        INTERRUPTED = "interrupted", "Interrupted"

    FINAL_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.INTERRUPTED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.OneToOneField(
        "approvals.ApprovalRequest", on_delete=models.PROTECT, related_name="execution"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    backend = models.CharField(max_length=16, blank=True)
    code_sha256 = models.CharField(max_length=64)
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)
    error = models.JSONField(null=True, blank=True)
    results = models.JSONField(default=list, blank=True)
    limits = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When it took one of its team's run slots and its task was published.
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Set when a worker claims the run; past it, a still-running row's worker is presumed dead (the reaper).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Renewed every SANDGATE_HEARTBEAT_SECONDS while its worker lives; stale, the reaper interrupts the run.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # The sequence number of the last live-output chunk the worker wrote (analysis/live.py).
    output_seq = models.PositiveIntegerField(default=0)

    class Meta:
        # Plain b-trees: `db_index=True` would add a `_like` twin no query uses, written on every insert.
        indexes = [models.Index(fields=["status"], name="execution_status")]

    def __str__(self) -> str:
        return f"execution {self.id} ({self.status})"


def artifact_upload_to(instance: "Artifact", filename: str) -> str:
    # Stored under a random name: the user-chosen name is only a label, never a path.
    return f"artifacts/{instance.execution_id}/{uuid.uuid4().hex}"


class Artifact(models.Model):
    """A file the approved code wrote under /output, returned by the sandbox within its caps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    execution = models.ForeignKey(Execution, on_delete=models.PROTECT, related_name="artifacts")
    name = models.CharField(max_length=128)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    file = models.FileField(upload_to=artifact_upload_to, max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "name"], name="artifact_name_unique_per_execution")
        ]

    def __str__(self) -> str:
        return self.name


class OutputChunk(models.Model):
    """Live output of a running execution, when there is no Redis: what the run printed since the last chunk.

    Written by the worker at most every SANDGATE_LIVE_OUTPUT_DATABASE_SECONDS; removed when the run ends (the
    execution's own stdout and stderr are the record).
    """

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveIntegerField()
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["execution", "seq"], name="output_chunk_seq_unique")]

    def __str__(self) -> str:
        return f"output {self.execution_id} #{self.seq}"
