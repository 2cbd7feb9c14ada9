"""`manage.py demo_finops` (docs/reconciliation.md, docs/showback.md): after the demo seed and close,

1. the demo month (the newest period with finalized invoices): rating's estimates of it refreshed for the
   tenants invoiced, so the rated figure is what rating says of the whole month;
2. a provider's FOCUS export of that month written from those figures (one Usage row per tenant and SKU)
   with ONE row deliberately different (acme's first SKU, 12.34 more), imported as provider
   "demo-upstream";
3. a reconciliation run of the month whose note explains that delta;
4. for acme, allocation rules (a fixed platform cost split by direct cost across its teams; a support
   contract split 50/30 with 20 % unallocated), each version approved by a finance approver other than
   its author, and the showback report of the month.

Idempotent: the same export is the same import, a demo run of the month is made once, rules exist once."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import User

from billing.allocation.models import AllocationRule
from billing.allocation.selectors import ShowbackReport, showback
from billing.allocation.services import (
    allocation_rule_create,
    allocation_version_approve,
    allocation_version_create,
    allocation_version_submit,
)
from billing.rating.estimates import usage_estimates_refresh
from billing.reconciliation.rated import rated_usage_costs
from billing.reconciliation.services import reconcile_period
from common.errors import StateError
from common.money import quantize_money
from ledger.models import Invoice, ReconciliationRun
from ledger.reconciliation.services import provider_import_create
from tenants.models import Project, Tenant

PROVIDER = "demo-upstream"
SHOWBACK_TENANT = "acme"
DELIBERATE = Decimal("12.34")


@dataclass
class FinopsResult:
    period: str = ""
    run: ReconciliationRun | None = None
    report: ShowbackReport | None = None
    lines: list[str] = field(default_factory=list)


def _provider_csv(period: str, deliberate: tuple[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["BillingAccountId", "SkuId", "ChargeCategory", "BilledCost", "BillingCurrency", "x_Period"]
    )
    slugs = dict(Tenant.objects.values_list("pk", "slug"))
    for (tenant_id, _ref, sku, _currency), figure in sorted(
        rated_usage_costs(period_key=period).items(), key=lambda kv: (slugs[kv[0][0] or 0], kv[0][2])
    ):
        cost = quantize_money(figure.amount, figure.currency)
        if (slugs[tenant_id or 0], sku) == deliberate:
            cost += DELIBERATE
        writer.writerow([slugs[tenant_id or 0], sku, "Usage", f"{cost:f}", figure.currency, period])
    return out.getvalue().encode()


def _rules(tenant: Tenant, period: str, author: User, approver: User) -> None:
    teams = sorted(
        {cc for cc in Project.objects.filter(tenant=tenant).values_list("cost_center", flat=True) if cc}
    )
    bodies = {
        "platform-cost": {
            "source": {"kind": "amount", "amount": "1200.00", "currency": tenant.currency},
            "method": "proportional",
            "targets": [f"team:{t}" for t in teams],
        },
        "support-contract": {
            "source": {"kind": "amount", "amount": "499.00", "currency": tenant.currency},
            "method": "fixed",
            "targets": [f"team:{t}" for t in teams[:2]],
            "percentages": {f"team:{t}": p for t, p in zip(teams[:2], ("50", "30"), strict=False)},
        },
    }
    for code, body in bodies.items():
        if AllocationRule.objects.filter(tenant=tenant, code=code).exists():
            continue
        rule = allocation_rule_create(
            tenant=tenant, code=code, name=code.replace("-", " ").capitalize(), actor=author
        )
        draft = allocation_version_create(rule=rule, body=body, effective_from=period, actor=author)
        allocation_version_approve(
            version=allocation_version_submit(version=draft, actor=author), approver=approver, note="demo"
        )


def demo_finops() -> FinopsResult:
    result = FinopsResult()
    invoices = Invoice.objects.filter(status__in=("finalized", "paid")).order_by("-period_start")
    newest = invoices.first()
    if newest is None:
        raise StateError("no finalized invoice: run the demo seed and close first (make demo)")
    period = result.period = newest.period_key
    for invoice in invoices.filter(period_key=period).select_related("tenant"):
        usage_estimates_refresh(tenant_ids={invoice.tenant_id}, now=invoice.period_end - timedelta(seconds=1))
    rated = sorted(rated_usage_costs(period_key=period))
    acme = Tenant.objects.filter(slug=SHOWBACK_TENANT).first()
    target = next((k for k in rated if acme is not None and k[0] == acme.pk), rated[0] if rated else None)
    if target is None:
        raise StateError(f"no rated usage in {period}: nothing to reconcile")
    slug = Tenant.objects.get(pk=int(target[0] or 0)).slug
    imported = provider_import_create(
        provider=PROVIDER,
        period_key=period,
        file_name=f"{PROVIDER}-{period}.csv",
        content=_provider_csv(period, (slug, target[2])),
    )
    result.lines.append(
        f"provider export {imported.file_name}: {imported.rows_read} rows imported (import {imported.pk})"
    )
    run = ReconciliationRun.objects.filter(period_key=period, trigger="demo", status="completed").first()
    if run is None:
        run = reconcile_period(
            period_key=period,
            trigger="demo",
            provider=PROVIDER,
            note=(
                f"Demo: the provider export {imported.file_name} bills {slug}'s {target[2]} {DELIBERATE} more than "
                "we rated (a deliberate difference in one row), so provider_vs_rated shows exactly that delta; "
                "the other checks compare rating, the invoices and the ledger as they are (a cent under "
                "rated_vs_invoiced is the rounding of a SKU's lines per price-list version, below the threshold)."
            ),
        )
    result.run = run
    result.lines.append(f"reconciliation run {run.pk} of {period}: {run.summary}")
    if acme is not None:
        author, approver = User.objects.get(username="pricing"), User.objects.get(username="finance")
        _rules(acme, period, author, approver)
        result.report = showback(tenant=acme, period_key=period)
        for team, currency, amount in result.report.teams():
            result.lines.append(f"showback {acme.slug} {period}: {team} {amount} {currency}")
    return result
