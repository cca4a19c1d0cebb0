"""Write (or with --check, verify) approvals/policy/allowlist.json from the sandbox runtime."""

import difflib
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from approvals.policy import allowlist  # the module


class Command(BaseCommand):
    help = (
        "List the public names of the analysis modules with the sandbox runtime's Python and write them to "
        "approvals/policy/allowlist.json; --check only compares."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="Fail if the checked-in file is not current."
        )
        parser.add_argument(
            "--add", action="append", default=[], metavar="MODULE", help="List one more module's names."
        )
        parser.add_argument(
            "--remove", action="append", default=[], metavar="MODULE", help="Stop listing a module added."
        )
        parser.add_argument(
            "--python",
            type=Path,
            default=None,
            help="The interpreter to ask (default: the sandbox runtime's, SANDBOX_RUNTIME_DIR/bin/python).",
        )

    def handle(self, *args, check: bool, add: list[str], remove: list[str], python: Path | None, **options):
        if check and (add or remove):
            raise CommandError("--check compares the file as it is; it takes no --add or --remove.")
        current = allowlist.FILE.read_text() if allowlist.FILE.exists() else ""
        extra = set(allowlist.load().extra_modules if current else ()) | set(add)
        extra -= set(remove)
        python = python or Path(settings.SANDBOX_RUNTIME_DIR) / "bin" / "python"
        try:
            fresh = allowlist.render(allowlist.generate(python=python, extra_modules=tuple(sorted(extra))))
        except allowlist.AllowListError as exc:
            raise CommandError(str(exc)) from exc
        if check:
            self._compare(current=current, fresh=fresh)
            return
        allowlist.FILE.write_text(fresh)
        allowlist.load.cache_clear()
        self.stdout.write(f"Wrote {allowlist.FILE} ({'unchanged' if fresh == current else 'changed'}).")

    def _compare(self, *, current: str, fresh: str) -> None:
        if current == fresh:
            self.stdout.write(f"{allowlist.FILE} is current.")
            return
        diff = difflib.unified_diff(
            current.splitlines(), fresh.splitlines(), "checked in", "from the runtime", lineterm="", n=1
        )
        shown = "\n".join(list(diff)[:60])
        raise CommandError(
            f"{allowlist.FILE} is not current; run `python manage.py policy_allowlist`.\n{shown}"
        )
