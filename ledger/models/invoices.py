"""Invoices, their lines, numbering counters, credit notes, correction markers (alerts: ledger.models.alerts).

Invoice state machine (the database refuses every other move):

    draft <-> blocked            (recomputed on each refresh until the grace window has passed)
    draft --finalize--> finalized --pay--> paid
                        finalized | paid --void(reason)--> void   (+ a full credit note)

A finalized, paid or void invoice never changes except for that status move and its PDF fields (written
once per rendered version); its lines never change at all. A paid invoice has its payment posted and a
void one credit notes for its total by COMMIT (triggers, see ledger/migrations/0006_state_machine_guards.sql
and 0004_reinstall_guards.sql)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q, Value

from ledger.models.journal import AMOUNT_DIGITS, AMOUNT_PLACES

_HALF_UNIT = Value(Decimal("0.00005"), output_field=models.DecimalField(max_digits=6, decimal_places=5))
EXACT_DIGITS = 40
EXACT_PLACES = 18


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        BLOCKED = "blocked", "Blocked"
        FINALIZED = "finalized", "Finalized"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    EDITABLE = (Status.DRAFT, Status.BLOCKED)

    class TaxMode(models.TextChoices):
        EXCLUSIVE = "exclusive", "Exclusive"
        INCLUSIVE = "inclusive", "Inclusive"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    blocked_reason = models.TextField(blank=True)
    period_key = models.CharField(max_length=16)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    currency = models.CharField(max_length=3)
    profile_version_id = models.BigIntegerField(
        null=True, blank=True, help_text="version in force at period end"
    )
    subtotal = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=0)
    tax_jurisdiction = models.CharField(max_length=16, blank=True)
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    tax_mode = models.CharField(max_length=12, choices=TaxMode.choices, default=TaxMode.EXCLUSIVE)
    tax_rule_id = models.BigIntegerField(null=True, blank=True)
    tax_exact = models.DecimalField(max_digits=EXACT_DIGITS, decimal_places=EXACT_PLACES, default=0)
    tax_total = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=0)
    total = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=0)
    credits_applied = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=0)
    amount_due = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, default=0)
    base_currency = models.CharField(max_length=3)
    fx_rate = models.DecimalField(
        max_digits=EXACT_DIGITS,
        decimal_places=EXACT_PLACES,
        null=True,
        blank=True,
        help_text="1 unit of `currency` = fx_rate units of `base_currency`",
    )
    fx_rate_id = models.BigIntegerField(null=True, blank=True, help_text="billing.ExchangeRate row used")
    fx_rate_date = models.DateField(null=True, blank=True)
    fx_source = models.CharField(max_length=64, blank=True)
    base_total = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    ledger_transaction = models.ForeignKey(
        "ledger.Transaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # PDF: `pdf_version` is bumped whenever a render is needed (the "dirty" counter); the task renders
    # when `pdf_rendered_version` lags behind it.
    pdf_version = models.PositiveIntegerField(default=0)
    pdf_rendered_version = models.PositiveIntegerField(default=0)
    pdf_file = models.CharField(max_length=255, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    # The EN 16931 (Factur-X / ZUGFeRD CII) XML, written with the PDF that embeds it.
    xml_file = models.CharField(max_length=255, blank=True, default="", db_default="")
    xml_sha256 = models.CharField(max_length=64, blank=True, default="", db_default="")
    # What the document prints, fixed when it is computed (drafts) and finalized (issue and due dates).
    period_first_day = models.DateField(null=True, blank=True, help_text="first local day of the period")
    period_last_day = models.DateField(null=True, blank=True, help_text="last local day of the period")
    issue_date = models.DateField(null=True, blank=True, help_text="local date of finalization")
    due_date = models.DateField(null=True, blank=True)
    payment_terms_days = models.PositiveSmallIntegerField(null=True, blank=True)
    seller_vat_id = models.CharField(max_length=32, blank=True, default="", db_default="")
    buyer_vat_id = models.CharField(max_length=32, blank=True, default="", db_default="")
    buyer_country = models.CharField(max_length=2, blank=True, default="", db_default="")
    reverse_charge = models.BooleanField(default=False, db_default=False)
    tax_note = models.TextField(
        blank=True, default="", db_default="", help_text="legal note printed with the VAT breakdown"
    )
    rounding_amount = models.DecimalField(
        max_digits=AMOUNT_DIGITS,
        decimal_places=AMOUNT_PLACES,
        default=0,
        db_default=0,
        help_text="inclusive prices: total - (net + tax), EN 16931 BT-114",
    )

    class Meta:
        ordering = ["tenant_id", "period_start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "period_start"], condition=~Q(status="void"), name="invoice_one_per_period"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "blocked"])
                | Q(number__isnull=False, finalized_at__isnull=False),
                name="invoice_issued_has_number",
            ),
            models.CheckConstraint(
                condition=~Q(status="blocked") | ~Q(blocked_reason=""), name="invoice_blocked_reason"
            ),
            models.CheckConstraint(
                condition=~Q(status="void") | (~Q(void_reason="") & Q(voided_at__isnull=False)),
                name="invoice_void_reason",
            ),
            # Equalities written as |a - b| < half the smallest stored unit (NUMERIC arithmetic is exact; the
            # form is kept because the constraints were created so and changing them is a migration).
            models.CheckConstraint(
                condition=(
                    Q(tax_mode="exclusive")
                    & Q(total__lt=F("subtotal") + F("tax_total") + _HALF_UNIT)
                    & Q(total__gt=F("subtotal") + F("tax_total") - _HALF_UNIT)
                )
                | (
                    Q(tax_mode="inclusive")
                    & Q(total__lt=F("subtotal") + _HALF_UNIT)
                    & Q(total__gt=F("subtotal") - _HALF_UNIT)
                ),
                name="invoice_total_is_lines_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(amount_due__lt=F("total") - F("credits_applied") + _HALF_UNIT)
                & Q(amount_due__gt=F("total") - F("credits_applied") - _HALF_UNIT),
                name="invoice_amount_due",
            ),
            models.CheckConstraint(condition=Q(credits_applied__gte=0), name="invoice_credits_nonnegative"),
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")), name="invoice_period_positive"
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_nonnegative"),
            models.CheckConstraint(
                condition=Q(due_date__isnull=True) | Q(due_date__gte=F("issue_date")),
                name="invoice_due_after_issue",
            ),
        ]
        indexes = [models.Index(fields=["status", "period_end"], name="invoice_status_period")]

    def __str__(self) -> str:
        return self.number or f"draft {self.tenant_id}:{self.period_key}"

    @property
    def is_issued(self) -> bool:
        return self.status not in self.EDITABLE


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        USAGE = "usage", "Usage"
        FLAT = "flat", "Flat fee"
        DISCOUNT = "discount", "Discount"
        MINIMUM = "minimum", "Minimum-spend true-up"
        CORRECTION = "correction", "Correction of an earlier period"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    sku_code = models.CharField(max_length=64, blank=True)
    service_category = models.CharField(max_length=32, blank=True)
    profile_version_id = models.BigIntegerField(null=True, blank=True)
    description = models.CharField(max_length=255)
    quantity = models.DecimalField(max_digits=EXACT_DIGITS, decimal_places=12, null=True, blank=True)
    unit_label = models.CharField(max_length=32, blank=True)
    unit_price = models.DecimalField(
        max_digits=EXACT_DIGITS, decimal_places=EXACT_PLACES, null=True, blank=True
    )
    amount_exact = models.DecimalField(max_digits=EXACT_DIGITS, decimal_places=EXACT_PLACES)
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    discount_code = models.CharField(max_length=64, blank=True)
    segment_start = models.DateTimeField(null=True, blank=True)
    segment_end = models.DateTimeField(null=True, blank=True)
    breakdown = models.JSONField(default=list, blank=True)
    corrects_invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="corrected_by_lines"
    )
    corrects_period = models.CharField(max_length=16, blank=True)
    # What the line prices, stable across re-computations of its period (e.g. "usage:api_calls:v12",
    # "discount:launch20", "minimum"); a correction line names the component of the period it corrects.
    component = models.CharField(max_length=160, blank=True, default="", db_default="")
    tax_category = models.CharField(
        max_length=2, default="S", db_default="S", help_text="UNCL 5305: S, Z, E, AE, O"
    )
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    # Corrections: the component's amount as last invoiced and as re-priced now (amount = repriced - billed).
    billed_before = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, null=True, blank=True
    )
    repriced = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, null=True, blank=True
    )

    class Meta:
        ordering = ["invoice_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoiceline_unique_position"),
            models.CheckConstraint(
                condition=~Q(kind="correction")
                | (Q(corrects_invoice__isnull=False) & ~Q(corrects_period="")),
                name="invoiceline_correction_linked",
            ),
        ]
        indexes = [models.Index(fields=["corrects_invoice"], name="invoiceline_corrects")]

    def __str__(self) -> str:
        return f"{self.invoice_id}#{self.position} {self.description} {self.amount}"


class TaxBreakdown(models.Model):
    """One row of a document's VAT breakdown (EN 16931 BG-23): per category and rate, the taxable amount
    (sum of the rounded lines, net) and the tax, taxable x rate rounded once (BR-CO-17). Stored for an
    invoice (rebuilt with its lines while a draft, frozen once issued) or a credit note (append-only)."""

    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, null=True, blank=True, related_name="tax_breakdown"
    )
    credit_note = models.ForeignKey(
        "ledger.CreditNote", on_delete=models.PROTECT, null=True, blank=True, related_name="tax_breakdown"
    )
    category = models.CharField(max_length=2, help_text="UNCL 5305: S, Z, E, AE, O")
    rate = models.DecimalField(max_digits=7, decimal_places=4)
    taxable_amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    tax_amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    exemption_reason = models.CharField(max_length=255, blank=True)
    exemption_code = models.CharField(max_length=32, blank=True, help_text="VATEX code, e.g. VATEX-EU-AE")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(invoice__isnull=False, credit_note__isnull=True)
                | Q(invoice__isnull=True, credit_note__isnull=False),
                name="taxbreakdown_one_document",
            ),
            models.UniqueConstraint(
                fields=["invoice", "category", "rate"], name="taxbreakdown_invoice_rate_unique"
            ),
            models.UniqueConstraint(
                fields=["credit_note", "category", "rate"], name="taxbreakdown_creditnote_rate_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.rate}%: {self.taxable_amount} -> {self.tax_amount}"


class InvoiceCounter(models.Model):
    """Per (series, year) counter, locked with SELECT ... FOR UPDATE while a number is drawn in the
    finalizing transaction: numbers are sequential and gapless (a rollback rolls the counter back too)."""

    series = models.CharField(max_length=64)
    year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="invoicecounter_unique")]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last}"


class CreditNote(models.Model):
    class Kind(models.TextChoices):
        MANUAL = "manual", "Issued by finance"
        VOID = "void", "Voiding the invoice"
        CORRECTION = "correction", "Correction of the period (re-priced lower)"

    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.MANUAL, db_default=Kind.MANUAL)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(max_length=64, unique=True)
    reason = models.TextField()
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    tax_total = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    total = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    created_at = models.DateTimeField()
    ledger_transaction = models.ForeignKey("ledger.Transaction", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["invoice_id", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="creditnote_has_reason"),
            models.CheckConstraint(condition=Q(total__gt=0), name="creditnote_positive"),
        ]

    def __str__(self) -> str:
        return self.number


class CreditNoteLine(models.Model):
    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="lines")
    invoice_line = models.ForeignKey(
        InvoiceLine, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    description = models.CharField(max_length=255)
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    tax_amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    # Correction credit notes: the component of the original period they correct (as InvoiceLine).
    component = models.CharField(max_length=160, blank=True, default="", db_default="")
    quantity = models.DecimalField(max_digits=EXACT_DIGITS, decimal_places=12, null=True, blank=True)
    unit_label = models.CharField(max_length=32, blank=True)
    tax_category = models.CharField(max_length=2, default="S", db_default="S")
    tax_rate = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    billed_before = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, null=True, blank=True
    )
    repriced = models.DecimalField(
        max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, null=True, blank=True
    )

    class Meta:
        ordering = ["credit_note_id", "id"]

    def __str__(self) -> str:
        return f"{self.credit_note_id}: {self.description} {self.amount}"


class CreditNoteDocument(models.Model):
    """The rendered PDF (PDF/A-3 with its Factur-X XML embedded) of a credit note: credit notes are
    append-only, so each render is a new row (version 1, 2, ...), never an update."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="documents")
    version = models.PositiveIntegerField()
    pdf_file = models.CharField(max_length=255)
    pdf_sha256 = models.CharField(max_length=64)
    xml_file = models.CharField(max_length=255)
    xml_sha256 = models.CharField(max_length=64)
    rendered_at = models.DateTimeField()

    class Meta:
        ordering = ["credit_note_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["credit_note", "version"], name="creditnotedocument_version"),
            models.CheckConstraint(
                condition=Q(pdf_sha256__regex="^[0-9a-f]{64}$") & Q(xml_sha256__regex="^[0-9a-f]{64}$"),
                name="creditnotedocument_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credit_note_id} v{self.version}"


class CorrectionMarker(models.Model):
    """`correcting` carries correction lines for `original`'s period. One per pair: never twice."""

    original = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+")
    correcting = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="+")
    period_key = models.CharField(max_length=16)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["original", "correcting"], name="correctionmarker_unique")
        ]

    def __str__(self) -> str:
        return f"{self.correcting_id} corrects {self.original_id}"
