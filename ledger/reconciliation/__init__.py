"""Reconciliation of a period: rated usage against invoices, invoices against the ledger, and our usage
costs against a provider's FOCUS export (docs/reconciliation.md)."""
