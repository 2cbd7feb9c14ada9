from ledger.audit.models import AuditHead, AuditRecord

from .accounts import Account
from .alerts import Alert
from .credits import CreditConsumption, CreditExpiry, CreditGrant, CreditRestoration
from .disputes import Dispute, DisputeEvent, InvoiceShareLink
from .invoices import (
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
from .reconciliation import ProviderCostRow, ProviderImport, ReconciliationDelta, ReconciliationRun

__all__ = [
    "Account",
    "Alert",
    "AuditHead",
    "AuditRecord",
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
    "Dispute",
    "DisputeEvent",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "InvoiceShareLink",
    "Posting",
    "ProviderCostRow",
    "ProviderImport",
    "ReconciliationDelta",
    "ReconciliationRun",
    "TaxBreakdown",
    "Transaction",
]
