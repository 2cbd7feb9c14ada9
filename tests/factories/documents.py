"""Issued invoices and credit notes built directly from their stored fields (no close, no pricing), for
the e-invoice and document tests: the figures of a test are the figures it writes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from common.money import quantize_money
from ledger.models import Account, CreditNote, CreditNoteLine, Invoice, InvoiceLine, TaxBreakdown, Transaction
from ledger.services import posting
from tenants.models import Tenant
from tests.factories.tenants import TenantFactory

if TYPE_CHECKING:
    from tests.personas import Persona

D = Decimal


@dataclass
class Line:
    description: str
    amount: str
    quantity: str | None = None
    unit_price: str | None = None
    unit_label: str = ""
    kind: str = "usage"
    category: str = "S"
    rate: str = "19"


@dataclass
class Vat:
    category: str
    rate: str
    taxable: str
    tax: str
    reason: str = ""
    code: str = ""


@dataclass
class Spec:
    lines: list[Line]
    vat: list[Vat]
    currency: str = "EUR"
    tax_mode: str = "exclusive"
    credits_applied: str = "0"
    number: str = "ACME-2026-000001"
    reverse_charge: bool = False
    buyer_vat_id: str = ""
    seller_vat_id: str = "DE123456789"
    buyer_country: str = "DE"
    tax_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# The invoice the portal tests open, dispute and download: a usage line and a flat fee at 19 %.
PORTAL_SPEC = Spec(
    lines=[
        Line("API requests", "1234.50", quantity="617250", unit_label="request"),
        Line("Platform fee", "99.00", quantity="1", unit_label="month", unit_price="99", kind="flat"),
    ],
    vat=[Vat("S", "19", "1333.50", "253.37")],
    number="ACME-2026-000007",
)


def tenant(slug: str = "acme", **fields: Any) -> Tenant:
    defaults: dict[str, Any] = {
        "name": "Acme Analytics GmbH",
        "address": "Hauptstrasse 5\n80331 Muenchen\nGermany",
        "country": "DE",
        "currency": "EUR",
    }
    defaults.update(fields)
    return cast(Tenant, TenantFactory(slug=slug, **defaults))


def issued_invoice(spec: Spec, *, owner: Tenant | None = None) -> Invoice:
    """A finalized invoice with exactly these lines and VAT rows; totals derived as the close derives
    them (exclusive: subtotal + tax; inclusive: total = subtotal, rounding = total - (net + tax))."""
    owner = owner or tenant()
    subtotal = sum((D(line.amount) for line in spec.lines), D(0))
    tax = sum((D(row.tax) for row in spec.vat), D(0))
    taxable = sum((D(row.taxable) for row in spec.vat), D(0))
    inclusive = spec.tax_mode == "inclusive"
    total = subtotal if inclusive else subtotal + tax
    invoice = Invoice.objects.create(
        tenant=owner,
        period_key="2026-11",
        period_start=datetime(2026, 11, 1, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, tzinfo=UTC),
        period_first_day=date(2026, 11, 1),
        period_last_day=date(2026, 11, 30),
        currency=spec.currency,
        base_currency="EUR",
        subtotal=subtotal,
        tax_rate=D(spec.vat[0].rate) if spec.vat else None,
        tax_mode=spec.tax_mode,
        tax_total=tax,
        total=total,
        credits_applied=D(spec.credits_applied),
        amount_due=total - D(spec.credits_applied),
        rounding_amount=total - taxable - tax if inclusive else D(0),
        seller_vat_id=spec.seller_vat_id,
        buyer_vat_id=spec.buyer_vat_id,
        buyer_country=spec.buyer_country,
        reverse_charge=spec.reverse_charge,
        tax_note=spec.tax_note,
        **spec.extra,
    )
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                position=i,
                kind=line.kind,
                description=line.description,
                quantity=D(line.quantity) if line.quantity is not None else None,
                unit_label=line.unit_label,
                unit_price=D(line.unit_price) if line.unit_price is not None else None,
                amount_exact=D(line.amount),
                amount=D(line.amount),
                tax_category=line.category,
                tax_rate=D(line.rate),
                corrects_invoice=invoice if line.kind == "correction" else None,
                corrects_period="2026-10" if line.kind == "correction" else "",
            )
            for i, line in enumerate(spec.lines, start=1)
        ]
    )
    TaxBreakdown.objects.bulk_create(
        [
            TaxBreakdown(
                invoice=invoice,
                category=row.category,
                rate=D(row.rate),
                taxable_amount=D(row.taxable),
                tax_amount=D(row.tax),
                exemption_reason=row.reason,
                exemption_code=row.code,
            )
            for row in spec.vat
        ]
    )
    finalized = datetime(2026, 12, 4, 9, tzinfo=UTC)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=Invoice.Status.FINALIZED,
        number=spec.number,
        finalized_at=finalized,
        issue_date=date(2026, 12, 4),
        due_date=date(2027, 1, 3),
        payment_terms_days=30,
    )
    return Invoice.objects.select_related("tenant").get(pk=invoice.pk)


def credit_note(
    invoice: Invoice, lines: list[Line], vat: list[Vat], *, number: str = "ACME-CN-2026-000001"
) -> CreditNote:
    """A credit note with these lines (net amounts) and VAT rows against `invoice` (exclusive)."""
    subtotal = sum((D(line.amount) for line in lines), D(0))
    tax = sum((D(row.tax) for row in vat), D(0))
    total = subtotal + tax
    when = datetime(2026, 12, 20, 23, 30, tzinfo=UTC)
    tx = posting.transaction_post(
        kind=Transaction.Kind.CREDIT_NOTE,
        legs=[
            posting.Leg(posting.receivable(invoice.tenant_id, invoice.tenant.slug), -total),
            posting.Leg(posting.AccountSpec("revenue:tests", "Revenue (tests)", Account.Kind.INCOME), total),
        ],
        currency=invoice.currency,
        tenant_id=invoice.tenant_id,
        reference=number,
        booked_at=when,
    )
    assert tx is not None
    note = CreditNote.objects.create(
        invoice=invoice,
        tenant_id=invoice.tenant_id,
        number=number,
        reason="goodwill for the outage of 12 November",
        currency=invoice.currency,
        subtotal=subtotal,
        tax_total=tax,
        total=total,
        created_at=when,
        ledger_transaction=tx,
    )
    CreditNoteLine.objects.bulk_create(
        [
            CreditNoteLine(
                credit_note=note,
                description=line.description,
                amount=D(line.amount),
                tax_amount=quantize_money(D(line.amount) * D(line.rate) / 100, invoice.currency),
                quantity=D(line.quantity) if line.quantity is not None else None,
                unit_label=line.unit_label,
                tax_category=line.category,
                tax_rate=D(line.rate),
            )
            for line in lines
        ]
    )
    TaxBreakdown.objects.bulk_create(
        [
            TaxBreakdown(
                credit_note=note,
                category=row.category,
                rate=D(row.rate),
                taxable_amount=D(row.taxable),
                tax_amount=D(row.tax),
                exemption_reason=row.reason,
                exemption_code=row.code,
            )
            for row in vat
        ]
    )
    return note


def persona_invoice(persona: Persona, spec: Spec = PORTAL_SPEC, *, number: str | None = None) -> Invoice:
    """`spec` issued to the persona's tenant (under `number` when given)."""
    assert persona.tenant is not None
    if number is not None:
        spec = replace(spec, number=number)
    return issued_invoice(spec, owner=persona.tenant)


def invoice_rendered(invoice: Invoice, *, pdf: bytes, xml: bytes = b"<rsm:CrossIndustryInvoice/>") -> Invoice:
    """`invoice` with stored PDF and XML files, recorded as the render task records them (a dirty mark,
    then the new version's files; the database allows no other road). Needs a writable MEDIA_ROOT."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    names = {
        kind: default_storage.save(f"invoices/{invoice.pk}.{kind}", ContentFile(content))
        for kind, content in (("pdf", pdf), ("xml", xml))
    }
    Invoice.objects.filter(pk=invoice.pk).update(pdf_version=1)
    Invoice.objects.filter(pk=invoice.pk).update(
        pdf_rendered_version=1,
        pdf_file=names["pdf"],
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        xml_file=names["xml"],
        xml_sha256=hashlib.sha256(xml).hexdigest(),
    )
    return Invoice.objects.select_related("tenant").get(pk=invoice.pk)
