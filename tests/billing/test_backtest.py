"""The backtest of a draft (billing.governance.backtest): closed periods re-priced under the draft, next to
their invoices; it writes nothing and its hash is deterministic."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import pytest
from django.apps import apps
from django.db import connection

from billing.close import backtest as close_backtest
from billing.close.services import close_period
from billing.governance.backtest import backtest_run, percent_change
from billing.pricing import document_sha256
from billing.profiles.models import BillingProfile, ProfileAssignment, ProfileVersion
from billing.profiles.services import profile_assign
from common.errors import ValidationFailed
from ledger.models import Invoice
from tenants.models import Tenant
from tests.factories import (
    BillingProfileFactory,
    ProfileAssignmentFactory,
    ProfileVersionFactory,
    TenantFactory,
)
from tests.factories.ledger import (
    JAN_1,
    World,
    after_grace,
    approved_version,
    document,
    sku,
    tax_rule,
    usage,
    world,
)

pytestmark = pytest.mark.django_db

OCT_10 = datetime(2026, 10, 10, 9, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, 9, tzinfo=UTC)
DEC_10 = datetime(2026, 12, 10, tzinfo=UTC)


def _per_call(code: str, amount: str, **extra: Any) -> dict[str, Any]:
    return document(code, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": amount}], **extra)


def _draft(w: World, body: dict[str, Any], number: int = 9) -> ProfileVersion:
    return cast(
        ProfileVersion,
        ProfileVersionFactory(
            profile=w.profile,
            number=number,
            body=body,
            body_sha256=document_sha256(body),
            effective_from=DEC_10,
        ),
    )


def _tenant_on(w: World, slug: str, calls: str, *, at: datetime = NOV_10) -> None:
    tenant = cast(
        Tenant, TenantFactory(slug=slug, currency="EUR", tax_jurisdiction="DE", country="DE", timezone="UTC")
    )
    ProfileAssignmentFactory(tenant=tenant, profile=w.profile, effective_from=w.version.effective_from)
    usage(tenant, "api_calls", w.version, at, calls)
    close_period(tenant=tenant, period_key=f"{at:%Y-%m}", now=after_grace(f"{at:%Y-%m}"))


def _closed_november(calls: str = "1000") -> World:
    w = world(slug="acme")
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_10, calls)
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    return w


def test_it_reprices_the_last_closed_period_under_the_draft():
    w = _closed_november()

    result = backtest_run(version=_draft(w, _per_call(w.profile.code, "0.08")), now=DEC_10)

    (row,) = result.rows
    # 1,000 calls at 0.10 = 100.00 invoiced before tax; at 0.08 = 80.00
    assert (row.tenant_slug, row.period_key, row.currency) == ("acme", "2026-11", "EUR")
    assert (row.old_total, row.new_total, row.delta, row.pct) == (
        Decimal("100.00"),
        Decimal("80.00"),
        Decimal("-20.00"),
        Decimal("-20.00"),
    )
    assert (row.blocked, row.late_usage) == ("", False)


def test_a_draft_with_the_body_in_force_agrees_with_every_invoice():
    w = _closed_november("1234")
    _tenant_on(w, "beta", "77")
    invoices = {i.tenant.slug: i for i in Invoice.objects.select_related("tenant")}

    result = backtest_run(version=_draft(w, dict(w.version.body)), now=DEC_10)

    assert [(r.tenant_slug, r.old_total, r.new_total, r.delta) for r in result.rows] == [
        ("acme", Decimal("123.40"), Decimal("123.40"), Decimal("0.00")),
        ("beta", Decimal("7.70"), Decimal("7.70"), Decimal("0.00")),
    ]
    # the old total is the invoice's total before tax
    assert [r.old_total for r in result.rows] == [invoices["acme"].subtotal, invoices["beta"].subtotal]
    assert result.summary["tenants_affected"] == 0
    assert result.summary["revenue_delta"] == "0.00"
    assert (result.summary["any_price_increase"], result.summary["any_price_decrease"]) == (False, False)


def test_it_covers_the_last_n_closed_periods_of_each_tenant():
    w = world(slug="acme")
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, OCT_10, "500")
    close_period(tenant=w.tenant, period_key="2026-10", now=after_grace("2026-10"))
    usage(w.tenant, "api_calls", w.version, NOV_10, "1000")
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    draft = _draft(w, _per_call(w.profile.code, "0.20"))

    one = backtest_run(version=draft, periods=1, now=DEC_10)
    two = backtest_run(version=draft, periods=2, now=DEC_10)

    assert [(r.period_key, r.old_total, r.new_total) for r in one.rows] == [
        ("2026-11", Decimal("100.00"), Decimal("200.00"))
    ]
    assert [(r.period_key, r.old_total, r.new_total) for r in two.rows] == [
        ("2026-10", Decimal("50.00"), Decimal("100.00")),
        ("2026-11", Decimal("100.00"), Decimal("200.00")),
    ]
    assert two.summary["period_keys"] == ["2026-10", "2026-11"]
    assert (two.summary["revenue_old"], two.summary["revenue_new"], two.summary["revenue_delta_pct"]) == (
        "150.00",
        "300.00",
        "100.00",
    )


@pytest.mark.parametrize("periods", [0, 13, -1, "2", True])
def test_it_refuses_a_number_of_periods_outside_1_to_12(periods):
    w = _closed_november()

    with pytest.raises(ValidationFailed) as err:
        backtest_run(version=_draft(w, _per_call(w.profile.code, "0.08")), periods=periods, now=DEC_10)

    (issue,) = err.value.issues
    assert issue.field == "periods"
    assert issue.message == f"must be a whole number from 1 to 12, not {periods!r}"


def test_it_prices_any_number_of_components():
    prices: list[dict[str, Any]] = [
        {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"},
        {
            "sku": "storage_gb",
            "model": "graduated",
            "tiers": [{"up_to": "100", "unit_amount": "1.00"}, {"up_to": None, "unit_amount": "0.50"}],
        },
        {"sku": "egress_gb", "model": "package", "package_size": "10", "package_amount": "3.00"},
        {"sku": "platform_fee", "model": "flat", "amount": "25.00"},
    ]
    w = world(slug="acme", prices=prices)
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_10, "1000")  # 100.00
    usage(w.tenant, "storage_gb", w.version, NOV_10, "150")  # 100 + 25 = 125.00
    usage(w.tenant, "egress_gb", w.version, NOV_10, "25")  # 3 packages: 9.00
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    new_prices: list[dict[str, Any]] = [
        {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10", "free_units": "100"},  # 90.00
        {
            "sku": "storage_gb",
            "model": "graduated",
            "tiers": [{"up_to": "50", "unit_amount": "1.00"}, {"up_to": None, "unit_amount": "0.40"}],
        },  # 50 + 40 = 90.00
        {"sku": "egress_gb", "model": "per_unit", "unit_amount": "0.20"},  # 5.00
        {"sku": "platform_fee", "model": "flat", "amount": "30.00"},
    ]
    body = document(
        w.profile.code,
        prices=new_prices,
        discounts=[{"code": "loyal", "percent": "10", "skus": ["platform_fee"]}],  # -3.00
        commitments={"minimum_spend": "50.00"},
    )

    (row,) = backtest_run(version=_draft(w, body), now=DEC_10).rows

    assert (row.old_total, row.new_total, row.delta, row.pct) == (
        Decimal("259.00"),
        Decimal("212.00"),
        Decimal("-47.00"),
        Decimal("-18.15"),
    )


def test_it_summarises_percentiles_revenue_and_the_most_affected_tenants():
    w = world(slug="t00", prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}])
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_10, "100")
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    for i in range(1, 12):
        _tenant_on(w, f"t{i:02d}", str(100 * (i + 1)))
    # 0.10 per call, the first 150 calls free: tenant i (100 * (i + 1) calls) pays 15.00 less
    body = _per_call(w.profile.code, "0.10")
    body["prices"][0]["free_units"] = "150"
    draft = _draft(w, body)

    summary = backtest_run(version=draft, now=DEC_10).summary

    # changes: t00 -100 %, t01 -75 %, t02 -50 %, t03 -37.5 %, t04 -30 %, t05 -25 %, t06 -21.43 %, ...,
    # t11 -12.5 %: the 6th of 12 is the median, the 12th the 95th percentile (nearest rank)
    assert (summary["tenants"], summary["rows"], summary["blocked"]) == (12, 12, 0)
    assert (summary["p50_pct"], summary["p95_pct"], summary["max_pct"]) == ("21.43", "100.00", "100.00")
    assert (summary["revenue_old"], summary["revenue_new"], summary["revenue_delta"]) == (
        "780.00",
        "605.00",
        "-175.00",
    )
    assert summary["revenue_delta_pct"] == "-22.44"
    assert summary["revenue_delta_pct_abs"] == "22.44"
    assert [t["tenant_slug"] for t in summary["top10"]] == [f"t{i:02d}" for i in range(10)]
    assert summary["top10"][0] == {
        "tenant_id": w.tenant.pk,
        "tenant_slug": "t00",
        "old_total": "10.00",
        "new_total": "0.00",
        "delta": "-10.00",
        "pct": "-100.00",
    }
    assert (summary["any_price_decrease"], summary["any_price_increase"], summary["tenants_affected"]) == (
        True,
        False,
        12,
    )


def test_a_period_in_another_currency_is_blocked_and_left_out_of_the_figures():
    w = _closed_november()

    result = backtest_run(version=_draft(w, _per_call(w.profile.code, "0.08", currency="USD")), now=DEC_10)

    (row,) = result.rows
    assert (row.new_total, row.delta, row.blocked) == (
        None,
        None,
        "the version is in USD, the invoice in EUR",
    )
    assert (result.summary["blocked"], result.summary["revenue_old"]) == (1, "0.00")


def test_a_draft_without_a_price_for_used_usage_blocks_that_period():
    w = _closed_november()
    sku("platform_fee")
    body = document(w.profile.code, prices=[{"sku": "platform_fee", "model": "flat", "amount": "9.00"}])

    draft = _draft(w, body)

    (row,) = backtest_run(version=draft, now=DEC_10).rows

    assert (
        row.blocked == f"profile version {draft.pk} has no price for SKU 'api_calls' that was rated under it"
    )


def test_it_backtests_an_unsaved_version():
    w = _closed_november()
    body = _per_call(w.profile.code, "0.15")
    unsaved = ProfileVersion(profile=w.profile, number=0, body=body, body_sha256=document_sha256(body))

    (row,) = backtest_run(version=unsaved, now=DEC_10).rows

    assert (row.old_total, row.new_total) == (Decimal("100.00"), Decimal("150.00"))


def test_a_rerun_gives_the_same_hash_and_another_body_another_hash():
    w = _closed_november()
    _tenant_on(w, "beta", "300")
    draft = _draft(w, _per_call(w.profile.code, "0.08"))

    first = backtest_run(version=draft, now=DEC_10)
    again = backtest_run(version=draft, now=datetime(2026, 12, 20, tzinfo=UTC))
    other = backtest_run(version=_unsaved(w, "0.09"), now=DEC_10)

    assert len(first.result_hash) == 64
    assert again.result_hash == first.result_hash
    assert other.result_hash != first.result_hash
    assert first.as_dict()["result_hash"] == first.result_hash


def _unsaved(w: World, amount: str) -> ProfileVersion:
    body = _per_call(w.profile.code, amount)
    return ProfileVersion(profile=w.profile, number=0, body=body, body_sha256=document_sha256(body))


def _checksums() -> dict[str, str | None]:
    """md5 of every project table's rows (sorted by their text form)."""
    sums: dict[str, str | None] = {}
    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {connection.ops.quote_name(table)} t"
            )
            sums[table] = cursor.fetchone()[0]
    return sums


