"""The journal: balanced, append-only, hash-chained; balances by SQL aggregation."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

import pytest
from django.db import IntegrityError, connection, transaction

from common.errors import ValidationFailed
from ledger.models import Posting, Transaction
from ledger.selectors import account_balance, balances_by_account, tenant_balances, trial_balance
from ledger.services.posting import CASH, DISCOUNTS, Leg, receivable, revenue, transaction_post
from ledger.verify import ledger_verify
from tenants.models import Tenant
from tests.factories import TenantFactory as _TenantFactory

pytestmark = pytest.mark.django_db


def TenantFactory(**kwargs: object) -> Tenant:
    return cast(Tenant, _TenantFactory(**kwargs))


T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _sale(
    tenant: Tenant, amount: str, *, currency: str = "EUR", fx: str = "1", at: datetime = T0
) -> Transaction:
    value = Decimal(amount)
    tx = transaction_post(
        kind=Transaction.Kind.INVOICE,
        legs=[Leg(receivable(tenant.pk, tenant.slug), value), Leg(revenue("Compute"), -value)],
        currency=currency,
        fx_rate=Decimal(fx),
        tenant_id=tenant.pk,
        reference="TEST-1",
        booked_at=at,
    )
    assert tx is not None
    return tx


def test_it_posts_a_balanced_transaction_chained_to_the_previous_one():
    tenant = TenantFactory(slug="acme")
    first = _sale(tenant, "10.00")
    second = _sale(tenant, "5.50")
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == "0" * 64
    assert second.prev_hash == first.hash
    assert sorted(p.amount for p in second.postings.all()) == [Decimal("-5.50"), Decimal("5.50")]


def test_it_refuses_an_unbalanced_transaction_in_code():
    tenant = TenantFactory(slug="acme")
    with pytest.raises(ValidationFailed):
        transaction_post(
            kind=Transaction.Kind.ADJUSTMENT,
            legs=[Leg(receivable(tenant.pk, tenant.slug), Decimal("1.00")), Leg(CASH, Decimal("-0.99"))],
            currency="EUR",
        )
    assert Transaction.objects.count() == 0


def test_it_converts_to_the_base_currency_and_books_the_rounding_residual_to_fx():
    # 3 lines of 1 KWD at 1 KWD = 2.995 EUR: each leg rounds to 3.00 (HALF_UP) / 2.99 ...
    tenant = TenantFactory(slug="kw", currency="KWD")
    tx = transaction_post(
        kind=Transaction.Kind.INVOICE,
        legs=[
            Leg(receivable(tenant.pk, tenant.slug), Decimal("3.000")),
            Leg(revenue("Compute"), Decimal("-1.000")),
            Leg(revenue("Storage"), Decimal("-1.000")),
            Leg(DISCOUNTS, Decimal("-1.000")),
        ],
        currency="KWD",
        fx_rate=Decimal("2.995"),
        tenant_id=tenant.pk,
    )
    assert tx is not None
    legs = {p.account.code: p.amount for p in tx.postings.select_related("account")}
    # receivable 3 x 2.995 = 8.985 -> 8.99; each credit 2.995 -> 3.00 (x3 = 9.00); residual 0.01 to FX
    assert legs["receivable:kw"] == Decimal("8.99")
    assert legs["revenue:Compute"] == Decimal("-3.00")
    assert legs["fx_gain_loss"] == Decimal("0.01")
    assert sum(legs.values()) == 0
    assert {p.currency for p in tx.postings.all()} == {"EUR"}


def test_it_computes_balances_per_account_tenant_and_as_of_a_date():
    tenant = TenantFactory(slug="acme")
    _sale(tenant, "10.00", at=datetime(2026, 10, 31, tzinfo=UTC))
    _sale(tenant, "2.50", at=datetime(2026, 11, 30, tzinfo=UTC))
    assert account_balance(code="receivable:acme") == {"EUR": Decimal("12.50")}
    assert account_balance(code="receivable:acme", as_of=datetime(2026, 11, 1, tzinfo=UTC)) == {
        "EUR": Decimal("10.00")
    }
    assert tenant_balances(tenant_id=tenant.pk) == {"receivable:acme": {"EUR": Decimal("12.50")}}
    assert balances_by_account()["revenue:Compute"] == {"EUR": Decimal("-12.50")}
    assert trial_balance() == {"EUR": Decimal("0")}


def test_it_refuses_raw_sql_update_of_a_posting():
    tenant = TenantFactory(slug="acme")
    tx = _sale(tenant, "10.00")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_posting SET amount = 999 WHERE transaction_id = %s", [tx.pk])


def test_it_refuses_raw_sql_delete_of_a_posting():
    tenant = TenantFactory(slug="acme")
    tx = _sale(tenant, "10.00")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_posting WHERE transaction_id = %s", [tx.pk])
    assert Posting.objects.filter(transaction=tx).count() == 2


def test_it_refuses_raw_sql_update_of_a_transaction():
    tenant = TenantFactory(slug="acme")
    tx = _sale(tenant, "10.00")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_transaction SET memo = 'x' WHERE id = %s", [tx.pk])


def test_it_refuses_truncate_of_postings_on_postgres():
    tenant = TenantFactory(slug="acme")
    _sale(tenant, "10.00")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire the pending balance checks first
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute("TRUNCATE ledger_posting CASCADE")


def _insert_unbalanced_by_raw_sql(tx: Transaction) -> None:
    account_id = tx.postings.values_list("account_id", flat=True)[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transaction (seq, kind, reference, memo, booked_at, prev_hash, hash) "
            "VALUES (99, 'adjustment', '', '', now(), %s, %s) RETURNING id",
            [tx.hash, "a" * 64],
        )
        new_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO ledger_posting (transaction_id, account_id, amount, currency, original_amount, "
            "original_currency) VALUES (%s, %s, 5, 'EUR', 5, 'EUR'), (%s, %s, -4, 'EUR', -4, 'EUR')",
            [new_id, account_id, new_id, account_id],
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # runs the deferred checks now


def _insert_transaction_without_postings(tx: Transaction) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transaction (seq, kind, reference, memo, booked_at, prev_hash, hash) "
            "VALUES (98, 'adjustment', '', '', now(), %s, %s)",
            [tx.hash, "b" * 64],
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what COMMIT would do


def test_the_database_refuses_unbalanced_postings_written_by_raw_sql():
    tenant = TenantFactory(slug="acme")
    tx = _sale(tenant, "10.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        _insert_unbalanced_by_raw_sql(tx)


def test_the_deferred_trigger_refuses_a_transaction_without_postings_at_commit():
    tenant = TenantFactory(slug="acme")
    tx = _sale(tenant, "10.00")
    with pytest.raises(IntegrityError, match="fewer than two postings"), transaction.atomic():
        _insert_transaction_without_postings(tx)


def test_ledger_verify_says_ok_with_the_count():
    tenant = TenantFactory(slug="acme")
    _sale(tenant, "1.00")
    _sale(tenant, "2.00")
    assert ledger_verify().message == "OK 2"


def _tamper(
    sql: str,
    params: list[int | str],
    *,
    table: str = "ledger_posting",
    trigger: str = "ledger_posting_append_only",
) -> None:
    """Run `sql` with the guard `trigger` of `table` (the append-only trigger of ledger_posting by default)
    out of the way."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE needs no pending trigger events
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def test_ledger_verify_names_the_first_row_tampered_by_raw_sql():
    tenant = TenantFactory(slug="acme")
    _sale(tenant, "1.00")
    second = _sale(tenant, "2.00")
    _sale(tenant, "3.00")
    # given: both legs of the second transaction inflated by raw SQL (still balanced)
    _tamper("UPDATE ledger_posting SET amount = amount * 10 WHERE transaction_id = %s", [second.pk])
    # when
    result = ledger_verify()
    # then
    assert not result.ok
    assert f"transaction id={second.pk} seq=2" in result.message
    assert "tampered" in result.message


