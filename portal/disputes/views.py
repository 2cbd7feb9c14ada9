"""Portal pages: the tenant's disputes (list, detail with timeline and outcome), opening one on an invoice
or one of its lines (with an optional attachment), commenting, withdrawing, the attachment's download, and
finance's minimal decision (take under review, reject, resolve with a credit note).

Thin: reads through tenant-scoped selectors (another tenant's id is a 404), writes through the services
of ledger/services/disputes.py, whose errors become a message on the page (or a 403 for a customer
trying finance's moves)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.dates import format_datetime
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.errors import ApplicationError, NotFound, PermissionDenied
from common.money_format import DocumentFormat, resolve_locale
from common.periods import zone_or_utc
from ledger.models import Dispute
from ledger.selectors import dispute_attachment, dispute_get, dispute_target, disputes_for_tenant
from ledger.services.disputes import (
    dispute_comment,
    dispute_open,
    dispute_reject,
    dispute_resolve,
    dispute_review,
    dispute_user_may_decide,
    dispute_withdraw,
)
from portal.access import PortalRequest, tenant_view
from portal.disputes.forms import CommentForm, DecideForm, DisputeOpenForm, WithdrawForm


def _when(value: datetime | None, request: PortalRequest) -> str:
    """An instant as the tenant reads it: its time zone, its locale's medium date and time."""
    if value is None:
        return ""
    tenant = request.tenant
    return format_datetime(
        value, "medium", tzinfo=zone_or_utc(tenant.timezone), locale=resolve_locale(tenant.locale)
    )


def _dispute(request: PortalRequest, dispute_id: int) -> Dispute:
    dispute = dispute_get(tenant=request.tenant, dispute_id=dispute_id)
    if dispute is None:
        raise Http404("no such dispute")
    return dispute


def _credit_note_url(credit_note_id: int) -> str:
    try:
        return reverse(
            "portal:credit-note-document", kwargs={"credit_note_id": credit_note_id, "kind": "pdf"}
        )
    except NoReverseMatch:  # the invoices pages provide it
        return ""


@tenant_view
@require_GET
def dispute_list(request: PortalRequest) -> HttpResponse:
    rows = [
        {
            "dispute": dispute,
            "opened": _when(dispute.created_at, request),
            "fmt": DocumentFormat(dispute.invoice.currency, request.tenant.locale),
        }
        for dispute in disputes_for_tenant(tenant=request.tenant)[:200]
    ]
    return render(request, "portal/disputes/list.html", {"section": "disputes", "rows": rows})


def _detail(request: PortalRequest, dispute: Dispute, **extra: Any) -> dict[str, Any]:
    events = [
        {"event": event, "when": _when(event.created_at, request), "iso": event.created_at.isoformat()}
        for event in dispute.events.all()
    ]
    may_decide = dispute.is_open and dispute_user_may_decide(user=request.user)
    # What the customer questioned (before tax): the line, or the whole invoice.
    disputed = dispute.line.amount if dispute.line is not None else dispute.invoice.subtotal
    context: dict[str, Any] = {
        "section": "disputes",
        "dispute": dispute,
        "invoice": dispute.invoice,
        "fmt": DocumentFormat(dispute.invoice.currency, request.tenant.locale),
        "events": events,
        "opened": _when(dispute.created_at, request),
        "decided": _when(dispute.decided_at, request),
        "credit_note_url": _credit_note_url(dispute.credit_note_id) if dispute.credit_note_id else "",
        "disputed": disputed,
        "in_part": dispute.credit_note is not None and dispute.credit_note.subtotal < disputed,
        "comment_form": CommentForm() if dispute.is_open else None,
        "withdraw_form": WithdrawForm() if dispute.is_open else None,
        "may_decide": may_decide,
    }
    context.update(extra)
    return context


@tenant_view
@require_GET
def dispute_detail(request: PortalRequest, dispute_id: int) -> HttpResponse:
    dispute = _dispute(request, dispute_id)
    return render(request, "portal/disputes/detail.html", _detail(request, dispute))


