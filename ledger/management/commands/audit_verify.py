"""`manage.py audit_verify`: recompute the audit trail's hash chain (ledger.audit.verify). Prints `OK
<count>` (exit 0) or names the first record that does not match and what is wrong with it (exit 1).
Progress goes to stderr every batch when there is more than one batch."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.audit.models import AuditRecord
from ledger.audit.verify import audit_verify


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chain and name the first tampered record."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=2000, help="records read per query (default 2000)")

    def handle(self, *args: Any, **options: Any) -> None:
        batch: int = options["batch"]
        total = AuditRecord.objects.count()

        def progress(done: int) -> None:
            if total > batch:
                self.stderr.write(f"checked {done}/{total} records")

        result = audit_verify(batch=batch, progress=progress)
        if not result.ok:
            raise CommandError(f"FAIL {result.message}", returncode=1)
        self.stdout.write(result.message)
