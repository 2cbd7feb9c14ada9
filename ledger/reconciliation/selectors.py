"""Reads of the reconciliation: the ledger's figures of a period, each in one grouped SQL statement (no
query per tenant), and the stored runs, deltas and the rows behind a delta."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from common.periods import period_by_key, period_key_cycle
from ledger.models import CreditNote, Invoice, InvoiceLine, Posting
from ledger.models.reconciliation import (
    ProviderCostRow,
    ProviderImport,
    ReconciliationDelta,
    ReconciliationRun,
)
from ledger.reconciliation.compare import Figure

# (tenant id, or None for a provider row naming no tenant; what an unmatched row names; SKU code;
# currency): a (tenant, SKU) in two currencies is two keys, each compared on its own, never one dropped
UsageKey = tuple[int | None, str, str, str]
DocumentKey = tuple[int, str]  # (tenant id, document number)

ISSUED = ("finalized", "paid", "void")
BILLED = ("finalized", "paid")

_INVOICED_USAGE = """
SELECT i.tenant_id, l.sku_code, i.currency, l.kind = 'flat', SUM(l.amount), array_agg(l.id ORDER BY l.id)
FROM ledger_invoiceline l JOIN ledger_invoice i ON i.id = l.invoice_id
WHERE i.status IN ('finalized', 'paid') AND l.sku_code <> ''
  AND ((l.kind IN ('usage', 'flat') AND i.period_key = %(period)s)
       OR (l.kind = 'correction' AND l.corrects_period = %(period)s
           AND (l.component LIKE 'usage:%%' OR l.component LIKE 'flat:%%')))
GROUP BY 1, 2, 3, 4
"""

_INVOICES_POSTED = """
SELECT i.id, i.tenant_id, i.number, i.currency, i.total, i.ledger_transaction_id,
       SUM(p.original_amount) FILTER (WHERE a.code LIKE 'receivable:%%'),
       array_agg(p.id ORDER BY p.id) FILTER (WHERE p.id IS NOT NULL)
FROM ledger_invoice i
LEFT JOIN ledger_posting p ON p.transaction_id = i.ledger_transaction_id
LEFT JOIN ledger_account a ON a.id = p.account_id
WHERE i.period_key = %(period)s AND i.status IN ('finalized', 'paid', 'void')
GROUP BY i.id
"""

_CREDIT_NOTES_POSTED = """
SELECT c.id, c.tenant_id, c.number, c.currency, c.total, c.ledger_transaction_id,
       -SUM(p.original_amount) FILTER (WHERE a.code LIKE 'receivable:%%'),
       array_agg(p.id ORDER BY p.id) FILTER (WHERE p.id IS NOT NULL)
FROM ledger_creditnote c JOIN ledger_invoice i ON i.id = c.invoice_id
LEFT JOIN ledger_posting p ON p.transaction_id = c.ledger_transaction_id
LEFT JOIN ledger_account a ON a.id = p.account_id
WHERE i.period_key = %(period)s
GROUP BY c.id
"""

# A provider row is in the period when its ChargePeriodStart, as wall-clock time in its tenant's zone (UTC
# for a row naming no tenant), is within the period's local edges; a row without one cannot be placed.
_PROVIDER_IN_PERIOD = """
(r.charge_period_start IS NULL
 OR ((r.charge_period_start AT TIME ZONE COALESCE(t.timezone, 'UTC')) >= %(start)s
     AND (r.charge_period_start AT TIME ZONE COALESCE(t.timezone, 'UTC')) < %(end)s))
"""

_PROVIDER_USAGE = f"""
SELECT r.tenant_id, CASE WHEN r.tenant_id IS NULL THEN r.tenant_ref ELSE '' END, r.sku_code, r.currency,
       SUM(r.cost), array_agg(r.id ORDER BY r.id)
FROM ledger_providercostrow r LEFT JOIN tenants_tenant t ON t.id = r.tenant_id
WHERE r.provider_import_id = %(import)s AND r.charge_category = 'Usage' AND {_PROVIDER_IN_PERIOD}
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 (constants only)

_PROVIDER_OUTSIDE = f"""
SELECT COUNT(*)
FROM ledger_providercostrow r LEFT JOIN tenants_tenant t ON t.id = r.tenant_id
WHERE r.provider_import_id = %(import)s AND r.charge_category = 'Usage' AND NOT {_PROVIDER_IN_PERIOD}
"""  # noqa: S608 (constants only)

_FX_RATES = """
SELECT DISTINCT ON (tenant_id) tenant_id, currency, fx_rate
FROM ledger_invoice
WHERE period_key = %(period)s AND status IN ('finalized', 'paid', 'void')
ORDER BY tenant_id, id DESC
"""


