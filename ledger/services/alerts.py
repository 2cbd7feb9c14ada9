"""Old importers' road to the alert services (ledger.alerts.services, docs/alerts.md)."""

from ledger.alerts.services import (
    alert_acknowledge,
    alert_fire,
    alert_raise,
    alert_resolve,
    alerts_resolve,
    alerts_resolve_except,
    alerts_resolve_for_invoices,
)

__all__ = [
    "alert_acknowledge",
    "alert_fire",
    "alert_raise",
    "alert_resolve",
    "alerts_resolve",
    "alerts_resolve_except",
    "alerts_resolve_for_invoices",
]
