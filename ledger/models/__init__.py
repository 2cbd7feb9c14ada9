from .accounts import Account
from .credits import CreditConsumption, CreditExpiry, CreditGrant, CreditRestoration
from .invoices import (
    Alert,
    CorrectionMarker,
    CreditNote,
    CreditNoteDocument,
    CreditNoteLine,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    TaxBreakdown,
)
from .journal import ChainAnchor, ChainHead, Posting, Transaction

__all__ = [
    "Account",
    "Alert",
    "ChainAnchor",
    "ChainHead",
    "CorrectionMarker",
    "CreditConsumption",
    "CreditExpiry",
    "CreditGrant",
    "CreditNote",
    "CreditNoteDocument",
    "CreditNoteLine",
    "CreditRestoration",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "Posting",
    "TaxBreakdown",
    "Transaction",
]
