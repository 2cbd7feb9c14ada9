"""`manage.py seed_demo`: a realistic demo (catalog, three profiles, five tenants, users, tax rules and
signed exchange rates).
Idempotent: running it twice changes nothing. Prints credentials and a few quotes."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from billing.demo import DEMO_QUOTES, seed_demo
from billing.demo_finance import seed_finance_reference_data
from billing.pricing import quote


class Command(BaseCommand):
    help = "Seed the demo catalog, profiles, tenants and users (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = seed_demo()
        finance = seed_finance_reference_data()
        for line in result.created:
            self.stdout.write(f"created {line}")
        if finance.tax_rules or finance.exchange_rates:
            self.stdout.write(
                f"created {finance.tax_rules} tax rules and {finance.exchange_rates} signed exchange rates"
            )
        self.stdout.write(
            "\nDemo users (customers log in to the portal at http://127.0.0.1:8000/portal/, finance and "
            "staff to the admin at http://127.0.0.1:8000/admin/):"
        )
        for username, password, what in result.credentials:
            self.stdout.write(f"  {username:<16} {password:<16} {what}")
        self.stdout.write("\nQuotes from the pricing engine:")
        for title, payload in DEMO_QUOTES:
            q = quote(payload)
            self.stdout.write(f"  {title}: {q['amount_rounded']} {q['currency']} (exact {q['amount']})")
        created = len(result.created) + finance.tax_rules + finance.exchange_rates
        self.stdout.write(f"seed_demo done: {created} objects created")
