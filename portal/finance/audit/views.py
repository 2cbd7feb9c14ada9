"""Finance's audit trail: the records filtered by object type, action, actor, object id and UTC days,
newest first, 50 a page; and the same filter as a CSV file, streamed (ledger.audit.selectors). An invalid
filter shows its errors (400) and exports nothing."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import cast

from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from ledger.audit.models import AuditRecord
from ledger.audit.selectors import AuditFilter, audit_choices, audit_csv_rows, audit_records
from portal.finance.access import FinanceRequest, finance_view
from portal.finance.audit.forms import AuditFilterForm

SECTION = "finance-audit"
PER_PAGE = 50


def _form(request: FinanceRequest) -> AuditFilterForm:
    """The filter of the query string (unbound without one: the whole trail)."""
    object_types, actions = audit_choices()
    query = request.GET.copy()
    query.pop("page", None)
    return AuditFilterForm(query or None, object_types=object_types, actions=actions)


def _invalid(request: FinanceRequest, form: AuditFilterForm) -> HttpResponse:
    context = {"section": SECTION, "form": form, "page": None, "query": ""}
    return render(request, "portal/finance/audit/list.html", context, status=400)


@finance_view
@require_GET
def audit_list(request: FinanceRequest) -> HttpResponse:
    form = _form(request)
    if form.is_bound and not form.is_valid():
        return _invalid(request, form)
    where = form.audit_filter() if form.is_bound else AuditFilter()
    page = Paginator(audit_records(where=where), PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"record": r, "changes": _changes(r)} for r in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {"section": SECTION, "form": form, "page": page, "rows": rows, "query": query.urlencode()}
    return render(request, "portal/finance/audit/list.html", context)


def _text(value: object) -> str:
    """A diff value as the page shows it: text as is, anything else as compact JSON, None as (none)."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def _changes(record: AuditRecord) -> list[tuple[str, str, str]]:
    """(field, old, new) per field of the record's diff, in field order."""
    diff = record.diff if isinstance(record.diff, dict) else {}
    return [(field, _text(pair[0]), _text(pair[1])) for field, pair in sorted(diff.items())]


class _Echo:
    """A file-like object whose write returns the line (csv.writer into a streamed response)."""

    def write(self, value: str) -> str:
        return value


@finance_view
@require_GET
def audit_csv(request: FinanceRequest) -> HttpResponse:
    form = _form(request)
    if form.is_bound and not form.is_valid():
        return _invalid(request, form)
    where = form.audit_filter() if form.is_bound else AuditFilter()
    writer = csv.writer(_Echo(), lineterminator="\n")

    def lines() -> Iterator[bytes]:
        for row in audit_csv_rows(where=where):
            yield str(writer.writerow(row)).encode()

    # Streamed: the trail may hold millions of rows. (finance_view's type admits HttpResponse only.)
    response = cast(HttpResponse, StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8"))
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
