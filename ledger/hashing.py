"""The hash chain's canonical form (shared by the posting service and `ledger_verify`).

    sha256( canonical JSON of {seq, kind, tenant, reference, memo, booked_at, prev, postings} )

JSON with sorted keys, no whitespace, ASCII only; `booked_at` in UTC ISO 8601 with microseconds;
amounts as plain decimal strings with exactly 4 decimals; postings in insertion (id) order, each
`[account code, amount, currency, original amount, original currency]`. The first transaction's
`prev` is 64 zeros."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

GENESIS = "0" * 64
_PLACES = Decimal("0.0001")


def amount_text(amount: Decimal) -> str:
    return f"{Decimal(amount).quantize(_PLACES):f}"


def transaction_hash(
    *,
    seq: int,
    kind: str,
    tenant_id: int | None,
    reference: str,
    memo: str,
    booked_at: datetime,
    prev_hash: str,
    postings: Sequence[tuple[str, Decimal, str, Decimal, str]],
) -> str:
    content = {
        "seq": seq,
        "kind": kind,
        "tenant": tenant_id,
        "reference": reference,
        "memo": memo,
        "booked_at": booked_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "prev": prev_hash,
        "postings": [
            [code, amount_text(amount), currency, amount_text(original), original_currency]
            for code, amount, currency, original, original_currency in postings
        ],
    }
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


class ChainedRow(Protocol):
    """The fields of a ledger transaction that its hash covers (a `Transaction` row)."""

    seq: int
    kind: str
    tenant_id: int | None
    reference: str
    memo: str
    booked_at: datetime
    prev_hash: str


def transaction_row_hash(tx: ChainedRow, postings: Sequence[tuple[str, Decimal, str, Decimal, str]]) -> str:
    """`transaction_hash` of a transaction row's own fields and its postings."""
    return transaction_hash(
        seq=tx.seq,
        kind=tx.kind,
        tenant_id=tx.tenant_id,
        reference=tx.reference,
        memo=tx.memo,
        booked_at=tx.booked_at,
        prev_hash=tx.prev_hash,
        postings=postings,
    )
