"""Reconciliation runs and their deltas, and the provider FOCUS exports they compare against (registered
through ledger/models/__init__.py). docs/reconciliation.md.

A run compares, for one period key, three pairs of figures per (tenant, SKU) or per document:

    rated_vs_invoiced   expected = rated usage cost (billing's estimates), actual = invoiced usage lines
    invoices_vs_ledger  expected = an issued document's total, actual = its receivable posting
    provider_vs_rated   expected = the provider's cost (imported FOCUS rows), actual = rated usage cost

and keeps every non-zero difference as a ReconciliationDelta, with the ids of the rows behind it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .journal import AMOUNT_DIGITS, AMOUNT_PLACES

COST_DIGITS = 30
COST_PLACES = 12


class Check(models.TextChoices):
    RATED_VS_INVOICED = "rated_vs_invoiced", "Rated usage against invoiced usage"
    INVOICES_VS_LEDGER = "invoices_vs_ledger", "Issued documents against ledger postings"
    PROVIDER_VS_RATED = "provider_vs_rated", "Provider's FOCUS export against rated usage"


class ProviderImport(models.Model):
    """One provider FOCUS file imported for a period (`manage.py import_provider_focus`). The newest import
    of a provider and period is the one a run compares against."""

    provider = models.CharField(max_length=64)
    period_key = models.CharField(max_length=16)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    cost_column = models.CharField(max_length=64, default="BilledCost")
    imported_at = models.DateTimeField()
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rows_read = models.PositiveIntegerField(default=0)
    rows_matched = models.PositiveIntegerField(default=0, help_text="usage rows of a known tenant")
    rows_unmatched = models.PositiveIntegerField(default=0, help_text="usage rows naming no known tenant")
    rows_excluded = models.PositiveIntegerField(default=0, help_text="rows of another charge category")

    class Meta:
        ordering = ["-imported_at", "-id"]
        indexes = [models.Index(fields=["period_key", "provider"], name="providerimport_period")]
        constraints = [
            models.CheckConstraint(
                condition=Q(file_sha256__regex=r"^[0-9a-f]{64}$"), name="providerimport_sha256"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.period_key} ({self.file_name})"


class ProviderCostRow(models.Model):
    """One row of a provider's file, as read: the tenant it names (None when no tenant matches: kept,
    counted and shown, never dropped), the SKU code, the charge category and the cost column's value."""

    provider_import = models.ForeignKey(ProviderImport, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField(help_text="1-based data row of the file")
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tenant_ref = models.CharField(max_length=200, help_text="what the row names the tenant by")
    sku_code = models.CharField(max_length=200)
    charge_category = models.CharField(max_length=32)
    cost = models.DecimalField(max_digits=COST_DIGITS, decimal_places=COST_PLACES)
    currency = models.CharField(max_length=3)
    charge_period_start = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["provider_import_id", "row_number"]
        indexes = [
            models.Index(fields=["provider_import", "tenant", "sku_code"], name="providercostrow_key"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_import_id}#{self.row_number} {self.tenant_ref}/{self.sku_code} {self.cost}"


class ReconciliationRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    period_key = models.CharField(max_length=16)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=16, help_text="command, beat, portal or demo")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    base_currency = models.CharField(max_length=3)
    thresholds = models.JSONField(default=dict, help_text="per check: amount and pct, as strings")
    summary = models.JSONField(
        default=dict, help_text="per check: pairs compared, deltas, breached, total |delta| in base"
    )
    provider_import = models.ForeignKey(
        ProviderImport, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    note = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["period_key", "started_at"], name="reconrun_period")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="running", finished_at__isnull=True)
                | (~Q(status="running") & Q(finished_at__isnull=False)),
                name="reconrun_finished_at",
            ),
        ]

    def __str__(self) -> str:
        return f"reconciliation {self.period_key} #{self.pk} ({self.status})"


class ReconciliationDelta(models.Model):
    """A non-zero difference `actual - expected` of one check, per (tenant, SKU) or per document
    (`reference`: an invoice or credit note number), in `currency`; `delta_base` in the run's base
    currency when a rate is known. `sources` lists the ids of the rows behind both figures."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="deltas")
    check_name = models.CharField(max_length=24, choices=Check.choices)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tenant_ref = models.CharField(max_length=200, blank=True, help_text="unmatched provider rows: as named")
    sku_code = models.CharField(max_length=200, blank=True)
    reference = models.CharField(max_length=120, blank=True)
    currency = models.CharField(max_length=3)
    expected = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    actual = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    delta = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    delta_pct = models.DecimalField(
        max_digits=20, decimal_places=4, null=True, blank=True, help_text="None: nothing was expected"
    )
    delta_base = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, null=True, blank=True
    )
    breached = models.BooleanField()
    sources = models.JSONField(default=dict)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["run_id", "check_name", "-breached", "tenant_id", "sku_code", "reference", "id"]
        indexes = [models.Index(fields=["run", "check_name", "breached"], name="recondelta_run_check")]

    def __str__(self) -> str:
        return f"{self.check_name} {self.tenant_id}/{self.sku_code or self.reference}: {self.delta}"
