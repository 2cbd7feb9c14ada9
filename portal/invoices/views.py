"""Portal pages: the tenant's invoices (list, detail, downloads), a line's drill-down to its usage (and its
CSV), and share links (created and revoked by the tenant's users; the shared page itself needs no login).

Thin: every read goes through a selector that takes the current tenant (another tenant's id is a 404),
every write through a service."""

from __future__ import annotations

import csv
import io
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from billing.close.drilldown import LineDrilldown, line_drilldown
from common.errors import ApplicationError, PermissionDenied
from common.money_format import DocumentFormat
from common.periods import zone_or_utc
from ledger.models import InvoiceShareLink
from ledger.selectors import (
    StoredDocument,
    credit_note_document,
    invoice_document,
    tenant_invoice_detail,
    tenant_invoice_get,
    tenant_invoice_periods,
    tenant_invoices,
    tenant_share_links,
)
from ledger.services.share_links import (
    invoice_share_link_create,
    invoice_share_link_resolve,
    invoice_share_link_revoke,
)
from portal.access import PortalRequest, tenant_view
from portal.invoices.forms import InvoiceFilterForm, ShareLinkForm


def _download(document: StoredDocument | None) -> HttpResponse:
    """The stored file as an attachment (documents are small: read whole, served with their length)."""
    if document is None or not default_storage.exists(document.name):
        raise Http404("no such document")
    with default_storage.open(document.name, "rb") as handle:
        content = handle.read()
    response = HttpResponse(content, content_type=document.content_type)
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@tenant_view
@require_GET
def invoice_list(request: PortalRequest) -> HttpResponse:
    tenant = request.tenant
    form = InvoiceFilterForm(request.GET or None, periods=tenant_invoice_periods(tenant=tenant))
    status = period = ""
    if form.is_valid():
        status, period = form.cleaned_data["status"], form.cleaned_data["period"]
    invoices = tenant_invoices(tenant=tenant, status=status, period_key=period)[:200]
    context = {
        "section": "invoices",
        "form": form,
        "rows": [(invoice, DocumentFormat(invoice.currency, tenant.locale)) for invoice in invoices],
        "filtered": bool(status or period),
    }
    return render(request, "portal/invoices/list.html", context)


def _detail_context(request: PortalRequest, invoice_id: int, **extra: Any) -> dict[str, Any]:
    context = tenant_invoice_detail(tenant=request.tenant, invoice_id=invoice_id)
    if context is None:
        raise Http404("no such invoice")
    invoice = context["invoice"]
    zone = zone_or_utc(request.tenant.timezone)
    for note in context["credit_notes"]:
        note["day"] = note["created_at"].astimezone(zone).date()
    context.update(
        section="invoices",
        public=False,
        has_pdf=invoice_document(tenant=request.tenant, invoice_id=invoice.pk, kind="pdf") is not None,
        has_xml=invoice_document(tenant=request.tenant, invoice_id=invoice.pk, kind="xml") is not None,
        share_links=[
            _share_row(link, zone)
            for link in tenant_share_links(tenant=request.tenant, invoice_id=invoice.pk)
        ],
        share_form=ShareLinkForm(),
        **extra,
    )
    return context


def _share_row(link: InvoiceShareLink, zone: ZoneInfo) -> dict[str, Any]:
    now = timezone.now()
    state = "Revoked" if link.revoked_at else ("Expired" if link.expires_at <= now else "Active")
    return {
        "pk": link.pk,
        "created": link.created_at.astimezone(zone).date(),
        "expires": link.expires_at.astimezone(zone).date(),
        "last_used": link.last_used_at.astimezone(zone).date() if link.last_used_at else None,
        "state": state,
    }


@tenant_view
@require_GET
def invoice_detail(request: PortalRequest, invoice_id: int) -> HttpResponse:
    return render(request, "portal/invoices/detail.html", _detail_context(request, invoice_id))


@tenant_view
@require_GET
def invoice_document_download(request: PortalRequest, invoice_id: int, kind: str) -> HttpResponse:
    return _download(invoice_document(tenant=request.tenant, invoice_id=invoice_id, kind=kind))


@tenant_view
@require_GET
def credit_note_document_download(request: PortalRequest, credit_note_id: int, kind: str) -> HttpResponse:
    return _download(credit_note_document(tenant=request.tenant, credit_note_id=credit_note_id, kind=kind))


