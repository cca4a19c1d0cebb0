import uuid

import pgtrigger
from django.conf import settings
from django.db import models

# The only columns that may ever change, and only once: the chainer fills them (see audit/chain.py).
CHAIN_FIELDS = frozenset({"position", "prev_hash", "hash"})
APPEND_ONLY = "Audit events are append-only."


class AuditEventQuerySet(models.QuerySet):
    """Refuses bulk changes; only the chainer's one-time filling of the chain columns gets through."""

    def update(self, **kwargs):
        if not kwargs.keys() <= CHAIN_FIELDS:
            raise ValueError(APPEND_ONLY)
        return super().update(**kwargs)

    def delete(self):
        raise ValueError(APPEND_ONLY)

    delete.queryset_only = True


# The database itself refuses what the model refuses (PostgreSQL only; on SQLite the model guards).
# These are pgtrigger triggers, so `pgtrigger.ignore(...)` can lift them for one thread: the hash chain,
# anchored in AUDIT_HEAD_FILE outside the database, is what catches anyone who does that.
# The conditions are WHEN clauses, so the common case (a plain insert, the chainer's one fill) costs no
# PL/pgSQL call; the function only runs to refuse.
_BREAKS_FILL_ONCE = """
    OLD.hash <> '' OR OLD.position IS NOT NULL
    OR NEW.position IS NULL OR NEW.hash !~ '^[0-9a-f]{64}$' OR NEW.prev_hash !~ '^[0-9a-f]{64}$'
    OR (to_jsonb(OLD) - 'position' - 'prev_hash' - 'hash') IS DISTINCT FROM
       (to_jsonb(NEW) - 'position' - 'prev_hash' - 'hash')
"""
_ARRIVES_CHAINED = "NEW.hash <> '' OR NEW.prev_hash <> '' OR NEW.position IS NOT NULL"


def _refuse(message: str) -> str:
    return f"RAISE EXCEPTION 'audit events are append-only: {message}'; RETURN NULL;"


APPEND_ONLY_TRIGGERS = [
    pgtrigger.Protect(name="audit_forbid_delete", operation=pgtrigger.Delete),
    pgtrigger.Trigger(
        name="audit_forbid_truncate",
        level=pgtrigger.Statement,
        when=pgtrigger.Before,
        operation=pgtrigger.Truncate,
        func=_refuse("TRUNCATE is forbidden"),
    ),
    pgtrigger.Trigger(
        name="audit_fill_chain_once",
        when=pgtrigger.Before,
        operation=pgtrigger.Update,
        condition=pgtrigger.Condition(_BREAKS_FILL_ONCE),
        func=_refuse("only the empty chain columns may be filled, once"),
    ),
    pgtrigger.Trigger(
        name="audit_insert_unchained",
        when=pgtrigger.Before,
        operation=pgtrigger.Insert,
        condition=pgtrigger.Condition(_ARRIVES_CHAINED),
        func=_refuse("events arrive unchained; only the chainer fills the chain"),
    ),
]