def test_it_writes_nothing():
    w = _closed_november()
    _tenant_on(w, "beta", "300")
    draft = _draft(w, _per_call(w.profile.code, "0.08"))
    before = _checksums()

    result = backtest_run(version=draft, periods=12, now=DEC_10)

    assert len(result.rows) == 2
    assert _checksums() == before
    assert len(before) > 40
    assert ProfileAssignment.objects.count() == 2


def test_percent_change_rounds_half_up_and_is_undefined_from_zero():
    assert percent_change(Decimal("3.00"), Decimal("3.01")) == Decimal("0.33")
    assert percent_change(Decimal("8.00"), Decimal("8.01")) == Decimal("0.13")  # 0.125 -> 0.13
    assert percent_change(Decimal("0"), Decimal("0")) == Decimal("0.00")
    assert percent_change(Decimal("0"), Decimal("5")) is None


@pytest.mark.django_db(transaction=True)
def test_forked_workers_give_the_same_result_as_one_process(monkeypatch):
    # committed data (the workers' own connections see it), and a fan-out from the first period on
    monkeypatch.setattr("billing.close.backtest.PARALLEL_FROM", 1)
    fanned: list[int] = []
    real = close_backtest._fan_out

    def spy(*args: Any) -> Any:
        fanned.append(args[3])
        return real(*args)

    monkeypatch.setattr(close_backtest, "_fan_out", spy)
    w = _closed_november()
    for i, calls in enumerate(["300", "5", "12345"]):
        _tenant_on(w, f"t{i}", calls)
    draft = _draft(w, _per_call(w.profile.code, "0.08"))

    alone = backtest_run(version=draft, now=DEC_10, workers=1)
    forked = backtest_run(version=draft, now=DEC_10, workers=2)

    assert fanned == [2]
    assert [r.tenant_slug for r in forked.rows] == ["acme", "t0", "t1", "t2"]
    assert forked.rows == alone.rows
    assert forked.result_hash == alone.result_hash


