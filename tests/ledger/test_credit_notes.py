"""Void, credit notes and payment of finalized invoices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from billing.close.services import close_period
from common.errors import StateError, ValidationFailed
from ledger.models import CreditNote, Invoice
from ledger.selectors import account_balance, trial_balance
from ledger.services.credit_notes import credit_note_create
from ledger.services.invoicing import invoice_mark_paid, invoice_void
from ledger.verify import ledger_verify
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world

pytestmark = pytest.mark.django_db

NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)
DEC_20 = datetime(2026, 12, 20, tzinfo=UTC)


def _invoice() -> Invoice:
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")  # 100.00 + 19.00
    return invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))


def test_void_needs_a_reason():
    invoice = _invoice()
    with pytest.raises(ValidationFailed):
        invoice_void(invoice=invoice, reason="  ")


def test_void_produces_a_full_credit_note_and_reverses_the_ledger():
    invoice = _invoice()
    voided = invoice_void(invoice=invoice, reason="billed the wrong customer", now=DEC_20)
    note = CreditNote.objects.get(invoice=invoice)
    assert (voided.status, voided.void_reason) == (Invoice.Status.VOID, "billed the wrong customer")
    assert (note.subtotal, note.tax_total, note.total) == (
        Decimal("100.00"),
        Decimal("19.00"),
        Decimal("119.00"),
    )
    assert note.number == "ACME-CN-2026-000001"
    assert account_balance(code="receivable:acme") == {"EUR": Decimal("0.00")}
    assert account_balance(code="revenue:Compute") == {"EUR": Decimal("0.00")}
    assert account_balance(code="tax_payable:DE") == {"EUR": Decimal("0.00")}
    assert ledger_verify().message == "OK 2"


def test_a_voided_period_can_be_closed_again_with_a_new_number():
    invoice = _invoice()
    invoice_void(invoice=invoice, reason="wrong usage", now=DEC_20)
    again = close_period(tenant=invoice.tenant, period_key="2026-11", now=after_grace())
    assert again.status == "finalized"
    assert again.number == "ACME-2026-000002"


def test_a_partial_credit_note_adds_tax_at_the_invoice_rate():
    invoice = _invoice()
    line = invoice.lines.get()
    note = credit_note_create(
        invoice=invoice, reason="goodwill", lines=[(line.pk, Decimal("30.00"))], now=DEC_20
    )
    assert note is not None
    # 30.00 + 19 % = 35.70
    assert (note.subtotal, note.tax_total, note.total) == (
        Decimal("30.00"),
        Decimal("5.70"),
        Decimal("35.70"),
    )
    assert account_balance(code="receivable:acme") == {"EUR": Decimal("83.30")}


def test_a_credit_note_never_exceeds_what_is_left_on_the_line():
    invoice = _invoice()
    line = invoice.lines.get()
    credit_note_create(invoice=invoice, reason="goodwill", lines=[(line.pk, Decimal("30.00"))], now=DEC_20)
    with pytest.raises(ValidationFailed):
        credit_note_create(invoice=invoice, reason="again", lines=[(line.pk, Decimal("70.01"))], now=DEC_20)


def test_a_full_credit_note_after_a_partial_one_credits_the_rest_exactly():
    invoice = _invoice()
    line = invoice.lines.get()
    credit_note_create(invoice=invoice, reason="goodwill", lines=[(line.pk, Decimal("30.00"))], now=DEC_20)
    rest = credit_note_create(invoice=invoice, reason="cancel", lines=None, now=DEC_20)
    assert rest is not None
    # 119.00 - 35.70 = 83.30 (70.00 + 13.30)
    assert (rest.subtotal, rest.tax_total, rest.total) == (
        Decimal("70.00"),
        Decimal("13.30"),
        Decimal("83.30"),
    )
    with pytest.raises(ValidationFailed):
        credit_note_create(invoice=invoice, reason="once more", lines=None, now=DEC_20)
    assert trial_balance() == {"EUR": Decimal("0")}


def test_the_database_refuses_a_credit_note_beyond_the_invoice_total():
    invoice = _invoice()
    note = credit_note_create(invoice=invoice, reason="all", lines=None, now=DEC_20)
    assert note is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditNote.objects.create(
            invoice=invoice,
            tenant=invoice.tenant,
            number="X-1",
            reason="raw",
            currency="EUR",
            subtotal=Decimal("1"),
            tax_total=Decimal("0"),
            total=Decimal("1"),
            created_at=DEC_20,
            ledger_transaction=note.ledger_transaction,
        )


def test_a_credit_note_cannot_be_edited_by_raw_sql():
    invoice = _invoice()
    note = credit_note_create(invoice=invoice, reason="all", lines=None, now=DEC_20)
    assert note is not None
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_creditnote SET total = 1 WHERE id = %s", [note.pk])


def test_payment_moves_the_invoice_to_paid_and_clears_the_receivable():
    invoice = _invoice()
    paid = invoice_mark_paid(invoice=invoice, paid_at=DEC_20)
    assert paid.status == Invoice.Status.PAID
    assert account_balance(code="receivable:acme") == {"EUR": Decimal("0.00")}
    assert account_balance(code="cash") == {"EUR": Decimal("119.00")}


def test_a_paid_invoice_cannot_go_back_to_finalized_even_by_raw_sql():
    invoice = _invoice()
    invoice_mark_paid(invoice=invoice, paid_at=DEC_20)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_invoice SET status = 'finalized' WHERE id = %s", [invoice.pk])


def test_a_void_invoice_cannot_be_paid():
    invoice = _invoice()
    invoice_void(invoice=invoice, reason="duplicate", now=DEC_20)
    with pytest.raises(StateError):
        invoice_mark_paid(invoice=invoice, paid_at=DEC_20)


def test_credit_notes_are_numbered_in_the_tenants_own_year():
    invoice = _invoice()
    tenant = invoice.tenant
    tenant.timezone = "Asia/Tokyo"
    tenant.save(update_fields=["timezone"])

    # 2026-12-31 16:00 UTC is 2027-01-01 01:00 in Tokyo
    invoice_void(invoice=invoice, reason="duplicate", now=datetime(2026, 12, 31, 16, tzinfo=UTC))

    assert CreditNote.objects.get(invoice=invoice).number == "ACME-CN-2027-000001"


def test_finalizing_a_draft_whose_subtotal_is_not_the_sum_of_its_lines_is_refused():
    from ledger.services.invoicing import invoice_finalize

    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")
    draft = invoice_of(
        close_period(tenant=w.tenant, period_key="2026-11", now=datetime(2026, 12, 1, 1, tzinfo=UTC))
    )
    # a draft is still writable: shift its subtotal (and, to keep the row's own CHECKs, its totals)
    cent = Decimal("0.01")
    Invoice.objects.filter(pk=draft.pk).update(
        subtotal=F("subtotal") + cent, total=F("total") + cent, amount_due=F("amount_due") + cent
    )

    with pytest.raises(
        StateError, match=r"subtotal 100\.0100 is not the sum of its rounded lines \(100\.0000\)"
    ):
        invoice_finalize(invoice=Invoice.objects.get(pk=draft.pk), tenant=w.tenant, now=DEC_20)


def test_voiding_an_invoice_paid_with_prepaid_credit_gives_the_credit_back():
    from ledger.models import CreditRestoration
    from ledger.services.credits import credit_grant_create, credits_plan

    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")  # 100.00 + 19.00 = 119.00
    grant = credit_grant_create(
        tenant=w.tenant,
        amount=Decimal("50.00"),
        currency="EUR",
        granted_at=datetime(2026, 10, 1, tzinfo=UTC),
        reason="welcome credit",
    )
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    assert (invoice.credits_applied, invoice.amount_due) == (Decimal("50.00"), Decimal("69.00"))

    invoice_void(invoice=invoice, reason="wrong customer", now=DEC_20)

    assert CreditRestoration.objects.get().amount == Decimal("50.00")
    assert account_balance(code="receivable:acme") == {"EUR": Decimal("0.00")}
    assert account_balance(code="prepaid:acme") == {"EUR": Decimal("-50.00")}
    later = credits_plan(tenant_id=w.tenant.pk, currency="EUR", at=DEC_20, due=Decimal("80.00"))
    assert [(use.grant_id, use.amount) for use in later] == [(grant.pk, Decimal("50.00"))]
    assert ledger_verify().ok


def test_a_credit_restoration_cannot_be_deleted_by_raw_sql():
    from ledger.models import CreditRestoration
    from ledger.services.credits import credit_grant_create

    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")
    credit_grant_create(
        tenant=w.tenant,
        amount=Decimal("50.00"),
        currency="EUR",
        granted_at=datetime(2026, 10, 1, tzinfo=UTC),
        reason="welcome credit",
    )
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    invoice_void(invoice=invoice, reason="wrong customer", now=DEC_20)
    restoration = CreditRestoration.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_creditrestoration WHERE id = %s", [restoration.pk])
