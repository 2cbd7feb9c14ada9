"""`manage.py ledger_anchor`: sign and store the ledger's current chain head (a `manual` anchor), e.g.
before and after maintenance. Prints the anchor; `ledger_verify` checks the chain against it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ledger.models import ChainAnchor
from ledger.services.anchors import chain_anchor_record


class Command(BaseCommand):
    help = "Anchor the ledger hash chain: store its head signed with LEDGER_ANCHOR_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        anchor = chain_anchor_record(reason=ChainAnchor.Reason.MANUAL)
        self.stdout.write(
            f"anchor id={anchor.pk} seq={anchor.seq} hash={anchor.hash} "
            f"transactions={anchor.transaction_count} key_id={anchor.key_id}"
        )
