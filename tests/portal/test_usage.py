"""The portal's usage pages: the current period (estimate, credit, what changes next) and the history
(charts and period picker), with figures worked by hand; another tenant's usage never appears."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.urls import reverse

from billing.close.services import close_period
from billing.profiles.models import BillingProfile, ProfileVersion
from billing.rating.estimates import usage_estimates_refresh
from ledger.services.credits import credit_grant_create
from tenants.models import Tenant
from tests.factories import BillingProfileFactory, ProfileAssignmentFactory
from tests.factories.ledger import after_grace, approved_version, document, sku, tax_rule, usage
from tests.personas import AnonymousPersona, Persona

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 10, 10, 0, tzinfo=UTC)
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
USAGE = reverse("portal:usage")
HISTORY = reverse("portal:usage-history")
DASH = "\u2013"  # between the first and the last day of a range


@pytest.fixture(autouse=True)
def _now() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def _signed_in(persona: Persona) -> Persona:
    persona.client.force_login(persona.user)  # again, at the travelled time (idle sessions expire)
    return persona


def _per_call(code: str, amount: str) -> dict[str, Any]:
    return document(code, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": amount}])


def _priced(tenant: Tenant, *, tz: str = "UTC") -> tuple[BillingProfile, ProfileVersion]:
    """The tenant on a profile pricing API calls at 0.10 EUR since 1 January 2026."""
    Tenant.objects.filter(pk=tenant.pk).update(timezone=tz)
    tenant.refresh_from_db()
    sku("api_calls")
    profile = BillingProfileFactory.create(code=f"{tenant.slug}-profile")
    version = approved_version(profile, _per_call(profile.code, "0.10"), JAN_1, 1)
    ProfileAssignmentFactory.create(tenant=tenant, profile=profile, effective_from=JAN_1)
    return profile, version


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_it_sends_an_anonymous_visitor_to_sign_in(anonymous: AnonymousPersona) -> None:
    for url in (USAGE, HISTORY):
        response = anonymous.client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("portal:login"))


def test_it_shows_the_current_periods_usage_and_estimate(alice: Persona) -> None:
    assert alice.tenant is not None
    _profile, version = _priced(alice.tenant, tz="Europe/Berlin")
    usage(alice.tenant, "api_calls", version, datetime(2026, 12, 2, 9, tzinfo=UTC), ["400", "600"])
    usage_estimates_refresh(tenant_ids={alice.tenant.pk}, now=NOW)

    page = _text(_signed_in(alice).client.get(USAGE))

    assert f"Current period: 1 Dec 2026 {DASH} 31 Dec 2026" in page
    # 1,000 calls at 0.10 = 100.00, 2 events
    assert re.search(
        r"<th scope=\"row\">Api Calls</th> <td class=\"num\">1,000</td> <td>unit</td> "
        r"<td class=\"num\">2</td> <td class=\"num\">€100.00</td>",
        page,
    )
    # 10:00 UTC is 11:00 in Berlin in December
    assert (
        'Estimate last updated at <time datetime="2026-12-10T10:00:00+00:00">10 Dec 2026, 11:00:00 am</time> (Europe/Berlin)'
        in page
    )


def test_it_says_so_when_the_period_has_no_usage(alice: Persona) -> None:
    assert alice.tenant is not None
    _priced(alice.tenant)

    page = _text(_signed_in(alice).client.get(USAGE))

    assert "No usage in this period yet." in page
    assert "No prepaid credit." in page
    assert "What changes next" not in page


def test_it_shows_the_prepaid_credit_with_its_expiry(alice: Persona) -> None:
    assert alice.tenant is not None
    _priced(alice.tenant)
    credit_grant_create(
        tenant=alice.tenant,
        amount=Decimal("200.00"),
        currency="EUR",
        granted_at=datetime(2026, 10, 1, tzinfo=UTC),
        expires_at=datetime(2027, 6, 30, 12, tzinfo=UTC),
        reason="Launch credit",
    )

    page = _text(_signed_in(alice).client.get(USAGE))

    assert (
        '<th scope="row">Launch credit</th> <td class="num">€200.00</td> <td class="num">€0.00</td> '
        '<td class="num">€200.00</td> <td>30 Jun 2027</td>'
    ) in page
    assert "Balance: <strong>€200.00</strong>" in page


def test_it_shows_what_the_last_period_would_cost_under_the_scheduled_price_list(alice: Persona) -> None:
    assert alice.tenant is not None
    profile, version = _priced(alice.tenant)
    tax_rule("DE", "19")
    usage(alice.tenant, "api_calls", version, datetime(2026, 11, 10, 9, tzinfo=UTC), "1000")
    close_period(tenant=alice.tenant, period_key="2026-11", now=after_grace("2026-11"))
    approved_version(profile, _per_call(profile.code, "0.08"), datetime(2027, 1, 1, tzinfo=UTC), 2)

    page = _text(_signed_in(alice).client.get(USAGE))

    assert "From 1 Jan 2027, price list" in page
    # 1,000 calls at 0.10 = 100.00 billed; at 0.08 = 80.00
    assert (
        "was billed <strong>€100.00</strong>; under the new price list it would have cost <strong>€80.00</strong> (difference -€20.00)"
        in page
    )
    assert (
        '<th scope="row">Api Calls</th> <td class="num">€100.00</td> <td class="num">€80.00</td> '
        '<td class="num">-€20.00</td>'
    ) in page


def test_it_charts_the_daily_cost_and_usage_of_the_last_three_months(alice: Persona) -> None:
    assert alice.tenant is not None
    _profile, version = _priced(alice.tenant)
    usage(alice.tenant, "api_calls", version, datetime(2026, 12, 2, 9, tzinfo=UTC), "1000")
    usage(alice.tenant, "api_calls", version, datetime(2026, 10, 1, 0, 30, tzinfo=UTC), "5")

    response = _signed_in(alice).client.get(HISTORY)
    page = _text(response)

    assert response.status_code == 200
    assert f"1 Oct 2026 {DASH} 10 Dec 2026 (3 months, at most 13)" in page
    assert '<th scope="row">2 Dec 2026</th><td class="num">€100.00</td>' in page
    assert '<th scope="row">1 Oct 2026</th><td class="num">€0.50</td>' in page
    assert '<th scope="row">2 Dec 2026</th><td class="num">1,000</td>' in page
    assert "Usage cost per day (EUR): 71 days, total €100.50" in page
    assert "Api Calls per day (unit): 71 days, total 1,005" in page


def test_its_charts_are_svg_with_a_text_alternative_and_no_inline_style_or_script(alice: Persona) -> None:
    assert alice.tenant is not None
    _profile, version = _priced(alice.tenant)
    usage(alice.tenant, "api_calls", version, datetime(2026, 12, 2, 9, tzinfo=UTC), "1000")

    page = _signed_in(alice).client.get(HISTORY).content.decode()

    assert page.count("<svg") == 2
    assert page.count('role="img" aria-labelledby="chart-cost-title chart-cost-desc"') == 1
    assert (
        '<desc id="chart-cost-desc">One bar per day from 1 Oct 2026 to 10 Dec 2026. Total €100.00; highest €100.00 on 2 Dec 2026.'
        in page
    )
    assert "style=" not in page
    assert "<style" not in page
    assert "<script" not in page


def test_it_shows_the_months_picked(alice: Persona) -> None:
    assert alice.tenant is not None
    _priced(alice.tenant)

    page = _text(_signed_in(alice).client.get(HISTORY, {"from": "2025-12", "to": "2026-12"}))

    assert f"1 Dec 2025 {DASH} 10 Dec 2026 (13 months, at most 13)" in page
    assert 'role="alert"' not in page


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"from": "2025-11", "to": "2026-12"},
            "From month: Choose at most 13 months; 2025-11 to 2026-12 is 14.",
        ),
        (
            {"from": "2026-01", "to": "2027-01"},
            "To month: The last month cannot be after this month (2026-12).",
        ),
        (
            {"from": "2026-06", "to": "2026-03"},
            "From month: The first month must not be after the last month.",
        ),
        ({"from": "June", "to": "2026-03"}, "From month: Enter a month as YYYY-MM, for example 2026-03."),
        ({"from": "2026-13"}, "From month: Enter a month as YYYY-MM, for example 2026-03."),
        ({"to": "9999999999-01"}, "To month: Enter a month as YYYY-MM, for example 2026-03."),
    ],
)
def test_it_explains_a_period_it_cannot_show(alice: Persona, params: dict[str, str], message: str) -> None:
    assert alice.tenant is not None
    _priced(alice.tenant)

    response = _signed_in(alice).client.get(HISTORY, params)
    page = _text(response)

    assert response.status_code == 200
    assert message in page
    assert "Showing the last 3 months instead." in page
    assert f"1 Oct 2026 {DASH} 10 Dec 2026 (3 months, at most 13)" in page


def test_it_never_shows_another_tenants_usage(alice: Persona, charlie: Persona) -> None:
    assert alice.tenant is not None
    assert charlie.tenant is not None
    _priced(alice.tenant)
    _other, theirs = _priced(charlie.tenant)
    usage(charlie.tenant, "api_calls", theirs, datetime(2026, 12, 2, 9, tzinfo=UTC), "777777")
    usage_estimates_refresh(tenant_ids={charlie.tenant.pk}, now=NOW)
    credit_grant_create(
        tenant=charlie.tenant, amount=Decimal("4321.00"), currency="EUR", granted_at=JAN_1, reason="Theirs"
    )
    _signed_in(alice)

    for url in (USAGE, HISTORY):
        page = _text(alice.client.get(url))
        assert "777,777" not in page
        assert "77,777.70" not in page
        assert "4,321.00" not in page
        assert "Theirs" not in page
        assert charlie.tenant.name not in page
