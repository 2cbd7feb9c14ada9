"""Invoice and credit note PDFs: an HTML template rendered by WeasyPrint, stored through Django's default
storage with its SHA-256 recorded. `invoice_html` / `credit_note_html` give the printable HTML; money,
quantities and dates in it are laid out for the tenant's locale (common.money_format), and the period,
issue and due dates are the tenant's local calendar days."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import F, Func, JSONField, QuerySet, Value
from django.template.loader import render_to_string

from common.money_format import DocumentFormat
from common.periods import zone_or_utc
from ledger.models import CreditConsumption, CreditNote, CreditNoteLine, Invoice, InvoiceLine, TaxBreakdown

# What the template reads, fetched as plain rows (no model instances; the correction's invoice number
# joined in the same query rather than one query per correction line).
_LINE_FIELDS = (
    "id",  # the portal links each line to its drill-down and its dispute
    "kind",
    "description",
    "quantity",
    "unit_label",
    "unit_price",
    "amount",
    "discount_code",
    "corrects_period",
    "tax_category",
    "tax_rate",
    "billed_before",
    "repriced",
)
# Only the rows the document prints (tiers, packages), filtered in the database: a percentage line's
# breakdown holds one row per event (thousands), which would otherwise be read and decoded per view.
_PRINTED_BREAKDOWN = Func(
    F("breakdown"),
    Value('$[*] ? (@.kind == "tier" || @.kind == "carried" || @.kind == "packages")'),
    function="jsonb_path_query_array",
    output_field=JSONField(),
)
_NOTE_LINE_FIELDS = (
    "description",
    "quantity",
    "unit_label",
    "amount",
    "tax_amount",
    "tax_category",
    "tax_rate",
    "billed_before",
    "repriced",
)
_BREAKDOWN_FIELDS = ("category", "rate", "taxable_amount", "tax_amount", "exemption_reason", "exemption_code")
_CHARGE_KINDS = frozenset({"usage", "flat", "minimum"})
_TIER_KINDS = frozenset({"tier", "carried"})
# UNCL 5305 tax categories as a reader knows them.
TAX_CATEGORY_LABELS = {
    "S": "Standard rate",
    "Z": "Zero rated",
    "E": "Exempt",
    "AE": "Reverse charge",
    "O": "Not subject to VAT",
    "K": "Intra-community supply",
    "G": "Export outside the EU",
}


def _shown(line: dict[str, Any]) -> bool:
    """The zero-line rule (docs/invoicing.md, "The document"): a line of amount zero is printed only when
    it carries a non-zero quantity (usage inside free units or a free tier: the reader sees it was
    counted); a zero discount, flat fee, minimum or correction without a quantity change is not printed.
    Zero lines change no sum, so the printed lines still add up to the totals."""
    if line["amount"] != 0:
        return True
    quantity = line.get("quantity")
    return quantity is not None and quantity != 0


def _decimal(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _sub_rows(breakdown: Any) -> list[dict[str, Any]]:
    """The tier rows of a tiered line's pricing breakdown (billing/pricing/results.py `TierRow.as_dict`),
    with their numbers as Decimals; tiers the quantity did not reach (no units, no flat fee) are left
    out. Package rows say how many packages were started. Per-unit and per-event rows print nothing:
    the line's quantity and unit price already say it (a percentage line can have thousands of events)."""
    rows: list[dict[str, Any]] = []
    for raw in breakdown if isinstance(breakdown, list) else []:
        if not isinstance(raw, dict):
            continue
        kind = raw.get("kind")
        if kind in _TIER_KINDS:
            units = _decimal(raw.get("units")) or Decimal(0)
            flat = _decimal(raw.get("flat_amount", raw.get("flat"))) or Decimal(0)
            amount = _decimal(raw.get("amount")) or Decimal(0)
            if kind == "tier" and units == 0 and flat == 0 and amount == 0:
                continue
            rows.append(
                {
                    "kind": kind,
                    "lower": _decimal(raw.get("lower")) or Decimal(0),
                    "up_to": _decimal(raw.get("up_to")),
                    "units": units,
                    "unit_amount": _decimal(raw.get("unit_amount")),
                    "rate": _decimal(raw.get("rate")),
                    "flat": flat,
                    "amount": amount,
                }
            )
        elif kind == "packages":
            rows.append(
                {
                    "kind": kind,
                    "packages": _decimal(raw.get("packages")) or Decimal(0),
                    "package_size": _decimal(raw.get("package_size")) or Decimal(0),
                    "package_amount": _decimal(raw.get("package_amount")) or Decimal(0),
                    "free_units": _decimal(raw.get("free_units")) or Decimal(0),
                }
            )
    return rows


