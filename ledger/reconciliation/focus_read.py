"""Reading a provider's FOCUS file (CSV; Parquet when pyarrow is installed) into rows the reconciliation
compares, pure (no Django). How a row maps to one of our tenants and SKUs (docs/reconciliation.md):

    tenant   x_TenantSlug, else SubAccountId, else BillingAccountId   (one of our tenant slugs)
    SKU      x_SkuCode, else SkuId                                    (one of our SKU codes)
    cost     the cost column asked for (BilledCost by default; EffectiveCost, ListCost, ...)
    currency BillingCurrency

Every row is kept: a row of another ChargeCategory than Usage is read and counted as excluded, a row
naming no known tenant is kept as unmatched. A missing column or an unreadable value is an error naming
the row and column (InvalidFocusFile), never a row silently skipped."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

TENANT_COLUMNS = ("x_TenantSlug", "SubAccountId", "BillingAccountId")
SKU_COLUMNS = ("x_SkuCode", "SkuId")
COST_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
USAGE = "Usage"


class InvalidFocusFile(ValueError):
    """The file cannot be read as a FOCUS export; the message names the row and column."""


@dataclass(frozen=True)
class FocusRow:
    row_number: int
    tenant_ref: str
    sku_code: str
    charge_category: str
    cost: Decimal
    currency: str
    charge_period_start: datetime | None


def _pick(header: list[str], names: tuple[str, ...], what: str) -> str:
    for name in names:
        if name in header:
            return name
    raise InvalidFocusFile(f"no {what} column: expected one of {', '.join(names)}")


def _decimal(value: Any, row: int, column: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise InvalidFocusFile(f"row {row}, {column}: a binary float ({value!r}); decimals only")
    text = str(value if value is not None else "").strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidFocusFile(f"row {row}, {column}: {text!r} is not a decimal") from None
    if not number.is_finite():
        raise InvalidFocusFile(f"row {row}, {column}: {text!r} is not a finite decimal")
    return number


def _instant(value: Any, row: int, column: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFocusFile(f"row {row}, {column}: {text!r} is not an ISO 8601 instant") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _records(content: bytes, file_name: str) -> tuple[list[str], Iterator[dict[str, Any]]]:
    if file_name.lower().endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - pyarrow is an optional dependency
            raise InvalidFocusFile("Parquet needs pyarrow, which is not installed; export CSV") from None
        try:
            table = pq.read_table(io.BytesIO(content))
        except Exception as err:  # pyarrow raises many types for a corrupt file
            raise InvalidFocusFile(f"not a readable Parquet file: {err}") from None
        return list(table.column_names), iter(table.to_pylist())
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidFocusFile("the CSV file is not UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader.fieldnames or []), iter(reader)


def focus_rows(*, content: bytes, file_name: str, cost_column: str = "BilledCost") -> list[FocusRow]:
    """Every data row of the file, numbered from 1."""
    if cost_column not in COST_COLUMNS:
        raise InvalidFocusFile(f"cost column {cost_column!r}: one of {', '.join(COST_COLUMNS)}")
    header, records = _records(content, file_name)
    if not header:
        raise InvalidFocusFile("the file has no header row")
    for required in ("ChargeCategory", "BillingCurrency", cost_column):
        if required not in header:
            raise InvalidFocusFile(f"no {required} column")
    tenant_col = _pick(header, TENANT_COLUMNS, "tenant")
    sku_col = _pick(header, SKU_COLUMNS, "SKU")
    start_col = "ChargePeriodStart" if "ChargePeriodStart" in header else None
    rows: list[FocusRow] = []
    for number, record in enumerate(records, start=1):
        currency = str(record.get("BillingCurrency") or "").strip()
        category = str(record.get("ChargeCategory") or "").strip()
        if not category:
            raise InvalidFocusFile(f"row {number}, ChargeCategory: empty")
        if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
            raise InvalidFocusFile(f"row {number}, BillingCurrency: {currency!r} is not an ISO 4217 code")
        rows.append(
            FocusRow(
                row_number=number,
                tenant_ref=str(record.get(tenant_col) or "").strip(),
                sku_code=str(record.get(sku_col) or "").strip(),
                charge_category=category,
                cost=_decimal(record.get(cost_column), number, cost_column),
                currency=currency,
                charge_period_start=_instant(record.get(start_col), number, start_col) if start_col else None,
            )
        )
    return rows
