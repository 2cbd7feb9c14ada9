"""Finance's minimal side of disputes: the "Resolve" form on the portal's detail page and the admin's
change page (take under review, reject with a reason, resolve with a credit note on the line or the whole
invoice), both calling the services; the loop from a customer's dispute to its credit note download."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from ledger.models import CreditNote, CreditNoteDocument, Dispute
from ledger.services.disputes import dispute_open
from tenants.models import Role
from tests.factories import finance_user
from tests.factories.documents import persona_invoice
from tests.personas import Persona

pytestmark = pytest.mark.django_db


def _dispute(persona: Persona, *, on_line: bool = True) -> Dispute:
    assert persona.tenant is not None
    invoice = persona_invoice(persona)
    return dispute_open(
        tenant=persona.tenant,
        invoice=invoice,
        line=invoice.lines.get(position=1) if on_line else None,
        reason="wrong_quantity",
        message="We made 500000 requests.",
        user=persona.user,
    )


def _as_finance_of(finance: Persona, customer: Persona) -> Client:
    assert customer.tenant is not None
    finance.client.post("/portal/switch/", {"tenant": customer.tenant.pk})
    return finance.client


def _decide(client: Client, dispute: Dispute, **data: str) -> Any:
    return client.post(reverse("portal:dispute-decide", kwargs={"dispute_id": dispute.pk}), data, follow=True)


# The portal's Resolve form


def test_finance_sees_the_resolve_form_on_an_open_dispute(alice: Persona, finance_approver: Persona):
    dispute = _dispute(alice)
    body = _as_finance_of(finance_approver, alice).get(f"/portal/disputes/{dispute.pk}/").content.decode()
    assert "<h2>Resolve (finance)</h2>" in body
    assert "Take under review" in body
    assert '<label for="decide-amount">Credit note amount, before tax (EUR), on line 1</label>' in body


def test_a_finance_viewer_sees_no_resolve_form(alice: Persona):
    viewer = Client()
    viewer.force_login(finance_user(Role.FINANCE_VIEWER, username="viewer"))
    dispute = _dispute(alice)
    assert alice.tenant is not None
    viewer.post("/portal/switch/", {"tenant": alice.tenant.pk})
    body = viewer.get(f"/portal/disputes/{dispute.pk}/").content.decode()
    assert "Resolve (finance)" not in body
    assert viewer.post(f"/portal/disputes/{dispute.pk}/decide/", {"action": "review"}).status_code == 403


def test_finance_takes_it_under_review_in_the_portal(alice: Persona, finance_approver: Persona):
    dispute = _dispute(alice)
    response = _decide(_as_finance_of(finance_approver, alice), dispute, action="review")
    dispute.refresh_from_db()
    assert dispute.status == "under_review"
    assert "Taken under review." in response.content.decode()


def test_finance_rejects_with_a_reason_in_the_portal(alice: Persona, finance_approver: Persona):
    dispute = _dispute(alice)
    _decide(_as_finance_of(finance_approver, alice), dispute, action="reject", reason="Correct as billed.")
    dispute.refresh_from_db()
    assert (dispute.status, dispute.outcome) == ("rejected", "Correct as billed.")


def test_a_rejection_without_a_reason_is_refused_in_the_portal(alice: Persona, finance_approver: Persona):
    dispute = _dispute(alice)
    response = _decide(_as_finance_of(finance_approver, alice), dispute, action="reject", reason="")
    dispute.refresh_from_db()
    assert dispute.status == "open"
    assert "A rejection needs a reason." in response.content.decode()


def test_a_credit_beyond_the_line_is_refused_in_the_portal(alice: Persona, finance_approver: Persona):
    dispute = _dispute(alice)
    response = _decide(
        _as_finance_of(finance_approver, alice), dispute, action="resolve", amount="1234.51", note="all"
    )
    dispute.refresh_from_db()
    assert (dispute.status, CreditNote.objects.count()) == ("open", 0)
    assert "more than was invoiced less earlier credit notes" in response.content.decode()


def test_the_loop_finance_resolves_and_the_customer_downloads_the_credit_note(
    alice: Persona, finance_approver: Persona, media: Path
):
    dispute = _dispute(alice)
    # finance resolves it in the portal with a credit note of 200.00 on the line
    _decide(
        _as_finance_of(finance_approver, alice), dispute, action="resolve", amount="200.00", note="Retries."
    )
    dispute.refresh_from_db()
    note = dispute.credit_note
    assert note is not None
    assert (dispute.status, note.subtotal, note.tax_total, note.total) == (
        "resolved",
        Decimal("200.00"),
        Decimal("38.00"),
        Decimal("238.00"),
    )
    # rendered as the credit note render task records it
    pdf = b"%PDF-1.7 credit note"
    CreditNoteDocument.objects.create(
        credit_note=note,
        version=1,
        pdf_file=default_storage.save(f"credit-notes/{note.pk}.pdf", ContentFile(pdf)),
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        xml_file=default_storage.save(f"credit-notes/{note.pk}.xml", ContentFile(b"<xml/>")),
        xml_sha256=hashlib.sha256(b"<xml/>").hexdigest(),
        rendered_at=datetime(2026, 12, 21, tzinfo=UTC),
    )
    # the customer sees the outcome and downloads it
    body = alice.client.get(f"/portal/disputes/{dispute.pk}/").content.decode()
    url = reverse("portal:credit-note-document", kwargs={"credit_note_id": note.pk, "kind": "pdf"})
    assert f"with credit note {note.number} of €238.00 (€200.00 before tax)" in body
    assert "Retries." in body
    download = alice.client.get(url)
    assert (download.status_code, download.content) == (200, pdf)


# The admin's change page


def test_the_admin_lists_disputes_for_finance(alice: Persona, finance_approver: Persona):
    dispute = _dispute(alice)
    body = finance_approver.client.get("/admin/ledger/dispute/").content.decode()
    assert f"dispute {dispute.pk} on {dispute.invoice_id}: open" in body


def test_the_admin_change_page_offers_the_three_decisions(alice: Persona, finance_approver: Persona):
    dispute = _dispute(alice)
    body = finance_approver.client.get(f"/admin/ledger/dispute/{dispute.pk}/change/").content.decode()
    assert 'value="Take under review"' in body
    assert 'value="Reject"' in body
    assert 'value="Resolve with a credit note"' in body
    assert '<option value="line" selected>line 1: API requests (1234.5000)</option>' in body
    assert "We made 500000 requests." in body  # the timeline inline


def test_the_admin_resolves_on_the_whole_invoice(alice: Persona, finance_approver: Persona):
    dispute = _dispute(alice)
    url = reverse("admin:ledger_dispute_decide", args=[dispute.pk])
    response = finance_approver.client.post(
        url, {"action": "resolve", "amount": "1333.50", "on": "invoice", "note": "cancelled"}
    )
    dispute.refresh_from_db()
    assert response.status_code == 302
    assert dispute.credit_note is not None
    # everything left: 1333.50 + 253.37
    assert (dispute.status, dispute.credit_note.total) == ("resolved", Decimal("1586.87"))


def test_the_admin_takes_under_review_and_rejects(alice: Persona, finance_approver: Persona):
    dispute = _dispute(alice)
    url = reverse("admin:ledger_dispute_decide", args=[dispute.pk])
    finance_approver.client.post(url, {"action": "review"})
    finance_approver.client.post(url, {"action": "reject", "reason": "As agreed in the contract."})
    assert list(dispute.events.values_list("kind", flat=True)) == ["opened", "under_review", "rejected"]


def test_the_admin_decision_is_refused_to_a_finance_viewer(alice: Persona):
    viewer = Client()
    viewer.force_login(finance_user(Role.FINANCE_VIEWER, username="viewer"))
    dispute = _dispute(alice)
    response = viewer.post(reverse("admin:ledger_dispute_decide", args=[dispute.pk]), {"action": "review"})
    assert response.status_code == 403
    assert Dispute.objects.get(pk=dispute.pk).status == "open"


def test_the_admin_decision_is_post_only(alice: Persona, finance_approver: Persona):
    dispute = _dispute(alice)
    response = finance_approver.client.get(reverse("admin:ledger_dispute_decide", args=[dispute.pk]))
    assert response.status_code == 405


def test_a_customer_never_reaches_the_admin_decision(alice: Persona):
    dispute = _dispute(alice)
    response = alice.client.post(
        reverse("admin:ledger_dispute_decide", args=[dispute.pk]), {"action": "review"}
    )
    assert (response.status_code, response["Location"].split("?")[0]) == (302, "/admin/login/")
    assert Dispute.objects.get(pk=dispute.pk).status == "open"
