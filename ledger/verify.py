"""Recompute the hash chain and name the first transaction that does not match; check it against every
chain anchor whose signature verifies (a deleted tail, even with the head rewritten, misses an anchored
transaction). An anchor whose signature does not verify is reported in `warnings` and not trusted."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Max, Q

from ledger.hashing import GENESIS, anchor_key_id, anchor_signature_ok, transaction_row_hash
from ledger.models import ChainAnchor, ChainHead, Posting, Transaction

MAX_WARNINGS = 20


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    message: str
    warnings: tuple[str, ...] = ()  # anchors not trusted (bad signature, another key)


class _Anchors:
    """The anchors that existed when verification started, in seq order, those whose signature verifies;
    the others are named in `warnings`."""

    def __init__(self) -> None:
        self.key = settings.LEDGER_ANCHOR_KEY
        self.key_id = anchor_key_id(self.key)
        self.last_id = ChainAnchor.objects.aggregate(last=Max("id"))["last"] or 0
        self.warnings: list[str] = []
        self.untrusted = 0

    def between(self, low: int, high: int | None, *, batch: int = 2000) -> Iterator[ChainAnchor]:
        """Trusted anchors with low < seq <= high (no upper bound: None), by seq, read in batches."""
        rows = ChainAnchor.objects.filter(id__lte=self.last_id)
        if high is not None:
            rows = rows.filter(seq__lte=high)
        after = Q(seq__gt=low)
        while page := list(rows.filter(after).order_by("seq", "id")[:batch]):
            yield from self._trusted(page)
            after = Q(seq__gt=page[-1].seq) | Q(seq=page[-1].seq, id__gt=page[-1].pk)

    def _trusted(self, page: list[ChainAnchor]) -> Iterator[ChainAnchor]:
        for anchor in page:
            if anchor_signature_ok(anchor, anchor.signature, key=self.key):
                yield anchor
                continue
            self.untrusted += 1
            if len(self.warnings) < MAX_WARNINGS:
                why = (
                    f"its signature does not verify with key {self.key_id}"
                    if anchor.key_id == self.key_id
                    else f"it names key {anchor.key_id}, not the configured key {self.key_id}"
                )
                self.warnings.append(f"anchor id={anchor.pk} seq={anchor.seq}: not trusted, {why}")

    def report(self) -> tuple[str, ...]:
        more = self.untrusted - len(self.warnings)
        return (*self.warnings, *([f"... and {more} more anchors not trusted"] if more > 0 else []))


def _anchor_problem(anchor: ChainAnchor, *, tx_hash: str, count: int) -> str | None:
    """What is wrong with the chain, up to and at seq `anchor.seq`, against `anchor`."""
    where = f"anchor id={anchor.pk} seq={anchor.seq} ({anchor.reason})"
    if tx_hash != anchor.hash:
        return (
            f"{where}: transaction seq {anchor.seq} has hash {tx_hash[:16]}..., the anchor signed "
            f"{anchor.hash[:16]}... (the chain was rewritten after it was anchored)"
        )
    if count != anchor.transaction_count:
        return f"{where}: {count} transactions up to seq {anchor.seq}, the anchor signed {anchor.transaction_count}"
    return None


def ledger_verify(*, batch: int = 2000) -> VerifyResult:
    """`OK <count>`, or the first problem: a transaction (gap, broken link, unbalanced, tampered), an anchor
    the chain does not match (rewritten, or its transaction missing: a deleted tail), or the chain head."""
    anchors = _Anchors()
    result = _verify(batch=batch, anchors=anchors)
    return VerifyResult(result.ok, result.count, result.message, anchors.report())


def _verify(*, batch: int, anchors: _Anchors) -> VerifyResult:
    prev, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    for anchor in anchors.between(-1, 0):  # anchors of the empty journal
        if problem := _anchor_problem(anchor, tx_hash=GENESIS, count=0):
            return VerifyResult(False, count, problem)
    while True:
        txs = list(Transaction.objects.filter(seq__gt=last_seq).order_by("seq")[:batch])
        if not txs:
            break
        anchored: dict[int, list[ChainAnchor]] = defaultdict(list)
        for anchor in anchors.between(last_seq, txs[-1].seq):
            anchored[anchor.seq].append(anchor)
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
            for anchor in anchored.get(tx.seq, ()):
                if problem := _anchor_problem(anchor, tx_hash=tx.hash, count=count):
                    return VerifyResult(False, count, problem)
    # An anchor beyond the end: its transaction is gone, whatever the head says (it can be rewritten).
    for anchor in anchors.between(last_seq, None):
        return VerifyResult(
            False,
            count,
            f"anchor id={anchor.pk} seq={anchor.seq} ({anchor.reason}): transaction seq {anchor.seq} is "
            f"missing, the chain ends at seq {count} (its tail was deleted)",
        )
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
