"""Share links to one invoice: created on the invoice page (its URL shown once, only its hash stored),
used without signing in, revoked, expired; an unknown, revoked or expired token gets the same 404."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.test import Client

from common.errors import NotFound, StateError, ValidationFailed
from ledger.models import Invoice, InvoiceShareLink
from ledger.services.share_links import (
    invoice_share_link_create,
    invoice_share_link_resolve,
    invoice_share_link_revoke,
)
from tests.factories.documents import Line, Spec, Vat, invoice_rendered, persona_invoice
from tests.factories.ledger import document_invoice
from tests.personas import Persona

pytestmark = pytest.mark.django_db

SPEC = Spec(lines=[Line("API requests", "100.00", quantity="1000")], vat=[Vat("S", "19", "100.00", "19.00")])
NOW = datetime(2026, 12, 10, 12, tzinfo=UTC)


def _token_from(body: str) -> str:
    match = re.search(r'value="http://testserver/portal/invoices/shared/([^/"]+)/"', body)
    assert match, body
    return match.group(1)


def test_it_shows_the_new_link_once_and_stores_only_its_hash(alice: Persona):
    invoice = persona_invoice(alice, SPEC)

    response = alice.client.post(f"/portal/invoices/{invoice.pk}/share/", {"days": "7"})

    token = _token_from(response.content.decode())
    link = InvoiceShareLink.objects.get(invoice=invoice)
    assert link.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert link.expires_at - link.created_at == timedelta(days=7)
    assert response["Cache-Control"] == "no-store"
    assert token not in alice.client.get(f"/portal/invoices/{invoice.pk}/").content.decode()


def test_anyone_with_the_link_reads_the_invoice_without_signing_in(alice: Persona):
    invoice = persona_invoice(alice, SPEC)
    token = _token_from(
        alice.client.post(f"/portal/invoices/{invoice.pk}/share/", {"days": "7"}).content.decode()
    )

    response = Client().get(f"/portal/invoices/shared/{token}/")

    body = response.content.decode()
    assert response.status_code == 200
    assert ("Invoice ACME-2026-000001" in body, "€119.00" in body) == (True, True)
    assert (response["Cache-Control"], response["Referrer-Policy"]) == ("no-store", "no-referrer")
    assert "/lines/" not in body  # read-only: no drill-down, no dispute, no share form
    assert InvoiceShareLink.objects.get(invoice=invoice).last_used_at is not None


def test_the_shared_page_downloads_the_pdf(alice: Persona, media: Path):
    invoice = persona_invoice(alice, SPEC)
    invoice_rendered(invoice, pdf=b"%PDF-1.7 shared")
    assert alice.tenant is not None
    token = invoice_share_link_create(invoice=invoice, tenant=alice.tenant, user=alice.user).token

    response = Client().get(f"/portal/invoices/shared/{token}/document/")

    assert (response.status_code, response.content, response["Content-Type"]) == (
        200,
        b"%PDF-1.7 shared",
        "application/pdf",
    )
    assert response["Referrer-Policy"] == "no-referrer"


def test_a_revoked_link_is_404(alice: Persona):
    invoice = persona_invoice(alice, SPEC)
    token = _token_from(
        alice.client.post(f"/portal/invoices/{invoice.pk}/share/", {"days": "7"}).content.decode()
    )
    link = InvoiceShareLink.objects.get(invoice=invoice)

    revoked = alice.client.post(f"/portal/invoices/{invoice.pk}/share/{link.pk}/revoke/")

    assert revoked.status_code == 302
    assert Client().get(f"/portal/invoices/shared/{token}/").status_code == 404
    assert Client().get(f"/portal/invoices/shared/{token}/document/").status_code == 404


def test_an_expired_link_and_an_unknown_one_are_the_same_404(alice: Persona):
    invoice = persona_invoice(alice, SPEC)
    assert alice.tenant is not None
    with time_machine.travel(NOW, tick=False):
        token = invoice_share_link_create(invoice=invoice, tenant=alice.tenant, user=alice.user, days=1).token

    with time_machine.travel(NOW + timedelta(days=1, seconds=1), tick=False):
        expired = Client().get(f"/portal/invoices/shared/{token}/")
        unknown = Client().get("/portal/invoices/shared/not-a-token/")

    assert (expired.status_code, unknown.status_code) == (404, 404)
    assert expired.content == unknown.content


def test_it_resolves_a_live_token_until_it_expires(alice: Persona):
    invoice = persona_invoice(alice, SPEC)
    assert alice.tenant is not None
    with time_machine.travel(NOW, tick=False):
        token = invoice_share_link_create(
            invoice=invoice, tenant=alice.tenant, user=alice.user, days=14
        ).token
    with time_machine.travel(NOW + timedelta(days=13), tick=False):
        live = invoice_share_link_resolve(token=token)
    with time_machine.travel(NOW + timedelta(days=14), tick=False):
        expired = invoice_share_link_resolve(token=token)

    assert (live is not None and live.invoice_id == invoice.pk, expired) == (True, None)


def test_a_link_lives_at_most_90_days(alice: Persona):
    invoice = persona_invoice(alice, SPEC)
    assert alice.tenant is not None
    with pytest.raises(ValidationFailed):
        invoice_share_link_create(invoice=invoice, tenant=alice.tenant, user=alice.user, days=91)
    response = alice.client.post(f"/portal/invoices/{invoice.pk}/share/", {"days": "91"})
    assert (response.status_code, InvoiceShareLink.objects.count()) == (400, 0)


def test_a_draft_cannot_be_shared(alice: Persona):
    assert alice.tenant is not None
    draft = document_invoice(alice.tenant, lines=[{"amount": "5.00"}], status=Invoice.Status.DRAFT)
    with pytest.raises(StateError):
        invoice_share_link_create(invoice=draft, tenant=alice.tenant, user=alice.user)


def test_another_tenant_can_neither_share_nor_revoke(alice: Persona, charlie: Persona):
    invoice = persona_invoice(alice, SPEC)
    assert alice.tenant is not None
    created = invoice_share_link_create(invoice=invoice, tenant=alice.tenant, user=alice.user)

    shared = charlie.client.post(f"/portal/invoices/{invoice.pk}/share/", {"days": "7"})
    revoked = charlie.client.post(f"/portal/invoices/{invoice.pk}/share/{created.link.pk}/revoke/")

    assert (shared.status_code, revoked.status_code) == (404, 404)
    assert invoice_share_link_resolve(token=created.token) is not None


def test_revoking_through_the_service_needs_the_links_tenant(alice: Persona, charlie: Persona):
    invoice = persona_invoice(alice, SPEC)
    assert alice.tenant is not None
    assert charlie.tenant is not None
    created = invoice_share_link_create(invoice=invoice, tenant=alice.tenant, user=alice.user)

    with pytest.raises(NotFound, match="no such share link"):
        invoice_share_link_revoke(link=created.link, tenant=charlie.tenant, user=charlie.user)
    invoice_share_link_revoke(link=created.link, tenant=alice.tenant, user=alice.user)

    assert invoice_share_link_resolve(token=created.token) is None


def test_finance_may_not_publish_a_customers_invoice(alice: Persona, finance_editor: Persona):
    from common.errors import PermissionDenied

    invoice = persona_invoice(alice, SPEC)
    assert alice.tenant is not None
    with pytest.raises(PermissionDenied, match="only the customer's own users may share its invoices"):
        invoice_share_link_create(invoice=invoice, tenant=alice.tenant, user=finance_editor.user)
    assert not InvoiceShareLink.objects.exists()


def test_a_finance_viewer_gets_403_on_the_share_form(alice: Persona):
    from tenants.models import Role
    from tests.factories import finance_user

    invoice = persona_invoice(alice, SPEC)
    viewer = Client()
    viewer.force_login(finance_user(Role.FINANCE_VIEWER, username="vera"))
    assert alice.tenant is not None
    viewer.post("/portal/switch/", {"tenant": str(alice.tenant.pk)})

    response = viewer.post(f"/portal/invoices/{invoice.pk}/share/", {"days": "14"})

    assert response.status_code == 403
    assert not InvoiceShareLink.objects.exists()
