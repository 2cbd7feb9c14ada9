"""Writing to the journal: accounts and balanced, hash-chained transactions.

`transactions_post` (and `transaction_post`, for one) is the only writer of Transaction and Posting rows.
It checks the balance in code before inserting; PostgreSQL checks it again at COMMIT with a deferred
constraint trigger. Appends are serialised by locking the single ChainHead row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.db import copy_rows, insert_rows
from common.errors import ValidationFailed
from common.money import quantize_money
from ledger.hashing import GENESIS, transaction_row_hash
from ledger.models import Account, ChainHead, Posting, Transaction


@dataclass(frozen=True)
class AccountSpec:
    code: str
    name: str
    kind: str
    tenant_id: int | None = None


def receivable(tenant_id: int, slug: str) -> AccountSpec:
    return AccountSpec(f"receivable:{slug}", f"Accounts receivable {slug}", Account.Kind.ASSET, tenant_id)


def prepaid(tenant_id: int, slug: str) -> AccountSpec:
    return AccountSpec(f"prepaid:{slug}", f"Prepaid credit {slug}", Account.Kind.LIABILITY, tenant_id)


def revenue(category: str) -> AccountSpec:
    name = category or "Other"
    return AccountSpec(f"revenue:{name}", f"Revenue {name}", Account.Kind.INCOME)


def tax_payable(jurisdiction: str) -> AccountSpec:
    return AccountSpec(f"tax_payable:{jurisdiction}", f"Tax payable {jurisdiction}", Account.Kind.LIABILITY)


DISCOUNTS = AccountSpec(
    "discounts", "Discounts and promotional credits (contra-revenue)", Account.Kind.INCOME
)
BREAKAGE = AccountSpec("revenue:breakage", "Breakage revenue (expired prepaid credit)", Account.Kind.INCOME)
FX_GAIN_LOSS = AccountSpec("fx_gain_loss", "FX gain/loss and conversion rounding", Account.Kind.EXPENSE)
CASH = AccountSpec("cash", "Cash at bank", Account.Kind.ASSET)


def accounts_ensure(specs: Iterable[AccountSpec]) -> dict[str, Account]:
    """The accounts for `specs` by code, creating missing ones (one SELECT when they all exist)."""
    wanted = {s.code: s for s in specs}
    found = {a.code: a for a in Account.objects.filter(code__in=list(wanted))}
    missing = [spec for code, spec in wanted.items() if code not in found]
    if missing:
        # ON CONFLICT DO NOTHING: a concurrent creator wins quietly; then read them back.
        Account.objects.bulk_create(
            [Account(code=s.code, name=s.name, kind=s.kind, tenant_id=s.tenant_id) for s in missing],
            ignore_conflicts=True,
        )
        found.update({a.code: a for a in Account.objects.filter(code__in=[s.code for s in missing])})
    return found


@dataclass(frozen=True)
class Leg:
    """One side of a transaction in the document's currency; converted to the base currency on posting."""

    account: AccountSpec
    amount: Decimal  # signed: debit > 0, credit < 0


def chain_head_for_update() -> ChainHead:
    """The chain head row, locked (SELECT ... FOR UPDATE) until the caller's transaction ends: the lock
    that serialises appends (and that `chain_anchor_record` reads the head under). Created at the journal's
    start when missing."""
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            ChainHead.objects.create(pk=1)
    except IntegrityError:
        pass
    return ChainHead.objects.select_for_update().get(pk=1)


@dataclass(frozen=True)
class PostingRequest:
    """One transaction to post (the arguments of `transaction_post`)."""

    kind: str
    legs: Sequence[Leg]
    currency: str
    fx_rate: Decimal = Decimal(1)
    tenant_id: int | None = None
    reference: str = ""
    memo: str = ""
    booked_at: datetime | None = None


_Row = tuple[AccountSpec, Decimal, Decimal]  # spec, base amount, original amount


