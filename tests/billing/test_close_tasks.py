"""The Celery tasks of period close (eager in tests) and the edges of `close_period`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest
import time_machine

from billing.close.drafts import invoice_preview
from billing.close.services import close_period
from billing.close.tasks import close_due_periods, close_tenant_period
from ledger.models import Invoice
from tenants.models import Tenant
from tests.factories import TenantFactory
from tests.factories.ledger import tax_rule, usage, world

pytestmark = pytest.mark.django_db


def test_the_beat_task_closes_every_tenants_last_ended_period():
    tax_rule("DE", "19")
    for slug in ("alpha", "beta"):
        w = world(slug=slug)
        usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "10")
    with time_machine.travel(datetime(2026, 12, 10, tzinfo=UTC), tick=False):
        assert close_due_periods.delay().get() == 2
    numbers = [n or "" for n in Invoice.objects.values_list("number", flat=True)]
    assert sorted(numbers) == [
        "ALPHA-2026-000001",
        "BETA-2026-000001",
    ]


def test_the_tenant_task_returns_the_close_status():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "10")
    with time_machine.travel(datetime(2026, 12, 2, tzinfo=UTC), tick=False):
        assert close_tenant_period.delay(w.tenant.pk, "2026-11").get() == "draft"
    with time_machine.travel(datetime(2026, 12, 10, tzinfo=UTC), tick=False):
        assert close_tenant_period.delay(w.tenant.pk, "2026-11").get() == "finalized"


def test_a_tenant_without_a_profile_has_nothing_to_bill():
    tenant = cast(Tenant, TenantFactory(slug="lonely"))
    result = close_period(tenant=tenant, period_key="2026-11", now=datetime(2026, 12, 10, tzinfo=UTC))
    assert result.status == "nothing_to_bill"
    assert not Invoice.objects.exists()


def test_the_preview_of_an_open_period_shows_a_blocked_reason_without_a_tax_rule():
    w = world(jurisdiction="FR")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "10")
    result = invoice_preview(tenant=w.tenant, now=datetime(2026, 11, 20, tzinfo=UTC))
    assert (result.status, result.period_key) == ("blocked", "2026-11")
    assert "no tax rule" in result.message
