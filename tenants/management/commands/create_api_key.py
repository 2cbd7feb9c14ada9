"""`manage.py create_api_key SLUG` (or `--platform`): prints the new key alone on its last line."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.selectors import tenant_get
from tenants.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a tenant (or a platform key with --platform). The key is shown once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", nargs="?", help="tenant slug (omit with --platform)")
        parser.add_argument(
            "--platform", action="store_true", help="a platform key that names tenants per event"
        )
        parser.add_argument("--name", default="", help="a label for the key")

    def handle(self, *args: Any, **options: Any) -> None:
        slug, platform = options["slug"], options["platform"]
        if platform == bool(slug):
            raise CommandError("give either a tenant SLUG or --platform")
        tenant = None
        if slug:
            tenant = tenant_get(slug=slug)
            if tenant is None:
                raise CommandError(f"no tenant {slug!r}")
        issued = api_key_create(tenant=tenant, name=options["name"])
        scope = f"tenant {tenant.slug}" if tenant else "the platform"
        self.stderr.write(f"Created key {issued.api_key.prefix} for {scope}; it is shown only once:")
        self.stdout.write(issued.secret)
