"""Invoice PDFs: an HTML template rendered by WeasyPrint, stored through Django's default storage with
its SHA-256 recorded on the invoice."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db.models import F
from django.template.loader import render_to_string

from ledger.models import CreditConsumption, CreditNote, Invoice, InvoiceLine

# What the template reads, fetched as plain rows (no model instances; the correction's invoice number
# joined in the same query rather than one query per correction line).
_LINE_FIELDS = (
    "kind",
    "description",
    "quantity",
    "unit_label",
    "unit_price",
    "amount",
    "discount_code",
    "segment_start",
    "segment_end",
    "corrects_period",
)
_CHARGE_KINDS = frozenset({"usage", "flat", "minimum"})


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    """Three queries (lines, credit uses, credit notes) besides the invoice and its tenant."""
    lines = list(
        InvoiceLine.objects.filter(invoice_id=invoice.pk)
        .order_by("position")
        .values(*_LINE_FIELDS, corrects_invoice_number=F("corrects_invoice__number"))
    )
    consumptions = list(
        CreditConsumption.objects.filter(invoice_id=invoice.pk)
        .order_by("id")
        .values("amount", grant_reason=F("grant__reason"))
    )
    credit_notes = list(
        CreditNote.objects.filter(invoice_id=invoice.pk).order_by("id").values("number", "total", "currency")
    )
    return {
        "invoice": invoice,
        "tenant": invoice.tenant,
        "issuer": getattr(settings, "INVOICE_ISSUER", {}),
        "charges": [line for line in lines if line["kind"] in _CHARGE_KINDS],
        "discounts": [line for line in lines if line["kind"] == "discount"],
        "corrections": [line for line in lines if line["kind"] == "correction"],
        "credits": consumptions,
        "credit_notes": credit_notes,
    }


def invoice_html(invoice: Invoice) -> str:
    return render_to_string("ledger/invoice.html", invoice_context(invoice))


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
