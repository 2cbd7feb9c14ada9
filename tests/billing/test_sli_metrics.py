"""The SLI metrics are recorded where the events happen (common.metrics; docs/operations.md, "Metrics"):
each test reads a metric's value before and after one action and asserts the exact difference."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from prometheus_client import REGISTRY

from billing.catalog.models import Sku
from billing.close.services import close_period, close_periods
from billing.governance.approvals import approval_grant, approval_request_create
from billing.profiles.models import Approval
from billing.profiles.quoting import stored_price
from billing.profiles.services import profile_create, profile_version_create
from billing.rating.services import usage_rate_batch, usage_rate_pending
from billing.usage.ingest import usage_ingest
from common.errors import Blocked
from ledger.services.disputes import dispute_open
from tenants.models import Role
from tenants.services import membership_grant
from tests.factories import SkuFactory, UserFactory, profile_document
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world
from tests.factories.tenants import finance_user
from tests.factories.usage import NOW, event, stored_pending_event, usage_env, usage_world

__all__ = ["usage_env"]

pytestmark = pytest.mark.django_db

NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@contextmanager
def change(name: str, **labels: str) -> Iterator[list[float]]:
    """The difference a block makes to one sample, in the list it yields (filled when the block ends)."""
    delta: list[float] = []
    before = sample(name, **labels)
    yield delta
    delta.append(sample(name, **labels) - before)


def _forge_signature(version: Any) -> None:
    approval = Approval.objects.get(request__version=version)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE billing_approval SET signature = %s WHERE id = %s", ["0" * 64, approval.pk])
        cursor.execute("SET LOCAL session_replication_role = origin")


# --- rating ----------------------------------------------------------------------------------------------


def test_rated_events_count_as_met_or_missed_by_their_batch_s_lag(usage_env):
    w = usage_world()
    at = datetime(2026, 11, 15, 9, tzinfo=UTC)
    stored_pending_event(w.tenant, w.sku, "late-1", timestamp=at, received_at=NOW - timedelta(seconds=61))
    stored_pending_event(w.tenant, w.sku, "quick-1", timestamp=at, received_at=NOW - timedelta(seconds=59))
    stored_pending_event(w.tenant, w.sku, "quick-2", timestamp=at, received_at=NOW - timedelta(seconds=1))

    with (
        change("billing_rating_slo_events_total", result="met") as met,
        change("billing_rating_slo_events_total", result="missed") as missed,
        change("billing_rating_lag_seconds_count") as lags,
    ):
        usage_rate_pending()

    assert (met, missed, lags) == ([2.0], [1.0], [3.0])


def test_the_version_lookup_is_timed_once_per_rating_transaction(usage_env):
    w = usage_world()
    for n in range(3):
        stored_pending_event(w.tenant, w.sku, f"e-{n}", timestamp=datetime(2026, 11, 15, 9, tzinfo=UTC))

    with change("billing_version_lookup_seconds_count") as lookups:
        usage_rate_batch()

    assert lookups == [1.0]


def test_usage_without_a_version_in_force_counts_as_quarantined_at_rating(usage_env):
    w = usage_world()  # its profile is in force from 2026-01-01
    stored_pending_event(w.tenant, w.sku, "too-early", timestamp=datetime(2025, 12, 31, 23, tzinfo=UTC))

    with change("billing_usage_quarantined_events_total", stage="rating", reason="no_profile_version") as q:
        usage_rate_pending()

    assert q == [1.0]


def test_events_quarantined_at_ingest_count_by_reason(usage_env):
    w = usage_world()

    with (
        change("billing_usage_quarantined_events_total", stage="ingest", reason="unknown_sku") as q,
        change("billing_usage_ingest_events_total", outcome="accepted", reason="") as accepted,
    ):
        usage_ingest(tenant=w.tenant, events=[event("a"), event("b", sku="x"), event("c", sku="y")])

    assert (q, accepted) == ([2.0], [1.0])


def test_a_batch_waiting_for_a_forged_version_counts_a_rating_signature_failure():
    w = world(slug="forged")
    _forge_signature(w.version)
    stored_pending_event(w.tenant, Sku.objects.get(code="api_calls"), "waits", timestamp=NOV_5)

    with change("billing_signature_failures_total", stage="rating") as failures:
        usage_rate_pending()

    assert failures == [1.0]


# --- close -----------------------------------------------------------------------------------------------


def test_a_close_counts_its_results_its_finalized_invoices_and_its_duration():
    tax_rule("DE", "19")
    billed, untaxed = world(slug="billed"), world(slug="untaxed-fr")
    untaxed.tenant.tax_jurisdiction = "FR"
    untaxed.tenant.save(update_fields=["tax_jurisdiction"])
    usage(billed.tenant, "api_calls", billed.version, NOV_5, "10")
    usage(untaxed.tenant, "api_calls", untaxed.version, NOV_5, "10")

    with (
        change("billing_close_periods_total", status="finalized") as finalized,
        change("billing_close_periods_total", status="blocked") as blocked,
        change("billing_invoices_finalized_total") as invoices,
        change("billing_close_duration_seconds_count") as runs,
    ):
        close_periods(tenants=[billed.tenant, untaxed.tenant], period_key="2026-11", now=after_grace())

    assert (finalized, blocked, invoices, runs) == ([1.0], [1.0], [1.0], [1.0])


def test_an_invoice_carrying_corrections_counts_its_correction_lines():
    tax_rule("DE", "19")
    w = world(slug="corrected")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 5, 10, tzinfo=UTC), "10")
    close_period(tenant=w.tenant, period_key="2026-10", now=after_grace("2026-10"))
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 6, 10, tzinfo=UTC), "5", late=True)
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")

    with (
        change("billing_invoice_correction_lines_total") as lines,
        change("billing_invoices_corrected_total") as corrected,
    ):
        invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))

    assert lines == [float(invoice.lines.filter(kind="correction").count())]
    assert lines[0] >= 1
    assert corrected == [1.0]


def test_a_close_blocked_by_a_forged_version_counts_a_close_signature_failure():
    tax_rule("DE", "19")
    w = world(slug="forged-close")
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    _forge_signature(w.version)

    with change("billing_signature_failures_total", stage="close") as failures:
        close_periods(tenants=[w.tenant], period_key="2026-11", now=after_grace())

    assert failures == [1.0]


def test_a_quote_refused_for_a_forged_version_counts_a_quote_signature_failure():
    w = world(slug="forged-quote")
    _forge_signature(w.version)

    with change("billing_signature_failures_total", stage="quote") as failures, pytest.raises(Blocked):
        stored_price(tenant=w.tenant, profile=w.profile.code, sku="api_calls")

    assert failures == [1.0]


# --- disputes and profile changes -------------------------------------------------------------------------


def test_an_opened_dispute_counts_once_committed(django_capture_on_commit_callbacks):
    tax_rule("DE", "19")
    w = world(slug="disputing")
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    user = UserFactory.create(username="disputer")
    membership_grant(user=user, role=Role.CUSTOMER_ADMIN, tenant=w.tenant)

    with (
        change("billing_disputes_opened_total", reason="duplicate") as opened,
        django_capture_on_commit_callbacks(execute=True),
    ):
        dispute_open(tenant=w.tenant, invoice=invoice, reason="duplicate", message="twice", user=user)

    assert opened == [1.0]


def test_an_approval_observes_the_lead_time_to_the_version_s_start(django_capture_on_commit_callbacks):
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    author = finance_user(Role.FINANCE_EDITOR, username="lead-author")
    approver = finance_user(Role.FINANCE_APPROVER, username="lead-approver")
    SkuFactory.create(code="api_calls")
    profile = profile_create(code="lead", name="Lead")
    with time_machine.travel(now, tick=False):
        draft = profile_version_create(
            profile=profile,
            body=profile_document("lead", unit_amount="0.10"),
            effective_from=now + timedelta(hours=36),
            author=author,
        )
        request = approval_request_create(version=draft, actor=author)

        with (
            change("billing_profile_change_lead_time_seconds_sum") as seconds,
            change("billing_profile_change_lead_time_seconds_bucket", le="86400.0") as within_a_day,
            django_capture_on_commit_callbacks(execute=True),
        ):
            approval_grant(request=request, approver=approver)

    assert (seconds, within_a_day) == ([36 * 3600.0], [0.0])
