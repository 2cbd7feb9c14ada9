"""Chain anchors (hardening finding 3): signed copies of the chain head, taken by period close runs and
payments, that `ledger_verify` checks the chain against, so a deleted tail with a rewritten head fails."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any, cast

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from billing.close.services import close_period, close_periods
from ledger.hashing import anchor_key_id, anchor_signature
from ledger.models import ChainAnchor, ChainHead, Invoice, Transaction
from ledger.services.anchors import chain_anchor_record
from ledger.services.invoicing import invoice_mark_paid
from ledger.services.posting import CASH, Leg, receivable, revenue, transaction_post
from ledger.verify import ledger_verify
from tenants.models import Tenant
from tests.factories import TenantFactory
from tests.factories.ledger import after_grace, invoice_of, tax_rule, usage, world

pytestmark = pytest.mark.django_db

NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)
DEC_20 = datetime(2026, 12, 20, 9, tzinfo=UTC)
T0 = datetime(2026, 12, 1, 8, 0, 0, 123456, tzinfo=UTC)
ATTACKER_KEY = "a key the attacker made up"


def _key_id() -> str:
    return hmac.new(settings.LEDGER_ANCHOR_KEY.encode(), b"ledger-anchor key id", hashlib.sha256).hexdigest()[
        :16
    ]


def _signed(canonical: str, key: str | None = None) -> str:
    """The HMAC-SHA256 of a canonical string written out by hand (not through ledger.hashing)."""
    secret = (key if key is not None else settings.LEDGER_ANCHOR_KEY).encode()
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


def _anchors() -> list[tuple[str, int, str, int]]:
    return list(ChainAnchor.objects.order_by("id").values_list("reason", "seq", "hash", "transaction_count"))


def _hash(seq: int) -> str:
    return Transaction.objects.get(seq=seq).hash


def _sales(n: int) -> list[Transaction]:
    tenant = cast(Tenant, TenantFactory(slug="acme"))
    txs = []
    for i in range(1, n + 1):
        tx = transaction_post(
            kind=Transaction.Kind.INVOICE,
            legs=[Leg(receivable(tenant.pk, tenant.slug), Decimal(i)), Leg(revenue("Compute"), -Decimal(i))],
            currency="EUR",
            tenant_id=tenant.pk,
            reference=f"ACME-{i}",
            booked_at=T0,
        )
        assert tx is not None
        txs.append(tx)
    return txs


def _as_the_attacker(*statements: tuple[str, list[Any]]) -> None:
    """Run raw SQL as a superuser with every user trigger (the append-only and chain head guards) silenced
    for this session, then switch them back on."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the appends so far are checked, as if committed
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("SET session_replication_role = replica")
        try:
            for sql, params in statements:
                cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = origin")


def _delete_tail_after(seq: int) -> None:
    """The attack of finding 3: the transactions after `seq` and their postings deleted, the chain head
    rewritten to the new tail."""
    _as_the_attacker(
        (
            "DELETE FROM ledger_posting WHERE transaction_id IN (SELECT id FROM ledger_transaction WHERE seq > %s)",
            [seq],
        ),
        ("DELETE FROM ledger_transaction WHERE seq > %s", [seq]),
        (
            "UPDATE ledger_chainhead SET seq = %s, hash = (SELECT hash FROM ledger_transaction WHERE seq = %s)",
            [seq, seq],
        ),
    )


def _three_tenants() -> list[Tenant]:
    tax_rule("DE", "19")
    tenants = []
    for slug in ("alpha", "beta", "gamma"):
        w = world(slug=slug, prices=[{"sku": f"calls_{slug}", "model": "per_unit", "unit_amount": "0.10"}])
        usage(w.tenant, f"calls_{slug}", w.version, NOV_5, "1000")
        tenants.append(w.tenant)
    return tenants


# --- what records an anchor ---------------------------------------------------------------------------


