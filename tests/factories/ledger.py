"""Builders for period-close and ledger tests: a tenant on a profile, rated usage written directly as
aggregates and events (no ingest API), tax rules and signed exchange rates."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest

from billing.catalog.models import Sku
from billing.close.fx import exchange_rate_create
from billing.close.models import TaxRule
from billing.pricing import document_sha256
from billing.profiles.models import BillingProfile, ProfileVersion
from billing.profiles.selectors import price_model
from billing.rating.models import UsageAggregate
from billing.usage.models import RatingBatch, UsageEvent
from ledger.models import Invoice
from tenants.models import Project, Tenant
from tests.factories.billing import (
    ApprovedVersionFactory,
    BillingProfileFactory,
    MeterFactory,
    ProfileAssignmentFactory,
    SkuFactory,
)
from tests.factories.tenants import TenantFactory, UserFactory
from tests.factories.usage import rating_batch_id_next

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class World:
    tenant: Tenant
    profile: BillingProfile
    version: ProfileVersion


def sku(code: str, *, category: str = Sku.ServiceCategory.COMPUTE, unit: str = "unit") -> Sku:
    meter = MeterFactory(code=f"m-{code}")
    return cast(
        Sku,
        SkuFactory(
            code=code,
            meter=meter,
            name=code.replace("_", " ").title(),
            service_category=category,
            unit_label=unit,
        ),
    )


def document(
    code: str,
    *,
    prices: list[dict[str, Any]],
    currency: str = "EUR",
    jurisdiction: str = "DE",
    tax_mode: str = "exclusive",
    grace_hours: int = 72,
    **extra: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "profile": code,
        "currency": currency,
        "billing_cycle": "monthly",
        "grace_hours": grace_hours,
        "tax": {"jurisdiction": jurisdiction, "mode": tax_mode},
        "prices": prices,
    }
    doc.update(extra)
    return doc


def approved_version(
    profile: BillingProfile, body: dict[str, Any], effective_from: datetime, number: int
) -> ProfileVersion:
    return cast(
        ProfileVersion,
        ApprovedVersionFactory(
            profile=profile,
            number=number,
            body=body,
            body_sha256=document_sha256(body),
            effective_from=effective_from,
            author=UserFactory(),
        ),
    )


def world(
    *,
    slug: str = "acme",
    currency: str = "EUR",
    jurisdiction: str = "DE",
    tz: str = "UTC",
    prices: list[dict[str, Any]] | None = None,
    effective_from: datetime = JAN_1,
    **doc_extra: Any,
) -> World:
    prices = prices or [{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}]
    for entry in prices:
        sku(entry["sku"])
    tenant = cast(
        Tenant,
        TenantFactory(
            slug=slug, currency=currency, tax_jurisdiction=jurisdiction, country=jurisdiction[:2], timezone=tz
        ),
    )
    profile = cast(BillingProfile, BillingProfileFactory(code=f"{slug}-profile"))
    body = document(profile.code, prices=prices, currency=currency, jurisdiction=jurisdiction, **doc_extra)
    version = approved_version(profile, body, effective_from, 1)
    ProfileAssignmentFactory(tenant=tenant, profile=profile, effective_from=effective_from)
    return World(tenant=tenant, profile=profile, version=version)


_seq = [0]


def usage(
    tenant: Tenant,
    sku_code: str,
    version: ProfileVersion,
    at: datetime,
    quantities: list[str] | str,
    *,
    late: bool = False,
    project: Project | None = None,
) -> None:
    """Rated usage at instant `at`: one UsageEvent per quantity (of `project`, when given) and the hour's
    aggregate (upserted)."""
    values = [Decimal(q) for q in ([quantities] if isinstance(quantities, str) else quantities)]
    item = Sku.objects.get(code=sku_code)
    hour = at.replace(minute=0, second=0, microsecond=0)
    per_event = price_model(version.body, sku_code) == "percentage"
    events = []
    for i, q in enumerate(values):
        _seq[0] += 1
        ts = at + timedelta(microseconds=i)
        events.append(
            UsageEvent(
                tenant=tenant,
                event_id=f"ev-{_seq[0]}",
                sku=item,
                sku_code=sku_code,
                project=project,
                timestamp=ts,
                quantity=q,
                payload_sha256=hashlib.sha256(str(_seq[0]).encode()).hexdigest(),
                status=UsageEvent.Status.ACCEPTED,
                late=late,
                profile_version=version if per_event else None,  # as rating records it
                received_at=ts,
            )
        )
    batch_id = rating_batch_id_next()
    for item_event in events:
        item_event.rating_batch_id = batch_id
    created = UsageEvent.objects.bulk_create(events)
    ids = [e.pk for e in created]
    # as the ingest writes it (pending, with its final id range), then rated as rating marks it
    RatingBatch.objects.create(
        id=batch_id,
        first_event_id=min(ids),
        last_event_id=max(ids),
        event_count=len(events),
        tenant_ids=[tenant.pk],
        earliest_event_at=at,
        latest_event_at=events[-1].timestamp,
        created_at=at,
    )
    RatingBatch.objects.filter(pk=batch_id).update(
        status=RatingBatch.Status.RATED, rated_at=events[-1].timestamp
    )
    agg = UsageAggregate.objects.filter(tenant=tenant, sku=item, hour=hour, profile_version=version).first()
    total = sum(values, Decimal(0))
    last = at + timedelta(microseconds=len(values) - 1)
    if agg is None:
        UsageAggregate.objects.create(
            tenant=tenant,
            sku=item,
            profile_version=version,
            hour=hour,
            quantity=total,
            event_count=len(values),
            first_event_at=at,
            last_event_at=last,
            updated_at=last,
        )
    else:
        agg.quantity += total
        agg.event_count += len(values)
        agg.first_event_at = min(agg.first_event_at, at)
        agg.last_event_at = max(agg.last_event_at, last)
        agg.save()


def tax_rule(jurisdiction: str = "DE", rate: str = "19", start: date = date(2020, 1, 1)) -> TaxRule:
    return TaxRule.objects.create(
        jurisdiction=jurisdiction, name=f"{jurisdiction} VAT", rate=Decimal(rate), effective_from=start
    )


def fx_rate(day: date, base: str, quote: str, rate: str, source: str = "ECB") -> Any:
    return exchange_rate_create(day=day, base=base, quote=quote, rate=Decimal(rate), source=source)


def after_grace(key: str = "2026-11") -> datetime:
    """An instant well past the 72 h grace window of the month `key` (UTC tenants)."""
    year, month = (int(p) for p in key.split("-"))
    nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return nxt + timedelta(days=5)


def invoice_of(result: Any) -> Invoice:
    """The invoice a close result points at."""
    assert result.invoice_id is not None, result
    return Invoice.objects.get(pk=result.invoice_id)


def close_in_batch(
    *, tenant: Tenant, period_key: str | None = None, now: datetime | None = None, **_: Any
) -> Any:
    """`close_period`'s signature and result, through the batch close (`close_periods`) of one tenant:
    suites written against `close_period` run against both paths with the `both_close_paths` fixture."""
    from billing.close.services import close_periods

    (result,) = close_periods(tenants=[tenant], period_key=period_key, now=now)
    return result


def both_close_paths_fixture(module_name: str) -> Any:
    """The autouse fixture `both_close_paths` for the test module `module_name`, parametrized `one_tenant` /
    `batch`: every test runs against `close_period` and against the batch close (`close_periods`), the
    module's `close_period` being `close_in_batch` under `batch`. A module takes it with
    `both_close_paths = both_close_paths_fixture(__name__)`."""

    @pytest.fixture(autouse=True, params=["one_tenant", "batch"], name="both_close_paths")
    def both_close_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
        if request.param == "batch":
            monkeypatch.setattr(sys.modules[module_name], "close_period", close_in_batch)

    return both_close_paths


def document_invoice(
    tenant: Tenant,
    *,
    lines: list[dict[str, Any]],
    breakdown: list[dict[str, Any]] | None = None,
    period_start: datetime = datetime(2026, 10, 1, tzinfo=UTC),
    period_end: datetime = datetime(2026, 11, 1, tzinfo=UTC),
    status: str = Invoice.Status.FINALIZED,
    number: str | None = None,
    finalized_at: datetime | None = None,
    **fields: Any,
) -> Invoice:
    """An invoice written directly with the document fields (what the close fills), for rendering tests:
    `lines` are InvoiceLine fields (position, amount_exact, description defaulted), `breakdown` the VAT
    rows (TaxBreakdown fields). Totals follow from them: subtotal = sum of lines, tax = sum of the rows,
    total = subtotal + tax (exclusive; inclusive: total = subtotal); created as a draft and moved to
    `status` as the close does (the database checks the subtotal against the lines)."""
    from ledger.models import InvoiceLine, TaxBreakdown

    breakdown = breakdown or []
    subtotal = sum((Decimal(str(line["amount"])) for line in lines), Decimal(0))
    tax = sum((Decimal(str(row["tax_amount"])) for row in breakdown), Decimal(0))
    inclusive = fields.get("tax_mode") == Invoice.TaxMode.INCLUSIVE
    total = fields.pop("total", subtotal if inclusive else subtotal + tax)
    credits = Decimal(str(fields.pop("credits_applied", "0")))
    invoice = Invoice.objects.create(
        tenant=tenant,
        period_key=fields.pop("period_key", f"{period_start:%Y-%m}"),
        period_start=period_start,
        period_end=period_end,
        currency=fields.pop("currency", tenant.currency),
        base_currency=fields.pop("base_currency", "EUR"),
        subtotal=subtotal,
        tax_total=tax,
        total=total,
        credits_applied=credits,
        amount_due=total - credits,
        **fields,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            position=i,
            **{"kind": "usage", "description": f"line {i}", "amount_exact": line["amount"], **line},
        )
        for i, line in enumerate(lines, start=1)
    )
    TaxBreakdown.objects.bulk_create(TaxBreakdown(invoice=invoice, **row) for row in breakdown)
    if status != Invoice.Status.DRAFT:
        at = finalized_at or period_end + timedelta(days=5)
        Invoice.objects.filter(pk=invoice.pk).update(
            status=Invoice.Status.FINALIZED, number=number or f"DOC-{invoice.pk:06d}", finalized_at=at
        )
    invoice.refresh_from_db()
    return invoice


def document_credit_note(
    invoice: Invoice,
    *,
    lines: list[dict[str, Any]],
    breakdown: list[dict[str, Any]],
    kind: str = "manual",
    number: str | None = None,
    reason: str = "goodwill",
    created_at: datetime | None = None,
) -> Any:
    """A credit note written directly with its lines and VAT rows (what `credit_note_create` fills), its
    journal transaction a plain receivable/revenue reversal of its total."""
    from ledger.models import CreditNote, CreditNoteLine, TaxBreakdown
    from ledger.services.posting import Leg, receivable, revenue, transaction_post

    subtotal = sum((Decimal(str(line["amount"])) for line in lines), Decimal(0))
    tax = sum((Decimal(str(row["tax_amount"])) for row in breakdown), Decimal(0))
    tenant = invoice.tenant
    tx = transaction_post(
        kind="credit_note",
        legs=[
            Leg(receivable(tenant.pk, tenant.slug), -(subtotal + tax)),
            Leg(revenue("compute"), subtotal + tax),
        ],
        currency=invoice.currency,
        tenant_id=tenant.pk,
        reference=number or "CN",
    )
    assert tx is not None
    note = CreditNote.objects.create(
        kind=kind,
        invoice=invoice,
        tenant=tenant,
        number=number or f"CN-{invoice.pk:06d}",
        reason=reason,
        currency=invoice.currency,
        subtotal=subtotal,
        tax_total=tax,
        total=subtotal + tax,
        created_at=created_at or (invoice.finalized_at or JAN_1) + timedelta(days=10),
        ledger_transaction=tx,
    )
    CreditNoteLine.objects.bulk_create(
        CreditNoteLine(credit_note=note, **{"tax_amount": Decimal(0), **line}) for line in lines
    )
    TaxBreakdown.objects.bulk_create(TaxBreakdown(credit_note=note, **row) for row in breakdown)
    return note
