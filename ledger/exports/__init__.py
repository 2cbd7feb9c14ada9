"""Exports of the ledger and its invoices: FOCUS (FinOps Open Cost and Usage Specification) rows."""
