"""The backtest of a price-list version (a draft, usually): every tenant's last N closed periods of its
profile (1 to 12, default 1) re-priced as if the version had been in force all period, next to what each
period's invoice billed. docs/backtest.md.

- old total: what the invoice billed for the period itself, before tax (its lines but corrections of
  earlier periods); new total: the period's own lines under the version, before tax, computed by the
  close's road (billing.close.backtest -> billing.close.preview.lines_as_if_in_force -> period_lines) over
  the period's rated usage as it stands now. A version with the body in force re-prices every period to
  exactly its invoice (tested), unless usage was rated into the period after it closed (`late_usage`).
- per tenant and period: old, new, delta, percent (2 places, ROUND_HALF_UP; None from a zero bill);
  a period the version cannot price (another currency, a SKU with usage it does not price) is `blocked`
  with the reason and left out of the figures.
- summary: per-tenant changes (a tenant's periods added up) -> p50 / p95 / max of the absolute percent
  change (nearest rank), revenue old / new / delta, the 10 most affected tenants (largest absolute percent
  change; a bill from zero first; then the absolute delta, then the slug), and the metrics the approval
  policy reads (revenue_delta_pct_abs, max_tenant_change_pct_abs, tenants_affected, any_price_decrease,
  any_price_increase).
- result_hash: SHA-256 of the canonical JSON (sorted keys, Decimals as strings) of the version's body
  hash, the periods asked for, the rows and the summary: the same data gives the same hash.

Writes nothing (tested with checksums of every table)."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from django.conf import settings
from django.utils import timezone

from billing.close.backtest import RepricedPeriod, closed_periods_repriced
from billing.pricing import DocumentError, ProfileDocument, canonical_json, document_sha256, validate_document
from billing.profiles.diff import profile_body_diff
from billing.profiles.models import ProfileVersion
from billing.profiles.selectors import profile_version_in_force
from common.errors import FieldIssue, ValidationFailed
from common.money import WIDE_CONTEXT, quantize_money

MAX_PERIODS = 12
TOP = 10
ZERO = Decimal(0)
_PCT = Decimal("0.01")


def percent_change(old: Decimal, new: Decimal) -> Decimal | None:
    """(new - old) / old in percent, 2 places ROUND_HALF_UP; 0 from 0 to 0, None from 0 to anything."""
    if old == 0:
        return ZERO.quantize(_PCT) if new == 0 else None
    with localcontext(WIDE_CONTEXT):
        return ((new - old) * 100 / abs(old)).quantize(_PCT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class BacktestRow:
    tenant_id: int
    tenant_slug: str
    period_key: str
    invoice_number: str
    currency: str
    old_total: Decimal
    new_total: Decimal | None
    delta: Decimal | None
    pct: Decimal | None
    blocked: str = ""
    late_usage: bool = False

    @classmethod
    def of(cls, item: RepricedPeriod) -> BacktestRow:
        delta = None if item.new_total is None else item.new_total - item.old_total
        pct = None if item.new_total is None else percent_change(item.old_total, item.new_total)
        return cls(
            tenant_id=item.tenant_id,
            tenant_slug=item.tenant_slug,
            period_key=item.period_key,
            invoice_number=item.invoice_number,
            currency=item.currency,
            old_total=item.old_total,
            new_total=item.new_total,
            delta=delta,
            pct=pct,
            blocked=item.blocked,
            late_usage=item.late_usage,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "tenant_slug": self.tenant_slug,
            "period_key": self.period_key,
            "invoice_number": self.invoice_number,
            "currency": self.currency,
            "old_total": self.old_total,
            "new_total": self.new_total,
            "delta": self.delta,
            "pct": self.pct,
            "blocked": self.blocked,
            "late_usage": self.late_usage,
        }


@dataclass(frozen=True)
class Backtest:
    version_id: int | None
    body_sha256: str
    periods: int
    rows: tuple[BacktestRow, ...]
    summary: dict[str, Any]
    result_hash: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (Decimals as strings): what an approval request stores and the portal shows."""
        result: dict[str, Any] = jsonable(
            {
                "version_id": self.version_id,
                "body_sha256": self.body_sha256,
                "periods": self.periods,
                "rows": [row.as_dict() for row in self.rows],
                "summary": self.summary,
                "result_hash": self.result_hash,
            }
        )
        return result


def jsonable(value: Any) -> Any:
    """Decimals as strings (format "f"), recursively; the rest as it is."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def result_hash(
    *, body_sha256: str, periods: int, rows: list[dict[str, Any]], summary: dict[str, Any]
) -> str:
    payload = {"body_sha256": body_sha256, "periods": periods, "rows": rows, "summary": summary}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _nearest_rank(values: list[Decimal], p: int) -> Decimal | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered) / 100), 1) - 1]


def _in_force_body(version: ProfileVersion, at: datetime) -> dict[str, Any] | None:
    """The body of the profile's version in force at `at` (what the version would replace)."""
    current = profile_version_in_force(profile=version.profile_id, at=at)
    return None if current is None else dict(current.body)


