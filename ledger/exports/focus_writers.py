"""FOCUS records written out: CSV (pure: one header line, no comment, RFC 4180 quoting) and Parquet (typed
columns, the FOCUS version in the file's key-value metadata). Cells are formatted once, here:

- decimals as decimals, never integer-looking (12.00, 480.0; never 12 or 1E+2): the validator reads an
  integer-looking CSV column as an integer and fails its Decimal check;
- date/times in UTC, `YYYY-MM-DDTHH:MM:SSZ`;
- JSON (Tags) as the builder made it (compact, keys sorted); null as an empty cell."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from ledger.exports.focus_columns import COLUMN_NAMES, COLUMNS, FOCUS_VERSION, SOURCES
from ledger.exports.focus_rows import FocusRecord, focus_rows
from tenants.models import Tenant

_getter = itemgetter(*SOURCES)
_DECIMALS = tuple(i for i, column in enumerate(COLUMNS) if column.type == "decimal")
_DATETIMES = tuple(i for i, column in enumerate(COLUMNS) if column.type == "datetime")
_TIMES: dict[datetime, str] = {}


def format_decimal(value: Decimal) -> str:
    """Plain notation with a decimal point: Decimal('12.00') -> '12.00', Decimal('480') -> '480.0',
    Decimal('1E+2') -> '100.0', Decimal('-0.5') -> '-0.5'."""
    text = format(value, "f")
    return text if "." in text else text + ".0"


def format_datetime(value: datetime) -> str:
    """An aware instant as UTC with a Z: 2026-10-01T00:00:00Z (memoized: a period's bounds repeat)."""
    text = _TIMES.get(value)
    if text is None:
        if value.tzinfo is None:
            raise ValueError("FOCUS date/times must be aware")
        text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if len(_TIMES) < 100_000:
            _TIMES[value] = text
    return text


def format_record(record: FocusRecord) -> list[Any]:
    """The cells of one record in COLUMNS order (None: null)."""
    cells = list(_getter(record))
    for i in _DECIMALS:
        value = cells[i]
        if value is not None:
            cells[i] = format_decimal(value)
    for i in _DATETIMES:
        value = cells[i]
        if value is not None:
            cells[i] = format_datetime(value)
    return cells


def write_csv(
    records: Iterable[FocusRecord], stream: IO[str], *, progress: Callable[[int], object] | None = None
) -> int:
    """Write the header and one line per record to a text stream (open it with newline=""); returns the
    number of rows. `progress(n)` is called every 10,000 rows with the rows written since the last call."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMN_NAMES)
    count = 0
    for record in records:
        writer.writerow(format_record(record))
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(10_000)
    if progress is not None:
        progress(count % 10_000)
    return count


def csv_chunks(records: Iterable[FocusRecord], *, rows_per_chunk: int = 2000) -> Iterator[bytes]:
    """The CSV as UTF-8 chunks, for a streaming HTTP response: header first, then `rows_per_chunk` rows at
    a time; memory stays flat whatever the period's size."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMN_NAMES)
    pending = 0
    for record in records:
        writer.writerow(format_record(record))
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


def parquet_metadata(*, period: str, tenant: str | None) -> dict[bytes, bytes]:
    return {
        b"focus_version": FOCUS_VERSION.encode(),
        b"focus_dataset": b"CostAndUsage",
        b"billing_period": period.encode(),
        b"billing_account": (tenant or "*").encode(),
    }


def write_parquet(
    records: Iterable[FocusRecord],
    path: Path | IO[bytes],
    *,
    period: str,
    tenant: str | None,
    progress: Callable[[int], object] | None = None,
    batch_rows: int = 50_000,
) -> int:
    """Write a Parquet file: strings, decimal128(38, 18) and timestamp[us, UTC] columns, in row groups of
    `batch_rows`, with the FOCUS version in the schema's key-value metadata. Returns the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "json": pa.string(), "decimal": pa.decimal128(38, 18)}
    timestamp = pa.timestamp("us", tz="UTC")
    schema = pa.schema(
        [pa.field(c.name, timestamp if c.type == "datetime" else types[c.type]) for c in COLUMNS],
        metadata=parquet_metadata(period=period, tenant=tenant),
    )

    def batch(rows: list[list[Any]]) -> Any:
        arrays = []
        for i, column in enumerate(COLUMNS):
            values = [row[i] for row in rows]
            if column.type == "datetime":
                arrays.append(pa.array(values, type=pa.string()).cast(timestamp))
            elif column.type == "decimal":
                arrays.append(pa.array(values, type=pa.string()).cast(types["decimal"]))
            else:
                arrays.append(pa.array(values, type=pa.string()))
        return pa.record_batch(arrays, schema=schema)

    count = 0
    with pq.ParquetWriter(str(path) if isinstance(path, Path) else path, schema) as writer:
        rows: list[list[Any]] = []
        for record in records:
            rows.append(format_record(record))
            if len(rows) >= batch_rows:
                writer.write_batch(batch(rows))
                count += len(rows)
                if progress is not None:
                    progress(len(rows))
                rows = []
        if rows or count == 0:
            writer.write_batch(batch(rows))
            count += len(rows)
            if progress is not None:
                progress(len(rows))
    return count


FORMATS = ("csv", "parquet")


def focus_format_for(path: Path, requested: str | None = None) -> str:
    """The file format: `requested` when given, else from the suffix (.csv, .parquet); ValueError when
    neither says."""
    fmt = requested or path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"cannot tell the format of {path.name!r}: use a .csv or .parquet name or --format")
    return fmt


def focus_export_file(
    *,
    period: str,
    tenant: Tenant | None,
    path: Path,
    fmt: str,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Export the period's FOCUS rows (one tenant's, or every tenant's for None) to `path` as CSV or Parquet;
    returns the number of rows. The one road of the command and the portal's Parquet download."""
    records = focus_rows(period=period, tenant=tenant)
    if fmt == "parquet":
        slug = tenant.slug if tenant is not None else None
        return write_parquet(records, path, period=period, tenant=slug, progress=progress)
    with path.open("w", newline="", encoding="utf-8") as stream:
        return write_csv(records, stream, progress=progress)
