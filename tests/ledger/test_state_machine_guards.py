"""The database allows only the moves the ledger services make (ledger/migrations/
0006_state_machine_guards.sql): each forbidden move is tried with raw SQL and refused, and the service
that makes the legitimate move still passes, deferred checks included (`SET CONSTRAINTS ALL IMMEDIATE`
runs what COMMIT would run)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction

from billing.close.services import close_period
from ledger.models import Account, ChainHead, Invoice, Transaction
from ledger.services.credit_notes import credit_note_create
from ledger.services.credits import credit_grant_create
from ledger.services.documents import invoice_mark_pdf_dirty, invoice_render_pdf
from ledger.services.invoicing import invoice_mark_paid, invoice_void
from ledger.services.posting import CASH, Leg, accounts_ensure, receivable, transaction_post
from ledger.verify import ledger_verify
from tests.factories import TenantFactory
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world

pytestmark = pytest.mark.django_db

NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)
DEC_20 = datetime(2026, 12, 20, tzinfo=UTC)


def _sql(statement: str, params: list[Any] | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def _at_commit(statement: str, params: list[Any] | None = None) -> None:
    """Run `statement`, then the deferred checks as COMMIT would, in a savepoint rolled back on error."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _commit_checks() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _invoice(quantity: str = "1000") -> Invoice:
    """A finalized invoice of 119.00 EUR (1,000 API calls at 0.10, DE VAT 19 %)."""
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, quantity)
    return invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))


def _draft() -> Invoice:
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")
    draft = invoice_of(
        close_period(tenant=w.tenant, period_key="2026-11", now=datetime(2026, 12, 1, 1, tzinfo=UTC))
    )
    assert draft.status == Invoice.Status.DRAFT
    return draft


# Invoices: the status machine


def test_a_blocked_invoice_cannot_be_finalized_without_being_unblocked_first():
    draft = _draft()
    _sql(
        "UPDATE ledger_invoice SET status = 'blocked', blocked_reason = 'no tax rule' WHERE id = %s",
        [draft.pk],
    )

    with pytest.raises(IntegrityError, match="blocked -> finalized is not allowed"):
        _sql(
            "UPDATE ledger_invoice SET status = 'finalized', number = 'X-1', finalized_at = now() WHERE id = %s",
            [draft.pk],
        )


def test_a_payment_date_is_written_by_the_pay_move_only():
    invoice = _invoice()

    with pytest.raises(IntegrityError, match="payment date is written by the pay move only"):
        _sql("UPDATE ledger_invoice SET paid_at = now() WHERE id = %s", [invoice.pk])


def test_a_void_record_is_written_by_the_void_move_only():
    invoice = _invoice()

    with pytest.raises(IntegrityError, match="void record is written by the void move only"):
        _sql("UPDATE ledger_invoice SET void_reason = 'later, maybe' WHERE id = %s", [invoice.pk])


def test_voiding_without_the_credit_note_is_refused_at_commit():
    invoice = _invoice()

    with pytest.raises(IntegrityError, match="is void but its credit notes total 0 of 119"):
        _at_commit(
            "UPDATE ledger_invoice SET status = 'void', voided_at = now(), void_reason = 'oops' WHERE id = %s",
            [invoice.pk],
        )
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.FINALIZED


def test_paying_without_the_payment_posting_is_refused_at_commit():
    invoice = _invoice()

    with pytest.raises(IntegrityError, match="is paid but the journal has no payment for it"):
        _at_commit("UPDATE ledger_invoice SET status = 'paid', paid_at = now() WHERE id = %s", [invoice.pk])
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.FINALIZED


def test_the_services_pay_and_void_an_invoice_and_pass_the_commit_checks():
    invoice = _invoice()

    paid = invoice_mark_paid(invoice=invoice, paid_at=DEC_20)
    voided = invoice_void(invoice=paid, reason="paid twice by mistake", now=DEC_20)
    _commit_checks()

    assert (paid.status, voided.status) == (Invoice.Status.PAID, Invoice.Status.VOID)
    assert Transaction.objects.filter(kind=Transaction.Kind.PAYMENT, reference=invoice.number).count() == 1
    assert ledger_verify().message == "OK 3"


