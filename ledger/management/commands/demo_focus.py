"""`manage.py demo_focus [--out-dir var/focus]`: the demo's FOCUS files. The latest period with issued
invoices (after `make demo`'s close: last month) and the current month (the credit notes issued since) are
exported for every tenant as FOCUS 1.2 CSV and Parquet into --out-dir, and BilledCost per InvoiceId is
checked against each document. Idempotent: the files are written again. Exit 1 when a sum disagrees."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from common.periods import period_containing
from ledger.exports.focus_rows import focus_periods, focus_rows
from ledger.exports.focus_writers import focus_export_file
from ledger.models import CreditNote, Invoice


def _billed(period: str) -> dict[str, Decimal]:
    """BilledCost per InvoiceId, prepaid credit restored by a void left out (it belongs to the month of the
    void, under the voided invoice's number)."""
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for record in focus_rows(period=period, tenant=None):
        if record["line_kind"] != "prepaid_credit_restored":
            sums[record["invoice_id"]] += Decimal(record["cost"])
    return dict(sums)


def _payable(numbers: set[str]) -> dict[str, Decimal]:
    """Each document's payable amount: an invoice's amount due, a credit note's total negated."""
    due = {
        n: a for n, a in Invoice.objects.filter(number__in=numbers).values_list("number", "amount_due") if n
    }
    notes = {n: -t for n, t in CreditNote.objects.filter(number__in=numbers).values_list("number", "total")}
    return due | notes


class Command(BaseCommand):
    help = "Export the demo's FOCUS files (last closed month and this month) and check their sums."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out-dir", default=str(Path(settings.BASE_DIR) / "var" / "focus"))

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out_dir"])
        out.mkdir(parents=True, exist_ok=True)
        periods = focus_periods(tenant=None)[:1]
        current = period_containing(timezone.now(), tz="UTC").key
        if current not in periods:
            periods.append(current)
        mismatches = 0
        for period in periods:
            for fmt in ("csv", "parquet"):
                path = out / f"focus-1.2-{period}.{fmt}"
                rows = focus_export_file(period=period, tenant=None, path=path, fmt=fmt)
                self.stdout.write(f"{period}: {rows} FOCUS rows -> {path}")
            billed = _billed(period)
            payable = _payable(set(billed))
            for number, amount in sorted(billed.items()):
                expected = payable.get(number)
                mark = "" if expected == amount else " MISMATCH"
                mismatches += 1 if mark else 0
                self.stdout.write(f"  {number}: BilledCost {amount}, document {expected}{mark}")
        self.stdout.write(f"demo_focus done: {len(periods)} periods, {mismatches} mismatches")
        if mismatches:
            raise CommandError(f"{mismatches} documents' BilledCost differ from the document", returncode=1)
