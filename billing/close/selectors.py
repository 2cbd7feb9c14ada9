"""Reads: the tax rule in force for a jurisdiction on a date, and the exchange rate for a day."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Q

from billing.close.models import ExchangeRate, TaxRule

FX_LOOKBACK_DAYS = 7


def tax_rule_in_force(*, jurisdiction: str, on: date) -> TaxRule | None:
    """The rule of `jurisdiction` whose [effective_from, effective_to) holds `on` (latest start wins)."""
    return (
        TaxRule.objects.filter(jurisdiction=jurisdiction, effective_from__lte=on)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=on))
        .order_by("-effective_from")
        .first()
    )


def exchange_rate_for(*, currency: str, base: str, on: date) -> ExchangeRate | None:
    """The most recent rate between `currency` and `base` (either direction) dated on `on` or at most
    FX_LOOKBACK_DAYS before it (weekends and holidays have no fixing). Signature not checked here."""
    return (
        ExchangeRate.objects.filter(date__lte=on, date__gt=on - timedelta(days=FX_LOOKBACK_DAYS))
        .filter(Q(base=currency, quote=base) | Q(base=base, quote=currency))
        .order_by("-date", "id")
        .first()
    )
