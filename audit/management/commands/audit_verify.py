from django.core.management.base import BaseCommand

from audit.selectors import audit_chain_find_break
from audit.services import audit_chain_pending


class Command(BaseCommand):
    help = "Check the audit hash chain and the heads in AUDIT_HEAD_FILE. Exit 1 at the first break."

    def handle(self, *args, **options):
        audit_chain_pending()  # verify everything committed so far, not just what the beat has chained
        broken = audit_chain_find_break()
        if broken is not None:
            self.stdout.write(
                f"BROKEN at sequence {broken.sequence} (position {broken.position}): {broken.reason}"
            )
            raise SystemExit(1)
        self.stdout.write("OK: the audit chain is unbroken.")
