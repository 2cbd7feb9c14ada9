"""Finance's disputes queue (portal:finance:disputes, :dispute, :dispute-decide): every tenant's disputes
oldest first with their timers, the status filter, decisions in full, in part (an amount, chosen lines)
and rejections from the decision page, refusals shown on it; what the customer sees afterwards. Amounts
by hand on the portal invoice: API requests 1234.50, platform fee 99.00, 19 % VAT."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from ledger.models import Dispute, Invoice
from ledger.services.disputes import dispute_comment, dispute_open
from tenants.models import Role
from tests.factories import finance_user
from tests.factories.documents import persona_invoice
from tests.personas import Persona

pytestmark = pytest.mark.django_db

QUEUE = "/portal/finance/queue/disputes/"
NOV_29 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
DEC_1 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DEC_3 = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)


def _dispute(
    persona: Persona,
    *,
    on_line: bool = False,
    number: str | None = None,
    at: datetime = DEC_1,
    invoice: Invoice | None = None,
) -> Dispute:
    assert persona.tenant is not None
    invoice = invoice or persona_invoice(persona, number=number)
    return dispute_open(
        tenant=persona.tenant,
        invoice=invoice,
        line=invoice.lines.get(position=1) if on_line else None,
        reason="wrong_quantity",
        message="We made 500000 requests.",
        user=persona.user,
        now=at,
    )


def _row(body: str, dispute: Dispute) -> str:
    """The queue table's row of `dispute`."""
    found = re.search(
        rf"<tr>\s*<th scope=\"row\"><a href=\"[^\"]+\">Dispute #{dispute.pk}</a>.*?</tr>", body, re.S
    )
    assert found is not None, body
    return found.group(0)


def _cells(row: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
    ]


def _decide(client: Client, dispute: Dispute, **data: str) -> str:
    url = reverse("portal:finance:dispute-decide", kwargs={"dispute_id": dispute.pk})
    return client.post(url, data, follow=True).content.decode()


def test_the_queue_lists_every_tenants_disputes_oldest_first_with_their_timers(
    alice: Persona, charlie: Persona, finance_editor: Persona
):
    newer = _dispute(alice, at=DEC_1)
    older = _dispute(charlie, number="B-2026-000001", at=NOV_29)
    dispute_comment(
        dispute=newer, message="Any news?", user=alice.user, now=datetime(2026, 12, 3, 10, tzinfo=UTC)
    )
    dispute_comment(
        dispute=newer, message="Looking.", user=finance_editor.user, now=datetime(2026, 12, 3, 11, tzinfo=UTC)
    )

    with time_machine.travel(DEC_3, tick=False):
        finance_editor.client.force_login(finance_editor.user)  # sessions idle out after an hour
        body = finance_editor.client.get(QUEUE).content.decode()

    assert body.index(f"Dispute #{older.pk}<") < body.index(f"Dispute #{newer.pk}<")
    # opened Dec 1 09:00, now Dec 3 12:30: 2 d 3 h; the customer wrote last at 10:00 (finance's 11:00
    # comment does not count): 2 h 30 min
    assert _cells(_row(body, newer))[-4:] == ["Open", "1 Dec 2026, 09:00", "2 d 3 h", "2 h 30 min"]
    assert _cells(_row(body, older))[-3:] == ["29 Nov 2026, 08:00", "4 d 4 h", "4 d 4 h"]
    assert _cells(_row(body, newer))[1:5] == [
        "Tenant A",
        "ACME-2026-000007",
        "The whole invoice",
        "€1,333.50",
    ]


def test_the_queue_filters_by_status(alice: Persona, finance_editor: Persona):
    open_one = _dispute(alice)
    rejected = _dispute(alice, on_line=True, invoice=open_one.invoice)
    _decide(finance_editor.client, rejected, action="reject", reason="As agreed.")

    default = finance_editor.client.get(QUEUE).content.decode()
    only_rejected = finance_editor.client.get(QUEUE + "?status=rejected").content.decode()

    assert (f"Dispute #{open_one.pk}<" in default, f"Dispute #{rejected.pk}<" in default) == (True, False)
    assert (f"Dispute #{open_one.pk}<" in only_rejected, f"Dispute #{rejected.pk}<" in only_rejected) == (
        False,
        True,
    )


