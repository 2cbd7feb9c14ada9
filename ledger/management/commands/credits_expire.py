"""`manage.py credits_expire [--at ISO] [--dry-run] [--no-progress]`: post the breakage of every prepaid
credit grant expired by `--at` (default: now). A tqdm progress bar goes to stderr; stdout gets one line per
grant (`grant <id> <tenant> <amount> <currency>`, prefixed `would expire` in a dry run) and a summary
line per currency and of failures. Exit 1 when any grant failed (each also raised as an Alert)."""

from __future__ import annotations

import sys
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from ledger.services.expiry import ExpiringGrant, credits_expire, credits_expiring


def _totals(items: list[ExpiringGrant]) -> str:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        sums[item.currency] += item.amount
    return ", ".join(f"{amount} {currency}" for currency, amount in sorted(sums.items())) or "nothing"


class Command(BaseCommand):
    help = "Expire prepaid credit grants whose expiry has passed: post their unused part as breakage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--at", help="ISO 8601 instant to expire as of (default: now)")
        parser.add_argument("--dry-run", action="store_true", help="list what would expire, post nothing")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        at = timezone.now()
        if options["at"]:
            try:
                at = datetime.fromisoformat(options["at"])
            except ValueError as err:
                raise CommandError(f"--at is not an ISO 8601 instant: {options['at']!r}") from err
            if timezone.is_naive(at):
                raise CommandError("--at needs a time zone, e.g. 2026-12-16T00:00:00+00:00")
        if options["dry_run"]:
            due = credits_expiring(now=at)
            for item in due:
                self.stdout.write(
                    f"would expire grant {item.grant_id} {item.tenant_slug} {item.amount} {item.currency}"
                )
            self.stdout.write(f"dry run: {len(due)} grants would expire: {_totals(due)}")
            return
        bar = tqdm(desc="expiring", unit="grant", file=sys.stderr, disable=options["no_progress"])

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        result = credits_expire(now=at, progress=progress)
        bar.close()
        for item in result.expired:
            self.stdout.write(f"grant {item.grant_id} {item.tenant_slug} {item.amount} {item.currency}")
        for failure in result.failures:
            self.stdout.write(f"FAILED grant {failure.grant_id} {failure.tenant_slug}: {failure.message}")
        self.stdout.write(
            f"{len(result.expired)} grants expired: {_totals(result.expired)}; {len(result.failures)} failed"
        )
        if result.failures:
            raise CommandError(f"{len(result.failures)} grants failed to expire", returncode=1)
