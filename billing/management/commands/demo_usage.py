"""`manage.py demo_usage`: a realistic month of usage for every tenant on a profile, through the real API.

Events go through POST /api/v1/usage (Django's test client in-process, or HTTP with `--url`) in batches of
1,000 with a tenant API key created for the run, with tags (project, region, cost_center), a few resent
events (duplicates) and a few that land in quarantine (an unknown SKU, a missing required tag). Event ids
are deterministic, so a second run answers `duplicate` for everything. Rating then runs in-process and the
running estimate of each tenant is printed."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q
from django.test import Client
from django.utils import timezone

from billing.catalog.models import Meter, Sku
from billing.demo import SCRIPTED_TENANTS
from billing.profiles.models import ProfileAssignment
from billing.profiles.selectors import VersionTimeline
from billing.rating.estimates import tenant_period_at
from billing.rating.selectors import estimates_for_period
from billing.rating.services import usage_rate_pending
from tenants.models import ApiKey, Project, Tenant
from tenants.services import api_key_create, api_key_revoke

KEY_NAME = "demo_usage"
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1"]
BATCH = 1000


def _quantity(rng: random.Random, sku: Sku, model: str) -> str:
    """A plausible quantity for one event of `sku`."""
    if sku.meter.aggregation == Meter.Aggregation.COUNT:
        return "1"
    if model == "percentage" or sku.meter.unit == "currency unit":
        return f"{rng.randint(500, 250000) / 100:.2f}"  # a sale: 5.00 .. 2,500.00
    if sku.code == "api_calls" or sku.meter.unit == "request":
        return str(rng.randint(50, 5000))
    if sku.meter.unit in ("GPU-hour",):
        return f"{rng.randint(1, 40) / 4:.2f}"
    return f"{rng.randint(1, 4000) / 100:.2f}"


class Command(BaseCommand):
    help = "Ingest a realistic month of usage for the demo tenants through the API, rate it, show estimates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days-back", type=int, default=None, help="default: since the previous month began"
        )
        parser.add_argument("--events-per-day", type=int, default=120, help="per tenant")
        parser.add_argument("--url", default="", help="post over HTTP to this base URL instead of in-process")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now().replace(microsecond=0)
        tenants = list(
            Tenant.objects.filter(
                pk__in=ProfileAssignment.objects.filter(effective_from__lte=now)
                .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=now))
                .values("tenant_id")
            )
            .exclude(slug__in=SCRIPTED_TENANTS)  # their usage is scripted by `manage.py demo_story`
            .order_by("slug")
        )
        if not tenants:
            self.stdout.write("no tenant has a profile assignment: run `manage.py seed_demo` first")
            return
        timeline = VersionTimeline(t.pk for t in tenants)
        totals: Counter[str] = Counter()
        for tenant in tenants:
            version = timeline.version_at(tenant.pk, now)
            if version is None:
                self.stdout.write(f"{tenant.slug}: no approved profile version in force, skipped")
                continue
            start = self._start(tenant, now, options["days_back"])
            events = self._events(
                tenant,
                version.body,
                start=start,
                now=now,
                per_day=options["events_per_day"],
                seed=options["seed"],
            )
            secret = self._key(tenant)
            outcome = self._send(secret, events, url=options["url"])
            totals.update(outcome)
            summary = ", ".join(f"{k} {v}" for k, v in sorted(outcome.items()))
            self.stdout.write(f"{tenant.slug}: {len(events)} events since {start:%Y-%m-%d}: {summary}")

        run = usage_rate_pending(time_budget=600)
        self.stdout.write(f"rated {run.claimed} pending events")
        self.stdout.write("\nRunning estimates (open period, before discounts, commitments and tax):")
        for tenant in tenants:
            period = tenant_period_at(tenant=tenant, at=now)
            rows = estimates_for_period(tenant_id=tenant.pk, period_key=period.key)
            total = sum((r.amount for r in rows), Decimal(0))
            currency = rows[0].currency if rows else tenant.currency
            self.stdout.write(f"  {tenant.slug} {period.key}: {total:.2f} {currency}")
            for row in rows:
                self.stdout.write(
                    f"      {row.sku.code:<22} {row.quantity.normalize():>16f} ({row.event_count} events)"
                    f"  {row.amount:.4f}"
                )
        self.stdout.write("demo_usage done: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))

    @staticmethod
    def _start(tenant: Tenant, now: datetime, days_back: int | None) -> datetime:
        if days_back is not None:
            return now - timedelta(days=days_back)
        current = tenant_period_at(tenant=tenant, at=now)
        previous = tenant_period_at(tenant=tenant, at=current.start - timedelta(seconds=1))
        return previous.start

    def _events(
        self, tenant: Tenant, body: dict[str, Any], *, start: datetime, now: datetime, per_day: int, seed: int
    ) -> list[dict[str, Any]]:
        prices = {str(p["sku"]): str(p.get("model")) for p in body.get("prices", [])}
        skus = list(Sku.objects.select_related("meter").filter(code__in=prices).order_by("code"))
        metered = [s for s in skus if prices[s.code] != "flat"]
        projects = list(Project.objects.filter(tenant=tenant).order_by("code"))
        required = [str(t) for t in body.get("required_tags") or []]
        events: list[dict[str, Any]] = []
        day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        while day < now:
            rng = random.Random(f"{seed}:{tenant.slug}:{day:%Y%m%d}")  # noqa: S311 - demo data
            for n in range(per_day if metered else 0):
                at = day + timedelta(seconds=rng.randint(0, 86399))
                if at >= now - timedelta(seconds=5) or at < start:
                    continue
                sku = rng.choice(metered)
                project = rng.choice(projects) if projects else None
                tags: dict[str, Any] = {"region": rng.choice(REGIONS)}
                if project is not None and project.cost_center:
                    tags["cost_center"] = project.cost_center
                if sku.meter.aggregation == Meter.Aggregation.UNIQUE_COUNT:
                    tags[sku.meter.unique_tag] = f"user-{rng.randint(1, 400):04d}"
                event: dict[str, Any] = {
                    "event_id": f"demo-{tenant.slug}-{day:%Y%m%d}-{n:05d}",
                    "sku": sku.code,
                    "timestamp": at.isoformat().replace("+00:00", "Z"),
                    "quantity": _quantity(rng, sku, prices[sku.code]),
                    "tags": tags,
                }
                if project is not None:
                    event["project"] = project.code
                events.append(event)
            day += timedelta(days=1)
        # Flat-priced SKUs (a platform fee): one event per period, so the estimate shows the fee.
        for sku in (s for s in skus if prices[s.code] == "flat"):
            month = start
            while month < now:
                period = tenant_period_at(tenant=tenant, at=month)
                at = max(period.start, start) + timedelta(hours=1)
                if at < now:
                    events.append(
                        {
                            "event_id": f"demo-{tenant.slug}-{sku.code}-{period.key}",
                            "sku": sku.code,
                            "quantity": "1",
                            "timestamp": at.isoformat().replace("+00:00", "Z"),
                            "project": projects[0].code if projects else None,
                            "tags": {"region": REGIONS[0]},
                        }
                    )
                    if not projects:
                        events[-1].pop("project")
                month = period.end
        # A few that finance will find in quarantine: a typo in a SKU, a missing required tag.
        first_day = start.astimezone(UTC) + timedelta(hours=1)
        events.append(
            {
                "event_id": f"demo-{tenant.slug}-typo",
                "sku": "api-call",
                "quantity": "10",
                "timestamp": first_day.isoformat().replace("+00:00", "Z"),
                "tags": {"region": "eu-west-1"},
            }
        )
        if required and events:
            untagged = {k: v for k, v in events[0].items() if k not in ("project", "tags")}
            untagged["event_id"] = f"demo-{tenant.slug}-untagged"
            events.append(untagged)
        # Resent events (a client retrying after a timeout): answered `duplicate`, billed once.
        rng = random.Random(f"{seed}:{tenant.slug}:dups")  # noqa: S311 - demo data
        events.extend(rng.sample(events, k=min(len(events), max(3, len(events) // 100))))
        return events

    @staticmethod
    def _key(tenant: Tenant) -> str:
        for old in ApiKey.objects.filter(tenant=tenant, name=KEY_NAME, revoked_at__isnull=True):
            api_key_revoke(api_key=old)
        return api_key_create(tenant=tenant, name=KEY_NAME).secret

    def _send(self, secret: str, events: list[dict[str, Any]], *, url: str) -> Counter[str]:
        outcome: Counter[str] = Counter()
        client = Client()
        for start in range(0, len(events), BATCH):
            body = json.dumps({"events": events[start : start + BATCH]})
            if url:
                request = urllib.request.Request(  # noqa: S310 - an operator-given http(s) URL
                    f"{url.rstrip('/')}/api/v1/usage",
                    data=body.encode(),
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
                    method="POST",
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                        status, payload = response.status, json.loads(response.read())
                except urllib.error.HTTPError as err:
                    status, payload = err.code, {"message": err.read().decode()}
            else:
                response = client.post(
                    "/api/v1/usage",
                    data=body,
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {secret}",
                )
                status, payload = response.status_code, response.json()
            if status != 200:
                self.stderr.write(f"batch refused with HTTP {status}: {payload.get('message')}")
                outcome[f"http_{status}"] += 1
                continue
            for result in payload["results"]:
                outcome[result["status"]] += 1
        return outcome
