"""The rated usage cost of a period per (tenant, SKU, currency), in one grouped statement: rating's estimates
(billing.rating.estimates, unrounded, before discounts, commitments and tax), the figure the invoice's
usage lines are compared with."""

from __future__ import annotations

from django.db import connection

from ledger.reconciliation.compare import Figure
from ledger.reconciliation.selectors import UsageKey

_RATED = """
SELECT e.tenant_id, s.code, e.currency, SUM(e.amount), array_agg(e.id ORDER BY e.id)
FROM billing_tenantusageestimate e JOIN billing_sku s ON s.id = e.sku_id
WHERE e.period_key = %(period)s
GROUP BY e.tenant_id, s.code, e.currency
"""


def rated_usage_costs(*, period_key: str) -> dict[UsageKey, Figure]:
    with connection.cursor() as cursor:
        cursor.execute(_RATED, {"period": period_key})
        rows = cursor.fetchall()
    return {
        (tenant_id, "", sku, currency): Figure(
            amount=amount, currency=currency, sources={"estimates": list(ids)}
        )
        for tenant_id, sku, currency, amount, ids in rows
    }
