"""Invoices, credit notes and the double-entry ledger (built in the period-close issue)."""
