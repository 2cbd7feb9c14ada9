"""Finance's dashboards (portal:finance:dashboards, :dashboard-executive, -oncall, -debug): finance roles
read them, customers get 403, anonymous visitors the sign-in page; each page shows its figures, charts with
their data tables, and shows the figures kept by the refresh task (billing.observability.dashboards_kept)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.test import override_settings

from billing.rating.models import TenantUsageEstimate
from billing.usage.models import RatingBatch
from tests.factories import SkuFactory, TenantFactory
from tests.personas import AnonymousPersona, Persona

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
PAGES = [
    "/portal/finance/dashboards/",
    "/portal/finance/dashboards/executive/",
    "/portal/finance/dashboards/on-call/",
    "/portal/finance/dashboards/debug/",
]


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    cache.clear()


@pytest.mark.parametrize("url", PAGES)
def test_finance_reads_every_dashboard(finance_editor: Persona, url: str) -> None:
    assert finance_editor.client.get(url).status_code == 200


@pytest.mark.parametrize("url", PAGES)
def test_a_customer_gets_403(alice: Persona, url: str) -> None:
    assert alice.client.get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_an_anonymous_visitor_is_sent_to_sign_in(anonymous: AnonymousPersona, url: str) -> None:
    response = anonymous.client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/")


def _estimate(amount: str) -> None:
    tenant = TenantFactory.create(slug="acme", name="Acme Analytics", currency="EUR")
    TenantUsageEstimate.objects.create(
        tenant=tenant,
        period_key="2026-12",
        period_start=datetime(2026, 12, 1, tzinfo=UTC),
        period_end=datetime(2027, 1, 1, tzinfo=UTC),
        sku=SkuFactory.create(code="api_calls"),
        quantity=Decimal(1),
        event_count=1,
        amount=Decimal(amount),
        currency="EUR",
        updated_at=NOW,
    )


@override_settings(DASHBOARD_MAX_AGE_SECONDS=0)
def test_the_executive_page_shows_spend_top_tenants_and_a_chart_with_its_table(
    finance_editor: Persona,
) -> None:
    _estimate("1234.5")
    with time_machine.travel(NOW, tick=False):
        finance_editor.client.force_login(finance_editor.user)  # a session of that day
        html = finance_editor.client.get("/portal/finance/dashboards/executive/").content.decode()
    assert '<dd id="spend-to-date">€1,234.50</dd>' in html
    assert '<dd id="spend-projected">€4,028.37</dd>' in html  # x 62/19
    assert "Acme Analytics" in html
    assert '<svg class="chart"' in html
    assert '<th scope="row">Dec 2026 (to date)</th><td class="num">€1,234.50</td>' in html
    assert "style=" not in html
    assert "<script" not in html


@override_settings(DASHBOARD_MAX_AGE_SECONDS=0)
def test_the_oncall_page_shows_the_lag(finance_editor: Persona) -> None:
    RatingBatch.objects.create(
        first_event_id=1,
        last_event_id=1,
        event_count=3,
        tenant_ids=[],
        earliest_event_at=NOW,
        latest_event_at=NOW,
        created_at=datetime(2026, 12, 10, 11, 55, tzinfo=UTC),
    )
    with time_machine.travel(NOW, tick=False):
        finance_editor.client.force_login(finance_editor.user)  # a session of that day
        html = finance_editor.client.get("/portal/finance/dashboards/on-call/").content.decode()
    assert '<dd id="lag">5 min</dd>' in html
    assert '<dd id="backlog">3</dd>' in html


@override_settings(DASHBOARD_MAX_AGE_SECONDS=0)
def test_the_debug_page_says_no_data_without_version_lookups(finance_editor: Persona) -> None:
    html = finance_editor.client.get("/portal/finance/dashboards/debug/").content.decode()
    assert 'id="lookup-none"' in html or 'id="lookup-count"' in html
    assert 'id="chart-latency-caption"' in html


@override_settings(DASHBOARD_MAX_AGE_SECONDS=60)
def test_it_keeps_the_figures_for_the_cache_period(finance_editor: Persona) -> None:
    _estimate("10")
    url = "/portal/finance/dashboards/executive/"
    with time_machine.travel(NOW, tick=False):
        finance_editor.client.force_login(finance_editor.user)  # a session of that day
        finance_editor.client.get(url)
        TenantUsageEstimate.objects.update(amount=Decimal(20))
        kept = finance_editor.client.get(url).content.decode()
    assert '<dd id="spend-to-date">€10.00</dd>' in kept


@override_settings(DASHBOARD_MAX_AGE_SECONDS=60)
def test_figures_older_than_the_max_age_are_computed_again(finance_editor: Persona) -> None:
    _estimate("10")
    url = "/portal/finance/dashboards/executive/"
    with time_machine.travel(NOW, tick=False) as clock:
        finance_editor.client.force_login(finance_editor.user)
        finance_editor.client.get(url)
        TenantUsageEstimate.objects.update(amount=Decimal(20))
        clock.shift(61)
        fresh = finance_editor.client.get(url).content.decode()
    assert '<dd id="spend-to-date">€20.00</dd>' in fresh


@override_settings(DASHBOARD_MAX_AGE_SECONDS=60)
def test_the_refresh_task_keeps_what_the_page_then_shows(finance_editor: Persona) -> None:
    from billing.observability.tasks import dashboards_refresh_task

    _estimate("10")
    url = "/portal/finance/dashboards/executive/"
    with time_machine.travel(NOW, tick=False):
        finance_editor.client.force_login(finance_editor.user)
        finance_editor.client.get(url)
        TenantUsageEstimate.objects.update(amount=Decimal(20))
        assert dashboards_refresh_task() == {"executive": "ok", "oncall": "ok", "debug": "ok"}
        page = finance_editor.client.get(url).content.decode()
    assert '<dd id="spend-to-date">€20.00</dd>' in page


def test_one_dashboard_failing_leaves_the_others_refreshed(monkeypatch: pytest.MonkeyPatch) -> None:
    from billing.observability import dashboards_kept

    def broken(*, now: datetime) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setitem(dashboards_kept.DASHBOARDS, "oncall", broken)
    with time_machine.travel(NOW, tick=False):
        done = dashboards_kept.dashboards_refresh()
    assert done == {"executive": "ok", "oncall": "failed", "debug": "ok"}
