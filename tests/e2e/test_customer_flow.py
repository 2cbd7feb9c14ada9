"""The customer's loop in a real browser, on a small seeded demo (seed_demo, a few events a day, the demo
story and the close, as `make demo` builds it): a customer signs in, opens an invoice and drills into a
line, downloads the PDF (its bytes are the stored document's), opens a dispute on the line; finance
resolves it with a credit note; the customer sees the outcome and downloads the credit note. On the way
every portal page is visited once, screenshotted to var/screenshots/ and checked with axe-core (no serious
or critical violation), under the real Content-Security-Policy (no violation)."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.urls import reverse

from billing.demo import DEMO_PASSWORD
from ledger.models import CreditNoteDocument, Dispute, Invoice, InvoiceLine
from ledger.services.documents import invoice_render_pdf
from tests.e2e.conftest import Pages, sha256, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CUSTOMER = "acme-admin"
FINANCE = "finance"


def seed_demo() -> Invoice:
    """The demo, small: three events per SKU and day. Invoice PDFs are rendered for the one invoice the
    test opens (rendering all of them would cost the run seconds it has no use for)."""
    with override_settings(INVOICE_PDF_ON_FINALIZE=False):
        call_command("seed_demo", stdout=StringIO())
        call_command("demo_usage", "--events-per-day", "3", stdout=StringIO(), stderr=StringIO())
        call_command("demo_story", stdout=StringIO())
        try:
            call_command("close_period", "--no-progress", stdout=StringIO())
        except CommandError as err:  # exit 1 only flags a blocked invoice, as `make demo` allows
            if err.returncode != 1:
                raise
    invoice = (
        Invoice.objects.filter(tenant__slug="acme", status=Invoice.Status.FINALIZED, lines__kind="usage")
        .order_by("-period_start")
        .distinct()
        .first()
    )
    assert invoice is not None
    invoice_render_pdf(invoice_id=invoice.pk)
    invoice.refresh_from_db()
    assert invoice.pdf_sha256
    return invoice


def download(page: Any, link: Any) -> bytes:
    with page.expect_download() as info:
        link.click()
    path = info.value.path()
    with open(path, "rb") as handle:
        return handle.read()


def test_a_customer_disputes_a_line_and_finance_resolves_it_with_a_credit_note(pages: Pages):
    invoice = seed_demo()
    line = invoice.lines.filter(kind=InvoiceLine.Kind.USAGE).order_by("-amount", "position").first()
    assert line is not None
    assert line.amount > 10  # finance credits 10.00 of it below
    customer = pages.context().new_page()

    # a customer signs in: the invoices list
    sign_in(customer, CUSTOMER, DEMO_PASSWORD)
    assert customer.url.endswith("/portal/invoices/")
    pages.check(customer, "invoices")

    # opens an invoice and drills into a line
    customer.get_by_role("link", name=invoice.number, exact=True).click()
    customer.get_by_role("heading", level=1).wait_for()
    assert f"Invoice {invoice.number}" in customer.get_by_role("heading", level=1).inner_text()
    pages.check(customer, "invoice-detail")
    invoice_url = customer.url
    line_url = reverse("portal:invoice-line", kwargs={"invoice_id": invoice.pk, "line_id": line.pk})
    customer.locator(f'a[href="{line_url}"]').click()
    assert customer.get_by_role("heading", level=1).inner_text() == line.description
    pages.check(customer, "invoice-line")

    # downloads the PDF: the bytes are the stored document's
    customer.goto(invoice_url)
    pdf = download(customer, customer.get_by_role("link", name="Download the PDF"))
    assert pdf.startswith(b"%PDF-")
    assert sha256(pdf) == invoice.pdf_sha256

    # opens a dispute on the line, with a small text attachment
    open_url = reverse("portal:dispute-open-line", kwargs={"invoice_id": invoice.pk, "line_id": line.pk})
    customer.locator(f'a[href="{open_url}"]').click()
    pages.check(customer, "dispute-open")
    customer.get_by_label("Reason").select_option("wrong_quantity")
    customer.get_by_label("What is wrong").fill("We ran three jobs that day, not thirty.")
    customer.get_by_label("Attachment (optional)").set_input_files(
        files=[{"name": "jobs.txt", "mimeType": "text/plain", "buffer": b"job-1\njob-2\njob-3\n"}]
    )
    customer.get_by_role("button", name="Open the dispute").click()
    customer.get_by_role("heading", level=1).wait_for()
    dispute = Dispute.objects.get(invoice=invoice, line=line)
    assert dispute.status == Dispute.Status.OPEN
    assert re.search(rf"/portal/disputes/{dispute.pk}/$", customer.url)
    pages.check(customer, "dispute-detail-open")

    # finance resolves it with a credit note (another browser context: another person)
    finance = pages.context().new_page()
    sign_in(finance, FINANCE, DEMO_PASSWORD)
    finance.get_by_label("Customer").select_option(label=invoice.tenant.name)
    finance.get_by_role("button", name="Switch").click()
    finance.goto("/portal/disputes/")
    pages.check(finance, "finance-disputes")
    finance.get_by_role("link", name=f"Dispute #{dispute.pk}", exact=True).click()
    pages.check(finance, "finance-dispute-detail")
    finance.get_by_label(re.compile(r"^Credit note amount")).fill("10.00")
    finance.get_by_label("Note for the customer").fill("Agreed: the retry storm was ours.")
    finance.get_by_role("button", name="Resolve with a credit note").click()
    finance.get_by_text("Resolved with a credit note.").first.wait_for()
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.RESOLVED
    assert dispute.credit_note is not None
    note = dispute.credit_note

    # the customer sees the outcome and downloads the credit note
    customer.reload()
    pages.check(customer, "dispute-detail-resolved")
    stored = CreditNoteDocument.objects.filter(credit_note=note).order_by("-version").first()
    assert stored is not None
    credit_pdf = download(
        customer, customer.get_by_role("link", name=f"Download credit note {note.number} (PDF)")
    )
    assert credit_pdf.startswith(b"%PDF-")
    assert sha256(credit_pdf) == stored.pdf_sha256
    customer.goto("/portal/disputes/")
    pages.check(customer, "disputes")
    customer.goto(invoice_url)
    assert customer.get_by_text(note.number).count() >= 1  # the credit note is listed on the invoice

    # the rest of the portal: usage, its history, sessions; and the invoice shared by a link
    for name, path in [("usage", "/portal/usage/"), ("usage-history", "/portal/usage/history/")]:
        customer.goto(path)
        pages.check(customer, name)
    customer.goto("/portal/sessions/")
    pages.check(customer, "sessions")
    customer.goto(invoice_url)
    customer.get_by_role("button", name="Create a share link").click()
    share_url = customer.get_by_label("Share link").input_value()
    visitor = pages.context().new_page()
    visitor.goto(share_url)
    assert invoice.number in visitor.get_by_role("heading", level=1).inner_text()
    pages.check(visitor, "shared-invoice")
    visitor.goto("/portal/login/")
    pages.check(visitor, "login")

    assert pages.problems == [], "\n\n".join(pages.problems)
