"""`manage.py allocation_rules`: list and show read; submit, approve and reject act through the services
in the name of a user proven by their password (four eyes: the author never decides)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.allocation.models import AllocationRuleVersion
from billing.allocation.services import allocation_rule_create, allocation_version_create
from tenants.models import Project, Role, Tenant
from tests.factories import TenantFactory, finance_user

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests"  # UserFactory's
FIXED = {
    "source": {"kind": "amount", "amount": "1200.00", "currency": "EUR"},
    "method": "fixed",
    "targets": ["project:web", "team:platform"],
    "percentages": {"project:web": "60", "team:platform": "30"},
}


@pytest.fixture
def acme() -> Tenant:
    tenant = TenantFactory.create(slug="acme", currency="EUR")
    Project.objects.create(tenant=tenant, code="web", name="Web", cost_center="frontend")
    return tenant


@pytest.fixture
def draft(acme: Tenant) -> AllocationRuleVersion:
    author = finance_user(Role.FINANCE_APPROVER, username="author")
    rule = allocation_rule_create(tenant=acme, code="platform", name="Platform cost", actor=author)
    return allocation_version_create(rule=rule, body=FIXED, effective_from="2026-11", actor=author)


def run(monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> str:
    """The command with standard input that is not a terminal (a script): `stdin`."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("allocation_rules", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def act(
    monkeypatch: pytest.MonkeyPatch, action: str, version: AllocationRuleVersion, user: str, *extra: str
) -> str:
    return run(
        monkeypatch,
        action,
        "--version",
        str(version.pk),
        "--as",
        user,
        "--password-stdin",
        *extra,
        stdin=f"{PASSWORD}\n",
    )


def test_submit_then_approve_by_another_approver(
    monkeypatch: pytest.MonkeyPatch, draft: AllocationRuleVersion
) -> None:
    finance_user(Role.FINANCE_APPROVER, username="approver")

    submitted = act(monkeypatch, "submit", draft, "author")
    approved = act(monkeypatch, "approve", draft, "approver", "--note", "checked")

    v = draft.pk
    assert submitted == f"acme/platform v1 (version {v}): pending_approval, 0/1 approvals, from 2026-11\n"
    assert approved == f"acme/platform v1 (version {v}): approved, 1/1 approvals, from 2026-11\n"
    assert AllocationRuleVersion.objects.get(pk=v).decision_note == "checked"


def test_the_author_cannot_approve(monkeypatch: pytest.MonkeyPatch, draft: AllocationRuleVersion) -> None:
    act(monkeypatch, "submit", draft, "author")
    with pytest.raises(CommandError, match="the author of an allocation rule version cannot decide it"):
        act(monkeypatch, "approve", draft, "author")
    assert AllocationRuleVersion.objects.get(pk=draft.pk).status == "pending_approval"


def test_a_bare_user_name_is_refused(monkeypatch: pytest.MonkeyPatch, draft: AllocationRuleVersion) -> None:
    finance_user(Role.FINANCE_APPROVER, username="approver")
    with pytest.raises(CommandError, match="needs their password"):
        run(monkeypatch, "approve", "--version", str(draft.pk), "--as", "approver")


def test_a_wrong_password_is_refused(monkeypatch: pytest.MonkeyPatch, draft: AllocationRuleVersion) -> None:
    with pytest.raises(CommandError, match="authentication failed for 'author'"):
        run(
            monkeypatch,
            "submit",
            "--version",
            str(draft.pk),
            "--as",
            "author",
            "--password-stdin",
            stdin="x\n",
        )


def test_reject_records_the_reason(monkeypatch: pytest.MonkeyPatch, draft: AllocationRuleVersion) -> None:
    finance_user(Role.FINANCE_APPROVER, username="approver")
    act(monkeypatch, "submit", draft, "author")
    out = act(monkeypatch, "reject", draft, "approver", "--reason", "too much")
    assert out == f"acme/platform v1 (version {draft.pk}): rejected, 0/1 approvals, from 2026-11\n"
    assert AllocationRuleVersion.objects.get(pk=draft.pk).decision_note == "too much"


def test_list_prints_one_line_per_version(
    monkeypatch: pytest.MonkeyPatch, draft: AllocationRuleVersion
) -> None:
    out = run(monkeypatch, "list", "--tenant", "acme")
    assert out == (
        f"acme/platform\trule {draft.rule_id}\tv1\tversion {draft.pk}\tdraft\tfrom 2026-11"
        "\t0/1 approvals\tby author\n"
    )


def test_show_prints_the_body_as_targets_and_weights(
    monkeypatch: pytest.MonkeyPatch, draft: AllocationRuleVersion
) -> None:
    out = run(monkeypatch, "show", "--version", str(draft.pk))
    assert out.splitlines() == [
        f"acme/platform (rule {draft.rule_id}): Platform cost",
        f"v1 (version {draft.pk}): draft, from 2026-11, by author",
        "  approvals 0/1: -",
        "  cost: A fixed amount per period 1200.00 EUR; split: Fixed percentages",
        "  project:web\tteam frontend\tfixed percentage\t60 %",
        "  team:platform\tteam platform\tfixed percentage\t30 %\t(unknown)",
        "  unallocated\tteam -\twhat the percentages leave\t10 %",
    ]


def test_an_unknown_version_is_an_error(monkeypatch: pytest.MonkeyPatch, acme: Tenant) -> None:
    with pytest.raises(CommandError, match="no allocation rule version 999999"):
        run(monkeypatch, "show", "--version", "999999")