def _with_unit_price(line: dict[str, Any]) -> dict[str, Any]:
    """`shown_unit_price`: the line's unit price, or for a line priced by tiers, packages or a percentage
    (no single unit price) the effective one, amount / quantity (`unit_price_is_average`); with no
    quantity to divide by, `see_tiers` when the breakdown has tier rows."""
    line["sub_rows"] = _sub_rows(line.pop("printed_breakdown", line.pop("breakdown", None)))
    line["shown_unit_price"] = line["unit_price"]
    line["unit_price_is_average"] = False
    line["see_tiers"] = False
    if line["unit_price"] is None and line["kind"] != "discount":
        quantity = line["quantity"]
        if quantity is not None and quantity > 0:
            line["shown_unit_price"] = line["amount"] / quantity
            line["unit_price_is_average"] = True
        elif any(row["kind"] in _TIER_KINDS for row in line["sub_rows"]):
            line["see_tiers"] = True
    return line


def _local_day(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def _period_days(invoice: Invoice, tz: ZoneInfo) -> tuple[date, date]:
    """The period as the tenant's local calendar days, both inclusive: stored when the invoice was
    computed, else derived from the instants (the end is exclusive: its previous instant's day)."""
    if invoice.period_first_day is not None and invoice.period_last_day is not None:
        return invoice.period_first_day, invoice.period_last_day
    first = _local_day(invoice.period_start, tz)
    last = _local_day(invoice.period_end - timedelta(microseconds=1), tz)
    return first, last


def payment_terms_text(days: int | None) -> str:
    if days is None:
        return ""
    return "Due on receipt" if days == 0 else f"Net {days} days"


def _lines_of(text: str) -> list[str]:
    return [part.strip() for part in text.splitlines() if part.strip()]


def _issuer(invoice_seller_vat_id: str) -> dict[str, Any]:
    issuer: dict[str, Any] = dict(getattr(settings, "INVOICE_ISSUER", {}))
    issuer.setdefault("country", "DE")
    issuer["vat_id"] = invoice_seller_vat_id or issuer.get("vat_id", "")
    issuer["address_lines"] = _lines_of(str(issuer.get("address", "")))
    return issuer


def _fallback_breakdown(
    *, subtotal: Decimal, tax_total: Decimal, rate: Decimal | None, inclusive: bool
) -> list[dict[str, Any]]:
    """One VAT row for a document computed before breakdown rows were stored: its single rate."""
    taxable = subtotal - tax_total if inclusive else subtotal
    category = "S" if rate else "Z"
    return [
        {
            "category": category,
            "rate": rate or Decimal(0),
            "taxable_amount": taxable,
            "tax_amount": tax_total,
            "exemption_reason": "",
            "exemption_code": "",
        }
    ]


def _breakdown(
    rows: QuerySet[TaxBreakdown], *, subtotal: Decimal, tax_total: Decimal, invoice: Invoice
) -> list[dict[str, Any]]:
    """A document's VAT rows as the template reads them (one query): its stored breakdown, else the
    one row of its stored totals at the rate and tax mode of `invoice` (the document or the invoice a
    credit note corrects)."""
    breakdown = list(rows.order_by("category", "-rate").values(*_BREAKDOWN_FIELDS))
    if not breakdown:
        breakdown = _fallback_breakdown(
            subtotal=subtotal,
            tax_total=tax_total,
            rate=invoice.tax_rate,
            inclusive=invoice.tax_mode == Invoice.TaxMode.INCLUSIVE,
        )
    return breakdown


def _labelled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["category_label"] = TAX_CATEGORY_LABELS.get(row["category"], row["category"])
    return rows


def _corrections_by_invoice(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Correction lines grouped per corrected invoice, in the order they first appear."""
    groups: dict[Any, dict[str, Any]] = {}
    for line in lines:
        key = line.get("corrects_invoice_number") or line["corrects_period"]
        group = groups.setdefault(
            key,
            {
                "invoice_number": line.get("corrects_invoice_number") or "",
                "invoice_id": line.get("corrects_invoice_id"),
                "period": line["corrects_period"],
                "issue_date": line.get("corrects_invoice_issue_date"),
                "lines": [],
                "total": Decimal(0),
            },
        )
        group["lines"].append(line)
        group["total"] += line["amount"]
    return list(groups.values())


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    """Four queries (lines, VAT breakdown, credit uses, credit notes) besides the invoice and its
    tenant. Every figure the template prints is a stored one or a sum of printed ones."""
    tenant = invoice.tenant
    tz = zone_or_utc(tenant.timezone)
    lines = [
        _with_unit_price(line)
        for line in InvoiceLine.objects.filter(invoice_id=invoice.pk)
        .order_by("position")
        .values(
            *_LINE_FIELDS,
            "corrects_invoice_id",
            printed_breakdown=_PRINTED_BREAKDOWN,
            corrects_invoice_number=F("corrects_invoice__number"),
            corrects_invoice_issue_date=F("corrects_invoice__issue_date"),
        )
    ]
    shown = [line for line in lines if _shown(line)]
    breakdown = _breakdown(
        TaxBreakdown.objects.filter(invoice_id=invoice.pk),
        subtotal=invoice.subtotal,
        tax_total=invoice.tax_total,
        invoice=invoice,
    )
    consumptions = list(
        CreditConsumption.objects.filter(invoice_id=invoice.pk)
        .order_by("id")
        .values("amount", grant_reason=F("grant__reason"))
    )
    credit_notes = list(
        CreditNote.objects.filter(invoice_id=invoice.pk)
        .order_by("id")
        .values("id", "kind", "number", "total", "currency", "created_at")
    )
    first_day, last_day = _period_days(invoice, tz)
    issue_date = invoice.issue_date
    if issue_date is None and invoice.finalized_at is not None:
        issue_date = _local_day(invoice.finalized_at, tz)
    terms = (
        invoice.payment_terms_days if invoice.payment_terms_days is not None else tenant.payment_terms_days
    )
    due_date = invoice.due_date
    if due_date is None and issue_date is not None and terms is not None:
        due_date = issue_date + timedelta(days=terms)
    issued = invoice.is_issued
    corrections = [line for line in shown if line["kind"] == "correction"]
    return {
        "invoice": invoice,
        "tenant": tenant,
        "fmt": DocumentFormat(invoice.currency, tenant.locale),
        "base_fmt": DocumentFormat(invoice.base_currency or invoice.currency, tenant.locale),
        "issuer": _issuer(invoice.seller_vat_id),
        "customer": {
            "name": tenant.name,
            "slug": tenant.slug,
            "address_lines": _lines_of(tenant.address),
            "country": invoice.buyer_country or tenant.country,
            # An issued invoice prints the VAT ID it was issued with; a preview the tenant's current one.
            "vat_id": invoice.buyer_vat_id if issued else (invoice.buyer_vat_id or tenant.vat_id),
        },
        "period_first_day": first_day,
        "period_last_day": last_day,
        "issue_date": issue_date,
        "due_date": due_date,
        "payment_terms": payment_terms_text(terms),
        "charges": [line for line in shown if line["kind"] in _CHARGE_KINDS],
        "discounts": [line for line in shown if line["kind"] == "discount"],
        "corrections": corrections,
        "correction_groups": _corrections_by_invoice(corrections),
        "vat_breakdown": _labelled(breakdown),
        "net_total": sum((row["taxable_amount"] for row in breakdown), Decimal(0)),
        "vat_total": sum((row["tax_amount"] for row in breakdown), Decimal(0)),
        "show_line_vat": len(breakdown) > 1,
        "credits": consumptions,
        "credit_notes": credit_notes,
    }


# Glyphs the document font (DejaVu Sans, the one font `make install` guarantees) lacks, replaced by the
# same symbol it has: CLDR's Japanese currency sign is the full-width yen (U+FFE5), which would print as
# an empty box.
_FONT_SAFE = str.maketrans({"\uffe5": "\u00a5"})


def invoice_html(invoice: Invoice) -> str:
    return render_to_string("ledger/invoice.html", invoice_context(invoice)).translate(_FONT_SAFE)


def _with_difference(line: dict[str, Any]) -> dict[str, Any]:
    """A credit note line's difference: re-priced less billed before where both are known (a
    correction), else the credited amount as a decrease."""
    if line["billed_before"] is not None and line["repriced"] is not None:
        line["difference"] = line["repriced"] - line["billed_before"]
    else:
        line["difference"] = -line["amount"]
    return line


def credit_note_context(note: CreditNote) -> dict[str, Any]:
    """Two queries (lines, VAT breakdown) besides the note, its invoice and its tenant (one query when
    the caller fetched them with select_related)."""
    invoice = note.invoice
    tenant = note.tenant
    tz = zone_or_utc(tenant.timezone)
    lines = list(
        CreditNoteLine.objects.filter(credit_note_id=note.pk).order_by("id").values(*_NOTE_LINE_FIELDS)
    )
    breakdown = _breakdown(
        TaxBreakdown.objects.filter(credit_note_id=note.pk),
        subtotal=note.subtotal,
        tax_total=note.tax_total,
        invoice=invoice,
    )
    invoice_issue_date = invoice.issue_date
    if invoice_issue_date is None and invoice.finalized_at is not None:
        invoice_issue_date = _local_day(invoice.finalized_at, tz)
    first_day, last_day = _period_days(invoice, tz)
    return {
        "note": note,
        "invoice": invoice,
        "tenant": tenant,
        "fmt": DocumentFormat(note.currency, tenant.locale),
        "issuer": _issuer(invoice.seller_vat_id),
        "customer": {
            "name": tenant.name,
            "slug": tenant.slug,
            "address_lines": _lines_of(tenant.address),
            "country": invoice.buyer_country or tenant.country,
            "vat_id": invoice.buyer_vat_id,
        },
        "issue_date": _local_day(note.created_at, tz),
        "invoice_issue_date": invoice_issue_date,
        "period_first_day": first_day,
        "period_last_day": last_day,
        "is_correction": note.kind == CreditNote.Kind.CORRECTION
        or any(line["billed_before"] is not None for line in lines),
        "lines": [_with_difference(line) for line in lines if _shown(line)],
        "vat_breakdown": _labelled(breakdown),
        "net_total": sum((row["taxable_amount"] for row in breakdown), Decimal(0)),
        "vat_total": sum((row["tax_amount"] for row in breakdown), Decimal(0)),
        "show_line_vat": len(breakdown) > 1,
    }


def credit_note_html(note: CreditNote) -> str:
    """The credit note's printable HTML (what html_to_pdf renders and the Factur-X writer embeds)."""
    return render_to_string("ledger/credit_note.html", credit_note_context(note)).translate(_FONT_SAFE)


def html_to_pdf(html: str) -> bytes:
    """WeasyPrint's render, in a short-lived thread of its own. CPython 3.11 grows each thread's frame
    stack in 16 KB chunks and unmaps a chunk as soon as the frame at its start returns, so a deep,
    oscillating recursion like WeasyPrint's layout pays an mmap/munmap pair (and page faults) every time
    it crosses a chunk boundary; how often depends on the stack depth the render starts at. Called from
    inside Celery's task tracer that was ~355 pairs per invoice against ~84 at a shallow depth, ~5 ms of a
    ~100 ms render (docs/performance.md, PDF). A new thread's stack starts empty, so the render always
    starts at the same shallow depth whoever calls it."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdf-render") as pool:
        return pool.submit(_render, html).result()


def _render(html: str) -> bytes:
    from weasyprint import HTML

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
