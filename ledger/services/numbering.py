"""Document numbers: `<SERIES>-<year>-<000001>` per tenant series and the tenant's own calendar year,
drawn from a counter row locked until the issuing transaction ends, so numbers are sequential and
gapless. Invoices and credit notes (series `<SERIES>-CN`) both draw here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from common.errors import StateError
from tenants.models import Tenant

_NEXT_NUMBER_SQL = (
    "INSERT INTO ledger_invoicecounter (series, year, last) VALUES (%s, %s, 1) "
    "ON CONFLICT (series, year) DO UPDATE SET last = ledger_invoicecounter.last + 1 "
    "RETURNING last"
)


def series_for(tenant: Tenant) -> str:
    return tenant.slug.upper().replace("_", "-")


def year_in(tz: str, at: datetime) -> int:
    """The calendar year of instant `at` in time zone `tz` (numbering series restart with it: New Year's
    Eve in UTC is already New Year in Tokyo)."""
    return at.astimezone(ZoneInfo(tz)).year


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise StateError("invoice numbers are drawn inside the finalizing transaction")


def invoice_number_next(*, series: str, year: int) -> str:
    """The next number of a series, drawn with one upsert (INSERT ... ON CONFLICT DO UPDATE ...
    RETURNING). The counter row stays locked until the caller's transaction ends, so concurrent
    finalizations queue on it, and a rollback gives the number back: sequential and gapless."""
    _require_transaction()
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_NUMBER_SQL, [series, year])
        row = cursor.fetchone()
    assert row is not None
    return f"{series}-{year}-{int(row[0]):06d}"


def invoice_numbers_next(*, keys: Sequence[tuple[str, int]]) -> list[str]:
    """The next number of each (series, year), in order, as `invoice_number_next` draws them (same
    counter rows, locked until the caller's transaction ends: sequential and gapless), with one
    multi-row upsert when no key repeats (rows locked in key order)."""
    _require_transaction()
    if not keys:
        return []
    if max(Counter(keys).values()) > 1:  # one upsert cannot touch a row twice
        return [invoice_number_next(series=series, year=year) for series, year in keys]
    ordered = sorted(keys)
    # Only placeholders are joined into the statement; every value is a bound parameter.
    values = ", ".join(["(%s, %s, 1)"] * len(ordered))
    sql = (
        "INSERT INTO ledger_invoicecounter (series, year, last) VALUES "  # noqa: S608
        + values
        + " ON CONFLICT (series, year) DO UPDATE SET last = ledger_invoicecounter.last + 1"
        " RETURNING series, year, last"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for key in ordered for value in key])
        drawn = {(str(series), int(year)): int(last) for series, year, last in cursor.fetchall()}
    return [f"{series}-{year}-{drawn[(series, year)]:06d}" for series, year in keys]
