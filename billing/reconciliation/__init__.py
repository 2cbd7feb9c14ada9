"""Billing's side of the reconciliation: the rated usage cost of a period (estimates), handed to the
ledger's reconciliation run (ledger.reconciliation; docs/reconciliation.md)."""
