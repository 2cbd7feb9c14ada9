"""Reconciliation of a period (billing.reconciliation -> ledger.reconciliation): the three checks, the
rows behind a delta, the provider import, the gauge and the alert, the command."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.catalog.models import Sku
from billing.close.services import close_period
from billing.rating.models import TenantUsageEstimate
from billing.reconciliation.services import previous_month_key, reconcile_period
from common.errors import ValidationFailed
from common.metrics import RECONCILIATION_DELTA
from ledger.models import Alert, Invoice, InvoiceLine, ProviderImport, ReconciliationDelta, ReconciliationRun
from ledger.reconciliation.services import provider_import_create
from tenants.models import Tenant
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world

pytestmark = pytest.mark.django_db
NOV = datetime(2026, 11, 10, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Closed:
    tenant: Tenant
    estimate: TenantUsageEstimate
    invoice: Invoice


@pytest.fixture
def closed() -> Closed:
    """acme: 100 api_calls at 0.10 in November, rated (estimate 10.00) and invoiced (10.00, 19 % VAT)."""
    tax_rule("DE", "19")
    w = world(slug="acme")
    usage(w.tenant, "api_calls", w.version, NOV, "100")
    estimate = TenantUsageEstimate.objects.create(
        tenant=w.tenant,
        period_key="2026-11",
        period_start=datetime(2026, 11, 1, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, tzinfo=UTC),
        sku=Sku.objects.get(code="api_calls"),
        quantity=Decimal(100),
        event_count=1,
        amount=Decimal("10.000"),
        currency="EUR",
        updated_at=NOV,
    )
    invoice = invoice_of(close_period(tenant=w.tenant, now=after_grace()))
    return Closed(tenant=w.tenant, estimate=estimate, invoice=invoice)


def test_it_finds_no_delta_when_rated_invoiced_and_posted_agree(closed: Closed) -> None:
    run = reconcile_period(period_key="2026-11", trigger="command")
    assert run.status == ReconciliationRun.Status.COMPLETED
    assert run.deltas.count() == 0
    assert run.summary["rated_vs_invoiced"] == {
        "compared": 1,
        "deltas": 0,
        "breached": 0,
        "abs_delta_base": "0.0000",
        "unconverted": 0,
        "base_currency": "EUR",
    }
    assert run.summary["invoices_vs_ledger"]["compared"] == 1
    assert run.summary["provider_vs_rated"] == {"skipped": "no provider export imported for the period"}


def test_a_stale_estimate_is_a_delta_with_the_rows_behind_it(closed: Closed) -> None:
    estimate, invoice = closed.estimate, closed.invoice
    TenantUsageEstimate.objects.filter(pk=estimate.pk).update(amount=Decimal("12.00"))
    run = reconcile_period(period_key="2026-11", trigger="command")
    (delta,) = run.deltas.all()
    line = InvoiceLine.objects.get(invoice=invoice, kind="usage")
    assert (delta.check_name, delta.sku_code, delta.expected, delta.actual, delta.delta) == (
        "rated_vs_invoiced",
        "api_calls",
        Decimal("12.00"),
        Decimal("10.00"),
        Decimal("-2.00"),
    )
    assert (delta.delta_pct, delta.delta_base, delta.breached) == (
        Decimal("-16.6667"),
        Decimal("-2.00"),
        True,
    )
    assert delta.sources == {"estimates": [estimate.pk], "invoice_lines": [line.pk]}


def test_a_breach_sets_the_gauge_and_fires_one_alert_which_a_clean_run_resolves(
    closed: Closed,
) -> None:
    estimate = closed.estimate
    TenantUsageEstimate.objects.filter(pk=estimate.pk).update(amount=Decimal("12.00"))
    reconcile_period(period_key="2026-11", trigger="command")
    reconcile_period(period_key="2026-11", trigger="command")
    assert RECONCILIATION_DELTA.labels(check="rated_vs_invoiced")._value.get() == 2.0
    alert = Alert.objects.get(kind=Alert.Kind.RECONCILIATION, key="2026-11:rated_vs_invoiced")
    assert (alert.state, alert.occurrences, alert.tenant_id) == ("firing", 2, None)
    TenantUsageEstimate.objects.filter(pk=estimate.pk).update(amount=Decimal("10.00"))
    reconcile_period(period_key="2026-11", trigger="command")
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert RECONCILIATION_DELTA.labels(check="rated_vs_invoiced")._value.get() == 0.0


PROVIDER = (
    "BillingAccountId,SkuId,ChargeCategory,BilledCost,BillingCurrency\n"
    "acme,api_calls,Usage,7.00,EUR\n"
    "acme,api_calls,Usage,3.00,EUR\n"
    "acme,,Tax,1.90,EUR\n"
    "nobody,api_calls,Usage,4.00,EUR\n"
)


def test_the_provider_export_is_compared_per_tenant_and_sku(closed: Closed) -> None:
    record = provider_import_create(
        provider="upstream", period_key="2026-11", file_name="nov.csv", content=PROVIDER.encode()
    )
    assert (record.rows_read, record.rows_matched, record.rows_unmatched, record.rows_excluded) == (
        4,
        2,
        1,
        1,
    )
    run = reconcile_period(period_key="2026-11", trigger="command")
    (delta,) = run.deltas.filter(check_name="provider_vs_rated")
    assert (delta.tenant_id, delta.tenant_ref, delta.expected, delta.actual, delta.delta, delta.note) == (
        None,
        "nobody",
        Decimal("4.00"),
        Decimal("0.00"),
        Decimal("-4.00"),
        "expected only",
    )
    assert run.summary["provider_vs_rated"]["compared"] == 2


def test_the_same_file_imported_twice_is_one_import(closed: Closed) -> None:
    first = provider_import_create(
        provider="upstream", period_key="2026-11", file_name="a.csv", content=PROVIDER.encode()
    )
    again = provider_import_create(
        provider="upstream", period_key="2026-11", file_name="a.csv", content=PROVIDER.encode()
    )
    assert (again.pk, ProviderImport.objects.count()) == (first.pk, 1)


def test_a_bad_provider_file_is_refused_with_its_row() -> None:
    with pytest.raises(ValidationFailed, match=r"bad.csv: row 1, BilledCost: 'x' is not a decimal"):
        provider_import_create(
            provider="upstream",
            period_key="2026-11",
            file_name="bad.csv",
            content=b"BillingAccountId,SkuId,ChargeCategory,BilledCost,BillingCurrency\nacme,a,Usage,x,EUR\n",
        )


def test_the_command_prints_the_run_and_exits_1_on_a_breach(closed: Closed) -> None:
    out = StringIO()
    call_command("reconcile", "--period", "2026-11", "--no-progress", stdout=out)
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (summary["period"], summary["status"], summary["checks"]["rated_vs_invoiced"]["deltas"]) == (
        "2026-11",
        "completed",
        0,
    )
    estimate = closed.estimate
    TenantUsageEstimate.objects.filter(pk=estimate.pk).update(amount=Decimal("50.00"))
    with pytest.raises(CommandError, match="1 delta"):
        call_command("reconcile", "--period", "2026-11", "--no-progress", stdout=StringIO())
    assert ReconciliationDelta.objects.filter(breached=True).count() == 1


@pytest.mark.parametrize("period", ["garbage", "2026-13", "2026-00", "2026-Q5", "0000-01", ""])
def test_a_period_that_is_no_period_key_is_refused_and_no_run_stored(period: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        reconcile_period(period_key=period, trigger="command")
    assert [(i.field, i.message) for i in err.value.issues] == [
        ("period", "expected YYYY-MM, YYYY-Qn or YYYY")
    ]
    assert ReconciliationRun.objects.count() == 0


def test_the_command_exits_2_on_a_bad_period() -> None:
    with pytest.raises(CommandError, match="'2026-13' is not a period key") as err:
        call_command("reconcile", "--period", "2026-13", "--no-progress", stdout=StringIO())
    assert err.value.returncode == 2


def test_a_provider_import_for_a_bad_period_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="'2026-13' is not a period key"):
        provider_import_create(
            provider="upstream", period_key="2026-13", file_name="nov.csv", content=PROVIDER.encode()
        )
    assert ProviderImport.objects.count() == 0


def test_the_import_command_refuses_a_missing_file() -> None:
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_provider_focus", "/nonexistent.csv", "--provider", "p", "--period", "2026-11")


def test_the_beat_task_reconciles_the_previous_month() -> None:
    assert previous_month_key(now=datetime(2026, 12, 3, tzinfo=UTC)) == "2026-11"
    assert previous_month_key(now=datetime(2027, 1, 1, tzinfo=UTC)) == "2026-12"


def test_a_provider_sku_in_a_second_currency_is_its_own_delta_never_dropped(closed: Closed) -> None:
    content = (
        "BillingAccountId,SkuId,ChargeCategory,BilledCost,BillingCurrency\n"
        "acme,api_calls,Usage,10.00,EUR\n"
        "acme,api_calls,Usage,4.00,USD\n"
    )
    provider_import_create(
        provider="upstream", period_key="2026-11", file_name="nov.csv", content=content.encode()
    )
    run = reconcile_period(period_key="2026-11", trigger="command")
    deltas = run.deltas.filter(check_name="provider_vs_rated")
    assert [(d.tenant_id, d.sku_code, d.currency, d.expected, d.actual, d.note) for d in deltas] == [
        (closed.tenant.pk, "api_calls", "USD", Decimal("4.00"), Decimal("0.00"), "expected only")
    ]
    assert run.summary["provider_vs_rated"]["compared"] == 2


def _breach_november(closed: Closed) -> Alert:
    TenantUsageEstimate.objects.filter(pk=closed.estimate.pk).update(amount=Decimal("12.00"))
    reconcile_period(period_key="2026-11", trigger="command")
    return Alert.objects.get(kind=Alert.Kind.RECONCILIATION, key="2026-11:rated_vs_invoiced")


def test_a_clean_run_of_another_period_leaves_the_breach_of_a_period_firing(closed: Closed) -> None:
    alert = _breach_november(closed)

    reconcile_period(period_key="2026-12", trigger="beat")  # a clean new month

    alert.refresh_from_db()
    assert alert.state == "firing"
    assert RECONCILIATION_DELTA.labels(check="rated_vs_invoiced")._value.get() == 0.0  # December's


def test_a_run_of_an_older_period_leaves_the_gauge_to_the_newest(closed: Closed) -> None:
    reconcile_period(period_key="2026-12", trigger="beat")
    TenantUsageEstimate.objects.filter(pk=closed.estimate.pk).update(amount=Decimal("12.00"))

    reconcile_period(period_key="2026-11", trigger="command")

    assert RECONCILIATION_DELTA.labels(check="rated_vs_invoiced")._value.get() == 0.0
    assert Alert.objects.get(key="2026-11:rated_vs_invoiced").state == "firing"


def test_a_skipped_provider_check_resolves_its_alert_of_the_period_and_is_nan_on_the_gauge(
    closed: Closed,
) -> None:
    provider_import_create(
        provider="upstream", period_key="2026-11", file_name="nov.csv", content=PROVIDER.encode()
    )
    reconcile_period(period_key="2026-11", trigger="command", provider="upstream")
    alert = Alert.objects.get(key="2026-11:provider_vs_rated")
    assert alert.state == "firing"

    run = reconcile_period(period_key="2026-11", trigger="command", provider="other")

    assert run.summary["provider_vs_rated"] == {"skipped": "no provider export imported for the period"}
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert math.isnan(RECONCILIATION_DELTA.labels(check="provider_vs_rated")._value.get())


def test_provider_rows_charged_outside_the_period_are_left_out_and_counted(closed: Closed) -> None:
    content = (
        "BillingAccountId,SkuId,ChargeCategory,BilledCost,BillingCurrency,ChargePeriodStart\n"
        "acme,api_calls,Usage,10.00,EUR,2026-11-30T23:00:00Z\n"
        "acme,api_calls,Usage,6.00,EUR,2026-12-01T00:00:00Z\n"
        "acme,api_calls,Usage,5.00,EUR,2026-10-31T23:59:59Z\n"
    )
    provider_import_create(
        provider="upstream", period_key="2026-11", file_name="nov.csv", content=content.encode()
    )
    run = reconcile_period(period_key="2026-11", trigger="command")
    assert not run.deltas.filter(check_name="provider_vs_rated").exists()  # 10.00 of November = rated
    assert run.summary["provider_vs_rated"]["rows_outside_period"] == 2


def test_a_provider_row_is_placed_in_its_tenants_zone() -> None:
    w = world(slug="berlin", tz="Europe/Berlin")
    content = (
        "BillingAccountId,SkuId,ChargeCategory,BilledCost,BillingCurrency,ChargePeriodStart\n"
        "berlin,api_calls,Usage,3.00,EUR,2026-10-31T23:00:00Z\n"  # 1 November 00:00 in Berlin
        "berlin,api_calls,Usage,4.00,EUR,2026-11-30T23:00:00Z\n"  # 1 December 00:00 in Berlin
    )
    provider_import_create(
        provider="upstream", period_key="2026-11", file_name="nov.csv", content=content.encode()
    )
    run = reconcile_period(period_key="2026-11", trigger="command")
    (delta,) = run.deltas.filter(check_name="provider_vs_rated")
    assert (delta.tenant_id, delta.expected, delta.note) == (w.tenant.pk, Decimal("3.00"), "expected only")
    assert run.summary["provider_vs_rated"]["rows_outside_period"] == 1