def _base_rows(request: PostingRequest) -> list[_Row]:
    """The request's legs converted to the base currency (zero legs dropped, the conversion residual on
    FX gain/loss), checked to balance; [] when there is nothing to post."""
    base = settings.LEDGER_BASE_CURRENCY
    kind, currency, fx_rate = request.kind, request.currency, request.fx_rate
    legs = [leg for leg in request.legs if leg.amount != 0]
    if not legs:
        return []
    if sum((leg.amount for leg in legs), Decimal(0)) != 0:
        raise ValidationFailed(f"unbalanced {kind} transaction in {currency}: {[leg.amount for leg in legs]}")
    if currency != base and fx_rate <= 0:
        raise ValidationFailed("an FX rate is needed to post in a foreign currency")
    rows: list[_Row] = []
    for leg in legs:
        converted = leg.amount if currency == base else quantize_money(leg.amount * fx_rate, base)
        rows.append((leg.account, converted, leg.amount))
    residual = sum((r[1] for r in rows), Decimal(0))
    if residual != 0:
        rows.append((FX_GAIN_LOSS, -residual, Decimal(0)))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for _spec, amount, _orig in rows:
        totals[base] += amount
    if any(v != 0 for v in totals.values()) or len(rows) < 2:
        raise ValidationFailed(f"unbalanced {kind} transaction after conversion")
    return rows


def transaction_post(
    *,
    kind: str,
    legs: Sequence[Leg],
    currency: str,
    fx_rate: Decimal = Decimal(1),
    tenant_id: int | None = None,
    reference: str = "",
    memo: str = "",
    booked_at: datetime | None = None,
) -> Transaction | None:
    """Post `legs` (amounts in `currency`, each already rounded to its minor unit) as one transaction in
    the ledger's base currency. Each leg is converted with `fx_rate` (1 `currency` = fx_rate base) and
    rounded once; the conversion residual goes to the FX gain/loss account so the base-currency legs
    balance exactly. Legs of zero are dropped; nothing at all to post returns None."""
    request = PostingRequest(kind, legs, currency, fx_rate, tenant_id, reference, memo, booked_at)
    (tx,) = transactions_post([request])
    return tx


def transactions_post(requests: Sequence[PostingRequest]) -> list[Transaction | None]:
    """Post several transactions (each as `transaction_post` would, in this order) with one chain-head
    lock and one multi-row INSERT for the transactions and one for their postings (a batch close of many
    tenants). Returns one Transaction per request, None where there was nothing to post."""
    base = settings.LEDGER_BASE_CURRENCY
    prepared = [(request, _base_rows(request)) for request in requests]
    if not any(rows for _r, rows in prepared):
        return [None] * len(prepared)
    with transaction.atomic(savepoint=False):
        accounts = accounts_ensure(spec for _r, rows in prepared for spec, _a, _o in rows)
        head = chain_head_for_update()
        seq, prev = head.seq, head.hash or GENESIS
        now = timezone.now()
        txs: list[Transaction | None] = []
        for request, rows in prepared:
            if not rows:
                txs.append(None)
                continue
            seq += 1
            when = request.booked_at or now
            tx = Transaction(
                seq=seq,
                kind=request.kind,
                tenant_id=request.tenant_id,
                reference=request.reference,
                memo=request.memo,
                booked_at=when,
                prev_hash=prev,
            )
            tx.hash = transaction_row_hash(
                tx, [(spec.code, amount, base, orig, request.currency) for spec, amount, orig in rows]
            )
            txs.append(tx)
            prev = tx.hash
        insert_rows([tx for tx in txs if tx is not None])
        copy_rows(
            [
                Posting(
                    transaction=tx,
                    account=accounts[spec.code],
                    amount=amount,
                    currency=base,
                    original_amount=orig,
                    original_currency=request.currency,
                )
                for (request, rows), tx in zip(prepared, txs, strict=True)
                if tx is not None
                for spec, amount, orig in rows
            ]
        )
        head.seq, head.hash = seq, prev
        head.save(update_fields=["seq", "hash"])
    return txs
