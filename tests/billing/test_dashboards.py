"""The dashboards' selectors (billing.observability.dashboards_*) on a small fixture: every figure exact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram

from billing.observability.dashboards_debug import (
    rating_latency,
    sku_rates,
    version_lookup_latency,
)
from billing.observability.dashboards_executive import executive_dashboard
from billing.observability.dashboards_oncall import first_batch_id_since, oncall_dashboard
from billing.profiles.models import ProfileVersion
from billing.rating.models import TenantUsageEstimate, UsageAggregate
from billing.usage.models import IngestRequest, RatingBatch, UsageEvent
from ledger.alerts.services import alert_fire
from ledger.models import Alert, Dispute, Invoice, InvoiceLine, TaxBreakdown
from tests.factories import ApprovedVersionFactory, SkuFactory, TenantFactory, UserFactory
from tests.factories.ledger import fx_rate

pytestmark = pytest.mark.django_db
D = Decimal
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


def invoice(
    tenant: Any,
    month: int,
    *,
    subtotal: str,
    fx: str,
    tax: str = "0",
    due: date,
    number: str,
    paid_by_credits: str = "0",
) -> Invoice:
    start = datetime(2026, month, 1, tzinfo=UTC)
    end = datetime(2026, month + 1, 1, tzinfo=UTC)
    total = D(subtotal) + D(tax)
    created = Invoice.objects.create(
        tenant=tenant,
        period_key=f"2026-{month:02d}",
        period_start=start,
        period_end=end,
        period_first_day=start.date(),
        period_last_day=(end - timedelta(days=1)).date(),
        currency=tenant.currency,
        base_currency="EUR",
        fx_rate=D(fx),
        subtotal=D(subtotal),
        tax_total=D(tax),
        total=total,
        credits_applied=D(paid_by_credits),
        amount_due=total - D(paid_by_credits),
    )
    InvoiceLine.objects.create(
        invoice=created,
        position=1,
        kind="usage",
        description="API calls",
        amount_exact=D(subtotal),
        amount=D(subtotal),
        tax_rate=D(19) if D(tax) else D(0),
    )
    if D(tax):
        TaxBreakdown.objects.create(
            invoice=created, category="S", rate=D(19), taxable_amount=D(subtotal), tax_amount=D(tax)
        )
    Invoice.objects.filter(pk=created.pk).update(
        status=Invoice.Status.FINALIZED,
        number=number,
        finalized_at=end + timedelta(days=3),
        issue_date=(end + timedelta(days=3)).date(),
        due_date=due,
    )
    return Invoice.objects.get(pk=created.pk)


def estimate(tenant: Any, sku: Any, amount: str, *, month: int = 12) -> None:
    start = datetime(2026, month, 1, tzinfo=UTC)
    end = datetime(2027, 1, 1, tzinfo=UTC) if month == 12 else datetime(2026, month + 1, 1, tzinfo=UTC)
    TenantUsageEstimate.objects.create(
        tenant=tenant,
        period_key=f"2026-{month:02d}",
        period_start=start,
        period_end=end,
        sku=sku,
        quantity=D(1),
        event_count=1,
        amount=D(amount),
        currency=tenant.currency,
        updated_at=NOW,
    )


@pytest.fixture
def money_world() -> dict[str, Any]:
    acme = TenantFactory.create(slug="acme", name="Acme", currency="EUR")
    globex = TenantFactory.create(slug="globex", name="Globex", currency="USD")
    initech = TenantFactory.create(slug="initech", name="Initech", currency="GBP")
    sku = SkuFactory.create(code="api_calls")
    nov = invoice(acme, 11, subtotal="100.00", tax="19.00", fx="1", due=date(2026, 12, 31), number="A-1")
    octo = invoice(globex, 10, subtotal="200.00", fx="0.9", due=date(2026, 11, 5), number="G-1")
    invoice(globex, 9, subtotal="33.33", fx="1.5", due=date(2026, 10, 5), number="G-2")
    customer = UserFactory.create()
    Dispute.objects.create(
        tenant=globex, invoice=octo, reason="other", message="why?", opened_by=customer, created_at=NOW
    )
    estimate(acme, sku, "95.00")
    estimate(acme, sku, "500.00", month=11)  # a closed period's estimate: not this period
    estimate(globex, sku, "100.00")
    estimate(initech, sku, "70.00")  # no GBP rate: left out, named
    fx_rate(date(2026, 12, 9), "USD", "EUR", "0.9")
    return {"acme": acme, "globex": globex, "nov": nov}


def test_it_sums_each_closed_month_in_the_base_currency_rounding_each_invoice_once(money_world):
    data = executive_dashboard(now=NOW)
    months = {m.month: m.spend for m in data.months}
    assert len(data.months) == 12
    assert data.months[0].month == date(2025, 12, 1)
    assert data.months[-1].month == date(2026, 11, 1)
    assert months[date(2026, 9, 1)] == D("50.00")  # 33.33 x 1.5 = 49.995 -> 50.00
    assert months[date(2026, 10, 1)] == D("180.00")
    assert months[date(2026, 11, 1)] == D("100.00")  # before tax
    assert sum(months.values()) == D("330.00")


def test_it_projects_this_period_and_compares_it_with_the_forecast(money_world):
    data = executive_dashboard(now=NOW)
    assert data.current.to_date == D("185.00")  # 95 EUR + 100 USD x 0.9
    assert data.current.tenants == 2
    assert data.current.unconverted == ("GBP",)
    # 9.5 of 31 days elapsed: x 62/19
    assert data.current.projected == D("603.68")
    assert data.forecast == D("110.00")
    assert data.variance is not None
    assert data.variance.percent == D("448.8")


def test_it_ranks_the_top_tenants_by_this_periods_estimate_in_the_base_currency(money_world):
    top = executive_dashboard(now=NOW).top
    assert [(t.slug, t.amount) for t in top] == [("acme", D("95.00")), ("globex", D("90.00"))]


def test_it_ages_outstanding_invoices_by_days_overdue(money_world):
    data = executive_dashboard(now=NOW)
    assert [(b.label, b.invoices, b.amount) for b in data.outstanding] == [
        ("Not yet due", 1, D("119.00")),
        ("1-30 days overdue", 0, D("0.00")),
        ("31-60 days", 1, D("180.00")),
        ("61-90 days", 1, D("50.00")),
        ("Over 90 days", 0, D("0.00")),
    ]
    assert data.outstanding_total == D("349.00")
    assert data.outstanding_count == 3


def test_it_leaves_invoices_with_nothing_due_out_of_the_outstanding(money_world):
    invoice(
        money_world["acme"],
        8,
        subtotal="40.00",
        fx="1",
        due=date(2026, 9, 30),
        number="A-0",
        paid_by_credits="40.00",
    )
    data = executive_dashboard(now=NOW)
    assert (data.outstanding_total, data.outstanding_count) == (D("349.00"), 3)


def test_it_counts_the_dispute_rate_per_month_and_overall(money_world):
    data = executive_dashboard(now=NOW)
    october = next(m for m in data.months if m.month == date(2026, 10, 1))
    assert (october.invoices, october.disputed, october.dispute_rate) == (1, 1, D("100.00"))
    assert data.dispute_rate == D("33.33")


def test_a_period_less_than_a_day_old_counts_at_its_amount_to_date(money_world):
    tokyo = TenantFactory.create(slug="kaiju", currency="EUR", timezone="Asia/Tokyo")
    TenantUsageEstimate.objects.create(
        tenant=tokyo,
        period_key="2026-12",
        period_start=datetime(2026, 12, 9, 15, tzinfo=UTC),  # a range that started 21 h before NOW
        period_end=datetime(2027, 1, 9, 15, tzinfo=UTC),
        sku=SkuFactory.create(code="storage"),
        quantity=D(1),
        event_count=1,
        amount=D("10.00"),
        currency="EUR",
        updated_at=NOW,
    )
    assert executive_dashboard(now=NOW).current.projected == D("613.68")  # 603.68 + 10.00 as it stands


def test_it_says_too_early_to_project_in_the_first_day_of_a_period(money_world):
    data = executive_dashboard(now=datetime(2026, 12, 1, 20, tzinfo=UTC))
    assert data.current.projected is None
    assert data.variance is None


# --- on-call and debug -------------------------------------------------------------------------------


def batch(
    created: datetime, events: int, *, rated_after: float | None = None, source: str = "ingest"
) -> RatingBatch:
    created_batch = RatingBatch.objects.create(
        first_event_id=1,
        last_event_id=1,
        event_count=events,
        tenant_ids=[],
        earliest_event_at=created,
        latest_event_at=created,
        created_at=created,
        source=source,
    )
    if rated_after is not None:  # created pending (the database's rule), then rated
        RatingBatch.objects.filter(pk=created_batch.pk).update(
            status=RatingBatch.Status.RATED, rated_at=created + timedelta(seconds=rated_after)
        )
    return created_batch


def quarantined(n: int, reason: str, received: datetime) -> None:
    for i in range(n):
        UsageEvent.objects.create(
            tenant_slug="nobody",
            event_id=f"{reason}-{received:%H%M}-{i}",
            sku_code="api_calls",
            timestamp=received,
            quantity=D(1),
            payload_sha256="0" * 64,
            status=UsageEvent.Status.QUARANTINED,
            quarantine_reason=reason,
            received_at=received,
        )


def ingest_request(key: str, created: datetime, results: list[dict[str, str]]) -> None:
    import json

    counts: dict[str, int] = {}
    for item in results:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    IngestRequest.objects.create(
        scope="platform",
        key=key,
        request_sha256="0" * 64,
        response_status=200,
        response_body=json.dumps({"results": results, "counts": counts}, separators=(",", ":")),
        created_at=created,
    )


@pytest.fixture
def pipeline() -> None:
    batch(NOW - timedelta(days=3), 100, rated_after=5)  # outside the window
    batch(NOW - timedelta(hours=2), 10, rated_after=30)
    batch(NOW - timedelta(hours=1), 20, rated_after=90)
    batch(NOW - timedelta(seconds=90), 5)  # pending
    quarantined(2, "unknown_sku", NOW - timedelta(hours=1))
    quarantined(1, "unknown_tenant", NOW - timedelta(hours=2))
    rejected = {"event_id": "x", "status": "rejected", "reason": "invalid_quantity"}
    ingest_request(
        "r1",
        NOW - timedelta(minutes=30),
        [
            rejected,
            rejected,
            {"event_id": "y", "status": "conflict"},
            {"event_id": "z", "status": "accepted"},
        ],
    )
    ingest_request("r2", NOW - timedelta(hours=30), [rejected])  # outside the window
    ingest_request("r3", NOW - timedelta(minutes=5), [{"event_id": "w", "status": "accepted"}])


def test_it_reports_the_pipeline_lag_and_backlog(pipeline):
    data = oncall_dashboard(now=NOW)
    assert (data.lag_seconds, data.backlog_events) == (90, 5)


def test_it_reports_the_quarantine_rate_over_the_last_24_hours_and_per_hour(pipeline):
    data = oncall_dashboard(now=NOW)
    assert (data.stored, data.quarantined, data.quarantine_rate) == (38, 3, D("7.89"))
    assert len(data.hours) == 24
    assert data.hours[0].hour == datetime(2026, 12, 9, 13, tzinfo=UTC)
    eleven = next(h for h in data.hours if h.hour == datetime(2026, 12, 10, 11, tzinfo=UTC))
    assert (eleven.stored, eleven.quarantined, eleven.rate) == (27, 2, D("7.41"))  # 20 + 5 pending + 2


def test_it_counts_ingest_errors_by_reason(pipeline):
    errors = oncall_dashboard(now=NOW).errors
    assert [(e.outcome, e.reason, e.events) for e in errors] == [
        ("quarantined", "unknown_sku", 2),
        ("rejected", "invalid_quantity", 2),
        ("conflict", "", 1),
        ("quarantined", "unknown_tenant", 1),
    ]


def test_it_finds_the_first_batch_of_a_window_by_id():
    ids = [batch(NOW - timedelta(hours=h), 1).pk for h in (50, 40, 30, 20, 10, 1)]
    assert first_batch_id_since(NOW - timedelta(hours=25)) == ids[3]
    assert first_batch_id_since(NOW - timedelta(hours=1)) == ids[5]
    assert first_batch_id_since(NOW + timedelta(hours=1)) is None


def test_it_lists_open_alerts_by_severity():
    alert_fire(
        kind=Alert.Kind.PIPELINE_LAG, tenant_id=None, key="lag", message="lag", severity="critical", now=NOW
    )
    alert_fire(kind=Alert.Kind.BACKLOG, tenant_id=None, key="backlog", message="backlog", now=NOW)
    resolved = alert_fire(kind=Alert.Kind.RECONCILIATION, tenant_id=None, key="r", message="r", now=NOW)
    Alert.objects.filter(pk=resolved.pk).update(state=Alert.State.RESOLVED, resolved_at=NOW)
    data = oncall_dashboard(now=NOW)
    assert data.alerts_open == 2
    assert data.alerts_by_severity == {"critical": 1, "warning": 1}
    assert {a.key for a in data.alerts} == {"lag", "backlog"}


def test_it_lists_recent_price_list_changes_newest_first():
    first = ApprovedVersionFactory.create(decided_at=NOW - timedelta(days=2))
    second = ApprovedVersionFactory.create(decided_at=NOW - timedelta(days=1))
    draft = ApprovedVersionFactory.create(status=ProfileVersion.Status.DRAFT)
    versions = oncall_dashboard(now=NOW).versions
    assert [v.pk for v in versions] == [second.pk, first.pk]
    assert draft.pk not in [v.pk for v in versions]


def test_it_histograms_rating_latency_with_exact_quantiles(pipeline):
    latency = rating_latency(now=NOW)
    counts = {b.label: b.batches for b in latency.buckets}
    assert counts == {
        "< 1 s": 0,
        "1-5 s": 0,
        "5-15 s": 0,
        "15-30 s": 0,
        "30-60 s": 1,
        "60-120 s": 1,
        "120-300 s": 0,
        "300-900 s": 0,
        "900-3600 s": 0,
        ">= 3600 s": 0,
    }
    assert (latency.rated, latency.pending, latency.within_slo) == (2, 1, 1)
    assert (latency.p50, latency.p95) == (60.0, 87.0)  # percentile_cont over 30 s and 90 s
    assert latency.p99 == pytest.approx(89.4)
    assert latency.within_slo_percent == D("50.00")


def test_it_counts_events_per_sku_per_hour_over_the_last_24_hours():
    acme, globex = TenantFactory.create(slug="acme"), TenantFactory.create(slug="globex")
    version = ApprovedVersionFactory.create()
    calls, storage = SkuFactory.create(code="api_calls"), SkuFactory.create(code="storage")
    hour = datetime(2026, 12, 10, 11, tzinfo=UTC)

    def aggregate(tenant: Any, sku: Any, at: datetime, n: int) -> None:
        UsageAggregate.objects.create(
            tenant=tenant,
            sku=sku,
            profile_version=version,
            hour=at,
            quantity=D(n),
            event_count=n,
            first_event_at=at,
            last_event_at=at,
            updated_at=NOW,
        )

    aggregate(acme, calls, hour, 10)
    aggregate(globex, calls, hour, 5)
    aggregate(acme, calls, hour - timedelta(hours=1), 7)
    aggregate(acme, storage, hour, 3)
    aggregate(acme, storage, hour - timedelta(hours=30), 1000)  # outside the window
    hours, skus = sku_rates(now=NOW)
    assert [(s.code, s.total) for s in skus] == [("api_calls", 22), ("storage", 3)]
    assert skus[0].hours[-3:] == [7, 15, 0]  # 10:00, 11:00, 12:00
    assert hours[-1] == datetime(2026, 12, 10, 12, tzinfo=UTC)


def test_it_reads_the_version_lookup_histogram_and_says_when_there_is_none():
    registry = CollectorRegistry()
    assert version_lookup_latency(registry) is None
    histogram = Histogram(
        "billing_version_lookup_seconds", "lookups", buckets=(0.001, 0.01, 0.1), registry=registry
    )
    for value in (0.0005, 0.0005, 0.005, 0.05):
        histogram.observe(value)
    found = version_lookup_latency(registry)
    assert found is not None
    assert found.count == 4
    assert found.mean == pytest.approx(0.014)
    assert found.p50 == pytest.approx(0.001)  # rank 2 of 4: the top of the first bucket
    assert found.p95 == pytest.approx(0.01 + 0.09 * 0.8)
    assert found.buckets == [("0.001", 2), ("0.01", 3), ("0.1", 4), ("+Inf", 4)]
