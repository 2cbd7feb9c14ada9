"""Finance's disputes queue: every tenant's disputes, oldest first, filtered by status, with timers (how
long each has been open, and since the customer last wrote); a decision page per dispute: take it under
review, accept it in full or in part (an amount, or chosen lines with amounts: a credit note posted to the
ledger by ledger.services.disputes.dispute_resolve), or reject it with a reason. Thin: reads through
ledger.selectors, writes through the dispute services, whose errors become messages (403 for a finance
viewer, who reads but does not decide)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from babel.dates import format_datetime
from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from common.errors import ApplicationError, PermissionDenied
from common.money_format import DocumentFormat, format_money, resolve_locale
from ledger.models import Dispute
from ledger.selectors import dispute_for_finance, disputes_queue
from ledger.services.disputes import (
    dispute_credit_left,
    dispute_reject,
    dispute_resolve,
    dispute_review,
    dispute_user_may_decide,
    invoice_left_to_credit,
)
from portal.finance.access import FinanceRequest, finance_view
from portal.finance.queue.forms import DecisionForm, QueueFilterForm

SECTION = "finance-disputes"
QUEUE_PAGE = 200


def duration(delta: timedelta) -> str:
    """A timer as finance reads it: `3 d 4 h`, `5 h 12 min`, `7 min` (whole minutes, never negative)."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


def when_utc(value: datetime | None) -> str:
    """An instant in UTC, as `1 Dec 2026, 09:00` (finance is platform-wide: no tenant zone to show it in)."""
    if value is None:
        return ""
    return format_datetime(value, "d MMM y, HH:mm", tzinfo=UTC, locale=resolve_locale(None))


def disputed_amount(dispute: Dispute) -> Decimal:
    """What the customer questions: the line's amount, or the invoice's subtotal (before tax)."""
    return dispute.line.amount if dispute.line is not None else dispute.invoice.subtotal


def _row(dispute: Any, now: datetime) -> dict[str, Any]:
    end = now if dispute.is_open else (dispute.decided_at or now)
    last = dispute.last_customer_at
    return {
        "dispute": dispute,
        "opened": when_utc(dispute.created_at),
        "opened_iso": dispute.created_at.isoformat(),
        "open_for": duration(end - dispute.created_at),
        "since_customer": duration(now - last) if dispute.is_open and last is not None else "",
        "disputed": disputed_amount(dispute),
        "fmt": DocumentFormat(dispute.invoice.currency, None),
    }


@finance_view
@require_GET
def dispute_queue(request: FinanceRequest) -> HttpResponse:
    form = QueueFilterForm(request.GET or None)
    statuses = form.statuses()
    now = timezone.now()
    found = disputes_queue(statuses=statuses)
    rows = [_row(d, now) for d in found[:QUEUE_PAGE]]
    context = {
        "section": SECTION,
        "form": form,
        "rows": rows,
        "total": found.count(),
        "shown": len(rows),
    }
    return render(request, "portal/finance/queue/disputes.html", context)


def _dispute(dispute_id: int) -> Dispute:
    dispute = dispute_for_finance(dispute_id=dispute_id)
    if dispute is None:
        raise Http404("no such dispute")
    return dispute


@finance_view
@require_GET
def dispute_page(request: FinanceRequest, dispute_id: int) -> HttpResponse:
    dispute = _dispute(dispute_id)
    now = timezone.now()
    lines = dispute_credit_left(invoice=dispute.invoice) if dispute.is_open else []
    events = [
        {"event": e, "when": when_utc(e.created_at), "iso": e.created_at.isoformat()}
        for e in dispute.events.all()
    ]
    form = DecisionForm(lines=lines)
    context = {
        "section": SECTION,
        "row": _row(dispute, now),
        "dispute": dispute,
        "invoice": dispute.invoice,
        "fmt": DocumentFormat(dispute.invoice.currency, None),
        "events": events,
        "lines": [{"c": c, "field": form[f"line_{c.line.pk}"]} for c in lines],
        "left_total": invoice_left_to_credit(invoice=dispute.invoice) if dispute.is_open else Decimal(0),
        "may_decide": dispute.is_open and dispute_user_may_decide(user=request.user),
        "decided": when_utc(dispute.decided_at),
    }
    return render(request, "portal/finance/queue/dispute.html", context)


@finance_view
@require_POST
def dispute_decide(request: FinanceRequest, dispute_id: int) -> HttpResponse:
    dispute = _dispute(dispute_id)
    if not dispute_user_may_decide(user=request.user):
        raise DjangoPermissionDenied("only finance editors and approvers decide disputes")
    form = DecisionForm(request.POST, lines=dispute_credit_left(invoice=dispute.invoice))
    back = redirect("portal:finance:dispute", dispute_id=dispute.pk)
    if not form.is_valid():
        problems = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, problems or "Check the decision's fields.")
        return back
    data, user = form.cleaned_data, request.user
    action = data["action"]
    try:
        if action == "review":
            dispute_review(dispute=dispute, user=user)
            done = "Taken under review."
        elif action == "reject":
            dispute_reject(dispute=dispute, reason=data["reason"], user=user)
            done = "The dispute is rejected."
        else:
            resolved = dispute_resolve(
                dispute=dispute,
                user=user,
                note=data["note"],
                amount=data["amount"] if action == "amount" else None,
                lines=form.chosen_lines() if action == "lines" else None,
            )
            note = resolved.credit_note
            assert note is not None
            how = "in full" if action == "full" else "in part"
            total = format_money(note.total, note.currency, None)
            done = f"Accepted {how}: credit note {note.number} of {total} issued."
    except PermissionDenied as err:
        raise DjangoPermissionDenied(err.message) from err
    except ApplicationError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, done)
    return back
