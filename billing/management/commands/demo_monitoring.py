"""`manage.py demo_monitoring`: budgets and alerts for the demo (run after `seed_demo`; `demo_usage` first
gives the budgets a month of spend to project).

- every demo tenant with a profile gets a budget (once: 1.5x its projected period spend, at least 100, in
  its currency; thresholds 80 % and 100 %);
- one EUR tenant gets ANOMALY_HISTORY_DAYS (28) days of hourly compute_vcpu_hours usage (28-52 an hour,
  so its baseline is dense even under demo_usage's random events) and, in the current hour, a spike of
  2,000 (about 70 EUR more than usual) from
  project `ml` in region us-east-1, all through the ingest service and rating, so the anomaly evaluator
  fires (naming the SKU, the project and the tags);
- the budget evaluator runs; one tenant shows a resolved budget alert (its budget was first set below its
  projection, the alert fired, then the budget was raised and the alert resolved), once.

Idempotent: event ids are deterministic (a second run in the same hour is all duplicates), budgets and the
resolved alert are made once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from billing.demo import SCRIPTED_TENANTS
from billing.monitoring.anomalies import anomalies_evaluate
from billing.monitoring.budgets import budget_set, budget_status, budgets_evaluate
from billing.monitoring.selectors import budget_get, estimates_current
from billing.profiles.models import ProfileAssignment
from billing.profiles.selectors import VersionTimeline, price_model
from billing.rating.estimates import usage_estimates_refresh
from billing.rating.services import usage_rate_pending
from billing.usage.ingest import usage_ingest
from ledger.models import Alert
from tenants.models import Project, Tenant

SKU = "compute_vcpu_hours"


class Command(BaseCommand):
    help = "Budgets for the demo tenants, a spend anomaly firing and a resolved budget alert."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        now = timezone.now()
        tenants = self._tenants(now)
        if not tenants:
            self.stdout.write("no tenant has a profile assignment: run `manage.py seed_demo` first")
            return
        timeline = VersionTimeline(t.pk for t in tenants)
        spiked = next(
            (
                t
                for t in tenants
                if (v := timeline.version_at(t.pk, now)) is not None
                and v.body.get("currency") == "EUR"
                and price_model(v.body, SKU) not in (None, "flat")
            ),
            None,
        )
        if spiked is not None:
            self._history_and_spike(spiked, now=now)
        usage_estimates_refresh(tenant_ids={t.pk for t in tenants}, now=now)
        self._budgets(tenants, now=now, timeline=timeline)
        self._resolved_budget_alert(spiked or tenants[0], now=now)
        budgets_run = budgets_evaluate(now=now, tenant_ids=[t.pk for t in tenants])
        anomalies_run = anomalies_evaluate(now=now, tenant_ids=[t.pk for t in tenants])
        firing = Alert.objects.filter(kind=Alert.Kind.ANOMALY).exclude(state=Alert.State.RESOLVED).count()
        resolved = Alert.objects.filter(state=Alert.State.RESOLVED, kind__in=[Alert.Kind.BUDGET]).count()
        self.stdout.write(
            f"budgets: {len(tenants)} tenants, {budgets_run.fired} thresholds crossed; anomalies: "
            f"{firing} firing{f' (spike on {spiked.slug}/{SKU})' if spiked else ''}, {anomalies_run.failed} "
            f"failed; resolved budget alerts: {resolved} ({time.monotonic() - started:.1f} s)"
        )

    @staticmethod
    def _tenants(now: datetime) -> list[Tenant]:
        in_force = ProfileAssignment.objects.filter(effective_from__lte=now).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gt=now)
        )
        return list(
            Tenant.objects.filter(pk__in=in_force.values("tenant_id"), status=Tenant.Status.ACTIVE)
            .exclude(slug__in=SCRIPTED_TENANTS)
            .order_by("slug")
        )

    def _history_and_spike(self, tenant: Tenant, *, now: datetime) -> None:
        """One compute_vcpu_hours event per hour for the baseline's days (28-52, a daily cycle), then 2,000 in
        the current hour from project `ml`, through the ingest service (deterministic event ids)."""
        hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        project = Project.objects.filter(tenant=tenant).order_by("code").first()
        events: list[dict[str, Any]] = []
        at = hour - timedelta(days=settings.ANOMALY_HISTORY_DAYS)
        while at < hour:
            quantity = 40 + 12 * ((at.hour % 12) - 6) // 6
            event: dict[str, Any] = {
                "event_id": f"monitoring-{tenant.slug}-{SKU}-{at:%Y%m%d%H}",
                "sku": SKU,
                "timestamp": (at + timedelta(minutes=7)).isoformat().replace("+00:00", "Z"),
                "quantity": str(quantity),
                "tags": {"region": "eu-west-1"},
            }
            if project is not None:
                event["project"] = project.code
            events.append(event)
            at += timedelta(hours=1)
        spike: dict[str, Any] = {
            "event_id": f"monitoring-{tenant.slug}-{SKU}-spike-{hour:%Y%m%d%H}",
            "sku": SKU,
            "timestamp": hour.isoformat().replace("+00:00", "Z"),
            "quantity": "2000",
            "tags": {"region": "us-east-1", "team": "research"},
        }
        ml = Project.objects.filter(tenant=tenant, code="ml").first()
        if ml is not None:
            spike["project"] = ml.code
        elif project is not None:
            spike["project"] = project.code
        result = usage_ingest(tenant=tenant, events=[*events, spike], now=now)
        usage_rate_pending()
        self.stdout.write(
            f"{tenant.slug}: {settings.ANOMALY_HISTORY_DAYS} days of hourly {SKU} and a spike: {result.counts}"
        )

    def _budgets(self, tenants: list[Tenant], *, now: datetime, timeline: VersionTimeline) -> None:
        estimates = estimates_current(tenant_ids=[t.pk for t in tenants], now=now)
        for tenant in tenants:
            if budget_get(tenant=tenant) is not None:
                continue
            status = budget_status(
                tenant=tenant, now=now, timeline=timeline, estimates=estimates.get(tenant.pk, []), budget=None
            )
            budget_set(
                tenant=tenant,
                amount=str(_demo_amount(status.projected)),
                thresholds_pct=[80, 100],
                thresholds_money=[],
                plan_multiplier="2",
                actor=None,
                now=now,
            )

    def _resolved_budget_alert(self, tenant: Tenant, *, now: datetime) -> None:
        """Once: a budget below the projection fires, the real budget back resolves it."""
        if Alert.objects.filter(tenant=tenant, kind=Alert.Kind.BUDGET, state=Alert.State.RESOLVED).exists():
            return
        estimates = estimates_current(tenant_ids=[tenant.pk], now=now).get(tenant.pk, [])
        status = budget_status(
            tenant=tenant, now=now, timeline=VersionTimeline([tenant.pk]), estimates=estimates, budget=None
        )
        real = _demo_amount(status.projected)
        budget_set(
            tenant=tenant, amount="1", thresholds_pct=[100], thresholds_money=[], plan_multiplier="100",
            actor=None, now=now - timedelta(minutes=20),
        )  # fmt: skip
        budgets_evaluate(now=now - timedelta(minutes=20), tenant_ids=[tenant.pk])
        budget_set(
            tenant=tenant, amount=str(real), thresholds_pct=[80, 100], thresholds_money=[], plan_multiplier="2",
            actor=None, now=now - timedelta(minutes=10),
        )  # fmt: skip
        budgets_evaluate(now=now - timedelta(minutes=10), tenant_ids=[tenant.pk])


def _demo_amount(projected: Decimal) -> Decimal:
    """A demo budget: 1.5x the projection, rounded up to hundreds, at least 100."""
    hundreds = (projected * Decimal("1.5") / 100).to_integral_value(rounding=ROUND_CEILING)
    return max(Decimal(100), hundreds * 100)
