"""`manage.py close_period [--tenant SLUG] [--period 2026-11] [--now ISO]`: close (or, inside the grace
window, refresh the draft of) one tenant's or every active tenant's period. A tqdm progress bar goes
to stderr; the last stdout line is a JSON summary. Exit 1 when any invoice is blocked."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from billing.close.cache import CloseCache
from billing.close.services import DEFAULT_CHUNK, close_periods, tenants_to_close
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Close billing periods into finalized invoices (drafts until the grace window has passed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="tenant slug (default: every active tenant with a profile)")
        parser.add_argument("--period", help="period key, e.g. 2026-11 (default: the last ended period)")
        parser.add_argument("--now", help="ISO 8601 instant to close as of (default: now)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        if options["now"]:
            now = datetime.fromisoformat(options["now"])
            if timezone.is_naive(now):
                raise CommandError("--now needs a time zone, e.g. 2026-12-05T00:00:00+00:00")
        if options["tenant"]:
            tenants = list(Tenant.objects.filter(slug=options["tenant"]))
            if not tenants:
                raise CommandError(f"no tenant {options['tenant']!r}")
        else:
            ids = tenants_to_close()
            tenants = list(Tenant.objects.filter(pk__in=ids).order_by("pk"))
        cache = CloseCache()
        counts: Counter[str] = Counter()
        blocked: list[dict[str, str]] = []
        errors: list[dict[str, str]] = []
        bar = tqdm(
            total=len(tenants), desc="closing", unit="tenant", file=sys.stderr, disable=options["no_progress"]
        )
        for i in range(0, len(tenants), DEFAULT_CHUNK):
            chunk = tenants[i : i + DEFAULT_CHUNK]
            for result in close_periods(tenants=chunk, period_key=options["period"], now=now, cache=cache):
                if result.status == "error":
                    counts["error"] += 1
                    errors.append({"tenant": result.tenant_slug, "error": result.message})
                    continue
                counts[result.status] += 1
                if result.status == "blocked":
                    blocked.append(
                        {"tenant": result.tenant_slug, "period": result.period_key, "reason": result.message}
                    )
            bar.update(len(chunk))
        bar.close()
        summary = {
            "tenants": len(tenants),
            **dict(sorted(counts.items())),
            "blocked_details": blocked,
            "errors": errors,
        }
        self.stdout.write(json.dumps(summary, sort_keys=True))
        if blocked or errors:
            raise CommandError(f"{len(blocked)} blocked, {len(errors)} failed", returncode=1)
