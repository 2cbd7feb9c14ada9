"""The history page keeps its drawn charts under the history's fingerprint (portal.usage.views): a second
request draws nothing, and usage rated into any period of the range changes the fingerprint, so the page
shows it at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine

from billing.close.services import close_period
from billing.rating.history import history_plan, usage_history
from portal.usage import views
from tests.factories import BillingProfileFactory, ProfileAssignmentFactory
from tests.factories.ledger import after_grace, approved_version, document, invoice_of, sku, tax_rule, usage
from tests.personas import Persona

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_cache")]

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
OCT_5 = datetime(2026, 10, 5, 12, tzinfo=UTC)
OCT_30 = datetime(2026, 10, 30, 12, tzinfo=UTC)
NOV_3 = datetime(2026, 11, 3, 12, tzinfo=UTC)
RANGE = {"from": "2026-10", "to": "2026-11"}


@pytest.fixture
def world_with_history(alice: Persona) -> Iterator[tuple[Any, Any]]:
    with time_machine.travel(datetime(2026, 11, 20, 12, tzinfo=UTC), tick=False):
        tenant = alice.tenant
        assert tenant is not None
        sku("api_calls")
        profile = BillingProfileFactory.create(code=f"{tenant.slug}-profile")
        prices = [{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}]
        version = approved_version(profile, document(profile.code, prices=prices), JAN_1, 1)
        ProfileAssignmentFactory.create(tenant=tenant, profile=profile, effective_from=JAN_1)
        tax_rule("DE", "19")
        usage(tenant, "api_calls", version, OCT_5, "40")
        assert invoice_of(close_period(tenant=tenant, period_key="2026-10", now=after_grace("2026-10"))).total
        usage(tenant, "api_calls", version, NOV_3, "5")
        alice.client.force_login(alice.user)
        yield SimpleNamespace(tenant=tenant, version=version), alice.client


def _charts(response: Any) -> str:
    page: str = response.content.decode()
    return page[page.index('id="cost-heading"') : page.index("</main>")]


def _draws(monkeypatch: Any) -> list[int]:
    drawn: list[int] = []
    real = views._draw

    def counting(history: Any, locale: str) -> Any:
        drawn.append(len(history.cost))
        return real(history, locale)

    monkeypatch.setattr(views, "_draw", counting)
    return drawn


def test_it_draws_the_charts_once_while_the_usage_is_unchanged(world_with_history, monkeypatch):
    _, client = world_with_history
    drawn = _draws(monkeypatch)

    first = client.get("/portal/usage/history/", RANGE)
    again = client.get("/portal/usage/history/", RANGE)

    assert (first.status_code, again.status_code) == (200, 200)
    assert drawn == [51]  # 1 October to today (20 November), drawn once
    assert _charts(first) == _charts(again)
    assert _charts(first).count("<svg") == 2  # the cost and the one meter


def test_late_usage_in_a_closed_period_redraws_the_page(world_with_history, monkeypatch):
    w, client = world_with_history
    client.get("/portal/usage/history/", RANGE)
    drawn = _draws(monkeypatch)

    usage(w.tenant, "api_calls", w.version, OCT_30, "30", late=True)
    page = client.get("/portal/usage/history/", RANGE).content.decode()

    assert drawn == [51]
    assert "3.00" in page  # 30 x 0.10 on 30 October


def test_the_fingerprint_moves_with_usage_in_the_open_period(world_with_history):
    w, _ = world_with_history
    before = history_plan(tenant=w.tenant, first_day=date(2026, 10, 1), last_day=date(2026, 11, 30))

    usage(w.tenant, "api_calls", w.version, NOV_3, "7")
    after = history_plan(tenant=w.tenant, first_day=date(2026, 10, 1), last_day=date(2026, 11, 30))

    assert before.fingerprint != after.fingerprint
    assert before.keys[0] == after.keys[0]  # October's part is unchanged


def test_a_plan_for_another_range_is_refused(world_with_history):
    w, _ = world_with_history
    plan = history_plan(tenant=w.tenant, first_day=date(2026, 10, 1), last_day=date(2026, 10, 31))

    with pytest.raises(ValueError, match="another history"):
        usage_history(tenant=w.tenant, first_day=date(2026, 11, 1), last_day=date(2026, 11, 30), plan=plan)
