"""Finance's reconciliation and showback pages: who may run, what a run and a delta show, the CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from billing.allocation.services import (
    allocation_rule_create,
    allocation_version_approve,
    allocation_version_create,
    allocation_version_submit,
)
from billing.catalog.models import Sku
from billing.close.services import close_period
from billing.rating.models import TenantUsageEstimate
from ledger.models import ReconciliationRun
from tenants.models import Role
from tests.factories import finance_user
from tests.factories.ledger import after_grace, tax_rule, usage, world

pytestmark = pytest.mark.django_db
NOV = datetime(2026, 11, 10, 12, tzinfo=UTC)


@pytest.fixture
def acme() -> object:
    tax_rule("DE", "19")
    w = world(slug="acme")
    usage(w.tenant, "api_calls", w.version, NOV, "100")
    TenantUsageEstimate.objects.create(
        tenant=w.tenant,
        period_key="2026-11",
        period_start=datetime(2026, 11, 1, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, tzinfo=UTC),
        sku=Sku.objects.get(code="api_calls"),
        quantity=Decimal(100),
        event_count=1,
        amount=Decimal("13.00"),
        currency="EUR",
        updated_at=NOV,
    )
    close_period(tenant=w.tenant, now=after_grace())
    return w


def signed_in(role: Role) -> Client:
    client = Client()
    client.force_login(finance_user(role))
    return client


def test_an_editor_runs_a_period_and_sees_its_delta(acme: object) -> None:
    client = signed_in(Role.FINANCE_EDITOR)
    response = client.post("/portal/finance/reconciliation/run/", {"period": "2026-11", "note": "month end"})
    run = ReconciliationRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/portal/finance/reconciliation/{run.pk}/"
    page = client.get(f"/portal/finance/reconciliation/{run.pk}/").content.decode()
    assert "€13.00" in page
    assert "€10.00" in page
    assert "-€3.00" in page
    assert "month end" in page
    delta = run.deltas.get()
    detail = client.get(f"/portal/finance/reconciliation/{run.pk}/deltas/{delta.pk}/").content.decode()
    assert "Invoice lines" in detail
    assert "usage" in detail
    assert f"#{run.pk}" in client.get("/portal/finance/reconciliation/").content.decode()


def test_a_viewer_may_not_run(acme: object) -> None:
    assert (
        signed_in(Role.FINANCE_VIEWER)
        .post("/portal/finance/reconciliation/run/", {"period": "2026-11"})
        .status_code
        == 403
    )
    assert ReconciliationRun.objects.count() == 0


@pytest.mark.parametrize("period", ["", "garbage", "2026-13"])
def test_a_bad_period_is_a_400_with_its_message(period: str) -> None:
    response = signed_in(Role.FINANCE_EDITOR).post("/portal/finance/reconciliation/run/", {"period": period})
    assert response.status_code == 400
    assert "is not a period key: YYYY-MM, YYYY-Qn or YYYY" in response.content.decode()
    assert ReconciliationRun.objects.count() == 0


def test_a_delta_of_another_run_is_404(acme: object) -> None:
    client = signed_in(Role.FINANCE_EDITOR)
    client.post("/portal/finance/reconciliation/run/", {"period": "2026-11"})
    client.post("/portal/finance/reconciliation/run/", {"period": "2026-11"})
    first, second = ReconciliationRun.objects.order_by("pk")
    assert (
        client.get(f"/portal/finance/reconciliation/{second.pk}/deltas/{first.deltas.get().pk}/").status_code
        == 404
    )


def test_showback_page_and_csv(acme: object) -> None:
    editor, approver = finance_user(Role.FINANCE_EDITOR), finance_user(Role.FINANCE_APPROVER)
    rule = allocation_rule_create(tenant=acme.tenant, code="shared", name="Shared", actor=editor)  # type: ignore[attr-defined]
    body = {
        "source": {"kind": "amount", "amount": "100.00", "currency": "EUR"},
        "method": "fixed",
        "targets": ["team:a", "team:b"],
        "percentages": {"team:a": "50", "team:b": "25"},
    }
    allocation_version_approve(
        version=allocation_version_submit(
            version=allocation_version_create(rule=rule, body=body, effective_from="2026-11", actor=editor),
            actor=editor,
        ),
        approver=approver,
    )
    client = signed_in(Role.FINANCE_VIEWER)
    page = client.get("/portal/finance/showback/?tenant=acme&period=2026-11").content.decode()
    assert "€50.00" in page
    assert "€25.00" in page
    assert "Unallocated" in page
    csv_text = client.get("/portal/finance/showback/export.csv?tenant=acme&period=2026-11").content.decode()
    assert csv_text.splitlines() == [
        "period,tenant,team,target,rule,version,method,source,amount,currency",
        "2026-11,acme,a,team:a,shared,1,fixed,fixed amount,50.00,EUR",
        "2026-11,acme,b,team:b,shared,1,fixed,fixed amount,25.00,EUR",
        "2026-11,acme,Unallocated,unallocated,shared,1,fixed,fixed amount,25.00,EUR",
    ]


def test_showback_of_an_unknown_tenant_is_a_400() -> None:
    client = signed_in(Role.FINANCE_VIEWER)
    assert client.get("/portal/finance/showback/?tenant=nobody&period=2026-11").status_code == 400
    assert client.get("/portal/finance/showback/export.csv?tenant=nobody").status_code == 400


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026-Q5"])
def test_showback_of_a_bad_period_is_a_400_with_its_message(acme: object, period: str) -> None:
    client = signed_in(Role.FINANCE_VIEWER)
    response = client.get("/portal/finance/showback/", {"tenant": "acme", "period": period})
    assert response.status_code == 400
    assert f"period {period!r} is not a period key" in response.context["error"]
    csv_response = client.get("/portal/finance/showback/export.csv", {"tenant": "acme", "period": period})
    assert csv_response.status_code == 400
    assert csv_response.content.decode().startswith(f"period {period!r} is not a period key")


def test_showback_of_a_month_for_a_quarterly_tenant_says_it_is_not_its_period() -> None:
    world(slug="quarterly", billing_cycle="quarterly")
    response = signed_in(Role.FINANCE_VIEWER).get(
        "/portal/finance/showback/", {"tenant": "quarterly", "period": "2026-11"}
    )
    assert response.status_code == 400
    assert response.context["error"] == (
        "period '2026-11' is not a period of quarterly's billing cycle: its period then is 2026-Q4"
    )
