import json
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.chain import canonical_record
from audit.selectors import audit_chained_events
from audit.services import audit_chain_pending
from config.spreadsheets import SafeDictWriter

FIELDS = [
    "sequence",
    "position",
    "id",
    "created_at",
    "action",
    "actor_id",
    "actor_label",
    "team_id",
    "target_type",
    "target_id",
    "request_id",
    "ip_address",
    "user_agent",
    "details",
    "prev_hash",
    "hash",
]


def _moment(value: str | None):
    if value is None:
        return None
    moment = parse_datetime(value)
    if moment is None:
        raise CommandError(f"Not an ISO 8601 date-time: {value}")
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def export_row(event) -> dict:
    """The hashed record plus its hashes: enough to recompute the chain from the export alone."""
    return {**canonical_record(event), "prev_hash": event.prev_hash, "hash": event.hash}


class Command(BaseCommand):
    help = "Write audit events in chain order as JSON lines or CSV (since inclusive, until exclusive)."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument("--since", help="ISO 8601 date-time; naive means UTC")
        parser.add_argument("--until", help="ISO 8601 date-time; naive means UTC")

    def handle(self, *args, **options):
        since, until = _moment(options["since"]), _moment(options["until"])
        audit_chain_pending()
        events = audit_chained_events(since=since, until=until).iterator(chunk_size=2000)
        rows = (export_row(event) for event in events)
        if options["format"] == "csv":
            self._write_csv(rows)
        else:
            for row in rows:
                self.stdout.write(json.dumps(row, sort_keys=True, ensure_ascii=False))

    def _write_csv(self, rows):
        # Cells that would start a formula get a leading ' (config/spreadsheets.py): strip one leading '
        # from any cell that has one to get the hashed values back.
        writer = SafeDictWriter(self.stdout, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            details = json.dumps(row["details"], sort_keys=True, ensure_ascii=False)
            writer.writerow({**row, "details": details})
