"""Chain anchors: signed copies of the journal's head (docs/ledger.md, "Anchors").

The chain head row alone cannot show a deleted tail: whoever can delete transactions can rewrite the head
too. An anchor records the head's seq and hash and the number of transactions up to it, signed with
settings.LEDGER_ANCHOR_KEY, which is not in the database; `ledger_verify` checks the chain against every
anchor whose signature verifies. Anchors are taken after each period close run that finalized anything
(`billing.close.services.close_periods`, once per chunk), after each payment (`invoice_mark_paid`) and by
`manage.py ledger_anchor`; each is also written to the log once committed, a copy outside the database."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledger.hashing import GENESIS, anchor_key_id, anchor_signature, anchor_signature_ok
from ledger.models import ChainAnchor, Transaction
from ledger.services.posting import chain_head_for_update

logger = logging.getLogger(__name__)

SIGNATURE_PREFIX = 16  # hex digits of the signature in the log line


def chain_anchor_record(*, reason: str, now: datetime | None = None) -> ChainAnchor:
    """Sign and store the current chain head. The head is read under the lock appends take, so the anchor
    names the end of the journal as of its commit; inside a caller's transaction (a payment) it anchors
    that transaction's own append."""
    if reason not in ChainAnchor.Reason.values:
        raise ValueError(f"unknown anchor reason {reason!r}")
    key = settings.LEDGER_ANCHOR_KEY
    with transaction.atomic(savepoint=False):
        head = chain_head_for_update()
        head_hash = head.hash or GENESIS
        anchor = ChainAnchor(
            seq=head.seq,
            hash=head_hash,
            transaction_count=_transaction_count(head.seq, key=key),
            created_at=now or timezone.now(),
            reason=reason,
            key_id=anchor_key_id(key),
        )
        anchor.signature = anchor_signature(anchor, key=key)
        anchor.save(force_insert=True)
        transaction.on_commit(lambda: _log(anchor))
    return anchor


def _transaction_count(head_seq: int, *, key: str) -> int:
    """The journal's transactions up to `head_seq` (the caller holds the head lock): the latest anchor's
    count plus a range count after it when that anchor is genuine and still in the chain (index lookups
    only, so the lock is held briefly however long the journal); otherwise a count of them all."""
    last = ChainAnchor.objects.order_by("-seq", "-id").first()
    if last is None:
        return Transaction.objects.filter(seq__lte=head_seq).count()
    in_chain = (
        last.hash == GENESIS
        if last.seq == 0
        else Transaction.objects.filter(seq=last.seq, hash=last.hash).exists()
    )
    if last.seq <= head_seq and in_chain and anchor_signature_ok(last, last.signature, key=key):
        return (
            last.transaction_count + Transaction.objects.filter(seq__gt=last.seq, seq__lte=head_seq).count()
        )
    logger.warning(
        "ledger anchor id=%d seq=%d cannot be built on (signed with another key, forged, or its transaction "
        "is gone): counting every transaction; run manage.py ledger_verify",
        last.pk,
        last.seq,
    )
    return Transaction.objects.filter(seq__lte=head_seq).count()


def _log(anchor: ChainAnchor) -> None:
    logger.info(
        "ledger anchor id=%d seq=%d hash=%s transactions=%d reason=%s key_id=%s signature=%s",
        anchor.pk,
        anchor.seq,
        anchor.hash,
        anchor.transaction_count,
        anchor.reason,
        anchor.key_id,
        anchor.signature[:SIGNATURE_PREFIX],
        extra={
            "ledger_anchor": {
                "id": anchor.pk,
                "seq": anchor.seq,
                "hash": anchor.hash,
                "transactions": anchor.transaction_count,
                "reason": anchor.reason,
                "key_id": anchor.key_id,
                "signature_prefix": anchor.signature[:SIGNATURE_PREFIX],
                "created_at": anchor.created_at.isoformat(),
            }
        },
    )
