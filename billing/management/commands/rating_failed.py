"""`manage.py rating_failed [--retry ID | --quarantine ID]`: the rating batches set aside (status failed,
with their reasons), one per line; `--retry` rates one again once its cause is fixed; `--quarantine`
moves its events to quarantine (reason `rating_refused`) so the tenant's period can close without them.
The last stdout line is a JSON summary."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.rating.failed import failed_batches, usage_failed_batch_quarantine, usage_failed_batch_retry
from common.errors import ApplicationError


class Command(BaseCommand):
    help = "List, retry or quarantine the rating batches that rating set aside."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--retry", type=int, metavar="ID", help="rate this failed batch again")
        group.add_argument("--quarantine", type=int, metavar="ID", help="quarantine its events")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["retry"] is not None:
                batch = usage_failed_batch_retry(batch_id=options["retry"])
                summary: dict[str, Any] = {"batch": batch.pk, "status": batch.status}
            elif options["quarantine"] is not None:
                moved = usage_failed_batch_quarantine(batch_id=options["quarantine"])
                summary = {"batch": options["quarantine"], "status": "rated", "quarantined_events": moved}
            else:
                batches = failed_batches()
                for b in batches:
                    self.stdout.write(
                        f"{b.pk}\ttenants={','.join(str(t) for t in b.tenant_ids)}\tevents={b.event_count}"
                        f"\tfailed_at={b.failed_at.isoformat() if b.failed_at else ''}\t{b.failure_reason}"
                    )
                summary = {"failed_batches": len(batches)}
        except ApplicationError as err:
            raise CommandError(err.message) from err
        self.stdout.write(json.dumps(summary, sort_keys=True))