def test_voiding_after_a_partial_credit_note_issues_the_rest_and_passes_the_commit_checks():
    invoice = _invoice()
    line = invoice.lines.get()
    credit_note_create(invoice=invoice, reason="goodwill", lines=[(line.pk, Decimal("40.00"))], now=DEC_20)

    invoice_void(invoice=invoice, reason="wrong customer", now=DEC_20)
    _commit_checks()

    assert sorted(n.total for n in invoice.credit_notes.all()) == [Decimal("47.60"), Decimal("71.40")]


def test_an_invoice_paid_in_full_by_prepaid_credit_is_paid_with_nothing_posted():
    w = world()
    tax_rule("DE", "19")
    credit_grant_create(
        tenant=w.tenant,
        amount=Decimal("500.00"),
        currency="EUR",
        granted_at=datetime(2026, 10, 1, tzinfo=UTC),
        reason="welcome credit",
    )
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))
    assert invoice.amount_due == Decimal("0")

    paid = invoice_mark_paid(invoice=invoice, paid_at=DEC_20)
    _commit_checks()

    assert paid.status == Invoice.Status.PAID
    assert not Transaction.objects.filter(kind=Transaction.Kind.PAYMENT).exists()


# Invoices: the PDF fields


def _rendered(invoice: Invoice) -> Invoice:
    rendered = invoice_render_pdf(invoice_id=invoice.pk)
    assert rendered is not None
    assert rendered.pdf_file
    return rendered


def test_a_rendered_pdf_cannot_be_overwritten():
    invoice = _rendered(_invoice())

    with pytest.raises(IntegrityError, match="PDF is written once per rendered version"):
        _sql(
            "UPDATE ledger_invoice SET pdf_file = 'invoices/acme/forged.pdf', pdf_sha256 = %s WHERE id = %s",
            ["b" * 64, invoice.pk],
        )


def test_a_rendered_pdf_cannot_be_cleared():
    invoice = _rendered(_invoice())

    with pytest.raises(IntegrityError, match="PDF is written once per rendered version"):
        _sql("UPDATE ledger_invoice SET pdf_file = '', pdf_sha256 = '' WHERE id = %s", [invoice.pk])


def test_a_pdf_cannot_be_recorded_beyond_the_version_asked_for():
    invoice = _rendered(_invoice())

    with pytest.raises(IntegrityError, match="PDF versions only go up"):
        _sql(
            "UPDATE ledger_invoice SET pdf_rendered_version = pdf_version + 1, pdf_file = 'x.pdf', "
            "pdf_sha256 = %s WHERE id = %s",
            ["c" * 64, invoice.pk],
        )


def test_the_dirty_counter_never_goes_down():
    invoice = _invoice()

    with pytest.raises(IntegrityError, match="PDF versions only go up"):
        _sql("UPDATE ledger_invoice SET pdf_version = 0 WHERE id = %s", [invoice.pk])


def test_marking_dirty_then_rendering_records_a_new_pdf():
    first = _rendered(_invoice())

    invoice_mark_pdf_dirty(invoice=first)
    second = _rendered(Invoice.objects.get(pk=first.pk))

    assert (second.pdf_version, second.pdf_rendered_version) == (2, 2)
    assert second.pdf_file != first.pdf_file
    assert "ACME-2026-000001-v2" in second.pdf_file
    with default_storage.open(second.pdf_file, "rb") as fh:
        assert second.pdf_sha256 == hashlib.sha256(fh.read()).hexdigest()


# The chain head


