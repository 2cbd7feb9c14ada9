"""Period close: an invoice per tenant and period computed from rated usage (pricing, discounts,
commitments, tax, credits, FX) and handed to the ledger."""
