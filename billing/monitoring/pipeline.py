"""Pipeline alerts (docs/alerts-evaluation.md, "Pipeline"): rating lag, quarantine rate, blocked invoices and
a backlog near the backpressure limit. Platform alerts (no tenant), except the quarantine rate, which is
each tenant's own (its events are the ones set aside, and it can fix its tags). Thresholds in settings."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from billing.observability.collector import blocked_kind
from billing.rating.models import UsageAggregate
from billing.usage.models import UsageEvent
from billing.usage.selectors import oldest_pending_received_at, pending_backlog
from common import metrics
from common.errors import ApplicationError
from ledger.alerts.services import alert_fire, alert_resolve, alerts_resolve_except
from ledger.models import Alert, Invoice
from tenants.models import Tenant

logger = logging.getLogger(__name__)

LAG_KEY = "rating_lag"
BACKLOG_KEY = "backlog"
BLOCKED_KEY = "blocked_invoices"
UNATTRIBUTED_KEY = "unattributed"


@dataclass
class PipelineRun:
    firing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def pipeline_evaluate(*, now: datetime | None = None) -> PipelineRun:
    """Run every check; one that fails (the database refused a read) is logged and counted, the others
    still run."""
    now = now or timezone.now()
    run = PipelineRun()
    checks: list[tuple[str, Callable[[datetime], bool]]] = [
        (LAG_KEY, _lag),
        (BACKLOG_KEY, _backlog),
        (BLOCKED_KEY, _blocked),
        ("quarantine_rate", _quarantine),
    ]
    for name, check in checks:
        try:
            with transaction.atomic():
                if check(now):
                    run.firing.append(name)
        except (ApplicationError, DatabaseError, ArithmeticError, ValueError):
            run.failed.append(name)
            metrics.ALERT_EVALUATION_FAILURES.labels(evaluator=f"pipeline_{name}").inc()
            logger.exception("pipeline check %s failed", name)
    return run


def _lag(now: datetime) -> bool:
    """The oldest unrated ingest batch waits longer than PIPELINE_LAG_ALERT_SECONDS."""
    oldest = oldest_pending_received_at()
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    limit = settings.PIPELINE_LAG_ALERT_SECONDS
    if age <= limit:
        alert_resolve(kind=Alert.Kind.PIPELINE_LAG, tenant_id=None, key=LAG_KEY, now=now)
        return False
    alert_fire(
        kind=Alert.Kind.PIPELINE_LAG,
        tenant_id=None,
        key=LAG_KEY,
        severity=Alert.Severity.CRITICAL if age > 4 * limit else Alert.Severity.WARNING,
        message=f"The oldest unrated usage has waited {int(age)} s (threshold {limit} s).",
        details={"oldest_unrated_age_seconds": int(age), "threshold_seconds": limit},
        now=now,
    )
    return True


def _backlog(now: datetime) -> bool:
    """Unrated events at BACKLOG_ALERT_FRACTION of USAGE_BACKLOG_MAX_PENDING (ingest answers 503 above it)."""
    bound = settings.USAGE_BACKLOG_MAX_PENDING
    if bound <= 0:
        alert_resolve(kind=Alert.Kind.BACKLOG, tenant_id=None, key=BACKLOG_KEY, now=now)
        return False
    pending = pending_backlog()
    threshold = int(Decimal(bound) * Decimal(settings.BACKLOG_ALERT_FRACTION))
    if pending < threshold:
        alert_resolve(kind=Alert.Kind.BACKLOG, tenant_id=None, key=BACKLOG_KEY, now=now)
        return False
    alert_fire(
        kind=Alert.Kind.BACKLOG,
        tenant_id=None,
        key=BACKLOG_KEY,
        severity=Alert.Severity.CRITICAL if pending > bound else Alert.Severity.WARNING,
        message=f"{pending} events wait for rating: the backpressure limit is {bound} (alert at {threshold}).",
        details={"pending_events": pending, "limit": bound, "threshold": threshold},
        now=now,
    )
    return True


def _blocked(now: datetime) -> bool:
    """Invoices the close could not finalize (a missing tax rule or FX rate, ...) and tenants whose close
    waits on a profile version whose signature does not verify. Each already has its own alert (raised by
    the close); this one tells the operator how many there are, by cause (the bounded causes of the
    metrics collector's blocked-invoice gauge), and resolves when none is left."""
    reasons = Invoice.objects.filter(status=Invoice.Status.BLOCKED).values_list("blocked_reason", flat=True)
    by_kind: Counter[str] = Counter(blocked_kind(r) for r in reasons)
    signature_tenants = (
        Alert.objects.filter(kind=Alert.Kind.SIGNATURE, tenant__isnull=False)
        .exclude(state=Alert.State.RESOLVED)
        .values("tenant_id")
        .distinct()
        .count()
    )
    if signature_tenants:
        by_kind["signature"] += signature_tenants
    total = sum(by_kind.values())
    if not total:
        alert_resolve(kind=Alert.Kind.INVOICE_BLOCKED, tenant_id=None, key=BLOCKED_KEY, now=now)
        return False
    causes = ", ".join(f"{kind} {n}" for kind, n in sorted(by_kind.items()))
    alert_fire(
        kind=Alert.Kind.INVOICE_BLOCKED,
        tenant_id=None,
        key=BLOCKED_KEY,
        severity=Alert.Severity.CRITICAL,
        message=f"{total} invoices or closes are blocked ({causes}).",
        details={"blocked": total, "by_cause": dict(sorted(by_kind.items()))},
        now=now,
    )
    return True


def _quarantine(now: datetime) -> bool:
    """Per tenant, the share of its events quarantined over the last QUARANTINE_RATE_WINDOW_SECONDS
    (quarantined by receipt time, through their partial index; accepted events from the rated aggregates
    of the window's hours); above QUARANTINE_RATE_ALERT with at least QUARANTINE_RATE_MIN_EVENTS events it
    fires for that tenant. Events of no known tenant fire one platform alert from
    QUARANTINE_UNATTRIBUTED_ALERT_EVENTS on."""
    since = now - timedelta(seconds=settings.QUARANTINE_RATE_WINDOW_SECONDS)
    rows = (
        UsageEvent.objects.filter(status=UsageEvent.Status.QUARANTINED, received_at__gte=since)
        .values("tenant_id")
        .annotate(n=Count("id"))
        .values_list("tenant_id", "n")
    )
    quarantined: dict[int | None, int] = dict(rows)
    unattributed = quarantined.pop(None, 0)
    still_open = (
        Alert.objects.filter(kind=Alert.Kind.QUARANTINE_RATE, tenant__isnull=False)
        .exclude(state=Alert.State.RESOLVED)
        .values_list("tenant_id", flat=True)
    )
    watched = set(quarantined) | set(still_open)
    hour_from = since.replace(minute=0, second=0, microsecond=0)
    any_firing = False
    for tenant in Tenant.objects.filter(pk__in=watched).order_by("pk"):
        try:
            with transaction.atomic():
                any_firing |= _quarantine_tenant(
                    tenant=tenant, quarantined=quarantined.get(tenant.pk, 0), hour_from=hour_from, now=now
                )
        except (ApplicationError, DatabaseError, ArithmeticError, ValueError):
            metrics.ALERT_EVALUATION_FAILURES.labels(evaluator="pipeline_quarantine_rate").inc()
            logger.exception("quarantine-rate check of tenant %s failed", tenant.slug)
    if unattributed >= settings.QUARANTINE_UNATTRIBUTED_ALERT_EVENTS:
        any_firing = True
        alert_fire(
            kind=Alert.Kind.QUARANTINE_RATE,
            tenant_id=None,
            key=UNATTRIBUTED_KEY,
            message=f"{unattributed} events of no known tenant were quarantined in the window.",
            details={"quarantined": unattributed, "threshold": settings.QUARANTINE_UNATTRIBUTED_ALERT_EVENTS},
            now=now,
        )
    else:
        alert_resolve(kind=Alert.Kind.QUARANTINE_RATE, tenant_id=None, key=UNATTRIBUTED_KEY, now=now)
    return any_firing


def _quarantine_tenant(*, tenant: Tenant, quarantined: int, hour_from: datetime, now: datetime) -> bool:
    accepted = (
        UsageAggregate.objects.filter(tenant=tenant, hour__gte=hour_from).aggregate(n=Sum("event_count"))["n"]
        or 0
    )
    total = quarantined + accepted
    rate = Decimal(quarantined) / Decimal(total) if total else Decimal(0)
    limit = Decimal(settings.QUARANTINE_RATE_ALERT)
    window = settings.QUARANTINE_RATE_WINDOW_SECONDS
    if total < settings.QUARANTINE_RATE_MIN_EVENTS or rate <= limit:
        alerts_resolve_except(kind=Alert.Kind.QUARANTINE_RATE, tenant_id=tenant.pk, keys_firing=[], now=now)
        return False
    alert_fire(
        kind=Alert.Kind.QUARANTINE_RATE,
        tenant_id=tenant.pk,
        key="window",
        message=(
            f"{quarantined} of your {total} usage events of the last {window // 60} minutes were set aside "
            f"(quarantined): {rate:.1%}, above {limit:.1%}."
        ),
        details={
            "quarantined": quarantined,
            "events": total,
            "rate": str(rate.quantize(Decimal("0.0001"))),
            "threshold": str(limit),
            "window_seconds": window,
        },
        now=now,
    )
    return True
