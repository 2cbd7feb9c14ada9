"""Tax rules per jurisdiction and signed exchange rates."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class TaxRule(models.Model):
    """The tax rate of a jurisdiction (the customer's place of supply, `Tenant.tax_jurisdiction`) over a
    window of days. Whether prices include the tax is the price list's choice (`tax.mode` of the profile
    document), not the rule's."""

    jurisdiction = models.CharField(max_length=16)
    name = models.CharField(max_length=100)
    rate = models.DecimalField(max_digits=7, decimal_places=4, help_text="percent, e.g. 19.0000")
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="exclusive; empty = open-ended")

    class Meta:
        ordering = ["jurisdiction", "effective_from"]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lte=100), name="taxrule_rate_percent"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gt=F("effective_from")),
                name="taxrule_window_positive",
            ),
            models.UniqueConstraint(fields=["jurisdiction", "effective_from"], name="taxrule_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.jurisdiction} {self.rate}% from {self.effective_from}"


class ExchangeRate(models.Model):
    """1 `base` = `rate` `quote` on `date`. `signature` is an HMAC-SHA256 (settings.FX_SIGNING_KEY) over
    the row's canonical content; an unsigned or badly signed rate is never used."""

    date = models.DateField()
    base = models.CharField(max_length=3)
    quote = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=24, decimal_places=12)
    source = models.CharField(max_length=64)
    signature = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date", "base", "quote"]
        constraints = [
            models.UniqueConstraint(fields=["date", "base", "quote"], name="fx_unique_per_day"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="fx_rate_positive"),
            models.CheckConstraint(condition=~Q(base=F("quote")), name="fx_distinct_currencies"),
        ]

    def __str__(self) -> str:
        return f"{self.date} 1 {self.base} = {self.rate} {self.quote}"