def _rows(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def invoiced_usage(*, period_key: str, rated_keys: Collection[UsageKey]) -> dict[UsageKey, Figure]:
    """Per (tenant, SKU, currency): the usage lines of the period's billed invoices (finalized or paid) plus the
    usage corrections of that period carried by later invoices, in the invoice's currency. Flat-fee lines
    (and their corrections) count only for the (tenant, SKU) pairs rating priced: rating prices a flat SKU
    only when usage was sent for it, the close charges it every period."""
    result: dict[UsageKey, Figure] = {}
    for tenant_id, sku, currency, flat, amount, ids in _rows(_INVOICED_USAGE, {"period": period_key}):
        key = (tenant_id, "", sku, currency)
        if flat and key not in rated_keys:
            continue
        known = result.get(key)
        line_ids, total = list(ids), amount
        if known is not None:
            line_ids += known.sources["invoice_lines"]
            total += known.amount
        result[key] = Figure(amount=total, currency=currency, sources={"invoice_lines": sorted(line_ids)})
    return result


def documents_and_postings(*, period_key: str) -> tuple[dict[DocumentKey, Figure], dict[DocumentKey, Figure]]:
    """(documents, postings): per issued invoice of the period (finalized, paid or void) and per credit
    note of those invoices, its total, and what its ledger transaction posted to the tenant's receivable
    (a credit note's credit, sign turned). A document without a transaction has no posting figure."""
    documents: dict[DocumentKey, Figure] = {}
    postings: dict[DocumentKey, Figure] = {}
    for sql, name in ((_INVOICES_POSTED, "invoices"), (_CREDIT_NOTES_POSTED, "credit_notes")):
        for doc_id, tenant_id, number, currency, total, tx_id, posted, posting_ids in _rows(
            sql, {"period": period_key}
        ):
            key = (tenant_id, number or f"draft-{doc_id}")
            documents[key] = Figure(amount=total, currency=currency, sources={name: [doc_id]})
            if tx_id is not None and posted is not None:
                postings[key] = Figure(
                    amount=posted,
                    currency=currency,
                    sources={"transactions": [tx_id], "postings": list(posting_ids or [])},
                )
    return documents, postings


def _window(provider_import: ProviderImport) -> dict[str, Any]:
    """The import's period as local wall-clock edges (naive), the same for every tenant's zone."""
    key = provider_import.period_key
    period = period_by_key(key, tz="UTC", cycle=period_key_cycle(key))
    return {
        "import": provider_import.pk,
        "start": period.start.replace(tzinfo=None),
        "end": period.end.replace(tzinfo=None),
    }


def provider_usage(*, provider_import: ProviderImport) -> dict[UsageKey, Figure]:
    """Per (tenant, SKU, currency) the Usage rows of one import charged in its period (ChargePeriodStart in
    the period, in the tenant's zone); rows naming no tenant by what they name."""
    return {
        (tenant_id, ref, sku, currency): Figure(
            amount=cost, currency=currency, sources={"provider_rows": list(ids)}
        )
        for tenant_id, ref, sku, currency, cost, ids in _rows(_PROVIDER_USAGE, _window(provider_import))
    }


def provider_rows_outside(*, provider_import: ProviderImport) -> int:
    """How many Usage rows of the import are charged outside its period (left out of the comparison)."""
    return int(_rows(_PROVIDER_OUTSIDE, _window(provider_import))[0][0])


def fx_rates(*, period_key: str) -> dict[int, tuple[str, Decimal | None]]:
    """Per tenant: the currency and stored FX rate (to the ledger's base currency) of its newest issued
    invoice of the period, to express deltas in the base currency."""
    return {t: (c, r) for t, c, r in _rows(_FX_RATES, {"period": period_key})}


def provider_import_latest(*, period_key: str, provider: str | None = None) -> ProviderImport | None:
    rows = ProviderImport.objects.filter(period_key=period_key)
    if provider:
        rows = rows.filter(provider=provider)
    return rows.order_by("-imported_at", "-id").first()


def runs_list() -> QuerySet[ReconciliationRun]:
    return ReconciliationRun.objects.select_related("provider_import", "started_by")


def run_deltas(
    *, run: ReconciliationRun, check: str | None = None, breached_only: bool = False
) -> QuerySet[ReconciliationDelta]:
    rows = ReconciliationDelta.objects.filter(run=run).select_related("tenant")
    if check:
        rows = rows.filter(check_name=check)
    if breached_only:
        rows = rows.filter(breached=True)
    return rows


@dataclass(frozen=True)
class DeltaRows:
    """The rows behind a delta, each kind read by its ids (at most `limit` of each)."""

    invoice_lines: list[InvoiceLine]
    invoices: list[Invoice]
    credit_notes: list[CreditNote]
    postings: list[Posting]
    provider_rows: list[ProviderCostRow]
    estimates: list[int]  # billing's estimate rows: ids only (the ledger does not read billing)


def delta_rows(*, delta: ReconciliationDelta, limit: int = 200) -> DeltaRows:
    sources = delta.sources if isinstance(delta.sources, dict) else {}

    def ids(name: str) -> list[int]:
        return [int(i) for i in sources.get(name, [])][:limit]

    return DeltaRows(
        invoice_lines=list(
            InvoiceLine.objects.filter(pk__in=ids("invoice_lines")).select_related("invoice").order_by("pk")
        ),
        invoices=list(Invoice.objects.filter(pk__in=ids("invoices")).order_by("pk")),
        credit_notes=list(CreditNote.objects.filter(pk__in=ids("credit_notes")).order_by("pk")),
        postings=list(
            Posting.objects.filter(pk__in=ids("postings"))
            .select_related("account", "transaction")
            .order_by("pk")
        ),
        provider_rows=list(ProviderCostRow.objects.filter(pk__in=ids("provider_rows")).order_by("pk")),
        estimates=ids("estimates"),
    )