@tenant_view
@require_http_methods(["GET", "POST"])
def dispute_open_view(request: PortalRequest, invoice_id: int, line_id: int | None = None) -> HttpResponse:
    target = dispute_target(tenant=request.tenant, invoice_id=invoice_id, line_id=line_id)
    if target is None:
        raise Http404("no such invoice or line")
    invoice, line = target
    if request.method == "POST" and _too_large(request):
        # Refused before Django reads the body, so an oversized upload never reaches the disk.
        return HttpResponse("The attachment is too large.", status=413, content_type="text/plain")
    form = DisputeOpenForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            dispute = dispute_open(
                tenant=request.tenant,
                invoice=invoice,
                line=line,
                reason=form.cleaned_data["reason"],
                message=form.cleaned_data["message"],
                attachment=form.cleaned_data["attachment"],
                user=request.user,
            )
        except PermissionDenied as err:
            raise DjangoPermissionDenied(err.message) from err
        except ApplicationError as err:
            form.add_error("attachment" if "attachment" in err.message else None, err.message)
        else:
            messages.success(request, "Your dispute is open. We answer on this page.")
            return redirect("portal:dispute", dispute_id=dispute.pk)
    context = {
        "section": "disputes",
        "form": form,
        "invoice": invoice,
        "line": line,
        "fmt": DocumentFormat(invoice.currency, request.tenant.locale),
    }
    return render(request, "portal/disputes/open.html", context, status=400 if form.errors else 200)


# The form's own fields (reason, message, CSRF token) take far less than this beside the attachment.
_FORM_ALLOWANCE = 256 * 1024


def _too_large(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > settings.DISPUTE_ATTACHMENT_MAX_BYTES + _FORM_ALLOWANCE


def _act(request: PortalRequest, dispute: Dispute, done: str, move: Any) -> HttpResponse:
    try:
        move()
    except PermissionDenied as err:
        raise DjangoPermissionDenied(err.message) from err
    except NotFound as err:
        raise Http404(err.message) from err
    except ApplicationError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, done)
    return redirect("portal:dispute", dispute_id=dispute.pk)


@tenant_view
@require_POST
def dispute_comment_view(request: PortalRequest, dispute_id: int) -> HttpResponse:
    dispute = _dispute(request, dispute_id)
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write a message first.")
        return redirect("portal:dispute", dispute_id=dispute.pk)
    text = form.cleaned_data["message"]
    return _act(
        request,
        dispute,
        "Your message is added.",
        lambda: dispute_comment(dispute=dispute, message=text, user=request.user),
    )


@tenant_view
@require_POST
def dispute_withdraw_view(request: PortalRequest, dispute_id: int) -> HttpResponse:
    dispute = _dispute(request, dispute_id)
    form = WithdrawForm(request.POST)
    text = form.cleaned_data["message"] if form.is_valid() else ""
    return _act(
        request,
        dispute,
        "The dispute is withdrawn.",
        lambda: dispute_withdraw(dispute=dispute, message=text, user=request.user),
    )


@tenant_view
@require_POST
def dispute_decide_view(request: PortalRequest, dispute_id: int) -> HttpResponse:
    """Finance's decision (the services refuse anyone else: 403)."""
    dispute = _dispute(request, dispute_id)
    if not dispute_user_may_decide(user=request.user):
        raise DjangoPermissionDenied("only finance decides disputes")
    form = DecideForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, problems or "Check the decision's fields.")
        return redirect("portal:dispute", dispute_id=dispute.pk)
    data = form.cleaned_data
    user = request.user
    if data["action"] == "review":
        return _act(
            request, dispute, "Taken under review.", lambda: dispute_review(dispute=dispute, user=user)
        )
    if data["action"] == "reject":
        return _act(
            request,
            dispute,
            "The dispute is rejected.",
            lambda: dispute_reject(dispute=dispute, reason=data["reason"], user=user),
        )
    return _act(
        request,
        dispute,
        "Resolved with a credit note.",
        lambda: dispute_resolve(dispute=dispute, amount=data["amount"], note=data["note"], user=user),
    )


@tenant_view
@require_GET
def dispute_attachment_download(request: PortalRequest, dispute_id: int) -> HttpResponse:
    """The attachment as a download (never shown inline), with the type its bytes were recognised as."""
    found = dispute_attachment(tenant=request.tenant, dispute_id=dispute_id)
    if found is None or not default_storage.exists(found.name):
        raise Http404("no such attachment")
    with default_storage.open(found.name, "rb") as handle:  # at most DISPUTE_ATTACHMENT_MAX_BYTES
        content = handle.read()
    response = HttpResponse(content, content_type=found.content_type)
    response["Content-Disposition"] = content_disposition_header(True, found.filename) or "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    return response
