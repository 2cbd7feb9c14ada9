"""The portal's disputes pages for customers: open on a line or the whole invoice (with an attachment
checked by content), list, detail with timeline and outcome, comment, withdraw, the attachment download;
another tenant gets 404 and an anonymous visitor the login page on every dispute URL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ledger.models import Dispute, Invoice, InvoiceLine
from ledger.services.disputes import dispute_open, dispute_reject, dispute_resolve
from tenants.models import Role
from tests.factories import finance_user
from tests.factories.documents import persona_invoice
from tests.personas import AnonymousPersona, Persona

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 40


def _line(invoice: Invoice, position: int = 1) -> InvoiceLine:
    return invoice.lines.get(position=position)


def _dispute(persona: Persona, invoice: Invoice, line: InvoiceLine | None = None, **kwargs: Any) -> Dispute:
    assert persona.tenant is not None
    fields: dict[str, Any] = {"reason": "wrong_quantity", "message": "We made 500000 requests, not 617250."}
    fields.update(kwargs)
    return dispute_open(tenant=persona.tenant, invoice=invoice, line=line, user=persona.user, **fields)


def _open_url(invoice: Invoice, line: InvoiceLine | None = None) -> str:
    if line is None:
        return reverse("portal:dispute-open", kwargs={"invoice_id": invoice.pk})
    return reverse("portal:dispute-open-line", kwargs={"invoice_id": invoice.pk, "line_id": line.pk})


# Opening


def test_the_open_form_shows_the_disputed_line_formatted(alice: Persona):
    invoice = persona_invoice(alice)
    response = alice.client.get(_open_url(invoice, _line(invoice)))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Dispute a line of invoice ACME-2026-000007</h1>" in body
    assert "API requests, 617,250 request: €1,234.50" in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert 'enctype="multipart/form-data"' in body


def test_a_customer_opens_a_dispute_on_a_line_with_an_attachment(alice: Persona, media: Path):
    invoice = persona_invoice(alice)
    line = _line(invoice)
    response = alice.client.post(
        _open_url(invoice, line),
        {
            "reason": "wrong_quantity",
            "message": "We made 500000 requests.",
            "attachment": SimpleUploadedFile("our-logs.pdf", PDF, content_type="application/pdf"),
        },
    )
    dispute = Dispute.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/portal/disputes/{dispute.pk}/")
    assert (dispute.line_id, dispute.status, dispute.attachment_name, dispute.attachment_type) == (
        line.pk,
        "open",
        "our-logs.pdf",
        "application/pdf",
    )
    assert dispute.attachment.startswith(f"private/disputes/{invoice.tenant_id}/")
    assert (media / dispute.attachment).read_bytes() == PDF


def test_a_customer_opens_a_dispute_on_the_whole_invoice(alice: Persona):
    invoice = persona_invoice(alice)
    alice.client.post(_open_url(invoice), {"reason": "duplicate", "message": "Charged twice."})
    dispute = Dispute.objects.get()
    assert (dispute.invoice_id, dispute.line_id, dispute.reason) == (invoice.pk, None, "duplicate")


def test_a_renamed_executable_is_refused_on_the_form(alice: Persona, media: Path):
    invoice = persona_invoice(alice)
    response = alice.client.post(
        _open_url(invoice, _line(invoice)),
        {"reason": "other", "message": "See attached.", "attachment": SimpleUploadedFile("logs.pdf", EXE)},
    )
    assert response.status_code == 400
    assert "the attachment must be a PDF, PNG, JPEG, plain text or CSV file" in response.content.decode()
    assert Dispute.objects.count() == 0
    assert not (media / "private").exists()


def test_an_attachment_over_the_limit_is_refused_on_the_form(alice: Persona, media: Path, settings: Any):
    settings.DISPUTE_ATTACHMENT_MAX_BYTES = 64
    invoice = persona_invoice(alice)
    response = alice.client.post(
        _open_url(invoice, _line(invoice)),
        {"reason": "other", "message": "x", "attachment": SimpleUploadedFile("a.pdf", PDF + b"0" * 64)},
    )
    assert response.status_code == 400
    assert "the attachment is larger than" in response.content.decode()


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(alice: Persona, media: Path, settings: Any):
    settings.DISPUTE_ATTACHMENT_MAX_BYTES = 64
    invoice = persona_invoice(alice)
    big = PDF + b"0" * (300 * 1024)  # past the limit and the form's 256 KB allowance
    response = alice.client.post(
        _open_url(invoice, _line(invoice)),
        {"reason": "other", "message": "x", "attachment": SimpleUploadedFile("a.pdf", big)},
    )
    assert response.status_code == 413
    assert Dispute.objects.count() == 0
    assert not any(media.rglob("*"))


def test_a_second_dispute_on_the_same_line_is_refused_with_a_clear_error(alice: Persona):
    invoice = persona_invoice(alice)
    _dispute(alice, invoice, _line(invoice))
    response = alice.client.post(_open_url(invoice, _line(invoice)), {"reason": "other", "message": "again"})
    assert response.status_code == 400
    assert "this line already has an open dispute" in response.content.decode()
    assert Dispute.objects.count() == 1


def test_a_dispute_needs_a_reason_and_a_message(alice: Persona):
    invoice = persona_invoice(alice)
    response = alice.client.post(_open_url(invoice), {"reason": "", "message": ""})
    assert response.status_code == 400
    assert Dispute.objects.count() == 0


def test_a_draft_invoice_cannot_be_disputed(alice: Persona):
    assert alice.tenant is not None
    draft = Invoice.objects.create(
        tenant=alice.tenant,
        period_key="2026-12",
        period_start=datetime(2026, 12, 1, tzinfo=UTC),
        period_end=datetime(2027, 1, 1, tzinfo=UTC),
        currency="EUR",
        base_currency="EUR",
    )
    assert alice.client.get(_open_url(draft)).status_code == 404


def test_a_line_of_another_invoice_is_404(alice: Persona, charlie: Persona):
    invoice = persona_invoice(alice)
    other = persona_invoice(charlie, number="OTHER-2026-000001")
    url = reverse("portal:dispute-open-line", kwargs={"invoice_id": invoice.pk, "line_id": _line(other).pk})
    assert alice.client.get(url).status_code == 404


# Reading


def test_the_list_shows_the_tenants_disputes(alice: Persona, charlie: Persona):
    invoice = persona_invoice(alice)
    dispute = _dispute(alice, invoice, _line(invoice))
    _dispute(charlie, persona_invoice(charlie, number="OTHER-2026-000001"), message="charlie's own complaint")

    body = alice.client.get("/portal/disputes/").content.decode()

    assert f'<a href="/portal/disputes/{dispute.pk}/">Dispute #{dispute.pk}</a>' in body
    assert "Line 1: API requests" in body
    assert "The usage is not what we used" in body
    assert '<span class="badge">Open</span>' in body
    assert "OTHER-2026-000001" not in body
    assert "<h1>Disputes</h1>" in body


def test_the_detail_shows_the_timeline_and_the_attachment_link(alice: Persona, media: Path):
    invoice = persona_invoice(alice)
    dispute = _dispute(
        alice, invoice, _line(invoice), attachment=SimpleUploadedFile("logs.csv", b"day,n\n1,2\n")
    )
    alice.client.post(
        reverse("portal:dispute-comment", kwargs={"dispute_id": dispute.pk}), {"message": "Any news?"}
    )

    body = alice.client.get(f"/portal/disputes/{dispute.pk}/").content.decode()

    assert f"<h1>Dispute #{dispute.pk} on invoice ACME-2026-000007</h1>" in body
    assert body.index("We made 500000 requests, not 617250.") < body.index("Any news?")
    assert "<strong>Opened</strong>" in body
    assert "<strong>Comment</strong>" in body
    assert f'href="/portal/disputes/{dispute.pk}/attachment/">Download logs.csv</a>' in body
    assert "Resolve (finance)" not in body


def test_the_attachment_downloads_as_an_attachment_with_nosniff(alice: Persona, media: Path):
    invoice = persona_invoice(alice)
    dispute = _dispute(alice, invoice, attachment=SimpleUploadedFile("logs.pdf", PDF))

    response = alice.client.get(f"/portal/disputes/{dispute.pk}/attachment/")

    assert (response.status_code, response.content) == (200, PDF)
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="logs.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_dispute_without_attachment_has_no_download(alice: Persona):
    invoice = persona_invoice(alice)
    dispute = _dispute(alice, invoice)
    assert alice.client.get(f"/portal/disputes/{dispute.pk}/attachment/").status_code == 404


def test_a_rejected_dispute_shows_the_reason(alice: Persona):
    invoice = persona_invoice(alice)
    dispute = _dispute(alice, invoice, _line(invoice))
    dispute_reject(
        dispute=dispute,
        reason="The requests are in your access logs.",
        user=finance_user(Role.FINANCE_EDITOR),
    )

    body = alice.client.get(f"/portal/disputes/{dispute.pk}/").content.decode()

    assert '<span class="badge">Rejected</span>' in body
    assert "<blockquote>The requests are in your access logs.</blockquote>" in body
    assert "by the finance team" in body
    assert "Add a message" not in body


def test_a_resolved_dispute_links_its_credit_note(alice: Persona):
    invoice = persona_invoice(alice)
    dispute = _dispute(alice, invoice, _line(invoice))
    resolved = dispute_resolve(
        dispute=dispute,
        amount=Decimal("100.00"),
        user=finance_user(Role.FINANCE_EDITOR),
        note="Retries refunded.",
    )
    note = resolved.credit_note
    assert note is not None

    body = alice.client.get(f"/portal/disputes/{dispute.pk}/").content.decode()

    # 100.00 + 19 % = 119.00
    assert f"with credit note {note.number} of €119.00 (€100.00 before tax)" in body
    url = reverse("portal:credit-note-document", kwargs={"credit_note_id": note.pk, "kind": "pdf"})
    assert f'<a href="{url}">Download credit note {note.number} (PDF)</a>' in body
    list_body = alice.client.get("/portal/disputes/").content.decode()
    assert f"Credit note {note.number}: €119.00" in list_body


# Comment and withdraw


def test_a_customer_comments_on_an_open_dispute(alice: Persona):
    dispute = _dispute(alice, persona_invoice(alice))
    response = alice.client.post(
        f"/portal/disputes/{dispute.pk}/comment/", {"message": "Logs attached later."}
    )
    assert (response.status_code, response["Location"]) == (302, f"/portal/disputes/{dispute.pk}/")
    assert list(dispute.events.values_list("kind", "message")) == [
        ("opened", "We made 500000 requests, not 617250."),
        ("comment", "Logs attached later."),
    ]


def test_a_customer_withdraws_an_open_dispute(alice: Persona):
    dispute = _dispute(alice, persona_invoice(alice))
    alice.client.post(f"/portal/disputes/{dispute.pk}/withdraw/", {"message": "Our mistake."})
    dispute.refresh_from_db()
    assert dispute.status == "withdrawn"
    body = alice.client.get(f"/portal/disputes/{dispute.pk}/").content.decode()
    assert "You withdrew this dispute." in body
    assert "Our mistake." in body


def test_a_comment_on_a_closed_dispute_is_refused_with_a_message(alice: Persona):
    dispute = _dispute(alice, persona_invoice(alice))
    alice.client.post(f"/portal/disputes/{dispute.pk}/withdraw/", {})
    response = alice.client.post(f"/portal/disputes/{dispute.pk}/comment/", {"message": "wait"}, follow=True)
    assert "the dispute is withdrawn: it is closed" in response.content.decode()
    assert dispute.events.count() == 2


def test_comment_and_withdraw_are_post_only(alice: Persona):
    dispute = _dispute(alice, persona_invoice(alice))
    assert alice.client.get(f"/portal/disputes/{dispute.pk}/comment/").status_code == 405
    assert alice.client.get(f"/portal/disputes/{dispute.pk}/withdraw/").status_code == 405


# A customer cannot use finance's actions


@pytest.mark.parametrize(
    "data",
    [
        {"action": "review"},
        {"action": "reject", "reason": "no"},
        {"action": "resolve", "amount": "10.00", "note": "self-service"},
    ],
)
def test_a_customer_cannot_decide(alice: Persona, data: dict[str, str]):
    dispute = _dispute(alice, persona_invoice(alice), None)
    response = alice.client.post(f"/portal/disputes/{dispute.pk}/decide/", data)
    dispute.refresh_from_db()
    assert (response.status_code, dispute.status, dispute.credit_note_id) == (403, "open", None)


# Isolation: every dispute URL


def _urls(dispute: Dispute) -> list[tuple[str, str]]:
    invoice, line = dispute.invoice, dispute.line
    assert line is not None
    d = {"dispute_id": dispute.pk}
    return [
        ("get", reverse("portal:dispute", kwargs=d)),
        ("get", reverse("portal:dispute-attachment", kwargs=d)),
        ("get", reverse("portal:dispute-open", kwargs={"invoice_id": invoice.pk})),
        ("get", reverse("portal:dispute-open-line", kwargs={"invoice_id": invoice.pk, "line_id": line.pk})),
        ("post", reverse("portal:dispute-open", kwargs={"invoice_id": invoice.pk})),
        ("post", reverse("portal:dispute-open-line", kwargs={"invoice_id": invoice.pk, "line_id": line.pk})),
        ("post", reverse("portal:dispute-comment", kwargs=d)),
        ("post", reverse("portal:dispute-withdraw", kwargs=d)),
        ("post", reverse("portal:dispute-decide", kwargs=d)),
    ]


POST_DATA = {"reason": "other", "message": "mine now", "action": "resolve", "amount": "1.00", "note": "x"}


def test_another_tenant_gets_404_on_every_dispute_url(alice: Persona, charlie: Persona, media: Path):
    invoice = persona_invoice(alice)
    dispute = _dispute(alice, invoice, _line(invoice), attachment=SimpleUploadedFile("a.pdf", PDF))
    for method, url in _urls(dispute):
        response = getattr(charlie.client, method)(url, POST_DATA)
        assert response.status_code == 404, (method, url)
        assert b"500000" not in response.content
    assert "mine now" not in charlie.client.get("/portal/disputes/").content.decode()
    assert (Dispute.objects.count(), dispute.events.count()) == (1, 1)


def test_finance_of_another_current_tenant_gets_404_too(
    alice: Persona, charlie: Persona, finance_approver: Persona
):
    invoice = persona_invoice(alice)
    dispute = _dispute(alice, invoice, _line(invoice))
    assert charlie.tenant is not None
    finance_approver.client.post("/portal/switch/", {"tenant": charlie.tenant.pk})
    response = finance_approver.client.post(f"/portal/disputes/{dispute.pk}/decide/", {"action": "review"})
    assert response.status_code == 404
    assert Dispute.objects.get(pk=dispute.pk).status == "open"


def test_an_anonymous_visitor_is_sent_to_the_login_page_on_every_dispute_url(
    alice: Persona, anonymous: AnonymousPersona
):
    invoice = persona_invoice(alice)
    dispute = _dispute(alice, invoice, _line(invoice))
    for method, url in [*_urls(dispute), ("get", reverse("portal:disputes"))]:
        response = getattr(anonymous.client, method)(url, POST_DATA)
        assert (response.status_code, response["Location"].split("?")[0]) == (302, "/portal/login/"), (
            method,
            url,
        )
    assert (Dispute.objects.count(), dispute.events.count()) == (1, 1)
