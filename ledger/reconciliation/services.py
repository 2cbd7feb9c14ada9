"""Writes of the reconciliation: importing a provider's FOCUS file, and running the three checks of a
period into a stored run (docs/reconciliation.md).

The ledger cannot read billing's tables (layers: billing -> ledger), so the rated usage cost comes in as
an argument: billing.reconciliation.services.reconcile_period reads it (billing's estimates) and calls
`reconciliation_run`. Everything else is read here, each figure in one grouped statement."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from common.errors import FieldIssue, ValidationFailed
from common.money import quantize_money
from common.periods import parse_period_key
from ledger.models.reconciliation import (
    Check,
    ProviderCostRow,
    ProviderImport,
    ReconciliationDelta,
    ReconciliationRun,
)
from ledger.reconciliation import outcome
from ledger.reconciliation.compare import Figure, Finding, Threshold, compare
from ledger.reconciliation.focus_read import USAGE, InvalidFocusFile, focus_rows
from ledger.reconciliation.selectors import (
    UsageKey,
    documents_and_postings,
    fx_rates,
    invoiced_usage,
    provider_import_latest,
    provider_rows_outside,
    provider_usage,
)
from tenants.models import Tenant

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (step, done, total)
_STORED = Decimal("0.0001")


# A delta breaches when |delta| > amount (in the delta's currency) and |delta %| > pct. Any difference
# between a document and its posting is an error; rated and provider figures get a little slack.
DEFAULT_THRESHOLDS: dict[str, dict[str, str]] = {
    Check.RATED_VS_INVOICED.value: {"amount": "1.00", "pct": "0.5"},
    Check.INVOICES_VS_LEDGER.value: {"amount": "0", "pct": "0"},
    Check.PROVIDER_VS_RATED.value: {"amount": "1.00", "pct": "0.5"},
}


def thresholds() -> dict[str, Threshold]:
    """Per check: settings.RECONCILIATION_THRESHOLDS ({check: {"amount": "1.00", "pct": "0.5"}}) over
    DEFAULT_THRESHOLDS."""
    configured: Mapping[str, Mapping[str, Any]] = getattr(settings, "RECONCILIATION_THRESHOLDS", {})
    result: dict[str, Threshold] = {}
    for check in Check.values:
        entry = {**DEFAULT_THRESHOLDS[check], **configured.get(check, {})}
        result[check] = Threshold(
            amount=Decimal(str(entry.get("amount", "0"))), pct=Decimal(str(entry.get("pct", "0")))
        )
    return result


# --- provider imports ---------------------------------------------------------------------------------


def provider_import_create(
    *,
    provider: str,
    period_key: str,
    file_name: str,
    content: bytes,
    cost_column: str = "BilledCost",
    actor: User | None = None,
    now: datetime | None = None,
) -> ProviderImport:
    """Store every row of a provider's FOCUS file for `period_key`. The same file imported again for the
    same provider and period returns the import it already made (by the file's SHA-256)."""
    provider = provider.strip()
    if not provider or len(provider) > 64:
        raise ValidationFailed(
            "a provider name of 1 to 64 characters", issues=[FieldIssue("provider", provider)]
        )
    period_key = parse_period_key(period_key)
    sha = hashlib.sha256(content).hexdigest()
    latest = provider_import_latest(period_key=period_key, provider=provider)
    if latest is not None and latest.file_sha256 == sha and latest.cost_column == cost_column:
        return latest
    try:
        rows = focus_rows(content=content, file_name=file_name, cost_column=cost_column)
    except InvalidFocusFile as err:
        raise ValidationFailed(f"{file_name}: {err}", issues=[FieldIssue("file", str(err))]) from None
    for row in rows:
        if len(row.tenant_ref) > 200 or len(row.sku_code) > 200:
            raise ValidationFailed(
                f"{file_name}: row {row.row_number}: a tenant or SKU longer than 200 characters"
            )
    slugs = {r.tenant_ref for r in rows if r.tenant_ref}
    tenants = dict(Tenant.objects.filter(slug__in=slugs).values_list("slug", "pk"))
    now = now or timezone.now()
    with transaction.atomic():
        record = ProviderImport.objects.create(
            provider=provider,
            period_key=period_key,
            file_name=file_name[-255:],
            file_sha256=sha,
            cost_column=cost_column,
            imported_at=now,
            imported_by=actor,
            rows_read=len(rows),
            rows_matched=sum(1 for r in rows if r.charge_category == USAGE and r.tenant_ref in tenants),
            rows_unmatched=sum(1 for r in rows if r.charge_category == USAGE and r.tenant_ref not in tenants),
            rows_excluded=sum(1 for r in rows if r.charge_category != USAGE),
        )
        ProviderCostRow.objects.bulk_create(
            (
                ProviderCostRow(
                    provider_import=record,
                    row_number=r.row_number,
                    tenant_id=tenants.get(r.tenant_ref),
                    tenant_ref=r.tenant_ref,
                    sku_code=r.sku_code,
                    charge_category=r.charge_category,
                    cost=r.cost,
                    currency=r.currency,
                    charge_period_start=r.charge_period_start,
                )
                for r in rows
            ),
            batch_size=5000,
        )
    return record


# --- runs ---------------------------------------------------------------------------------------------


def _to_base(
    finding: Finding[Any], tenant_id: int | None, rates: Mapping[int, tuple[str, Decimal | None]]
) -> Decimal | None:
    base = settings.LEDGER_BASE_CURRENCY
    if finding.currency == base:
        return finding.delta
    known = rates.get(tenant_id) if tenant_id is not None else None
    if known is None or known[0] != finding.currency or known[1] is None:
        return None
    return quantize_money(finding.delta * known[1], base)


def _deltas(
    run: ReconciliationRun,
    check: str,
    findings: list[Finding[Any]],
    rates: Mapping[int, tuple[str, Decimal | None]],
) -> list[ReconciliationDelta]:
    rows: list[ReconciliationDelta] = []
    for f in findings:
        if check == Check.INVOICES_VS_LEDGER:
            tenant_id, reference, tenant_ref, sku = f.key[0], f.key[1], "", ""
        else:
            tenant_id, tenant_ref, sku, _currency = f.key
            reference = ""
        rows.append(
            ReconciliationDelta(
                run=run,
                check_name=check,
                tenant_id=tenant_id,
                tenant_ref=tenant_ref[:200],
                sku_code=sku[:200],
                reference=reference[:120],
                currency=f.currency,
                expected=f.expected,
                actual=f.actual,
                delta=f.delta,
                delta_pct=f.pct,
                delta_base=_to_base(f, tenant_id, rates),
                breached=f.breached,
                sources=f.sources,
                note=f.note[:255],
            )
        )
    return rows


def _summary(compared: int, deltas: list[ReconciliationDelta], base: str) -> dict[str, Any]:
    total = sum((abs(d.delta_base) for d in deltas if d.delta_base is not None), Decimal(0))
    return {
        "compared": compared,
        "deltas": len(deltas),
        "breached": sum(1 for d in deltas if d.breached),
        "abs_delta_base": str(total.quantize(_STORED, rounding=ROUND_HALF_UP)),
        "unconverted": sum(1 for d in deltas if d.delta_base is None),
        "base_currency": base,
    }


def reconciliation_run(
    *,
    period_key: str,
    rated: Mapping[UsageKey, Figure],
    trigger: str,
    actor: User | None = None,
    note: str = "",
    provider: str | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ReconciliationRun:
    """Run the three checks of `period_key` and store the run with its deltas. `rated` is the rated usage
    cost per (tenant id, "", SKU code, currency) (billing's figure). The provider check uses the newest import of
    the period (of `provider` when given) and is skipped, said in the summary, when there is none.

    Afterwards, per check, the gauge billing_reconciliation_delta{check} is set to the sum of |delta| in
    the base currency, and a platform alert (kind reconciliation, key = the check) fires while any delta
    breaches its threshold and resolves when none does. A run that fails is stored as failed, with the
    error, and fires a critical alert."""
    period_key = parse_period_key(period_key)
    now = now or timezone.now()
    limits = thresholds()
    base = settings.LEDGER_BASE_CURRENCY
    step = progress or (lambda _s, _d, _t: None)
    provider_import = provider_import_latest(period_key=period_key, provider=provider)
    run = ReconciliationRun.objects.create(
        period_key=period_key,
        trigger=trigger,
        started_at=now,
        started_by=actor,
        base_currency=base,
        thresholds={k: v.as_json() for k, v in limits.items()},
        provider_import=provider_import,
        note=note,
    )
    try:
        rates = fx_rates(period_key=period_key)
        step("rated usage against invoiced usage", 0, 3)
        compared_a, found_a = compare(
            expected=rated,
            actual=invoiced_usage(period_key=period_key, rated_keys=rated.keys()),
            threshold=limits[Check.RATED_VS_INVOICED],
        )
        step("issued documents against ledger postings", 1, 3)
        documents, postings = documents_and_postings(period_key=period_key)
        compared_b, found_b = compare(
            expected=documents, actual=postings, threshold=limits[Check.INVOICES_VS_LEDGER]
        )
        step("provider export against rated usage", 2, 3)
        deltas = {
            Check.RATED_VS_INVOICED.value: _deltas(run, Check.RATED_VS_INVOICED, found_a, rates),
            Check.INVOICES_VS_LEDGER.value: _deltas(run, Check.INVOICES_VS_LEDGER, found_b, rates),
        }
        summary = {
            Check.RATED_VS_INVOICED.value: _summary(compared_a, deltas[Check.RATED_VS_INVOICED], base),
            Check.INVOICES_VS_LEDGER.value: _summary(compared_b, deltas[Check.INVOICES_VS_LEDGER], base),
        }
        if provider_import is not None:
            compared_c, found_c = compare(
                expected=provider_usage(provider_import=provider_import),
                actual=rated,
                threshold=limits[Check.PROVIDER_VS_RATED],
            )
            deltas[Check.PROVIDER_VS_RATED.value] = _deltas(run, Check.PROVIDER_VS_RATED, found_c, rates)
            summary[Check.PROVIDER_VS_RATED.value] = _summary(
                compared_c, deltas[Check.PROVIDER_VS_RATED], base
            ) | {"rows_outside_period": provider_rows_outside(provider_import=provider_import)}
        else:
            summary[Check.PROVIDER_VS_RATED.value] = {"skipped": "no provider export imported for the period"}
        with transaction.atomic():
            for rows in deltas.values():
                ReconciliationDelta.objects.bulk_create(rows, batch_size=5000)
            run.summary = summary
            run.status = ReconciliationRun.Status.COMPLETED
            run.finished_at = timezone.now()
            run.save(update_fields=["summary", "status", "finished_at"])
        step("done", 3, 3)
    except Exception as err:
        logger.exception("reconciliation of %s failed", period_key)
        run.status = ReconciliationRun.Status.FAILED
        run.finished_at = timezone.now()
        run.error = f"{type(err).__name__}: {err}"[:2000]
        run.save(update_fields=["status", "finished_at", "error"])
        outcome.run_failed(run=run, now=now)
        raise
    outcome.run_completed(run=run, now=now)
    return run
