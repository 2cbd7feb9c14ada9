"""Recompute the hash chain and name the first transaction that does not match."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from ledger.hashing import GENESIS, transaction_row_hash
from ledger.models import ChainHead, Posting, Transaction


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    message: str


def ledger_verify(*, batch: int = 2000) -> VerifyResult:
    prev, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    while True:
        txs = list(Transaction.objects.filter(seq__gt=last_seq).order_by("seq")[:batch])
        if not txs:
            break
        postings: dict[int, list[tuple[str, Decimal, str, Decimal, str]]] = defaultdict(list)
        for p in (
            Posting.objects.filter(transaction_id__in=[t.pk for t in txs])
            .order_by("transaction_id", "id")
            .values_list(
                "transaction_id",
                "account__code",
                "amount",
                "currency",
                "original_amount",
                "original_currency",
            )
        ):
            postings[p[0]].append((p[1], p[2], p[3], p[4], p[5]))
        for tx in txs:
            where = f"transaction id={tx.pk} seq={tx.seq}"
            if tx.seq != expected_seq:
                return VerifyResult(False, count, f"{where}: expected seq {expected_seq} (gap or reorder)")
            if tx.prev_hash != prev:
                return VerifyResult(
                    False, count, f"{where}: prev_hash does not match the previous row's hash"
                )
            legs = postings.get(tx.pk, [])
            sums: dict[str, Decimal] = defaultdict(Decimal)
            for _code, amount, currency, _o, _oc in legs:
                sums[currency] += amount
            if len(legs) < 2 or any(v != 0 for v in sums.values()):
                return VerifyResult(False, count, f"{where}: postings do not balance")
            if transaction_row_hash(tx, legs) != tx.hash:
                return VerifyResult(False, count, f"{where}: content does not match its hash (tampered)")
            prev, expected_seq, count = tx.hash, expected_seq + 1, count + 1
            last_seq = tx.seq
    # The head records the last append: a chain that ends earlier lost its tail (rows deleted with the
    # append-only triggers out of the way), which no row-by-row check can see.
    head = ChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    if head is not None and (head[0] != count or (count and head[1] != prev)):
        return VerifyResult(
            False,
            count,
            f"chain head: the last append was seq {head[0]} but the chain ends at seq {count} "
            "(transactions missing at the end)",
        )
    return VerifyResult(True, count, f"OK {count}")