def test_ledger_verify_command_exits_1_naming_the_row():
    from django.core.management import CommandError, call_command

    tenant = TenantFactory(slug="acme")
    first = _sale(tenant, "1.00")
    _tamper(
        "UPDATE ledger_posting SET original_amount = 7 WHERE transaction_id = %s AND amount > 0", [first.pk]
    )
    with pytest.raises(CommandError) as exc:
        call_command("ledger_verify")
    assert exc.value.returncode == 1
    assert "seq=1" in str(exc.value)


def test_the_invoice_guard_leaves_mutable_only_named_columns_of_the_invoice_table():
    """Every column of an issued invoice is frozen but those the guard names (ledger/migrations/
    0004_reinstall_guards.sql); a renamed or misspelt name there is caught here, not by an issued
    invoice refusing a PDF."""
    from ledger.models import Invoice

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_functiondef('ledger_invoice_guard'::regproc)")
        row = cursor.fetchone()
    assert row is not None
    declared = re.search(r"mutable text\[\] := ARRAY\[([^\]]*)\];", row[0])
    assert declared is not None
    mutable = re.findall(r"'(\w+)'", declared.group(1))

    assert mutable == [
        "status",
        "paid_at",
        "voided_at",
        "void_reason",
        "pdf_version",
        "pdf_rendered_version",
        "pdf_file",
        "pdf_sha256",
        "xml_file",
        "xml_sha256",
    ]
    assert set(mutable) <= {f.column for f in Invoice._meta.concrete_fields}


def test_ledger_verify_notices_a_missing_tail_of_the_chain():
    tenant = TenantFactory(slug="acme")
    _sale(tenant, "1.00")
    _sale(tenant, "2.00")
    # given: the head remembers a third append whose rows are gone (a deleted tail looks the same)
    _tamper(
        "UPDATE ledger_chainhead SET seq = 3, hash = %s",
        ["f" * 64],
        table="ledger_chainhead",
        trigger="ledger_chainhead_guard",
    )

    result = ledger_verify()

    assert not result.ok
    assert result.message == (
        "chain head: the last append was seq 3 but the chain ends at seq 2 (transactions missing at the end)"
    )
