"""One tenant's bad data never stalls billing for the others: rating sets a batch the database refuses
aside (status failed, its reason, an alert) and rates the rest; a running estimate that cannot be stored
is skipped for that tenant alone; a close never finalizes over unrated usage, and a close that fails
fails for its tenant alone, with an alert."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.catalog.models import Sku
from billing.close.services import close_periods
from billing.close.tasks import close_tenant_periods
from billing.rating.models import TenantUsageEstimate, UsageAggregate
from billing.rating.services import usage_rate_pending
from billing.usage.models import RatingBatch, UsageEvent
from ledger.models import Alert, Invoice
from ledger.verify import ledger_verify
from tests.factories.ledger import after_grace, tax_rule, usage, world
from tests.factories.usage import stored_pending_event

pytestmark = pytest.mark.django_db

NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)
# Just under numeric(38, 12)'s 10^26: one more unit in the same hourly bucket overflows the column.
NEAR_COLUMN_LIMIT = Decimal(10) ** 26 - 1


def _two_tenants():
    tax_rule("DE", "19")
    good = world(slug="good")
    bad = world(slug="bad")
    return good, bad


def _sku(w):
    return Sku.objects.get(code="api_calls")


def test_a_batch_the_database_refuses_is_set_aside_and_the_other_tenant_is_rated():
    # given a tenant whose hourly bucket is one unit from the column's limit, and another tenant
    good, bad = _two_tenants()
    usage(bad.tenant, "api_calls", bad.version, NOV_5, str(NEAR_COLUMN_LIMIT))
    stored_pending_event(bad.tenant, _sku(bad), "poison", timestamp=NOV_5, quantity=Decimal(2))
    stored_pending_event(good.tenant, _sku(good), "fine", timestamp=NOV_5, quantity=Decimal(7))

    # when rating runs
    usage_rate_pending()

    # then the good tenant is rated; the bad tenant's batch waits, failed, with its reason and an alert
    assert UsageAggregate.objects.get(tenant=good.tenant).quantity == Decimal(7)
    failed = RatingBatch.objects.get(tenant=bad.tenant, status=RatingBatch.Status.FAILED)
    assert failed.failure_reason.startswith("NumericValueOutOfRange: numeric field overflow")
    assert failed.failed_at is not None
    assert UsageAggregate.objects.get(tenant=bad.tenant).quantity == NEAR_COLUMN_LIMIT
    assert list(RatingBatch.objects.filter(tenant=good.tenant).values_list("status", flat=True)) == ["rated"]
    alert = Alert.objects.get(kind=Alert.Kind.RATING)
    assert (alert.tenant_id, alert.resolved_at) == (bad.tenant.pk, None)
    assert alert.message.startswith(f"rating batch {failed.pk} (1 events) set aside: NumericValueOutOfRange")


def test_a_set_aside_batch_is_not_claimed_again_by_the_next_run():
    _good, bad = _two_tenants()
    usage(bad.tenant, "api_calls", bad.version, NOV_5, str(NEAR_COLUMN_LIMIT))
    stored_pending_event(bad.tenant, _sku(bad), "poison", timestamp=NOV_5, quantity=Decimal(2))
    usage_rate_pending()

    run = usage_rate_pending()

    assert (run.claimed, run.drained) == (0, True)
    assert Alert.objects.filter(kind=Alert.Kind.RATING).count() == 1


def test_the_close_blocks_the_tenant_whose_usage_waits_and_finalizes_the_other():
    # given the good tenant rated and the bad tenant's November batch set aside
    good, bad = _two_tenants()
    usage(good.tenant, "api_calls", good.version, NOV_5, "10")
    usage(bad.tenant, "api_calls", bad.version, NOV_5, "5")
    stored_pending_event(bad.tenant, _sku(bad), "unrated", timestamp=NOV_5, quantity=Decimal(3))

    # when the period closes (the bad tenant's event is still pending)
    results = close_periods(tenants=[good.tenant, bad.tenant], period_key="2026-11", now=after_grace())

    # then the good tenant is invoiced; the bad one is blocked with usage_pending, not invoiced without it
    assert [(r.tenant_slug, r.status) for r in results] == [("good", "finalized"), ("bad", "blocked")]
    assert results[1].message == "usage_pending: 1 events of the period are not rated yet"
    assert list(Invoice.objects.values_list("tenant__slug", "subtotal")) == [("good", Decimal("1.00"))]
    alert = Alert.objects.get(kind=Alert.Kind.CLOSE)
    assert (alert.tenant_id, alert.message) == (bad.tenant.pk, "period 2026-11 waits: usage_pending")
    assert ledger_verify().message == "OK 1"


def test_once_rated_the_waiting_tenant_is_invoiced_with_all_its_usage_and_its_alert_resolved():
    _good, bad = _two_tenants()
    usage(bad.tenant, "api_calls", bad.version, NOV_5, "5")
    stored_pending_event(bad.tenant, _sku(bad), "unrated", timestamp=NOV_5, quantity=Decimal(3))
    close_periods(tenants=[bad.tenant], period_key="2026-11", now=after_grace())

    usage_rate_pending()
    (result,) = close_periods(tenants=[bad.tenant], period_key="2026-11", now=after_grace())

    assert result.status == "finalized"
    assert Invoice.objects.get(tenant=bad.tenant).subtotal == Decimal("0.80")  # 8 x 0.10, none of it late
    assert Alert.objects.get(kind=Alert.Kind.CLOSE).resolved_at is not None


def test_an_estimate_that_does_not_fit_its_column_is_skipped_for_that_tenant_alone():
    # given a tenant whose usage prices past the estimate column (10^25 x 100 > 10^26) and another tenant
    good = world(slug="good")
    bad = world(slug="bad", prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "100"}])
    stored_pending_event(bad.tenant, _sku(bad), "huge", timestamp=NOV_5, quantity=Decimal(10) ** 25)
    stored_pending_event(good.tenant, _sku(good), "fine", timestamp=NOV_5, quantity=Decimal(7))

    # when rating runs
    usage_rate_pending()

    # then both tenants' usage is rated, the good tenant's estimate is stored, the bad one's is not
    assert set(RatingBatch.objects.values_list("status", flat=True)) == {"rated"}
    assert list(TenantUsageEstimate.objects.values_list("tenant__slug", "amount")) == [
        ("good", Decimal("0.7"))
    ]


def test_a_close_whose_invoice_does_not_fit_fails_for_that_tenant_alone_with_an_alert():
    # given a tenant whose invoice line would pass the amount columns (10^20 x 0.10 = 10^19 > 10^18)
    good, bad = _two_tenants()
    usage(good.tenant, "api_calls", good.version, NOV_5, "10")
    usage(bad.tenant, "api_calls", bad.version, NOV_5, str(Decimal(10) ** 20))

    # when the period closes
    results = close_periods(tenants=[good.tenant, bad.tenant], period_key="2026-11", now=after_grace())

    # then the good tenant is finalized and the bad one fails alone, visibly
    assert [(r.tenant_slug, r.status) for r in results] == [("good", "finalized"), ("bad", "error")]
    assert list(Invoice.objects.values_list("tenant__slug", "status")) == [("good", "finalized")]
    alert = Alert.objects.get(kind=Alert.Kind.CLOSE)
    assert alert.tenant_id == bad.tenant.pk
    assert alert.message.startswith("close of period 2026-11 failed: ")
    assert ledger_verify().message == "OK 1"


def _set_aside(bad):
    usage(bad.tenant, "api_calls", bad.version, NOV_5, str(NEAR_COLUMN_LIMIT))
    stored_pending_event(bad.tenant, _sku(bad), "poison", timestamp=NOV_5, quantity=Decimal(2))
    usage_rate_pending()
    return RatingBatch.objects.get(status=RatingBatch.Status.FAILED)


def test_the_command_lists_a_set_aside_batch_with_its_reason():
    _good, bad = _two_tenants()
    failed = _set_aside(bad)
    out = io.StringIO()

    call_command("rating_failed", stdout=out)

    first, last = out.getvalue().strip().splitlines()
    assert first.startswith(f"{failed.pk}\ttenants={bad.tenant.pk}\tevents=1\tfailed_at=")
    assert first.endswith("NumericValueOutOfRange: numeric field overflow")
    assert json.loads(last) == {"failed_batches": 1}


def test_a_retry_that_still_fails_says_why_and_keeps_the_batch_aside():
    _good, bad = _two_tenants()
    failed = _set_aside(bad)

    with pytest.raises(CommandError, match=f"rating batch {failed.pk} still fails: NumericValueOutOfRange"):
        call_command("rating_failed", "--retry", str(failed.pk), stdout=io.StringIO())

    assert RatingBatch.objects.get(pk=failed.pk).status == RatingBatch.Status.FAILED


def test_quarantining_a_set_aside_batch_lets_the_period_close_without_its_events():
    _good, bad = _two_tenants()
    failed = _set_aside(bad)
    out = io.StringIO()

    call_command("rating_failed", "--quarantine", str(failed.pk), stdout=out)
    (result,) = close_periods(tenants=[bad.tenant], period_key="2026-11", now=after_grace())

    assert json.loads(out.getvalue()) == {"batch": failed.pk, "quarantined_events": 1, "status": "rated"}
    assert UsageEvent.objects.get(event_id="poison").quarantine_reason == "rating_refused"
    assert Alert.objects.get(kind=Alert.Kind.RATING).resolved_at is not None
    assert result.status == "error"  # the remaining aggregate alone is still past the invoice's bounds


def test_a_retry_rates_a_batch_once_its_cause_is_gone():
    _good, bad = _two_tenants()
    failed = _set_aside(bad)
    UsageAggregate.objects.filter(tenant=bad.tenant).delete()  # the cause, removed by an operator

    call_command("rating_failed", "--retry", str(failed.pk), stdout=io.StringIO())

    assert RatingBatch.objects.get(pk=failed.pk).status == RatingBatch.Status.RATED
    assert UsageAggregate.objects.get(tenant=bad.tenant).quantity == Decimal(2)
    assert Alert.objects.get(kind=Alert.Kind.RATING).resolved_at is not None


def test_the_command_closes_the_good_tenant_and_reports_the_bad_one():
    good, bad = _two_tenants()
    usage(good.tenant, "api_calls", good.version, NOV_5, "10")
    usage(bad.tenant, "api_calls", bad.version, NOV_5, str(Decimal(10) ** 20))
    out = io.StringIO()

    with pytest.raises(CommandError, match="0 blocked, 1 failed"):
        call_command(
            "close_period",
            "--period",
            "2026-11",
            "--now",
            after_grace().isoformat(),
            "--no-progress",
            stdout=out,
        )

    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (summary["finalized"], summary["error"], summary["errors"][0]["tenant"]) == (1, 1, "bad")
    assert list(Invoice.objects.values_list("tenant__slug", "status")) == [("good", "finalized")]


def test_the_celery_close_task_closes_the_good_tenant_and_sets_the_bad_one_aside():
    good, bad = _two_tenants()
    usage(good.tenant, "api_calls", good.version, NOV_5, "10")
    usage(bad.tenant, "api_calls", bad.version, NOV_5, str(Decimal(10) ** 20))

    with time_machine.travel(after_grace(), tick=False):
        statuses = close_tenant_periods.apply(args=([good.tenant.pk, bad.tenant.pk], "2026-11")).result

    assert statuses == ["finalized", "error"]
    assert list(Invoice.objects.values_list("tenant__slug", "status")) == [("good", "finalized")]
    assert Alert.objects.get(kind=Alert.Kind.CLOSE).tenant_id == bad.tenant.pk
