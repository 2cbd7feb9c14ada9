"""`manage.py export_focus --period 2026-11 --out FILE [--format csv|parquet] [--tenant SLUG] [--no-progress]`:
the period's FOCUS 1.2 cost and usage rows (docs/focus.md) as CSV or Parquet (the format from --format, else
from the file's suffix), every tenant's or one tenant's. A progress bar goes to stderr; stdout gets one
summary line (`2026-11: 1234 FOCUS rows -> FILE`). Bad input (period, tenant, format): exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from common.errors import ValidationFailed
from ledger.exports.focus_rows import focus_row_count
from ledger.exports.focus_writers import FORMATS, focus_export_file, focus_format_for
from tenants.selectors import tenant_get


class Command(BaseCommand):
    help = "Export a billing period's invoices and credit notes as FOCUS 1.2 rows (CSV or Parquet)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", required=True, help="period key: 2026-11 (also 2026-Q4, 2026)")
        parser.add_argument("--out", required=True, help="file to write (.csv or .parquet)")
        parser.add_argument("--format", choices=FORMATS, help="default: from the --out suffix")
        parser.add_argument("--tenant", help="one tenant's rows (slug); default: every tenant")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"])
        try:
            fmt = focus_format_for(out, options["format"])
        except ValueError as err:
            raise CommandError(str(err), returncode=2) from err
        tenant = None
        if options["tenant"]:
            tenant = tenant_get(slug=options["tenant"])
            if tenant is None:
                raise CommandError(f"no tenant {options['tenant']!r}", returncode=2)
        if not out.parent.is_dir():
            raise CommandError(f"no directory {str(out.parent)!r} to write {out.name!r} in", returncode=2)
        period = options["period"]
        try:
            total = focus_row_count(period=period, tenant=tenant)
            with tqdm(
                total=total,
                desc=f"FOCUS {period}",
                unit="row",
                file=sys.stderr,
                disable=options["no_progress"],
            ) as bar:
                rows = focus_export_file(period=period, tenant=tenant, path=out, fmt=fmt, progress=bar.update)
        except ValidationFailed as err:
            raise CommandError(err.message, returncode=2) from err
        self.stdout.write(f"{period}: {rows} FOCUS rows -> {out}")
