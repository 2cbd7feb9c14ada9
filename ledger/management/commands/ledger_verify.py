"""`manage.py ledger_verify`: recompute the ledger's hash chain. Prints `OK <count>` (exit 0) or names
the first transaction that does not match (exit 1)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ledger.verify import ledger_verify


class Command(BaseCommand):
    help = "Recompute the ledger hash chain and report the first tampered row."

    def handle(self, *args: Any, **options: Any) -> None:
        result = ledger_verify()
        if not result.ok:
            raise CommandError(f"FAIL {result.message}", returncode=1)
        self.stdout.write(result.message)