NOV_16 = datetime(2026, 11, 16, tzinfo=UTC)
NOV_20 = datetime(2026, 11, 20, 9, tzinfo=UTC)


def test_a_tenant_who_joined_mid_period_keeps_its_prorated_fee():
    prices = [
        {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"},
        {"sku": "platform_fee", "model": "flat", "amount": "30.00"},
    ]
    w = world(slug="acme", prices=prices, effective_from=NOV_16)  # on the profile from Nov 16: 15 of 30 days
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_20, "100")
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    same = _draft(w, dict(w.version.body))
    dearer = _draft(w, document(w.profile.code, prices=[prices[0], {**prices[1], "amount": "60.00"}]), 10)

    (unchanged,) = backtest_run(version=same, now=DEC_10).rows
    (row,) = backtest_run(version=dearer, now=DEC_10).rows

    # 100 calls at 0.10 = 10.00, the fee for 15 of 30 days = 15.00
    assert (unchanged.old_total, unchanged.new_total) == (Decimal("25.00"), Decimal("25.00"))
    assert (row.old_total, row.new_total, row.delta) == (Decimal("25.00"), Decimal("40.00"), Decimal("15.00"))


def test_only_the_usage_of_the_profiles_days_is_repriced_after_a_move_between_profiles():
    b = world(slug="acme")  # acme on acme-profile (0.10 per call) until Nov 16
    tax_rule("DE", "19")
    a_profile = cast(BillingProfile, BillingProfileFactory(code="a-profile"))
    a_version = approved_version(a_profile, _per_call("a-profile", "0.20"), JAN_1, 1)
    profile_assign(tenant=b.tenant, profile=a_profile, effective_from=NOV_16)
    usage(b.tenant, "api_calls", b.version, NOV_10, "100")  # 10.00 under B
    usage(b.tenant, "api_calls", a_version, NOV_20, "100")  # 20.00 under A
    close_period(tenant=b.tenant, period_key="2026-11", now=after_grace())
    draft = cast(
        ProfileVersion,
        ProfileVersionFactory(
            profile=a_profile,
            number=2,
            body=_per_call("a-profile", "0.30"),
            body_sha256=document_sha256(_per_call("a-profile", "0.30")),
            effective_from=DEC_10,
        ),
    )

    (row,) = backtest_run(version=draft, now=DEC_10).rows

    assert (row.old_total, row.new_total, row.delta) == (Decimal("30.00"), Decimal("40.00"), Decimal("10.00"))
