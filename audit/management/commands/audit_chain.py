from django.core.management.base import BaseCommand

from audit.services import audit_chain_anchor, audit_chain_pending


class Command(BaseCommand):
    help = "Chain the pending audit events and append the chain head to AUDIT_HEAD_FILE (what the beat does)."

    def handle(self, *args, **options):
        chained = audit_chain_pending()
        anchor = audit_chain_anchor()
        if anchor is None:
            self.stdout.write("No audit events yet.")
            return
        head = f"position {anchor['position']} (sequence {anchor['sequence']})"
        self.stdout.write(f"Chained {chained} event(s); head at {head}.")