def test_finance_accepts_in_part_by_chosen_lines_and_the_customer_sees_it(
    alice: Persona, finance_editor: Persona
):
    dispute = _dispute(alice)
    invoice = dispute.invoice
    api, fee = invoice.lines.get(position=1), invoice.lines.get(position=2)
    page = finance_editor.client.get(reverse("portal:finance:dispute", kwargs={"dispute_id": dispute.pk}))
    assert f'<label for="id_line_{api.pk}">Credit on line 1</label>' in page.content.decode()
    assert "Credits all that is left on the invoice (€1,333.50 before tax)" in page.content.decode()

    body = _decide(
        finance_editor.client,
        dispute,
        action="lines",
        note="The retries and a part of the fee.",
        **{f"line_{api.pk}": "234.50", f"line_{fee.pk}": "9.00"},
    )

    dispute.refresh_from_db()
    note = dispute.credit_note
    assert note is not None
    # 243.50 x 19 % = 46.265 -> 46.27; 289.77
    assert (dispute.status, note.subtotal, note.tax_total, note.total) == (
        "resolved",
        Decimal("243.50"),
        Decimal("46.27"),
        Decimal("289.77"),
    )
    assert f"Accepted in part: credit note {note.number} of €289.77 issued." in body
    customer = alice.client.get(f"/portal/disputes/{dispute.pk}/").content.decode()
    assert "Accepted in part: €243.50 of the €1,333.50 you disputed (before tax)." in customer
    assert f"Download credit note {note.number} (PDF)" in customer


def test_finance_accepts_a_line_in_full(alice: Persona, finance_editor: Persona):
    dispute = _dispute(alice, on_line=True)

    _decide(finance_editor.client, dispute, action="full", note="All of it.")

    dispute.refresh_from_db()
    assert dispute.credit_note is not None
    # 1234.50 x 19 % = 234.555 -> 234.56
    assert (dispute.credit_note.subtotal, dispute.credit_note.total) == (
        Decimal("1234.50"),
        Decimal("1469.06"),
    )
    customer = alice.client.get(f"/portal/disputes/{dispute.pk}/").content.decode()
    assert "Accepted in full." in customer


def test_finance_accepts_an_amount_in_part(alice: Persona, finance_editor: Persona):
    dispute = _dispute(alice, on_line=True)

    _decide(finance_editor.client, dispute, action="amount", amount="100.00", note="Goodwill.")

    dispute.refresh_from_db()
    assert dispute.credit_note is not None
    assert (dispute.credit_note.subtotal, dispute.credit_note.total) == (Decimal("100.00"), Decimal("119.00"))


def test_a_partial_credit_above_what_is_left_is_refused_on_the_page(alice: Persona, finance_editor: Persona):
    dispute = _dispute(alice, on_line=True)

    body = _decide(finance_editor.client, dispute, action="amount", amount="1234.51", note="Too much.")

    dispute.refresh_from_db()
    assert (dispute.status, dispute.credit_note_id) == ("open", None)
    assert (
        "1234.51 EUR is more than was invoiced less earlier credit notes: 1234.50 EUR is left to credit on line 1"
        in body
    )


def test_a_rejection_needs_a_reason_and_is_shown_to_the_customer(alice: Persona, finance_editor: Persona):
    dispute = _dispute(alice)

    refused = _decide(finance_editor.client, dispute, action="reject", reason="")
    _decide(finance_editor.client, dispute, action="reject", reason="Correct as billed.")

    assert "A rejection needs a reason." in refused
    dispute.refresh_from_db()
    assert (dispute.status, dispute.outcome) == ("rejected", "Correct as billed.")
    assert "Correct as billed." in alice.client.get(f"/portal/disputes/{dispute.pk}/").content.decode()


def test_a_finance_viewer_reads_the_queue_but_does_not_decide(alice: Persona):
    viewer = Client()
    viewer.force_login(finance_user(Role.FINANCE_VIEWER, username="viewer"))
    dispute = _dispute(alice)

    page = viewer.get(reverse("portal:finance:dispute", kwargs={"dispute_id": dispute.pk}))
    decided = viewer.post(
        reverse("portal:finance:dispute-decide", kwargs={"dispute_id": dispute.pk}), {"action": "review"}
    )

    assert page.status_code == 200
    assert "Accept in full" not in page.content.decode()
    assert decided.status_code == 403
    assert Dispute.objects.get(pk=dispute.pk).status == "open"


def test_a_customer_gets_403_on_the_queue_and_on_a_dispute_of_its_own(alice: Persona):
    dispute = _dispute(alice)

    assert alice.client.get(QUEUE).status_code == 403
    assert (
        alice.client.get(reverse("portal:finance:dispute", kwargs={"dispute_id": dispute.pk})).status_code
        == 403
    )


def test_an_unknown_dispute_is_404(finance_editor: Persona):
    assert (
        finance_editor.client.get(
            reverse("portal:finance:dispute", kwargs={"dispute_id": 999999})
        ).status_code
        == 404
    )
