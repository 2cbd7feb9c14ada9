"""`manage.py demo_disputes`: two disputes for the demo portal, through the services as a customer and
finance would make them. acme's customer disputes the largest line of acme's last issued invoice (with a
CSV of its own counts attached) and the dispute stays open; umbrella's customer disputes a line of its last
invoice, finance takes it under review, answers, and resolves it with a small credit note. Run after
`close_period` (`make demo`). Idempotent: a dispute the demo already opened is found and
carried on (the demo customer's dispute on that line), never opened twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError

from common.money import quantize_money
from ledger.models import Dispute, Invoice, InvoiceLine
from ledger.services.disputes import dispute_comment, dispute_open, dispute_resolve, dispute_review
from tenants.models import Tenant

OPEN_TENANT = "acme"
RESOLVED_TENANT = "umbrella"
FINANCE_USER = "finance"  # the demo's finance approver (billing/demo.py)
OPEN_MESSAGE = (
    "Our own records count less usage for this line than the invoice does. "
    "Our daily export for the month is attached; could you check the meter?"
)
RESOLVED_MESSAGE = (
    "Part of this line was billed during the outage window announced on your status page. "
    "We would expect that time not to be charged."
)
FINANCE_ANSWER = "We confirmed the outage window in our incident log and credit that part of the line."
CREDIT = Decimal("25")  # a small credit, in the invoice's currency (capped at what the line has left)


def _last_issued(tenant: Tenant) -> Invoice | None:
    return (
        Invoice.objects.filter(tenant=tenant, status__in=[Invoice.Status.FINALIZED, Invoice.Status.PAID])
        .exclude(number__isnull=True)
        .order_by("-period_start", "-id")
        .first()
    )


def _largest_line(invoice: Invoice) -> InvoiceLine | None:
    return invoice.lines.filter(amount__gt=0).order_by("-amount", "position").first()


class Command(BaseCommand):
    help = "Open a dispute for acme (left open) and open and resolve one for umbrella (credit note)."

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model().objects
        finance = users.filter(username=FINANCE_USER).first()
        if finance is None:
            raise CommandError("run `manage.py seed_demo` first (no finance user)")
        self._open_one(users, finance)
        self._resolved_one(users, finance)

    def _scene(self, users: Any, slug: str) -> tuple[Tenant, Any, Invoice, InvoiceLine] | None:
        tenant = Tenant.objects.filter(slug=slug).first()
        customer = users.filter(username=f"{slug}-admin").first()
        if tenant is None or customer is None:
            raise CommandError(f"run `manage.py seed_demo` first (no tenant or user {slug})")
        invoice = _last_issued(tenant)
        line = _largest_line(invoice) if invoice is not None else None
        if invoice is None or line is None:
            self.stdout.write(
                f"demo_disputes: {slug} has no issued invoice with a charge yet (run close_period)"
            )
            return None
        return tenant, customer, invoice, line

    def _open_one(self, users: Any, finance: Any) -> None:
        scene = self._scene(users, OPEN_TENANT)
        if scene is None:
            return
        tenant, customer, invoice, line = scene
        found = Dispute.objects.filter(tenant=tenant, invoice=invoice, line=line, opened_by=customer).first()
        if found is None:
            first = invoice.period_first_day or invoice.period_start.date()
            last = invoice.period_last_day or first
            days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
            export = "day,quantity\n" + "".join(
                f"{day:%Y-%m-%d},{1800 + i * 25}\n" for i, day in enumerate(days)
            )
            found = dispute_open(
                tenant=tenant,
                invoice=invoice,
                line=line,
                reason=Dispute.Reason.WRONG_QUANTITY,
                message=OPEN_MESSAGE,
                attachment=ContentFile(export.encode(), name="our-request-counts.csv"),
                user=customer,
            )
        self.stdout.write(
            f"demo_disputes: {tenant.slug} dispute {found.pk} on {invoice.number} line {line.position} "
            f"({line.description}): {found.status}"
        )

    def _resolved_one(self, users: Any, finance: Any) -> None:
        scene = self._scene(users, RESOLVED_TENANT)
        if scene is None:
            return
        tenant, customer, invoice, line = scene
        found = Dispute.objects.filter(tenant=tenant, invoice=invoice, line=line, opened_by=customer).first()
        if found is None:
            found = dispute_open(
                tenant=tenant,
                invoice=invoice,
                line=line,
                reason=Dispute.Reason.OTHER,
                message=RESOLVED_MESSAGE,
                user=customer,
            )
        if found.status == Dispute.Status.OPEN:
            found = dispute_review(dispute=found, user=finance)
        if found.status == Dispute.Status.UNDER_REVIEW:
            dispute_comment(dispute=found, message="Thanks, we are checking the incident log.", user=finance)
            credit = min(quantize_money(CREDIT, invoice.currency), line.amount)
            found = dispute_resolve(dispute=found, amount=credit, note=FINANCE_ANSWER, user=finance)
        number = found.credit_note.number if found.credit_note else "-"
        self.stdout.write(
            f"demo_disputes: {tenant.slug} dispute {found.pk} on {invoice.number} line {line.position}: "
            f"{found.status} (credit note {number})"
        )