def test_a_close_run_records_one_signed_anchor_per_chunk_that_finalized():
    tenants = _three_tenants()
    signed_at = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)

    with time_machine.travel(signed_at, tick=False):
        results = close_periods(tenants=tenants, period_key="2026-11", now=after_grace(), chunk_size=2)

    assert [r.status for r in results] == ["finalized", "finalized", "finalized"]
    # chunk [alpha, beta] appended seq 1-2, chunk [gamma] seq 3
    assert _anchors() == [("close", 2, _hash(2), 2), ("close", 3, _hash(3), 3)]
    first, second = ChainAnchor.objects.order_by("id")
    assert (first.created_at, first.key_id) == (signed_at, _key_id())
    assert first.signature == _signed(
        f"ledger-anchor/v1|2|{_hash(2)}|2|2026-12-06T03:00:00.000000Z|close|{_key_id()}"
    )
    assert second.signature == _signed(
        f"ledger-anchor/v1|3|{_hash(3)}|3|2026-12-06T03:00:00.000000Z|close|{_key_id()}"
    )
    assert ledger_verify().message == "OK 3"


def test_a_close_run_that_finalizes_nothing_records_no_anchor():
    tenants = _three_tenants()
    close_periods(tenants=tenants, period_key="2026-11", now=after_grace())
    assert len(_anchors()) == 1

    # the same run again (already closed), and one inside the grace window (drafts only)
    again = close_periods(tenants=tenants, period_key="2026-11", now=after_grace())
    draft = close_period(tenant=tenants[0], period_key="2026-12", now=datetime(2027, 1, 2, tzinfo=UTC))

    assert [r.status for r in again] == ["already_closed"] * 3
    assert draft.status == "draft"
    assert _anchors() == [("close", 3, _hash(3), 3)]


def test_a_payment_records_an_anchor_of_its_own_append():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_5, "1000")  # 100.00 + 19.00
    invoice = invoice_of(close_period(tenant=w.tenant, period_key="2026-11", now=after_grace()))

    paid = invoice_mark_paid(invoice=invoice, paid_at=DEC_20)

    payment = Transaction.objects.get(kind=Transaction.Kind.PAYMENT)
    assert (paid.status, payment.seq, payment.reference) == (Invoice.Status.PAID, 2, "ACME-2026-000001")
    assert _anchors() == [("close", 1, _hash(1), 1), ("payment", 2, payment.hash, 2)]
    assert ledger_verify().message == "OK 2"


