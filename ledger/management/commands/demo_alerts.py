"""`manage.py demo_alerts`: alerts and webhook deliveries for the demo portal (acme's notifications page,
finance's alerts page). Runs a throwaway receiver on 127.0.0.1 (a free port) and gives acme two demo
endpoints on it, one answering 200 and one 500; sends them acme's customer-facing alerts so far (those
demo_monitoring fired and resolved, as `make demo` runs it first), or, when acme has none, fires a budget
alert (left firing) and fires then resolves a spend anomaly; and drives every delivery to its end through the real attempt service on a
simulated clock with a compressed backoff (1 s base, 8 s cap): the 200 endpoint's log shows successes,
the 500 one's retries and a dead letter, which fires acme's webhook_dead alert. Idempotent: once acme's
demo endpoints have their log (a dead letter among it) a run changes nothing; an interrupted run's
endpoints are replaced. Needs WEBHOOK_ALLOW_HTTP and WEBHOOK_ALLOW_PRIVATE (on in development)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from ledger.alerts.delivery import webhook_delivery_run, webhook_endpoint_removed
from ledger.alerts.notify import alert_notify
from ledger.alerts.services import FIRED, RESOLVED, alert_fire, alert_resolve
from ledger.models import Alert
from ledger.models.alerts import CUSTOMER_KINDS
from tenants.models import Tenant, WebhookDelivery, WebhookEndpoint
from tenants.webhooks.receiver import Receiver
from tenants.webhooks.services import webhook_endpoint_create, webhook_endpoint_delete

TENANT = "acme"
DEMO = "demo: "


class Command(BaseCommand):
    help = "Demo alerts and a webhook delivery log (successes, retries, a dead letter) for acme."

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.WEBHOOK_ALLOW_HTTP and settings.WEBHOOK_ALLOW_PRIVATE):
            raise CommandError(
                "the demo posts to 127.0.0.1: set WEBHOOK_ALLOW_HTTP=1 and WEBHOOK_ALLOW_PRIVATE=1"
            )
        tenant = Tenant.objects.filter(slug=TENANT).first()
        if tenant is None:
            raise CommandError(f"no tenant {TENANT!r}: run seed_demo first")
        demo_endpoints = WebhookEndpoint.objects.filter(tenant=tenant, description__startswith=DEMO)
        if demo_endpoints.filter(deliveries__status=WebhookDelivery.Status.DEAD).exists():
            self.stdout.write("demo_alerts: acme's demo endpoints and their delivery log are already there")
            return
        with (
            Receiver({"/ok": 200, "/fail": 500}) as receiver,
            override_settings(WEBHOOK_BACKOFF_BASE_SECONDS=1, WEBHOOK_BACKOFF_CAP_SECONDS=8),
        ):
            for old in demo_endpoints:  # an interrupted earlier run's
                webhook_endpoint_removed(endpoint=old)
                webhook_endpoint_delete(endpoint=old)
            for path, what in (("/ok", "answers 200"), ("/fail", "answers 500")):
                webhook_endpoint_create(tenant=tenant, url=receiver.url(path), description=DEMO + what)
            now = timezone.now()
            if not self._notify_existing(tenant, now):
                self._fire_samples(tenant, now)
            attempts = self._drive(tenant, now)
        counts = {
            status: WebhookDelivery.objects.filter(endpoint__tenant=tenant, status=status).count()
            for status in WebhookDelivery.Status.values
        }
        self.stdout.write(
            f"demo_alerts: {attempts} attempts to {len(receiver.received)} requests received; deliveries "
            + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            + f"; acme's open alerts: {Alert.objects.filter(tenant=tenant).exclude(state='resolved').count()}"
        )

    def _notify_existing(self, tenant: Tenant, now: Any) -> bool:
        """Send acme's customer-facing alerts so far (demo_monitoring's budget and anomaly alerts, when it
        ran first) to the new endpoints: fired, and resolved for those resolved. False when there are none."""
        existing = list(
            Alert.objects.filter(tenant=tenant, kind__in=sorted(CUSTOMER_KINDS)).order_by("created_at", "pk")
        )
        with transaction.atomic():
            for alert in existing:
                alert_notify(alert=alert, event_type=FIRED, now=now)
                if alert.state == Alert.State.RESOLVED:
                    alert_notify(alert=alert, event_type=RESOLVED, now=now)
        return bool(existing)

    def _fire_samples(self, tenant: Tenant, now: Any) -> None:
        """Alerts of the two customer-facing kinds, for a database without any (demo_alerts run alone)."""
        alert_fire(
            kind=Alert.Kind.BUDGET,
            tenant_id=tenant.pk,
            key="demo:period",
            message="Projected spend this period is 128 % of the budget (80 % and 100 % thresholds passed)",
            severity=Alert.Severity.CRITICAL,
            details={"budget": "1000.00", "projected": "1280.00", "currency": tenant.currency},
            now=now,
        )
        if not Alert.objects.filter(tenant=tenant, key="demo:anomaly", state=Alert.State.RESOLVED).exists():
            alert_fire(
                kind=Alert.Kind.ANOMALY,
                tenant_id=tenant.pk,
                key="demo:anomaly",
                message="Daily spend on api_calls is 6.2 MADs above its 14-day median",
                details={"meter": "api_calls", "median": "41.20", "observed": "97.80"},
                now=now,
            )
            alert_resolve(kind=Alert.Kind.ANOMALY, tenant_id=tenant.pk, key="demo:anomaly", now=now)

    def _drive(self, tenant: Tenant, now: Any) -> int:
        """Attempt every open delivery of the demo's endpoints when due on a simulated clock, until none is
        left (the dead letter's own alert adds deliveries, which this loop drives too)."""
        attempts = 0
        clock = now
        while True:
            due = (
                WebhookDelivery.objects.filter(
                    endpoint__tenant=tenant,
                    endpoint__description__startswith=DEMO,
                    status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
                )
                .order_by("next_attempt_at", "pk")
                .first()
            )
            if due is None or attempts > 200:
                return attempts
            clock = max(clock, due.next_attempt_at or clock) + timedelta(milliseconds=1)
            webhook_delivery_run(delivery_id=due.pk, now=clock)
            attempts += 1
