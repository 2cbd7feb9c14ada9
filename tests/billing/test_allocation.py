"""Allocation rules: versions through four eyes, immutability in the database, and showback."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import ProgrammingError, transaction
from django.test import override_settings

from billing.allocation.models import AllocationRuleVersion
from billing.allocation.selectors import showback
from billing.allocation.services import (
    allocation_rule_create,
    allocation_version_approve,
    allocation_version_create,
    allocation_version_reject,
    allocation_version_submit,
)
from billing.close.services import close_period
from common.errors import PermissionDenied, ValidationFailed
from tenants.models import Project, Role, Tenant
from tests.factories import finance_user
from tests.factories.ledger import after_grace, tax_rule, usage, world

pytestmark = pytest.mark.django_db
NOV = datetime(2026, 11, 10, 12, tzinfo=UTC)
EVEN = {
    "source": {"kind": "amount", "amount": "100.00", "currency": "EUR"},
    "method": "even",
    "targets": ["project:web", "project:data", "project:ml"],
}


def test_the_author_cannot_approve_and_a_second_approver_can() -> None:
    w = world(slug="acme")
    editor, approver = finance_user(Role.FINANCE_APPROVER), finance_user(Role.FINANCE_APPROVER)
    rule = allocation_rule_create(tenant=w.tenant, code="shared", name="Shared", actor=editor)
    version = allocation_version_submit(
        version=allocation_version_create(rule=rule, body=EVEN, effective_from="2026-11", actor=editor),
        actor=editor,
    )
    with pytest.raises(PermissionDenied, match="author"):
        allocation_version_approve(version=version, approver=editor)
    approved = allocation_version_approve(version=version, approver=approver, note="ok")
    assert (approved.status, approved.decided_by_id) == ("approved", approver.pk)


@override_settings(ALLOCATION_REQUIRED_APPROVALS=2)
def test_a_version_needs_the_approvals_settings_ask_for() -> None:
    w = world(slug="acme")
    editor, a1, a2 = (finance_user(Role.FINANCE_APPROVER) for _ in range(3))
    rule = allocation_rule_create(tenant=w.tenant, code="shared", name="Shared", actor=editor)
    version = allocation_version_submit(
        version=allocation_version_create(rule=rule, body=EVEN, effective_from="2026-11", actor=editor),
        actor=editor,
    )
    assert allocation_version_approve(version=version, approver=a1).status == "pending_approval"
    assert allocation_version_approve(version=version, approver=a2).status == "approved"


def test_an_editor_cannot_approve_and_a_rejection_needs_a_reason() -> None:
    w = world(slug="acme")
    author, editor = finance_user(Role.FINANCE_EDITOR), finance_user(Role.FINANCE_EDITOR)
    rule = allocation_rule_create(tenant=w.tenant, code="shared", name="Shared", actor=author)
    version = allocation_version_submit(
        version=allocation_version_create(rule=rule, body=EVEN, effective_from="2026-11", actor=author),
        actor=author,
    )
    with pytest.raises(PermissionDenied):
        allocation_version_approve(version=version, approver=editor)
    with pytest.raises(ValidationFailed, match="reason"):
        allocation_version_reject(version=version, approver=finance_user(Role.FINANCE_APPROVER), reason=" ")


def test_a_bad_body_is_refused_naming_its_field() -> None:
    w = world(slug="acme")
    editor = finance_user(Role.FINANCE_EDITOR)
    rule = allocation_rule_create(tenant=w.tenant, code="shared", name="Shared", actor=editor)
    with pytest.raises(ValidationFailed) as err:
        allocation_version_create(
            rule=rule, body={**EVEN, "method": "magic"}, effective_from="2026-11", actor=editor
        )
    assert err.value.issues[0].field == "method"


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-00", "2026-1-", "26-11", "2026-11-01", "0000-01", "2026-Q4", "2026"]
)
def test_a_month_that_is_no_month_key_is_refused(month: str) -> None:
    w = world(slug="acme")
    editor = finance_user(Role.FINANCE_EDITOR)
    rule = allocation_rule_create(tenant=w.tenant, code="shared", name="Shared", actor=editor)
    with pytest.raises(ValidationFailed) as err:
        allocation_version_create(rule=rule, body=EVEN, effective_from=month, actor=editor)
    assert [(i.field, i.message) for i in err.value.issues] == [("effective_from", "e.g. 2026-11")]
    assert not AllocationRuleVersion.objects.exists()


def test_the_database_refuses_to_change_an_approved_version() -> None:
    w = world(slug="acme")
    editor, approver = finance_user(Role.FINANCE_EDITOR), finance_user(Role.FINANCE_APPROVER)
    rule = allocation_rule_create(tenant=w.tenant, code="shared", name="Shared", actor=editor)
    version = allocation_version_submit(
        version=allocation_version_create(rule=rule, body=EVEN, effective_from="2026-11", actor=editor),
        actor=editor,
    )
    allocation_version_approve(version=version, approver=approver)
    with pytest.raises(ProgrammingError, match="never change"), transaction.atomic():
        AllocationRuleVersion.objects.filter(pk=version.pk).update(body={**EVEN, "method": "fixed"})


def _approved_even_rule(tenant: Tenant, effective_from: str, amount: str = "10.00") -> None:
    editor, approver = finance_user(Role.FINANCE_EDITOR), finance_user(Role.FINANCE_APPROVER)
    body = {
        "source": {"kind": "amount", "amount": amount, "currency": "EUR"},
        "method": "even",
        "targets": ["team:a", "team:b"],
    }
    rule = allocation_rule_create(tenant=tenant, code="shared", name="Shared", actor=editor)
    allocation_version_approve(
        version=allocation_version_submit(
            version=allocation_version_create(
                rule=rule, body=body, effective_from=effective_from, actor=editor
            ),
            actor=editor,
        ),
        approver=approver,
    )


@pytest.mark.parametrize(
    ("cycle", "key", "starts"), [("quarterly", "2026-Q4", "2026-10"), ("yearly", "2026", "2026-01")]
)
def test_a_quarterly_or_yearly_tenant_gets_the_showback_of_its_period(
    cycle: str, key: str, starts: str
) -> None:
    w = world(slug="acme", billing_cycle=cycle)
    _approved_even_rule(w.tenant, starts)

    report = showback(tenant=w.tenant, period_key=key)

    assert [(r.target, r.amount) for r in report.rows] == [
        ("team:a", Decimal("5.00")),
        ("team:b", Decimal("5.00")),
    ]


@pytest.mark.parametrize(
    ("cycle", "key", "own"),
    [("quarterly", "2026-11", "2026-Q4"), ("yearly", "2026-Q4", "2026"), ("monthly", "2026", "2026-01")],
)
def test_a_key_of_another_cycle_is_said_not_to_be_the_tenants_period(cycle: str, key: str, own: str) -> None:
    w = world(slug="acme", billing_cycle=cycle)

    with pytest.raises(ValidationFailed) as err:
        showback(tenant=w.tenant, period_key=key)

    assert err.value.message == (
        f"period {key!r} is not a period of acme's billing cycle: its period then is {own}"
    )
    assert [(i.field, i.message) for i in err.value.issues] == [("period", f"e.g. {own}")]


@pytest.mark.parametrize("key", ["2026-13", "2026-00", "garbage"])
def test_a_showback_of_no_period_key_is_refused(key: str) -> None:
    w = world(slug="acme")

    with pytest.raises(ValidationFailed, match="is not a period key"):
        showback(tenant=w.tenant, period_key=key)


def test_showback_splits_by_direct_cost_and_keeps_unallocated_visible() -> None:
    tax_rule("DE", "19")
    w = world(slug="acme")
    web = Project.objects.create(tenant=w.tenant, code="web", name="Web", cost_center="frontend")
    data = Project.objects.create(tenant=w.tenant, code="data", name="Data", cost_center="platform")
    usage(w.tenant, "api_calls", w.version, NOV, "300", project=web)  # web 300 of 400 units, data 100
    usage(w.tenant, "api_calls", w.version, NOV, "100", project=data)
    close_period(tenant=w.tenant, now=after_grace())  # invoice: 400 x 0.10 = 40.00 + VAT 7.60 = 47.60
    editor, approver = finance_user(Role.FINANCE_EDITOR), finance_user(Role.FINANCE_APPROVER)
    for code, body in (
        (
            "invoice",
            {
                "source": {"kind": "invoice"},
                "method": "proportional",
                "targets": ["project:web", "team:platform"],
            },
        ),
        (
            "support",
            {
                "source": {"kind": "amount", "amount": "10.00", "currency": "EUR"},
                "method": "fixed",
                "targets": ["team:frontend"],
                "percentages": {"team:frontend": "70"},
            },
        ),
    ):
        rule = allocation_rule_create(tenant=w.tenant, code=code, name=code, actor=editor)
        v = allocation_version_submit(
            version=allocation_version_create(rule=rule, body=body, effective_from="2026-11", actor=editor),
            actor=editor,
        )
        allocation_version_approve(version=v, approver=approver)
    report = showback(tenant=w.tenant, period_key="2026-11")
    assert [(r.rule, r.target, r.team, r.amount) for r in report.rows] == [
        ("invoice", "project:web", "frontend", Decimal("35.70")),
        ("invoice", "team:platform", "platform", Decimal("11.90")),
        ("support", "team:frontend", "frontend", Decimal("7.00")),
        ("support", "unallocated", "Unallocated", Decimal("3.00")),
    ]
    assert report.teams() == [
        ("frontend", "EUR", Decimal("42.70")),
        ("platform", "EUR", Decimal("11.90")),
        ("Unallocated", "EUR", Decimal("3.00")),
    ]
