from django.core.management.base import BaseCommand

from audit.selectors import audit_chain_find_break, audit_unchained_count


class Command(BaseCommand):
    help = (
        "Check the audit hash chain and the heads in AUDIT_HEAD_FILE; only reads. Exit 1 at the first break. "
        "Events not chained yet are counted, not chained: that is the beat's job (or `audit_chain`)."
    )

    def handle(self, *args, **options):
        broken = audit_chain_find_break()
        if broken is not None:
            self.stdout.write(
                f"BROKEN at sequence {broken.sequence} (position {broken.position}): {broken.reason}"
            )
            raise SystemExit(1)
        self.stdout.write("OK: the audit chain is unbroken.")
        pending = audit_unchained_count()
        if pending:
            self.stdout.write(
                f"{pending} newer event(s) are not chained yet, so not verified: the beat chains them "
                "every minute, or run `manage.py audit_chain`."
            )
