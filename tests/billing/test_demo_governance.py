"""`manage.py demo_governance` (billing/demo_governance.py) on the seeded demo: a pending approval request
drafted and submitted by `pricing` with its backtest, a canary in progress, a finance viewer,
the audit records the services wrote; a second run changes nothing."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.profiles.models import ApprovalRequest
from billing.profiles.rollout_models import Rollout
from ledger.audit.models import AuditRecord
from tenants.selectors import user_roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def output() -> str:
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("demo_governance", stdout=out)
    return out.getvalue()


def test_it_leaves_a_pending_price_increase_by_pricing_with_its_backtest(output):
    request = ApprovalRequest.objects.get(status="open")
    version = request.version
    compute = next(p for p in version.body["prices"] if p["sku"] == "compute_vcpu_hours")

    assert (request.status, version.status, version.profile.code) == (
        "open",
        "pending_approval",
        "cloud-standard-eur",
    )
    assert (version.author.username, request.requested_by.username, request.periods) == (
        "pricing",
        "pricing",
        1,
    )
    assert Decimal(compute["tiers"][0]["unit_amount"]) == Decimal("0.042")
    assert request.backtest["currency"] == "EUR"
    assert len(request.backtest_hash) == 64
    assert version.effective_from.day == 1


def test_it_leaves_a_canary_in_progress(output):
    rollout = Rollout.objects.get()

    assert (rollout.status, rollout.version.profile.code) == ("canary", "growth-usd")


def test_it_adds_a_viewer_beside_the_seeded_approvers(output):
    assert user_roles(user=User.objects.get(username="controller")) == {"finance_approver"}
    assert user_roles(user=User.objects.get(username="auditor")) == {"finance_viewer"}


def test_the_services_audited_the_submission(output):
    request = ApprovalRequest.objects.get(status="open")

    record = AuditRecord.objects.get(action="approval_request.create", object_id=str(request.pk))
    assert record.actor is not None
    assert record.actor.username == "pricing"
    assert AuditRecord.objects.filter(
        action="profile_version.submit", object_id=str(request.version_id)
    ).exists()


def test_it_prints_the_finance_users_and_where_to_try(output):
    request = ApprovalRequest.objects.get(status="open")

    assert (
        f"demo_governance: approval request {request.pk} (open) for cloud-standard-eur v3 by pricing"
        in output
    )
    for username in ("pricing", "finance", "controller", "auditor"):
        assert f"\n  {username:<12} " in output
    assert "http://127.0.0.1:8000/portal/finance/" in output


def test_a_second_run_makes_nothing_twice(output):
    counts = (ApprovalRequest.objects.count(), Rollout.objects.count(), AuditRecord.objects.count())

    again = StringIO()
    call_command("demo_governance", stdout=again)

    assert (ApprovalRequest.objects.count(), Rollout.objects.count(), AuditRecord.objects.count()) == counts
    assert "created" not in again.getvalue()


def test_it_needs_the_seeded_demo():
    with pytest.raises(CommandError, match=r"run `manage.py seed_demo` first"):
        call_command("demo_governance", stdout=StringIO())
