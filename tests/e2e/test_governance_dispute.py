"""A dispute resolved with a partial credit note, in a real browser, on a small seeded demo (seed_demo,
a few events a day, the demo story and the close, as `make demo` builds it): a customer opens a dispute on
a whole invoice; a finance approver finds it in the disputes queue (with its timers), opens it and accepts
it in part, crediting 10.00 on one chosen line; the customer sees "Accepted in part" with the credit note
and downloads its PDF (the stored document's bytes). Then finance's quarantine triage: acme's event sent
without its required project tag is re-attributed to acme's project from its group.
Every page is screenshotted to var/screenshots/ and checked with axe-core under the real
Content-Security-Policy."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from django.urls import reverse

from billing.demo import DEMO_PASSWORD
from billing.usage.models import UsageEvent
from common.money import quantize_money
from ledger.models import CreditNoteDocument, Dispute, Invoice, InvoiceLine
from ledger.verify import ledger_verify
from tenants.models import Project
from tests.e2e.conftest import Pages, sha256, sign_in
from tests.e2e.test_customer_flow import download, seed_demo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CUSTOMER = "acme-admin"
FINANCE = "finance"


def heading(page: Any) -> str:
    locator = page.get_by_role("heading", level=1)
    locator.wait_for()
    return str(locator.inner_text())


def test_a_dispute_is_resolved_with_a_partial_credit_note_from_the_queue(pages: Pages):
    invoice = seed_demo()
    line = invoice.lines.filter(kind=InvoiceLine.Kind.USAGE, amount__gt=10).order_by("position").first()
    assert line is not None
    customer = pages.context().new_page()

    # the customer opens a dispute on the whole invoice
    sign_in(customer, CUSTOMER, DEMO_PASSWORD)
    customer.goto(reverse("portal:dispute-open", kwargs={"invoice_id": invoice.pk}))
    customer.get_by_label("Reason").select_option("wrong_quantity")
    customer.get_by_label("What is wrong").fill(
        "Part of this usage was a test run on our side, part was not."
    )
    customer.get_by_role("button", name="Open the dispute").click()
    heading(customer)
    dispute = Dispute.objects.get(invoice=invoice, line__isnull=True)
    assert dispute.status == Dispute.Status.OPEN

    # finance finds it in the queue, with its timers, and opens it
    finance = pages.context().new_page()
    sign_in(finance, FINANCE, DEMO_PASSWORD)
    finance.goto("/portal/finance/")
    finance.get_by_role("link", name="Disputes").click()
    assert heading(finance) == "Disputes queue"
    row = finance.get_by_role("row", name=re.compile(rf"Dispute #{dispute.pk}\b"))
    assert re.search(r"\bOpen\b.*\b\d+ min\b", row.inner_text(), re.S), row.inner_text()
    pages.check(finance, "finance-disputes-queue")
    finance.get_by_role("link", name=f"Dispute #{dispute.pk}", exact=True).click()
    assert heading(finance).startswith(f"Dispute #{dispute.pk}: ")
    pages.check(finance, "finance-dispute-decide")

    # and accepts it in part: 10.00 on one chosen line
    finance.get_by_label(f"Credit on line {line.position}", exact=True).fill("10.00")
    finance.get_by_label("Note for the customer (lines)").fill(
        "The test run is ours to credit; the rest stands."
    )
    finance.get_by_role("button", name="Accept these lines").click()
    finance.get_by_text(re.compile(r"Accepted in part: credit note \S+ of .+ issued\.")).first.wait_for()
    pages.check(finance, "finance-dispute-decided")
    dispute.refresh_from_db()
    note = dispute.credit_note
    assert note is not None
    assert dispute.status == Dispute.Status.RESOLVED
    rate = line.tax_rate if line.tax_rate is not None else (invoice.tax_rate or Decimal(0))
    tax = quantize_money(Decimal("10.00") * rate / 100, invoice.currency, rounding=ROUND_HALF_UP)
    inclusive = invoice.tax_mode == Invoice.TaxMode.INCLUSIVE
    assert (note.subtotal, note.total) == (Decimal("10.00"), Decimal("10.00") if inclusive else 10 + tax)
    assert list(note.lines.values_list("invoice_line_id", "amount")) == [(line.pk, Decimal("10.00"))]
    assert ledger_verify().message.startswith("OK ")

    # the customer sees the outcome and downloads the credit note
    customer.reload()
    assert "Accepted in part:" in customer.get_by_role("main").inner_text()
    pages.check(customer, "dispute-detail-partial")
    stored = CreditNoteDocument.objects.filter(credit_note=note).order_by("-version").first()
    assert stored is not None
    credit_pdf = download(
        customer, customer.get_by_role("link", name=f"Download credit note {note.number} (PDF)")
    )
    assert credit_pdf.startswith(b"%PDF-")
    assert sha256(credit_pdf) == stored.pdf_sha256

    # finance's quarantine triage: acme's event without its required project tag, given its project
    finance.get_by_role("link", name="Quarantine").click()
    assert heading(finance) == "Quarantine triage"
    pages.check(finance, "finance-quarantine")
    untagged = UsageEvent.objects.get(event_id="demo-acme-untagged", status=UsageEvent.Status.QUARANTINED)
    project = Project.objects.filter(tenant__slug="acme").order_by("pk").first()
    assert project is not None
    finance.locator(
        f'a[href*="reason={untagged.quarantine_reason}"][href*="tenant_slug=acme&"]'
        f'[href$="sku_code={untagged.sku_code}"]'
    ).click()
    assert heading(finance) == "Quarantine triage"
    pages.check(finance, "finance-quarantine-group")
    finance.get_by_label("Customer (slug)").fill("acme")
    finance.get_by_label("Project code").fill(project.code)
    finance.get_by_role("button", name="Re-attribute").click()
    finance.get_by_text(f"Re-attributed 1 event(s) to customer acme, project {project.code}").wait_for()
    untagged.refresh_from_db()
    assert (untagged.status, untagged.project_id) == (UsageEvent.Status.ACCEPTED, project.pk)

    assert pages.problems == [], "\n\n".join(pages.problems)
