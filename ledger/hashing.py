"""The hash chain's canonical form (shared by the posting service and `ledger_verify`).

    sha256( canonical JSON of {seq, kind, tenant, reference, memo, booked_at, prev, postings} )

JSON with sorted keys, no whitespace, ASCII only; `booked_at` in UTC ISO 8601 with microseconds;
amounts as plain decimal strings with exactly 4 decimals; postings in insertion (id) order, each
`[account code, amount, currency, original amount, original currency]`. The first transaction's
`prev` is 64 zeros.

A chain anchor (`ChainAnchor`) is signed with HMAC-SHA256 over the ASCII string

    ledger-anchor/v1|<seq>|<hash>|<transaction count>|<created_at, UTC, microseconds>|<reason>|<key id>

with settings.LEDGER_ANCHOR_KEY; the key id is the first 16 hex digits of HMAC-SHA256(key, "ledger-anchor
key id"), which names a key without revealing it."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

GENESIS = "0" * 64
_PLACES = Decimal("0.0001")


def canonical_json(content: object) -> bytes:
    """`content` (JSON-able: dicts, lists, str, int, bool, None) as canonical JSON: sorted keys, no
    whitespace, ASCII only. The one canonical form of every hash chain here (journal and audit trail)."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def canonical_sha256(content: object) -> str:
    """SHA-256 (hex) of `canonical_json(content)`."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


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
    return canonical_sha256(content)


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


_UTC_MICROS = "%Y-%m-%dT%H:%M:%S.%fZ"


def anchor_key_id(key: str) -> str:
    """The public name of an anchor key (16 hex digits; the key cannot be derived from it)."""
    return hmac.new(key.encode(), b"ledger-anchor key id", hashlib.sha256).hexdigest()[:16]


def anchor_message(
    *, seq: int, hash: str, transaction_count: int, created_at: datetime, reason: str, key_id: str
) -> bytes:
    """The canonical string an anchor's signature covers."""
    when = created_at.astimezone(UTC).strftime(_UTC_MICROS)
    return f"ledger-anchor/v1|{seq}|{hash}|{transaction_count}|{when}|{reason}|{key_id}".encode("ascii")


class AnchorRow(Protocol):
    """The signed fields of a `ChainAnchor` row."""

    seq: int
    hash: str
    transaction_count: int
    created_at: datetime
    reason: str
    key_id: str


def anchor_signature(anchor: AnchorRow, *, key: str) -> str:
    """HMAC-SHA256 (hex) of `anchor`'s canonical string under `key`."""
    message = anchor_message(
        seq=anchor.seq,
        hash=anchor.hash,
        transaction_count=anchor.transaction_count,
        created_at=anchor.created_at,
        reason=anchor.reason,
        key_id=anchor.key_id,
    )
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def anchor_signature_ok(anchor: AnchorRow, signature: str, *, key: str) -> bool:
    """Whether `signature` is `anchor`'s under `key` (constant-time comparison)."""
    return hmac.compare_digest(anchor_signature(anchor, key=key), signature)


def audit_head_signature(*, seq: int, hash: str, key: str) -> str:
    """HMAC-SHA256 (hex) under `key` of the audit head, the ASCII string
    `audit-head/v1|<seq>|<hash>|<key id>` (ledger.audit: a rewritten end of the audit chain cannot be
    signed again without the key, which is not in the database)."""
    message = f"audit-head/v1|{seq}|{hash}|{anchor_key_id(key)}".encode("ascii")
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
