"""`manage.py demo_story`: the demo's corrections story (billing/demo_story.py): a period closed two months
back for two tenants, then late usage for it, so that the close of last month shows correction lines and a
correction credit note. Idempotent (fixed event ids, closed periods stay closed)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from billing.demo_story import demo_story
from billing.management.commands.demo_usage import Command as DemoUsage
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Close the month before last for the story tenants, then send late usage for it."

    def handle(self, *args: Any, **options: Any) -> None:
        usage = DemoUsage()

        def send(secret: str, events: list[dict[str, Any]]) -> Counter[str]:
            return usage._send(secret, events, url="")

        def key(tenant: Tenant) -> str:
            return DemoUsage._key(tenant)

        for line in demo_story(now=timezone.now(), send=send, key=key):
            self.stdout.write(line)
        self.stdout.write(
            "demo_story done: `manage.py close_period` now closes last month with the corrections"
        )
