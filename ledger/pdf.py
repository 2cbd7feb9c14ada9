"""Invoice PDFs: an HTML template rendered by WeasyPrint, stored through Django's default storage with
its SHA-256 recorded on the invoice."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from ledger.models import Invoice


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    lines = list(invoice.lines.all())
    consumptions = list(invoice.credit_consumptions.select_related("grant").all())
    return {
        "invoice": invoice,
        "tenant": invoice.tenant,
        "issuer": getattr(settings, "INVOICE_ISSUER", {}),
        "charges": [line for line in lines if line.kind in ("usage", "flat", "minimum")],
        "discounts": [line for line in lines if line.kind == "discount"],
        "corrections": [line for line in lines if line.kind == "correction"],
        "credits": consumptions,
        "credit_notes": list(invoice.credit_notes.all()),
    }


def invoice_html(invoice: Invoice) -> str:
    return render_to_string("ledger/invoice.html", invoice_context(invoice))


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