def test_the_anchor_is_logged_once_committed(caplog, django_capture_on_commit_callbacks):
    (tx,) = _sales(1)

    with (
        caplog.at_level(logging.INFO, logger="ledger.services.anchors"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        anchor = chain_anchor_record(reason=ChainAnchor.Reason.MANUAL, now=T0)

    expected = _signed(f"ledger-anchor/v1|1|{tx.hash}|1|2026-12-01T08:00:00.123456Z|manual|{_key_id()}")
    assert anchor.signature == expected
    assert [r.getMessage() for r in caplog.records] == [
        f"ledger anchor id={anchor.pk} seq=1 hash={tx.hash} transactions=1 reason=manual "
        f"key_id={_key_id()} signature={expected[:16]}"
    ]
    assert caplog.records[0].ledger_anchor["signature_prefix"] == expected[:16]


def test_manage_py_ledger_anchor_records_a_manual_anchor():
    _sales(2)
    out = StringIO()

    call_command("ledger_anchor", stdout=out)

    anchor = ChainAnchor.objects.get()
    assert out.getvalue() == (
        f"anchor id={anchor.pk} seq=2 hash={_hash(2)} transactions=2 key_id={_key_id()}\n"
    )
    assert _anchors() == [("manual", 2, _hash(2), 2)]


def test_an_anchor_of_the_empty_journal_names_the_genesis_hash():
    anchor = chain_anchor_record(reason=ChainAnchor.Reason.MANUAL, now=T0)

    assert (anchor.seq, anchor.hash, anchor.transaction_count) == (0, "0" * 64, 0)
    assert ledger_verify().message == "OK 0"


def test_the_count_builds_on_the_last_anchor(caplog):
    _sales(3)
    chain_anchor_record(reason=ChainAnchor.Reason.MANUAL)
    payment = transaction_post(
        kind=Transaction.Kind.PAYMENT,
        legs=[Leg(CASH, Decimal("1.00")), Leg(revenue("Compute"), Decimal("-1.00"))],
        currency="EUR",
    )
    assert payment is not None

    second = chain_anchor_record(reason=ChainAnchor.Reason.MANUAL)

    assert (second.seq, second.hash, second.transaction_count) == (4, payment.hash, 4)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# --- what verify checks -------------------------------------------------------------------------------


def test_a_deleted_tail_with_a_rewritten_head_fails_naming_the_anchor():
    # given: five transactions, anchored
    _sales(5)
    anchor = chain_anchor_record(reason=ChainAnchor.Reason.MANUAL, now=T0)
    assert ledger_verify().message == "OK 5"

    # when: the attacker deletes the last two and points the head at the new tail
    _delete_tail_after(3)

    # then: the rows and the head agree with each other; the anchor does not
    assert (Transaction.objects.count(), ChainHead.objects.get().seq) == (3, 3)
    result = ledger_verify()
    assert (result.ok, result.count, result.warnings) == (False, 3, ())
    assert result.message == (
        f"anchor id={anchor.pk} seq=5 (manual): transaction seq 5 is missing, the chain ends at seq 3 "
        "(its tail was deleted)"
    )
    with pytest.raises(CommandError) as exc:
        call_command("ledger_verify")
    assert exc.value.returncode == 1
    assert str(exc.value) == f"FAIL {result.message}"


def test_appending_and_anchoring_after_the_attack_does_not_launder_it(caplog):
    _sales(5)
    anchor = chain_anchor_record(reason=ChainAnchor.Reason.MANUAL, now=T0)
    old_hash_5 = _hash(5)
    _delete_tail_after(3)

    # the business goes on: three new transactions (seq 4-6 again) and a new, genuine anchor
    _more_sales(3)
    later = chain_anchor_record(reason=ChainAnchor.Reason.MANUAL)

    # the new anchor could not build its count on the old one (its seq 5 is another transaction now)
    assert (later.seq, later.transaction_count) == (6, 6)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"ledger anchor id={anchor.pk} seq=5 cannot be built on (signed with another key, forged, or its "
        "transaction is gone): counting every transaction; run manage.py ledger_verify"
    ]
    result = ledger_verify()
    assert result.ok is False
    assert result.message == (
        f"anchor id={anchor.pk} seq=5 (manual): transaction seq 5 has hash {_hash(5)[:16]}..., "
        f"the anchor signed {old_hash_5[:16]}... (the chain was rewritten after it was anchored)"
    )


def _more_sales(n: int) -> None:
    tenant = Tenant.objects.get(slug="acme")
    for i in range(n):
        transaction_post(
            kind=Transaction.Kind.INVOICE,
            legs=[Leg(receivable(tenant.pk, tenant.slug), Decimal(7)), Leg(revenue("Compute"), Decimal(-7))],
            currency="EUR",
            tenant_id=tenant.pk,
            reference=f"ACME-NEW-{i}",
            booked_at=T0,
        )


def _forge(*, seq: int, hash_: str, count: int, key: str, key_id: str) -> ChainAnchor:
    forged = ChainAnchor(
        seq=seq, hash=hash_, transaction_count=count, created_at=T0, reason="manual", key_id=key_id
    )
    forged.signature = anchor_signature(forged, key=key)
    forged.save(force_insert=True)
    return forged


def test_an_anchor_forged_with_another_key_is_reported_and_not_trusted():
    _sales(5)
    genuine = chain_anchor_record(reason=ChainAnchor.Reason.MANUAL, now=T0)
    _delete_tail_after(3)
    # the attacker adds an anchor of the truncated chain, signed with a key of their own
    forged = _forge(seq=3, hash_=_hash(3), count=3, key=ATTACKER_KEY, key_id=anchor_key_id(ATTACKER_KEY))

    result = ledger_verify()

    assert result.warnings == (
        f"anchor id={forged.pk} seq=3: not trusted, it names key {anchor_key_id(ATTACKER_KEY)}, "
        f"not the configured key {_key_id()}",
    )
    assert (result.ok, result.message) == (
        False,
        f"anchor id={genuine.pk} seq=5 (manual): transaction seq 5 is missing, the chain ends at seq 3 "
        "(its tail was deleted)",
    )


def test_an_anchor_claiming_the_configured_key_without_it_is_reported_and_verify_says_ok():
    _sales(2)
    # a forged anchor of a transaction that never existed, naming the real key id
    forged = _forge(seq=9, hash_="e" * 64, count=9, key=ATTACKER_KEY, key_id=_key_id())
    out, err = StringIO(), StringIO()

    result = ledger_verify()
    call_command("ledger_verify", stdout=out, stderr=err)

    assert (result.ok, result.message) == (True, "OK 2")
    warning = f"anchor id={forged.pk} seq=9: not trusted, its signature does not verify with key {_key_id()}"
    assert result.warnings == (warning,)
    assert (out.getvalue(), err.getvalue()) == ("OK 2\n", f"WARNING {warning}\n")


def test_an_anchor_whose_count_disagrees_with_the_chain_fails():
    _sales(3)
    # signed with the real key but over a wrong count (as if anchored over a broken chain)
    bad = _forge(seq=3, hash_=_hash(3), count=4, key=settings.LEDGER_ANCHOR_KEY, key_id=_key_id())

    result = ledger_verify()

    assert (result.ok, result.message) == (
        False,
        f"anchor id={bad.pk} seq=3 (manual): 3 transactions up to seq 3, the anchor signed 4",
    )


def test_a_tampered_row_before_the_anchor_is_named_first():
    txs = _sales(4)
    chain_anchor_record(reason=ChainAnchor.Reason.MANUAL)
    _as_the_attacker(
        ("UPDATE ledger_posting SET amount = amount * 10 WHERE transaction_id = %s", [txs[1].pk])
    )

    result = ledger_verify()

    assert result.message == f"transaction id={txs[1].pk} seq=2: content does not match its hash (tampered)"


# --- the anchor table is append-only ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "operation"),
    [
        ("UPDATE ledger_chainanchor SET seq = 3 WHERE id = %s", "UPDATE"),
        ("DELETE FROM ledger_chainanchor WHERE id = %s", "DELETE"),
        ("TRUNCATE ledger_chainanchor", "TRUNCATE"),
    ],
)
def test_the_database_refuses_to_change_an_anchor(sql, operation):
    _sales(5)
    anchor = chain_anchor_record(reason=ChainAnchor.Reason.MANUAL, now=T0)

    with (
        pytest.raises(
            IntegrityError,
            match=f"{operation} on ledger_chainanchor is not allowed: the ledger is append-only",
        ),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [anchor.pk] if "%s" in sql else [])

    assert _anchors() == [("manual", 5, _hash(5), 5)]


