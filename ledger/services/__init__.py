"""Writes of the ledger app, one module per concern: posting (journal), invoicing (drafts,
finalization, numbering, payment, void), credit_notes, credits (grants and consumption), alerts."""
