"""Writes of the ledger app, one module per concern. Billing hands documents over as `ledger.contract`
data and calls `invoicing` (one tenant) or `invoicing_batch` (a batch close).

- invoicing: an invoice's draft, finalization, payment and void; invoicing_batch: many at once
- invoice_rows: the rows both store from a computed document
- credit_notes: credit notes against issued invoices
- credits: prepaid credit grants, their consumption and restoration
- numbering: gapless document numbers; revenue: an issued document's revenue and tax legs
- posting: the only writer of the hash-chained journal
- documents: invoice PDFs (enqueue after commit, render, the sweep's backlog)
- alerts: operational alerts any app raises (one open alert per kind, tenant and message)

They import each other without cycles and none imports `ledger.tasks` (import-linter checks both)."""
