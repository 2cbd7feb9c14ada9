from .accounts import Account
from .credits import CreditConsumption, CreditGrant, CreditRestoration
from .invoices import (
    Alert,
    CorrectionMarker,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
)
from .journal import ChainAnchor, ChainHead, Posting, Transaction

__all__ = [
    "Account",
    "Alert",
    "ChainAnchor",
    "ChainHead",
    "CorrectionMarker",
    "CreditConsumption",
    "CreditGrant",
    "CreditNote",
    "CreditNoteLine",
    "CreditRestoration",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "Posting",
    "Transaction",
]
