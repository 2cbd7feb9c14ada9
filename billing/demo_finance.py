"""Finance reference data for the demo: tax rules for the demo jurisdictions and signed exchange
rates against the ledger's base currency for the last 90 days. Idempotent (existing rows are kept)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.close.fx import fx_sign
from billing.close.models import ExchangeRate, TaxRule

# (jurisdiction, name, rate %). US: the platform collects no US sales tax in the demo; the
# explicit 0 % rule records that decision (a missing rule would block the invoice). KW has no VAT.
TAX_RULES = [
    ("DE", "Umsatzsteuer (standard)", "19"),
    ("FR", "TVA (taux normal)", "20"),
    ("US", "No sales tax collected", "0"),
    ("JP", "Consumption tax", "10"),
    ("KW", "No VAT", "0"),
    ("GB", "VAT (standard)", "20"),
]
TAX_RULES_FROM = date(2020, 1, 1)

# Units of each currency per 1 EUR (a plausible level; the demo wiggles it a little per day).
EUR_RATES = {
    "EUR": Decimal(1),
    "USD": Decimal("1.08"),
    "JPY": Decimal("161.5"),
    "GBP": Decimal("0.855"),
    "KWD": Decimal("0.332"),
    "CHF": Decimal("0.94"),
}
DAYS = 90


@dataclass(frozen=True)
class FinanceSeedResult:
    tax_rules: int
    exchange_rates: int


def _rate(level: Decimal, day: date) -> Decimal:
    wiggle = Decimal((day.toordinal() * 7919) % 201 - 100) / Decimal(100000)  # within +-0.1 %
    return (level * (1 + wiggle)).quantize(Decimal("0.000001"))


def seed_finance_reference_data(*, today: date | None = None) -> FinanceSeedResult:
    today = today or timezone.localdate()
    base = settings.LEDGER_BASE_CURRENCY
    tax_created = fx_created = 0
    with transaction.atomic():
        for jurisdiction, name, percent in TAX_RULES:
            _rule, created = TaxRule.objects.get_or_create(
                jurisdiction=jurisdiction,
                effective_from=TAX_RULES_FROM,
                defaults={"name": name, "rate": Decimal(percent)},
            )
            tax_created += int(created)
        per_base = {code: level / EUR_RATES[base] for code, level in EUR_RATES.items() if code != base}
        existing = set(
            ExchangeRate.objects.filter(base=base, date__gt=today - timedelta(days=DAYS)).values_list(
                "date", "quote"
            )
        )
        rows = []
        for offset in range(DAYS):
            day = today - timedelta(days=offset)
            for quote, level in per_base.items():
                if (day, quote) in existing:
                    continue
                rate = _rate(level, day)
                rows.append(
                    ExchangeRate(
                        date=day,
                        base=base,
                        quote=quote,
                        rate=rate,
                        source="demo",
                        signature=fx_sign(day=day, base=base, quote=quote, rate=rate, source="demo"),
                    )
                )
        ExchangeRate.objects.bulk_create(rows)
        fx_created = len(rows)
    return FinanceSeedResult(tax_rules=tax_created, exchange_rates=fx_created)
