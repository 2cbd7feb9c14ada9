"""`manage.py create_tenant SLUG --name NAME --currency EUR --country DE --profile CODE`.

Creates the tenant and assigns the profile from now on. Prints the tenant's slug on its last line."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from billing.profiles.models import BillingProfile
from billing.profiles.services import profile_assign
from common.errors import ApplicationError
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant and put it on a billing profile from now on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--currency", required=True, help="ISO 4217, e.g. EUR")
        parser.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. DE")
        parser.add_argument("--profile", required=True, help="billing profile code")
        parser.add_argument("--timezone", default="UTC", help="billing time zone (IANA), default UTC")
        parser.add_argument("--tax-jurisdiction", default=None, help="defaults to the country")

    def handle(self, *args: Any, **options: Any) -> None:
        profile = BillingProfile.objects.filter(code=options["profile"]).first()
        if profile is None:
            raise CommandError(f"no billing profile {options['profile']!r}")
        try:
            with transaction.atomic():
                tenant = tenant_create(
                    slug=options["slug"],
                    name=options["name"],
                    currency=options["currency"],
                    country=options["country"],
                    tax_jurisdiction=options["tax_jurisdiction"],
                    timezone_name=options["timezone"],
                )
                assignment = profile_assign(tenant=tenant, profile=profile, effective_from=timezone.now())
        except ApplicationError as err:
            details = "; ".join(f"{i.field}: {i.message}" for i in err.issues)
            raise CommandError(f"{err.message}{': ' + details if details else ''}") from err
        self.stderr.write(
            f"Tenant {tenant.slug} ({tenant.currency}, {tenant.country}) on profile {profile.code} "
            f"from {assignment.effective_from.isoformat()}"
        )
        self.stdout.write(tenant.slug)
