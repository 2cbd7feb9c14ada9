"""`manage.py close_period`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ledger.models import Invoice
from tests.factories.ledger import tax_rule, usage, world

pytestmark = pytest.mark.django_db


def test_it_closes_a_tenant_and_prints_a_json_summary_last():
    w = world()
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "10")
    out = StringIO()
    call_command(
        "close_period",
        "--tenant",
        "acme",
        "--period",
        "2026-11",
        "--now",
        "2026-12-10T00:00:00+00:00",
        "--no-progress",
        stdout=out,
    )
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["finalized"] == 1
    assert Invoice.objects.get().number == "ACME-2026-000001"


def test_it_exits_1_and_names_blocked_tenants():
    w = world(jurisdiction="FR")
    usage(w.tenant, "api_calls", w.version, datetime(2026, 11, 5, tzinfo=UTC), "10")
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command(
            "close_period",
            "--period",
            "2026-11",
            "--now",
            "2026-12-10T00:00:00+00:00",
            "--no-progress",
            stdout=out,
        )
    assert exc.value.returncode == 1
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["blocked_details"][0]["tenant"] == "acme"
    assert "no tax rule" in summary["blocked_details"][0]["reason"]


def test_an_unknown_tenant_is_an_error():
    with pytest.raises(CommandError):
        call_command("close_period", "--tenant", "nobody", "--no-progress", stdout=StringIO())


def test_without_tenant_it_closes_every_tenant_in_one_batch_and_counts_each_outcome():
    # given two tenants, the second without a tax rule for its jurisdiction (FR)
    tax_rule("DE", "19")
    first = world(slug="alpha")
    usage(first.tenant, "api_calls", first.version, datetime(2026, 11, 5, tzinfo=UTC), "10")
    second = world(
        slug="beta",
        jurisdiction="FR",
        prices=[{"sku": "calls_beta", "model": "per_unit", "unit_amount": "1"}],
    )
    usage(second.tenant, "calls_beta", second.version, datetime(2026, 11, 5, tzinfo=UTC), "3")
    out = StringIO()

    # when every tenant is closed
    with pytest.raises(CommandError):
        call_command(
            "close_period",
            "--period",
            "2026-11",
            "--now",
            "2026-12-10T00:00:00+00:00",
            "--no-progress",
            stdout=out,
        )

    # then one is finalized and one blocked, each counted once
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (summary["tenants"], summary["finalized"], summary["blocked"]) == (2, 1, 1)
    assert [d["tenant"] for d in summary["blocked_details"]] == ["beta"]
    assert list(Invoice.objects.order_by("tenant__slug").values_list("number", "status")) == [
        ("ALPHA-2026-000001", "finalized"),
        (None, "blocked"),
    ]
