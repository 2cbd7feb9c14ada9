"""`manage.py demo_governance`: finance governance on the demo (billing/demo_governance.py): a pending
approval request with its backtest, a canary in progress, a finance viewer (auditor). Run after
`demo_disputes` (`make demo`). Idempotent. Prints the finance users and where to try each flow."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from billing.demo import DEMO_PASSWORD
from billing.demo_governance import backtest_line, demo_governance

FINANCE_USERS = (
    ("pricing", "finance editor: drafts price-list versions and submits them with their backtest"),
    ("finance", "finance approver: approves or rejects (not what they drafted themselves)"),
    ("controller", "finance approver: the second signature when the policy asks for two"),
)


class Command(BaseCommand):
    help = "Leave a pending approval request with its backtest and a canary in progress on the demo."

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_governance()
        if result.request is None:
            raise CommandError(
                "run `manage.py seed_demo` first (no cloud-standard-eur price list or no `pricing`)"
            )
        for line in result.created:
            self.stdout.write(f"created {line}")
        request = result.request
        version = request.version
        self.stdout.write(
            f"demo_governance: approval request {request.pk} ({request.status}) for "
            f"{version.profile.code} v{version.number} by {request.requested_by.get_username()}: "
            f"{backtest_line(request)}"
        )
        if result.rollout is not None:
            rollout = result.rollout
            self.stdout.write(
                f"demo_governance: rollout {rollout.pk} ({rollout.status}) of "
                f"{rollout.version.profile.code} v{rollout.version.number}"
            )
        else:
            self.stdout.write("demo_governance: no canary (the demo's Growth (USD) price list is missing)")
        self.stdout.write("\nFinance users (password for all: " + DEMO_PASSWORD + "):")
        for username, what in FINANCE_USERS:
            self.stdout.write(f"  {username:<12} {what}")
        for username, _password, what in result.credentials:
            self.stdout.write(f"  {username:<12} {what}")
        self.stdout.write(
            "\nFinance workspace: http://127.0.0.1:8000/portal/finance/ "
            f"(the request: /portal/finance/approvals/{request.pk}/; docs/finance-portal.md)"
        )
