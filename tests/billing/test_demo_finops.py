"""`manage.py demo_finops` on the seeded and closed demo: one deliberate breached delta (the provider row),
explained in the run's note; acme's showback; a second run changes nothing."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.allocation.models import AllocationRuleVersion
from ledger.models import ProviderImport, ReconciliationDelta, ReconciliationRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo() -> str:
    for command in ("seed_demo", "demo_usage", "demo_story"):
        call_command(command, stdout=StringIO())
    with contextlib.suppress(CommandError):  # exit 1 only flags blocked invoices (make demo's `|| true`)
        call_command("close_period", "--no-progress", stdout=StringIO())
    out = StringIO()
    call_command("demo_finops", stdout=out)
    return out.getvalue()


def test_it_reconciles_the_demo_month_with_one_explained_breach(demo: str) -> None:
    run = ReconciliationRun.objects.get()
    (breached,) = ReconciliationDelta.objects.filter(run=run, breached=True)
    assert (breached.check_name, breached.delta) == ("provider_vs_rated", Decimal("-12.34"))
    assert "12.34 more than we rated" in run.note
    assert run.summary["invoices_vs_ledger"]["deltas"] == 0


def test_it_is_idempotent(demo: str) -> None:
    call_command("demo_finops", stdout=StringIO())
    assert (ReconciliationRun.objects.count(), ProviderImport.objects.count()) == (1, 1)
    assert AllocationRuleVersion.objects.filter(status="approved").count() == 2


def test_it_prints_acme_showback_with_the_unallocated_line(demo: str) -> None:
    assert "showback acme" in demo
    assert "Unallocated 99.80 EUR" in demo
