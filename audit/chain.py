"""The hash chain: canonical JSON of an event, and its SHA-256 linked to the previous event's hash.

Anyone can recompute a chain from an export with nothing but this file's rules:
    hash = sha256(prev_hash + canonical_json(event)), prev_hash of position 1 = GENESIS.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

GENESIS = "0" * 64


def canonical_record(event) -> dict:
    """Every recorded column but the hashes, as JSON-safe values; the FK ids as recorded, never re-read."""
    return {
        "sequence": event.sequence,
        "position": event.position,
        "id": str(event.id),
        "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "action": event.action,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "team_id": str(event.team_id) if event.team_id else None,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "request_id": str(event.request_id) if event.request_id else None,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "details": event.details,
    }


def canonical_json(event) -> str:
    return json.dumps(canonical_record(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(event, prev_hash: str) -> str:
    return hashlib.sha256((prev_hash + canonical_json(event)).encode("utf-8")).hexdigest()
