"""`manage.py import_provider_focus FILE --provider NAME --period 2026-11 [--cost-column BilledCost]`:
import a provider's FOCUS export (CSV, or Parquet with pyarrow) for a period, every row kept; the next
`manage.py reconcile` of that period compares our rated usage with it per tenant and SKU. How a row maps
to a tenant and SKU: docs/reconciliation.md. Prints the import's counts as JSON; exit 2 on a bad file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.errors import ApplicationError
from ledger.reconciliation.focus_read import COST_COLUMNS
from ledger.reconciliation.services import provider_import_create


class Command(BaseCommand):
    help = "Import a provider's FOCUS export (CSV or Parquet) for reconciliation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the FOCUS file (.csv or .parquet)")
        parser.add_argument("--provider", required=True, help="the provider's name, e.g. upstream-cloud")
        parser.add_argument("--period", required=True, help="period key, e.g. 2026-11")
        parser.add_argument("--cost-column", default="BilledCost", choices=COST_COLUMNS)

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            content = path.read_bytes()
        except OSError as err:
            raise CommandError(f"cannot read {path}: {err.strerror}", returncode=2) from None
        try:
            record = provider_import_create(
                provider=options["provider"],
                period_key=options["period"],
                file_name=path.name,
                content=content,
                cost_column=options["cost_column"],
            )
        except ApplicationError as err:
            raise CommandError(err.message, returncode=2) from None
        self.stdout.write(
            json.dumps(
                {
                    "import": record.pk,
                    "provider": record.provider,
                    "period": record.period_key,
                    "rows_read": record.rows_read,
                    "rows_matched": record.rows_matched,
                    "rows_unmatched": record.rows_unmatched,
                    "rows_excluded": record.rows_excluded,
                    "sha256": record.file_sha256,
                },
                sort_keys=True,
            )
        )