class AuditEvent(models.Model):
    """One thing that happened. Rows are only ever appended; the actor label outlives deleted users.

    `sequence` is the insertion order (a database sequence; it may have gaps). `position`, `prev_hash` and
    `hash` are filled once, later, by the chainer in commit order: position 1, 2, 3… with no gaps.
    """

    class Action(models.TextChoices):
        REQUEST_CREATED = "request.created", "Request created"
        REQUEST_GENERATED = "request.generated", "Code generated"
        REQUEST_GENERATION_FAILED = "request.generation_failed", "Code generation failed"
        REQUEST_NEEDS_CLARIFICATION = "request.needs_clarification", "Clarification asked for (no code)"
        REQUEST_APPROVED = "request.approved", "Request approved"
        REQUEST_REJECTED = "request.rejected", "Request rejected"
        REQUEST_CANCELLED = "request.cancelled", "Request cancelled"
        REQUEST_VOTED = "request.vote_recorded", "Reviewer approval recorded"
        REQUEST_EDITED = "request.edited", "Code edited by a reviewer"
        REQUEST_EXPIRED = "request.expired", "Approval expired"
        REQUEST_REVISED = "request.revised", "New version requested"
        REQUEST_SUPERSEDED = "request.superseded", "Replaced by a reviewer's edit"
        REQUEST_INTERRUPTED = "request.interrupted", "Request interrupted (worker lost)"
        GENERATION_MISCONFIGURED = "generation.misconfigured", "Code generation misconfigured"
        POLICY_CHECKED = "policy.checked", "Policy checked"
        POLICY_BLOCKED = "policy.blocked", "Blocked by policy"
        POLICY_RULE_CHANGED = "policy.rule_changed", "Policy rule changed"
        EXECUTION_QUEUED = "execution.queued", "Execution queued"
        EXECUTION_STARTED = "execution.started", "Execution started"
        EXECUTION_FINISHED = "execution.finished", "Execution finished"
        EXECUTION_REFUSED = "execution.refused", "Execution refused"
        EXECUTION_INTERRUPTED = "execution.interrupted", "Execution interrupted (worker lost)"
        ARTIFACT_DOWNLOADED = "artifact.downloaded", "Artifact downloaded"
        DATASET_UPLOADED = "dataset.uploaded", "Dataset uploaded"
        DATASET_PROFILED = "dataset.profiled", "Dataset profiled (ready)"
        DATASET_REFUSED = "dataset.refused", "Dataset refused"
        SESSION_CREATED = "session.created", "Session created"
        SESSION_ARCHIVED = "session.archived", "Session archived"
        SESSION_EXPIRED = "session.expired", "Session expired"
        LOGIN_SUCCEEDED = "auth.login", "Logged in"
        LOGIN_FAILED = "auth.login_failed", "Login failed"
        LOGIN_LOCKED = "auth.login_locked", "Login locked (too many failures)"
        LOGGED_OUT = "auth.logout", "Logged out"
        TOKEN_CREATED = "token.created", "API token created"
        TOKEN_REVOKED = "token.revoked", "API token revoked or expired"
        MEMBERSHIP_CREATED = "membership.created", "Membership created"
        MEMBERSHIP_UPDATED = "membership.updated", "Membership changed"
        MEMBERSHIP_DELETED = "membership.deleted", "Membership deleted"
        BUDGET_REFUSED = "budget.refused", "Refused over budget"
        BUDGET_SOFT_THRESHOLD = "budget.soft_threshold", "Budget soft threshold crossed"
        BUDGET_CHANGED = "budget.changed", "Budget changed"
        PRICE_CHANGED = "price.changed", "Price changed"
        TEAM_CREATED = "team.created", "Team created"
        TEAM_CHANGED = "team.changed", "Team settings changed"
        DATASET_CHANGED = "dataset.changed", "Dataset settings changed"
        USER_CREATED = "user.created", "User created"
        USER_CHANGED = "user.changed", "User changed (flags, groups, permissions)"
        USER_PASSWORD_CHANGED = "user.password_changed", "Password set by an administrator"
        GROUP_CREATED = "group.created", "Group created"
        GROUP_CHANGED = "group.changed", "Group changed"
        GROUP_DELETED = "group.deleted", "Group deleted"

    sequence = models.BigAutoField(primary_key=True)
    id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=64, choices=Action.choices)
    # No database constraint and DO_NOTHING: deleting a user or team must not rewrite (SET NULL) history.
    # The id stays as it was recorded, and the label keeps the name.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    team = models.ForeignKey(
        "billing.Team",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    # The approval request this event concerns, so one request's whole story is one filter.
    request_id = models.UUIDField(null=True, blank=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    details = models.JSONField(default=dict, blank=True)
    position = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        indexes = [
            # Plain: `db_index=True` would add a `_like` twin that no query uses, written on every insert.
            models.Index(fields=["action"], name="audit_event_action"),
            # The chainer's work list stays tiny however long the log grows.
            models.Index(fields=["sequence"], condition=models.Q(hash=""), name="audit_event_unchained"),
        ]
        triggers = APPEND_ONLY_TRIGGERS

    def __str__(self) -> str:
        return f"#{self.sequence} {self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(APPEND_ONLY)
