"""The demo's corrections story (`manage.py demo_story`, run by `make demo` before the month's close):
two tenants get a period closed two months back, then usage for it arrives late, so the close of last
month shows what finance sees in real life.

- acme: its month before last is closed, then 20 late compute events arrive for it: last month's invoice
  carries "Corrections to <number>" lines (usage up, minimum/discounts re-evaluated).
- volta (egress priced by volume: up to 1,000 GB at 0.09, above at 0.05): 1,000 GB in the month before
  last (90.00), closed; then 100 GB arrive late, which re-prices that month at 1,100 x 0.05 = 55.00
  (-35.00), more than last month's 10 GB (0.90) can absorb: a correction credit note of 35.00 + 19 % VAT
  = 41.65 against the earlier invoice, with its own PDF and Factur-X XML.

Events go through the usage API like every other demo event; ids are fixed, so a second run changes
nothing (duplicates, already closed periods)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from billing.close.services import close_period
from billing.rating.services import usage_rate_pending
from common.periods import period_containing, previous_period
from tenants.models import Tenant


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _events(prefix: str, sku: str, at: datetime, quantities: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"story-{prefix}-{n:03d}",
            "sku": sku,
            "timestamp": _iso(at + timedelta(minutes=n)),
            "quantity": quantity,
            "project": "web",
            "tags": {"region": "eu-central-1"},
        }
        for n, quantity in enumerate(quantities)
    ]


def demo_story(*, now: datetime, send: Any, key: Any) -> list[str]:
    """Run the story; `send(secret, events)` posts events through the API, `key(tenant)` makes an API
    key. Returns what happened, one line per step."""
    report: list[str] = []
    for slug, closing, late in _plan(now):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            report.append(f"{slug}: no such tenant (run seed_demo first), skipped")
            continue
        secret = key(tenant)
        if closing:
            outcome = send(secret, closing)
            usage_rate_pending(time_budget=120)
            report.append(f"{slug}: {len(closing)} events for the month before last: {dict(outcome)}")
        period = previous_period(
            previous_period(
                period_containing(now, tz=tenant.timezone, cycle="monthly"),
                tz=tenant.timezone,
                cycle="monthly",
            ),
            tz=tenant.timezone,
            cycle="monthly",
        )
        result = close_period(tenant=tenant, period_key=period.key, now=now)
        report.append(f"{slug}: close {period.key}: {result.status} {result.number or result.message}")
        outcome = send(secret, late)
        run = usage_rate_pending(time_budget=120)
        report.append(f"{slug}: {len(late)} late events: {dict(outcome)}, rated ({run.claimed} by this call)")
    return report


def _plan(now: datetime) -> list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]:
    """(tenant slug, usage of the month before last sent before its close, events sent after it)."""
    plans: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = []
    for slug, tz in (("acme", "Europe/Berlin"), ("volta", "Europe/Berlin")):
        last = previous_period(period_containing(now, tz=tz, cycle="monthly"), tz=tz, cycle="monthly")
        before = previous_period(last, tz=tz, cycle="monthly")
        # Late in that month, so the events stay inside the price lists' 70-day backdating window.
        early = before.end - timedelta(days=5) + timedelta(hours=9)
        if slug == "acme":
            late = _events("acme-late", "compute_vcpu_hours", early + timedelta(days=2), ["250"] * 20)
            plans.append((slug, [], late))
        else:
            closing = _events("volta-m2", "egress_gb", early, ["100"] * 10)
            late = _events("volta-late", "egress_gb", early + timedelta(days=3), ["100"])
            late += _events("volta-m1", "egress_gb", last.start + timedelta(days=3, hours=9), ["10"])
            plans.append((slug, closing, late))
    return plans
