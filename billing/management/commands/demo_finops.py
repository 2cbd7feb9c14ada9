"""`manage.py demo_finops`: a reconciliation of the demo month with one deliberate, explained delta, and
allocation rules with a showback report for acme (billing/demo_finops.py). Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from billing.demo_finops import demo_finops
from common.errors import ApplicationError


class Command(BaseCommand):
    help = "Demo: reconciliation with one deliberate delta, and a showback report."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = demo_finops()
        except ApplicationError as err:
            raise CommandError(err.message) from None
        for line in result.lines:
            self.stdout.write(line)
        if result.run is not None:
            self.stdout.write(
                f"see /portal/finance/reconciliation/{result.run.pk}/ and /portal/finance/showback/?tenant=acme&period={result.period}"
            )
