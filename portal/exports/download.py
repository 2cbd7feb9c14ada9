"""The FOCUS file as an HTTP response, for the customer's and finance's download pages: CSV streamed (any
size, flat memory), Parquet written to a temporary file first (a Parquet footer comes last)."""

from __future__ import annotations

import tempfile
from typing import cast

from django.http import FileResponse, HttpResponse, StreamingHttpResponse

from ledger.exports.focus_rows import focus_rows
from ledger.exports.focus_writers import csv_chunks, write_parquet
from tenants.models import Tenant


def focus_download(*, period: str, fmt: str, tenant: Tenant | None) -> HttpResponse:
    """The period's FOCUS rows of `tenant` (None: every tenant, finance only) as an attachment."""
    records = focus_rows(period=period, tenant=tenant)
    name = f"focus-1.2-{period}-{tenant.slug if tenant is not None else 'all'}.{fmt}"
    if fmt == "parquet":
        file = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it once sent
        write_parquet(records, file, period=period, tenant=tenant.slug if tenant is not None else None)
        file.seek(0)
        response = FileResponse(
            file, as_attachment=True, filename=name, content_type="application/vnd.apache.parquet"
        )
        return cast(HttpResponse, response)
    streamed = StreamingHttpResponse(csv_chunks(records), content_type="text/csv; charset=utf-8")
    streamed["Content-Disposition"] = f'attachment; filename="{name}"'
    return cast(HttpResponse, streamed)
