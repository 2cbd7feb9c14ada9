"""`manage.py ledger_verify`: recompute the ledger's hash chain and check it against its signed anchors.
Prints `OK <count>` (exit 0) or names the first transaction or anchor that does not match (exit 1); an
anchor whose signature does not verify is named on stderr (`WARNING ...`) and not trusted."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ledger.verify import ledger_verify


class Command(BaseCommand):
    help = "Recompute the ledger hash chain and report the first tampered row."

    def handle(self, *args: Any, **options: Any) -> None:
        result = ledger_verify()
        for warning in result.warnings:  # anchors not trusted: named, never counted on
            self.stderr.write(f"WARNING {warning}")
        if not result.ok:
            raise CommandError(f"FAIL {result.message}", returncode=1)
        self.stdout.write(result.message)
