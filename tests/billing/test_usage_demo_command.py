"""`manage.py demo_usage`: a month of usage through the API for the demo tenants; a rerun is duplicates."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from billing.rating.models import TenantUsageEstimate
from billing.usage.models import RatingBatch, UsageEvent
from tests.factories.usage import usage_env

__all__ = ["usage_env"]

pytestmark = pytest.mark.usefixtures("usage_env")


def run(*args: str) -> str:
    out = StringIO()
    call_command("demo_usage", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_ingests_rates_and_prints_estimates_and_a_rerun_changes_nothing():
    call_command("seed_demo", stdout=StringIO())
    first = run("--events-per-day", "5")
    assert "rated" in first
    stored = UsageEvent.objects.count()
    assert stored > 0
    assert UsageEvent.objects.filter(status="quarantined").exists()
    assert not RatingBatch.objects.filter(status="pending").exists()
    assert TenantUsageEstimate.objects.filter(period_key="2026-11").exists()
    assert re.search(r"duplicate \d+", first)

    second = run("--events-per-day", "5")
    assert UsageEvent.objects.count() == stored
    summary = second.strip().splitlines()[-1]
    assert "accepted" not in summary
    assert "quarantined" not in summary
    assert summary.startswith("demo_usage done: duplicate ")