def _drilldown(request: PortalRequest, invoice_id: int, line_id: int) -> LineDrilldown:
    found = line_drilldown(tenant=request.tenant, invoice_id=invoice_id, line_id=line_id)
    if found is None:
        raise Http404("no such line")
    return found


@tenant_view
@require_GET
def invoice_line(request: PortalRequest, invoice_id: int, line_id: int) -> HttpResponse:
    found = _drilldown(request, invoice_id, line_id)
    return render(
        request,
        "portal/invoices/line.html",
        {
            "section": "invoices",
            "drill": found,
            "line": found.line,
            "invoice": found.line.invoice,
            "fmt": DocumentFormat(found.currency, request.tenant.locale),
        },
    )


@tenant_view
@require_GET
def invoice_line_csv(request: PortalRequest, invoice_id: int, line_id: int) -> HttpResponse:
    """date, version, quantity, amount: plain decimals (a spreadsheet reads them), UTF-8."""
    found = _drilldown(request, invoice_id, line_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "version", "quantity", "amount"])
    for day in found.days:
        writer.writerow([day.day.isoformat(), day.version, _plain(day.quantity), f"{day.amount:f}"])
    response = HttpResponse(out.getvalue().encode(), content_type="text/csv; charset=utf-8")
    number = found.line.invoice.number or f"draft-{found.line.invoice_id}"
    filename = f"{number}-line-{found.line.position}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _plain(value: Any) -> str:
    text = f"{value.normalize():f}"
    return "0" if text in {"-0", "0"} else text


@tenant_view
@require_POST
def invoice_share(request: PortalRequest, invoice_id: int) -> HttpResponse:
    """Creates a share link and shows its URL once (in this response only: only its hash is stored)."""
    invoice = tenant_invoice_get(tenant=request.tenant, invoice_id=invoice_id)
    if invoice is None:
        raise Http404("no such invoice")
    form = ShareLinkForm(request.POST)
    if not form.is_valid():
        context = _detail_context(request, invoice_id)
        context["share_form"] = form
        return render(request, "portal/invoices/detail.html", context, status=400)
    try:
        created = invoice_share_link_create(
            invoice=invoice,
            tenant=request.tenant,
            user=request.user,  # type: ignore[arg-type]
            days=form.cleaned_data["days"],
        )
    except PermissionDenied as err:
        raise DjangoPermissionDenied(err.message) from err
    except ApplicationError as err:
        context = _detail_context(request, invoice_id, share_error=err.message)
        return render(request, "portal/invoices/detail.html", context, status=400)
    url = request.build_absolute_uri(reverse("portal:shared-invoice", kwargs={"token": created.token}))
    response = render(
        request, "portal/invoices/detail.html", _detail_context(request, invoice_id, new_share_url=url)
    )
    response["Cache-Control"] = "no-store"
    return response


@tenant_view
@require_POST
def invoice_share_revoke(request: PortalRequest, invoice_id: int, share_id: int) -> HttpResponse:
    link = tenant_share_links(tenant=request.tenant, invoice_id=invoice_id).filter(pk=share_id).first()
    if link is None:
        raise Http404("no such share link")
    try:
        invoice_share_link_revoke(link=link, tenant=request.tenant, user=request.user)  # type: ignore[arg-type]
    except PermissionDenied as err:
        raise DjangoPermissionDenied(err.message) from err
    return redirect("portal:invoice", invoice_id=invoice_id)


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _shared(token: str) -> InvoiceShareLink:
    link = invoice_share_link_resolve(token=token)
    if link is None:
        raise Http404("no such link")  # unknown, revoked and expired alike
    return link


@require_GET
def shared_invoice(request: HttpRequest, token: str) -> HttpResponse:
    """The hosted invoice page of a share link: read-only, no login."""
    link = _shared(token)
    invoice = link.invoice
    context = tenant_invoice_detail(tenant=invoice.tenant, invoice_id=invoice.pk)
    if context is None:
        raise Http404("no such link")
    context.update(
        public=True,
        token=token,
        has_pdf=invoice_document(tenant=invoice.tenant, invoice_id=invoice.pk, kind="pdf") is not None,
        expires_at=link.expires_at,
    )
    return _private(render(request, "portal/invoices/shared.html", context))


@require_GET
def shared_invoice_document(request: HttpRequest, token: str) -> HttpResponse:
    link = _shared(token)
    invoice = link.invoice
    return _private(_download(invoice_document(tenant=invoice.tenant, invoice_id=invoice.pk, kind="pdf")))
