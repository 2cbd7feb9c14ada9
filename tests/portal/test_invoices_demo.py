"""Every invoice page of the demo answers, as its tenant's demo user sees it: the list, each invoice's
detail, each line's drill-down and CSV (no page fails on real data: corrections, credit notes, several
currencies and locales)."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from ledger.models import Invoice
from tests.factories.usage import usage_env

__all__ = ["usage_env"]

# A stored amount or quantity as the database holds it, trailing zeros and all (25430.0100), not a date
# (30.09.2026) nor a unit price with the digits it has ($0.091664).
RAW_DECIMAL = re.compile(r"(?<![\d.])\d+\.\d{3,}0(?![\d.])")


@pytest.mark.usefixtures("usage_env")
def test_every_demo_invoice_page_answers_for_its_tenant(db: Any):
    call_command("seed_demo", stdout=StringIO())
    call_command("demo_usage", "--events-per-day", "3", stdout=StringIO(), stderr=StringIO())
    call_command("demo_story", stdout=StringIO())
    try:
        call_command("close_period", "--period", "2026-10", "--no-progress", stdout=StringIO())
    except CommandError as err:
        if err.returncode != 1:
            raise
    answers: dict[str, int] = {}
    for invoice in Invoice.objects.select_related("tenant").order_by("id"):
        client = Client()
        client.force_login(User.objects.get(username=f"{invoice.tenant.slug}-admin"))
        urls = ["/portal/invoices/", f"/portal/invoices/{invoice.pk}/"]
        for line_id in invoice.lines.values_list("pk", flat=True):
            urls += [f"/portal/invoices/{invoice.pk}/lines/{line_id}/"]
            urls += [f"/portal/invoices/{invoice.pk}/lines/{line_id}/csv/"]
        for url in urls:
            response = client.get(url)
            answers[url] = response.status_code
            assert not RAW_DECIMAL.search(response.content.decode()), url  # no raw stored decimals

    assert len(answers) > 10
    assert answers == dict.fromkeys(answers, 200)