def _sale(amount: str = "10.00") -> Transaction:
    tenant = TenantFactory.create(slug="chain")  # get-or-create by slug
    tx = transaction_post(
        kind=Transaction.Kind.ADJUSTMENT,
        legs=[Leg(receivable(tenant.pk, tenant.slug), Decimal(amount)), Leg(CASH, -Decimal(amount))],
        currency="EUR",
        tenant_id=tenant.pk,
    )
    assert tx is not None
    return tx


def test_the_chain_head_cannot_move_back():
    first = _sale()
    _sale()

    with pytest.raises(IntegrityError, match="moves only forward"):
        _sql("UPDATE ledger_chainhead SET seq = %s, hash = %s", [first.seq, first.hash])
    assert ChainHead.objects.get().seq == 2


def test_the_chain_head_cannot_move_past_the_journal():
    _sale()

    with pytest.raises(IntegrityError, match="moves only forward"):
        _sql("UPDATE ledger_chainhead SET seq = 2, hash = %s", ["f" * 64])


def test_the_chain_head_cannot_be_deleted_or_truncated():
    _sale()
    _commit_checks()  # TRUNCATE needs no pending trigger events

    with pytest.raises(IntegrityError, match="never deleted"):
        _sql("DELETE FROM ledger_chainhead")
    with pytest.raises(IntegrityError, match="not allowed"):
        _sql("TRUNCATE ledger_chainhead")


def _append_without_moving_the_head(after: Transaction) -> None:
    """A balanced transaction chained after `after`, inserted by raw SQL, the chain head left where it is;
    then the deferred checks, as COMMIT runs them."""
    account_id = after.postings.values_list("account_id", flat=True)[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transaction (seq, kind, reference, memo, booked_at, prev_hash, hash) "
            "VALUES (%s, 'adjustment', '', '', now(), %s, %s) RETURNING id",
            [after.seq + 1, after.hash, "a" * 64],
        )
        row = cursor.fetchone()
        assert row is not None
        cursor.execute(
            "INSERT INTO ledger_posting (transaction_id, account_id, amount, currency, original_amount, "
            "original_currency) VALUES (%s, %s, 5, 'EUR', 5, 'EUR'), (%s, %s, -5, 'EUR', -5, 'EUR')",
            [row[0], account_id, row[0], account_id],
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_an_append_that_does_not_move_the_chain_head_is_refused_at_commit():
    tx = _sale()

    with pytest.raises(IntegrityError, match="appended without moving the chain head"), transaction.atomic():
        _append_without_moving_the_head(tx)


def test_posting_moves_the_chain_head_with_each_append():
    first = _sale("1.00")
    second = _sale("2.00")
    _commit_checks()

    head = ChainHead.objects.get()
    assert (head.seq, head.hash) == (second.seq, second.hash)
    assert second.prev_hash == first.hash
    assert ledger_verify().message == "OK 2"


# Accounts


def test_an_account_cannot_be_renamed_to_another_code():
    _sale()

    with pytest.raises(IntegrityError, match="code, kind, tenant and creation time never change"):
        _sql("UPDATE ledger_account SET code = 'cash:elsewhere' WHERE code = 'cash'")


def test_an_account_cannot_change_hands():
    _sale()
    other = TenantFactory.create(slug="other")

    with pytest.raises(IntegrityError, match="code, kind, tenant and creation time never change"):
        _sql("UPDATE ledger_account SET tenant_id = %s WHERE code = 'receivable:chain'", [other.pk])


def test_an_account_cannot_be_deleted_or_truncated():
    _sale()
    _commit_checks()

    with pytest.raises(IntegrityError, match="never deleted"):
        _sql("DELETE FROM ledger_account WHERE code = 'cash'")
    with pytest.raises(IntegrityError, match="not allowed"):
        _sql("TRUNCATE ledger_account CASCADE")


def test_accounts_are_created_on_first_use_and_found_again():
    created = accounts_ensure([CASH])
    again = accounts_ensure([CASH])

    assert created["cash"].pk == again["cash"].pk
    assert Account.objects.filter(code="cash").count() == 1
