"""Billing: from metered usage to invoices. Domain packages own their models, services and tasks:
`catalog` (meters, SKUs), `profiles` (price lists and approved versions), `usage` (ingest), `rating`
(aggregates, estimates), `close` (period close), `pricing` (the pure engine) and `api`. Billing writes to
the ledger only through `ledger` services and `ledger.contract`, so the dependency points one way."""
