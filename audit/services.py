"""Writes of the audit trail: appending events, chaining them, anchoring the chain head outside the database.

Why a separate chainer: a chain computed at insert time needs the previous hash, so every writer would wait
on one lock held until its transaction commits (~0.2x the plain insert rate at 8 clients). Instead events
are inserted plainly, and `audit_chain_pending` links them afterwards, in commit order, in batches.
"""

from __future__ import annotations

import ipaddress

from django.db import connection, models, transaction
from django.utils import timezone

from .anchors import anchor_write
from .chain import GENESIS, event_hash
from .middleware import current_http_request
from .models import AuditEvent
from .selectors import audit_chain_head

# pg_advisory_xact_lock key of the chainer: any fixed bigint no other code uses ("SGAUDIT" in ASCII).
CHAIN_LOCK_KEY = 0x53474155444954
CHAIN_BATCH_SIZE = 500
USER_AGENT_MAX = AuditEvent._meta.get_field("user_agent").max_length


def audit_log(
    *,
    action: AuditEvent.Action,
    actor=None,
    team=None,
    target: models.Model | None = None,
    details: dict | None = None,
    http_request=None,
    request_id=None,
) -> AuditEvent:
    """Append one event. Call it inside the transaction of the change it records.

    IP and user agent come from `http_request`, else from the request being served (see middleware).
    `request_id` is derived when the target is an approval request or an execution.
    """
    event = AuditEvent(
        action=action,
        actor=actor if actor is not None and actor.is_authenticated else None,
        team=team,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        request_id=request_id or _request_id_of(target),
        details=details or {},
        **audit_who(actor=actor, http_request=http_request),
    )
    # Usually inside the caller's transaction: then this adds no savepoint and no round trip. Alone (the
    # login signals), it takes SQLite's write lock up front (BEGIN IMMEDIATE) instead of failing "locked".
    with transaction.atomic(savepoint=False):
        event.save(force_insert=True)
    return event


def audit_log_change(
    *,
    action: AuditEvent.Action,
    actor,
    target: models.Model,
    before: dict | None,
    after: dict,
    team=None,
    details: dict | None = None,
) -> AuditEvent | None:
    """Append the event of a change with the state before and after it (`before` None: just created).

    The states are JSON-ready dicts of the fields the change may touch; a save that changed none of them
    writes nothing. Call it inside the transaction of the change, after reading `before` under a row lock.
    """
    changed = sorted(key for key in after if before is None or before.get(key) != after[key])
    if not changed:
        return None
    return audit_log(
        action=action,
        actor=actor,
        team=team,
        target=target,
        details={**(details or {}), "changed": changed, "before": before, "after": after},
    )


def audit_who(*, actor=None, http_request=None) -> dict:
    """Who an event is by and where from, as audit_log records it; also for events written in SQL.

    IP and user agent come from `http_request`, else from the request being served (see middleware).
    """
    http_request = http_request or current_http_request.get()
    return {
        "actor_label": _label(actor),
        "ip_address": _ip_address(http_request),
        "user_agent": _user_agent(http_request),
    }


def _label(actor) -> str:
    if actor is None:
        return "system"
    return actor.get_username() if actor.is_authenticated else "anonymous"


def _request_id_of(target):
    # By label, not by import: audit sits below analysis and approvals and must not import them.
    label = target._meta.label_lower if target is not None else ""
    if label == "approvals.approvalrequest":
        return target.pk
    if label == "analysis.execution":
        return target.request_id
    return None


def _ip_address(http_request) -> str | None:
    value = http_request.META.get("REMOTE_ADDR", "") if http_request is not None else ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None  # never fail the audited change over a malformed address


def _user_agent(http_request) -> str:
    if http_request is None:
        return ""
    return http_request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX]


# --- chaining ---------------------------------------------------------------------------------


def audit_chain_pending(*, batch_size: int = CHAIN_BATCH_SIZE) -> int:
    """Link every committed, unchained event to the chain; returns how many were chained.

    Called by the periodic task and `manage.py audit_chain`, and by the export and the API before they read.
    """
    total = 0
    while True:
        chained = _chain_batch(batch_size=batch_size)
        total += chained
        if chained < batch_size:
            return total


@transaction.atomic
def _chain_batch(*, batch_size: int) -> int:
    """Chain one batch in commit order.

    Ordering choice: sequence numbers come from a database sequence, which hands out numbers at INSERT and
    not at COMMIT, so #11 may be visible before #10 commits, and rolled-back transactions leave gaps that
    never fill. Waiting at the first gap would stall the chain forever on a rollback, so the chain follows
    commit order instead: each batch takes the events visible now (by sequence among themselves) and gives
    them the next positions. `position` (1, 2, 3… no gaps) records that order; a late #10 gets the next
    free position, after #11. Nothing committed is ever skipped, and nothing waits on an open transaction.
    """
    _lock_chain()
    # A new statement after the lock: under READ COMMITTED it sees the previous chainer's committed work.
    head = audit_chain_head()
    position, prev_hash = (head.position, head.hash) if head else (0, GENESIS)
    pending = list(AuditEvent.objects.filter(hash="").order_by("sequence")[:batch_size])
    for event in pending:
        position += 1
        event.position, event.prev_hash = position, prev_hash
        event.hash = prev_hash = event_hash(event, prev_hash)
    _fill_chain(pending)
    return len(pending)


def _fill_chain(events: list[AuditEvent]) -> None:
    """One statement per event, sent in one go (a pipeline on psycopg 3).

    Not bulk_update: its CASE expressions cost more Python time than the whole insert path, and the
    chainer shares the process (and the GIL) with writers in the benchmark and in web workers.
    """
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    rows = [(e.position, e.prev_hash, e.hash, e.sequence) for e in events]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET position = %s, prev_hash = %s, hash = %s WHERE sequence = %s", rows
        )


def _lock_chain() -> None:
    """One chainer at a time. Transaction-scoped, so it also works behind a transaction-mode pooler.

    On SQLite the write lock taken at BEGIN IMMEDIATE already serialises chainers (and writers).
    The unique `position` backs this up: two chainers can never both extend the same head.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def audit_chain_anchor(*, at=None) -> dict | None:
    """Chain what is pending, then append the head to AUDIT_HEAD_FILE (and AUDIT_HEAD_BUCKET), witnesses kept
    outside the database.

    Whoever can rewrite the table could recompute every hash after their change; they cannot rewrite the
    heads already written elsewhere, which `audit_verify` checks.
    """
    audit_chain_pending()
    head = audit_chain_head()
    if head is None:
        return None
    anchor = {
        "position": head.position,
        "sequence": head.sequence,
        "hash": head.hash,
        "at": (at or timezone.now()).isoformat(),
    }
    anchor_write(anchor)  # the file, and the bucket when AUDIT_HEAD_BUCKET is set (audit/anchors.py)
    return anchor