def test_an_anchor_edited_behind_the_guard_is_no_longer_trusted():
    _sales(5)
    anchor = chain_anchor_record(reason=ChainAnchor.Reason.MANUAL, now=T0)
    _delete_tail_after(3)
    # the attacker also moves the anchor to the new tail: its signature no longer matches
    _as_the_attacker(
        (
            "UPDATE ledger_chainanchor SET seq = 3, hash = %s, transaction_count = 3 WHERE id = %s",
            [_hash(3), anchor.pk],
        )
    )

    result = ledger_verify()

    assert result.warnings == (
        f"anchor id={anchor.pk} seq=3: not trusted, its signature does not verify with key {_key_id()}",
    )
    assert (result.ok, result.message) == (True, "OK 3")


# --- the key ------------------------------------------------------------------------------------------

_SECRET, _FX = secrets.token_urlsafe(64), secrets.token_urlsafe(48)
_WEAK_ANCHOR_KEYS = {
    "missing": (None, "LEDGER_ANCHOR_KEY must be set in production"),
    "short": ("0123456789abcdef", "LEDGER_ANCHOR_KEY is too short: use at least 32 characters"),
    "SECRET_KEY": (
        _SECRET,
        "LEDGER_ANCHOR_KEY must be a secret of its own, not SECRET_KEY or FX_SIGNING_KEY",
    ),
    "FX_SIGNING_KEY": (
        _FX,
        "LEDGER_ANCHOR_KEY must be a secret of its own, not SECRET_KEY or FX_SIGNING_KEY",
    ),
}


@pytest.mark.parametrize(("key", "message"), _WEAK_ANCHOR_KEYS.values(), ids=_WEAK_ANCHOR_KEYS.keys())
def test_production_settings_refuse_a_weak_anchor_key(key, message):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "SECRET_KEY": _SECRET,
        "FX_SIGNING_KEY": _FX,
        "DATABASE_URL": "postgres://billing@db.internal:5432/billing",
        "REDIS_URL": "redis://redis.internal:6379/0",
        **({"LEDGER_ANCHOR_KEY": key} if key is not None else {}),
    }
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings.production"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"django.core.exceptions.ImproperlyConfigured: {message}"
