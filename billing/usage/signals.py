"""`usage_stored`: sent after a transaction that stored billable usage has committed (ingest, quarantine
re-attribution). Rating listens (its nudge); usage never imports rating, so the dependency points one way."""

from django.dispatch import Signal

usage_stored = Signal()


def announce_usage_stored() -> None:
    """Pass to `transaction.on_commit`: tell the listeners that billable usage was stored."""
    usage_stored.send(sender=announce_usage_stored)
