"""The one FOCUS column-mapping table: each column of the export, its FOCUS data type and feature level,
the field of a row record (`focus_rows.FocusRecord` keys) it is read from, and how that is derived.

Target: FOCUS 1.2 (the validator's wheel bundles only the 1.2 rules). The order of COLUMNS is the order
of the file. Moving to 1.3/1.4 is a change of this table: e.g. ProviderName and PublisherName give way
to ServiceProviderName and HostProviderName (same source, "issuer"), and new columns get a source.
Our own columns start with `x_` (FOCUS: custom columns). docs/focus.md renders this table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FOCUS_VERSION = "1.2"
# The validator's applicability criteria that hold for this platform (docs/focus.md says why each one).
APPLICABILITY_CRITERIA = ("ACCOUNT_NAMING_SUPPORTED", "TAGGING_SUPPORTED", "USAGE_MEASUREMENT_SUPPORTED")

ColumnType = Literal["string", "decimal", "datetime", "json"]
Level = Literal["Mandatory", "Recommended", "Conditional", "Custom"]

CHARGE_CATEGORIES = frozenset({"Usage", "Purchase", "Tax", "Credit", "Adjustment"})
CHARGE_FREQUENCIES = frozenset({"One-Time", "Recurring", "Usage-Based"})
SERVICE_CATEGORIES = frozenset(
    {
        "AI and Machine Learning",
        "Analytics",
        "Business Applications",
        "Compute",
        "Databases",
        "Developer Tools",
        "Multicloud",
        "Identity",
        "Integration",
        "Internet of Things",
        "Management and Governance",
        "Media",
        "Migration",
        "Mobile",
        "Networking",
        "Security",
        "Storage",
        "Web",
        "Other",
    }
)


@dataclass(frozen=True)
class FocusColumn:
    name: str
    type: ColumnType
    level: Level
    source: str | None  # a FocusRecord key; None: always null
    derivation: str


COLUMNS: tuple[FocusColumn, ...] = (
    FocusColumn("BilledCost", "decimal", "Mandatory", "cost", "the line's rounded amount; tax; minus prepaid credit applied; credit notes negative"),
    FocusColumn("BillingAccountId", "string", "Mandatory", "tenant_slug", "the tenant's slug (unique, never changes)"),
    FocusColumn("BillingAccountName", "string", "Mandatory", "tenant_name", "the tenant's name"),
    FocusColumn("BillingCurrency", "string", "Mandatory", "currency", "the document's ISO 4217 currency"),
    FocusColumn("BillingPeriodEnd", "datetime", "Mandatory", "billing_end", "the invoice's period end (exclusive); credit notes: end of the tenant's period they were issued in"),
    FocusColumn("BillingPeriodStart", "datetime", "Mandatory", "billing_start", "the invoice's period start (inclusive); credit notes: the tenant's period they were issued in"),
    FocusColumn("ChargeCategory", "string", "Mandatory", "category", "usage and flat fees (days of service) -> Usage, discount and prepaid credit -> Credit, minimum-spend true-up -> Adjustment, VAT -> Tax; corrections and credit-note lines take the category of the component they correct; a credit note issued by finance -> Credit"),
    FocusColumn("ChargeClass", "string", "Mandatory", "charge_class", "Correction for a correction line and for a credit note or prepaid-credit restoration of an earlier billing period, else null"),
    FocusColumn("ChargeDescription", "string", "Mandatory", "description", "the line's description as printed on the document"),
    FocusColumn("ChargeFrequency", "string", "Recommended", "frequency", "usage -> Usage-Based, other invoice rows (flat fees too) -> Recurring, credit notes and prepaid credit -> One-Time"),
    FocusColumn("ChargePeriodEnd", "datetime", "Mandatory", "charge_end", "the line's segment end, else the period end; corrections: the corrected period's end"),
    FocusColumn("ChargePeriodStart", "datetime", "Mandatory", "charge_start", "the line's segment start, else the period start; corrections: the corrected period's start"),
    FocusColumn("CommitmentDiscountStatus", "string", "Conditional", None, "always null: no commitment discounts (an all-null column avoids a validator false failure)"),
    FocusColumn("ConsumedQuantity", "decimal", "Conditional", "consumed_quantity", "Usage rows: the line's quantity; null otherwise"),
    FocusColumn("ConsumedUnit", "string", "Conditional", "consumed_unit", "Usage rows: the line's unit label in FOCUS UnitFormat (vCPU-hour -> vCPU-Hours); null otherwise"),
    FocusColumn("ContractedCost", "decimal", "Mandatory", "cost", "= BilledCost (the price list is the contract; discounts are their own Credit rows)"),
    FocusColumn("EffectiveCost", "decimal", "Mandatory", "cost", "= BilledCost (no amortized commitments)"),
    FocusColumn("InvoiceId", "string", "Recommended", "invoice_id", "the invoice number; credit-note rows: the credit note's number"),
    FocusColumn("InvoiceIssuerName", "string", "Mandatory", "issuer", "settings.INVOICE_ISSUER['name']"),
    FocusColumn("ListCost", "decimal", "Mandatory", "cost", "= BilledCost (no separate public list price)"),
    FocusColumn("PricingQuantity", "decimal", "Mandatory", "quantity", "the line's quantity (null for Tax and for lines without a quantity)"),
    FocusColumn("PricingUnit", "string", "Mandatory", "unit", "the line's unit label in FOCUS UnitFormat, when it has a quantity"),
    FocusColumn("ProviderName", "string", "Mandatory", "issuer", "settings.INVOICE_ISSUER['name'] (1.3: ServiceProviderName)"),
    FocusColumn("PublisherName", "string", "Mandatory", "issuer", "settings.INVOICE_ISSUER['name'] (1.3: HostProviderName)"),
    FocusColumn("ServiceCategory", "string", "Mandatory", "service_category", "the SKU's FOCUS service category; Other for rows without a SKU"),
    FocusColumn("ServiceSubcategory", "string", "Recommended", "service_subcategory", "Other (<ServiceCategory>): no finer subcategory is recorded"),
    FocusColumn("ServiceName", "string", "Mandatory", "service_name", "the SKU code; 'Billing' for rows without a SKU (tax, discounts, minimum, credits)"),
    FocusColumn("SkuId", "string", "Conditional", "sku_id", "the SKU code; null for Tax and rows without a SKU"),
    FocusColumn("Tags", "json", "Conditional", "tags", "JSON object of provider tags (prefix billing/): tenant, period and SKU"),
    FocusColumn("x_FocusVersion", "string", "Custom", "focus_version", "the FOCUS version of the file, 1.2"),
    FocusColumn("x_DocumentType", "string", "Custom", "document_type", "invoice | credit_note"),
    FocusColumn("x_DocumentStatus", "string", "Custom", "document_status", "the invoice's status (finalized, paid, void) or the credit note's kind (manual, void, correction)"),
    FocusColumn("x_LineKind", "string", "Custom", "line_kind", "usage | flat | discount | minimum | correction | tax | prepaid_credit | prepaid_credit_restored | credit_note"),
    FocusColumn("x_Component", "string", "Custom", "component", "what the line prices, stable across re-computations (e.g. usage:api_calls:12)"),
    FocusColumn("x_CorrectsInvoiceId", "string", "Custom", "corrects_invoice", "the invoice a correction or credit note corrects"),
    FocusColumn("x_CorrectsPeriod", "string", "Custom", "corrects_period", "the period key that invoice covers"),
    FocusColumn("x_TaxCategory", "string", "Custom", "tax_category", "UNCL 5305 VAT category (S, Z, E, AE, O)"),
    FocusColumn("x_TaxRate", "decimal", "Custom", "tax_rate", "VAT rate in percent"),
    FocusColumn("x_LedgerCurrency", "string", "Custom", "ledger_currency", "the ledger's base currency"),
    FocusColumn("x_FxRate", "decimal", "Custom", "fx_rate", "1 BillingCurrency = x_FxRate x_LedgerCurrency (the document's stored rate)"),
)  # fmt: skip

COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
# The record key of a column that is always null (source None): every record holds it, as None.
NULL_SOURCE = "null"
SOURCES: tuple[str, ...] = tuple(column.source or NULL_SOURCE for column in COLUMNS)


def mapping_table_markdown() -> str:
    """COLUMNS as the Markdown table docs/focus.md shows (a test keeps the page and this table equal)."""
    lines = ["| # | column | type | level | from | how |", "| --- | --- | --- | --- | --- | --- |"]
    for n, column in enumerate(COLUMNS, start=1):
        source = f"`{column.source}`" if column.source else "(null)"
        derivation = column.derivation.replace("|", "\\|")
        lines.append(f"| {n} | `{column.name}` | {column.type} | {column.level} | {source} | {derivation} |")
    return "\n".join(lines) + "\n"
