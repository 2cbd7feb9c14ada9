"""`manage.py reconcile --period 2026-11 [--provider NAME] [--note TEXT]`: run the reconciliation of a
period (rated usage against invoices, invoices against the ledger, the provider's imported FOCUS export
against rated usage) and store it as a run (docs/reconciliation.md). A tqdm progress bar goes to stderr;
the last stdout line is the run's JSON summary. Exit 1 when a delta breaches its threshold."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from billing.reconciliation.services import previous_month_key, reconcile_period
from common.errors import ApplicationError


class Command(BaseCommand):
    help = "Reconcile a period: rated usage, invoices, the ledger and a provider's FOCUS export."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", help="period key, e.g. 2026-11 (default: the previous month)")
        parser.add_argument("--provider", help="compare with this provider's newest import (default: any)")
        parser.add_argument("--note", default="", help="a note stored with the run")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        period = options["period"] or previous_month_key()
        bar = tqdm(
            total=4,
            desc=f"reconciling {period}",
            unit="step",
            file=sys.stderr,
            disable=options["no_progress"],
        )

        def progress(step: str, done: int, total: int) -> None:
            bar.set_postfix_str(step)
            bar.n = min(done + 1, 4)
            bar.refresh()

        try:
            run = reconcile_period(
                period_key=period,
                trigger="command",
                note=options["note"],
                provider=options["provider"],
                progress=progress,
            )
        except ApplicationError as err:
            raise CommandError(err.message, returncode=2) from None
        finally:
            bar.close()
        summary = {"run": run.pk, "period": run.period_key, "status": run.status, "checks": run.summary}
        self.stdout.write(json.dumps(summary, sort_keys=True))
        breached = sum(int(v.get("breached", 0)) for v in run.summary.values() if isinstance(v, dict))
        if breached:
            raise CommandError(f"{breached} delta(s) above their threshold (run {run.pk})", returncode=1)