def _summary(
    rows: list[BacktestRow], *, doc: ProfileDocument, periods: int, price_moves: tuple[bool, bool]
) -> dict[str, Any]:
    priced = [r for r in rows if r.new_total is not None and r.currency == doc.currency]
    per_tenant: dict[int, list[BacktestRow]] = defaultdict(list)
    for row in priced:
        per_tenant[row.tenant_id].append(row)
    tenants: list[dict[str, Any]] = []
    for tenant_rows in per_tenant.values():
        old = quantize_money(sum((r.old_total for r in tenant_rows), ZERO), doc.currency)
        new = quantize_money(
            sum((r.new_total for r in tenant_rows if r.new_total is not None), ZERO), doc.currency
        )
        tenants.append(
            {
                "tenant_id": tenant_rows[0].tenant_id,
                "tenant_slug": tenant_rows[0].tenant_slug,
                "old_total": old,
                "new_total": new,
                "delta": new - old,
                "pct": percent_change(old, new),
            }
        )
    changes = [abs(t["pct"]) for t in tenants if t["pct"] is not None]
    tenants.sort(
        key=lambda t: (
            t["pct"] is not None,
            -abs(t["pct"]) if t["pct"] is not None else ZERO,
            -abs(t["delta"]),
            t["tenant_slug"],
        )
    )
    top = [t for t in tenants if t["delta"] != 0][:TOP]
    revenue_old = quantize_money(sum((t["old_total"] for t in tenants), ZERO), doc.currency)
    revenue_new = quantize_money(sum((t["new_total"] for t in tenants), ZERO), doc.currency)
    revenue_pct = percent_change(revenue_old, revenue_new)
    max_pct = max(changes) if changes else None
    increase, decrease = price_moves
    return {
        "currency": doc.currency,
        "periods": periods,
        "period_keys": sorted({r.period_key for r in rows}),
        "tenants": len({r.tenant_id for r in rows}),
        "rows": len(rows),
        "blocked": sum(1 for r in rows if r.blocked),
        "late_usage": sum(1 for r in rows if r.late_usage),
        "p50_pct": _nearest_rank(changes, 50),
        "p95_pct": _nearest_rank(changes, 95),
        "max_pct": max_pct,
        "revenue_old": revenue_old,
        "revenue_new": revenue_new,
        "revenue_delta": revenue_new - revenue_old,
        "revenue_delta_pct": revenue_pct,
        "revenue_delta_pct_abs": None if revenue_pct is None else abs(revenue_pct),
        "max_tenant_change_pct_abs": max_pct,
        "tenants_affected": sum(1 for t in tenants if t["delta"] != 0),
        "bills_increased": sum(1 for t in tenants if t["delta"] > 0),
        "bills_decreased": sum(1 for t in tenants if t["delta"] < 0),
        "any_price_increase": increase or any(t["delta"] > 0 for t in tenants),
        "any_price_decrease": decrease or any(t["delta"] < 0 for t in tenants),
        "top10": top,
    }


def backtest_run(
    *, version: ProfileVersion, periods: int = 1, now: datetime | None = None, workers: int | None = None
) -> Backtest:
    """The backtest of `version` (saved or not) over the last `periods` closed periods before `now` of
    every tenant on its profile (see the module docstring). Raises ValidationFailed for `periods` outside
    1..12 or a body that does not validate. Writes nothing. `workers` (default settings.BACKTEST_WORKERS):
    processes sharing a large run's tenants, outside a transaction (billing.close.backtest)."""
    if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= MAX_PERIODS:
        raise ValidationFailed(
            "the backtest covers 1 to 12 closed periods",
            issues=[
                FieldIssue("periods", f"must be a whole number from 1 to {MAX_PERIODS}, not {periods!r}")
            ],
        )
    try:
        doc = validate_document(version.body)
    except DocumentError as err:
        raise ValidationFailed(
            "the version's body does not validate", issues=[FieldIssue(e.path, e.message) for e in err.errors]
        ) from err
    now = now or timezone.now()
    body_sha256 = version.body_sha256 or document_sha256(version.body)
    rows = [
        BacktestRow.of(item)
        for item in closed_periods_repriced(
            version=version,
            doc=doc,
            periods=periods,
            now=now,
            workers=workers if workers is not None else int(getattr(settings, "BACKTEST_WORKERS", 1)),
        )
    ]
    current = _in_force_body(version, now)
    moves = (False, False)
    if current is not None:
        diff = profile_body_diff(old=current, new=dict(version.body))
        moves = (diff.any_increase, diff.any_decrease)
    summary = jsonable(_summary(rows, doc=doc, periods=periods, price_moves=moves))
    row_dicts = [jsonable(row.as_dict()) for row in rows]
    return Backtest(
        version_id=version.pk,
        body_sha256=body_sha256,
        periods=periods,
        rows=tuple(rows),
        summary=summary,
        result_hash=result_hash(body_sha256=body_sha256, periods=periods, rows=row_dicts, summary=summary),
    )
