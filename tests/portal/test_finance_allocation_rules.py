"""Finance's allocation rule pages: a rule drafted, submitted and decided from the portal through the
services (body errors beside their fields, four eyes shown and enforced), the showback report using the
approved version, and who may do what (viewers read, customers 403, anonymous to the sign-in page)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from billing.allocation.models import AllocationRule, AllocationRuleVersion
from billing.allocation.services import (
    allocation_rule_create,
    allocation_version_create,
    allocation_version_submit,
)
from tenants.models import Project, Role, Tenant
from tests.factories import TenantFactory, finance_user
from tests.personas import Persona

pytestmark = pytest.mark.django_db
RULES = "/portal/finance/showback/rules/"
FIXED = {
    "source": {"kind": "amount", "amount": "1200.00", "currency": "EUR"},
    "method": "fixed",
    "targets": ["project:web", "team:platform"],
    "percentages": {"project:web": "60", "team:platform": "30"},
}


@pytest.fixture
def acme() -> Tenant:
    tenant = TenantFactory.create(slug="acme", name="Acme", currency="EUR")
    Project.objects.create(tenant=tenant, code="web", name="Web", cost_center="frontend")
    Project.objects.create(tenant=tenant, code="data", name="Data", cost_center="platform")
    return tenant


def signed_in(role: Role, **kwargs: Any) -> Client:
    client = Client()
    client.force_login(finance_user(role, **kwargs))
    return client


def draft_post(**fields: str) -> dict[str, str]:
    """The draft form's POST: 1,200.00 EUR split 60 % to project web and 30 % to team platform from
    2026-11, with `fields` replacing any of those (target rows as targets-N-kind/code/percentage)."""
    data = {
        "source_kind": "amount",
        "amount": "1200.00",
        "currency": "EUR",
        "source_sku": "",
        "method": "fixed",
        "metric_sku": "",
        "effective_from": "2026-11",
        "targets-TOTAL_FORMS": "3",
        "targets-INITIAL_FORMS": "0",
        "targets-MIN_NUM_FORMS": "0",
        "targets-MAX_NUM_FORMS": "50",
        "targets-0-kind": "project",
        "targets-0-code": "web",
        "targets-0-percentage": "60",
        "targets-1-kind": "team",
        "targets-1-code": "platform",
        "targets-1-percentage": "30",
        "targets-2-kind": "project",
        "targets-2-code": "",
        "targets-2-percentage": "",
    }
    return data | fields


def pending_version(tenant: Tenant, author_role: Role = Role.FINANCE_APPROVER) -> AllocationRuleVersion:
    author = finance_user(author_role, username="author")
    rule = allocation_rule_create(tenant=tenant, code="platform", name="Platform cost", actor=author)
    draft = allocation_version_create(rule=rule, body=FIXED, effective_from="2026-11", actor=author)
    return allocation_version_submit(version=draft, actor=author)


def test_an_editor_creates_a_rule_and_is_sent_to_its_first_draft(acme: Tenant) -> None:
    response = signed_in(Role.FINANCE_EDITOR).post(
        f"{RULES}new/", {"tenant": "acme", "code": "platform", "name": "Platform cost"}
    )
    rule = AllocationRule.objects.get()
    assert (rule.tenant_id, rule.code, rule.name) == (acme.pk, "platform", "Platform cost")
    assert response.status_code == 302
    assert response["Location"] == f"{RULES}{rule.pk}/draft/"


def test_a_second_rule_of_the_same_code_is_refused_at_the_code(acme: Tenant) -> None:
    editor = signed_in(Role.FINANCE_EDITOR)
    editor.post(f"{RULES}new/", {"tenant": "acme", "code": "platform", "name": "Platform cost"})
    response = editor.post(f"{RULES}new/", {"tenant": "acme", "code": "platform", "name": "Again"})
    assert response.status_code == 400
    assert response.context["form"].errors["code"] == [
        "tenant acme already has an allocation rule 'platform'"
    ]
    assert AllocationRule.objects.count() == 1


def test_a_bad_amount_is_shown_at_its_field_and_nothing_is_saved(acme: Tenant) -> None:
    rule = allocation_rule_create(
        tenant=acme, code="platform", name="Platform cost", actor=finance_user(Role.FINANCE_EDITOR)
    )
    response = signed_in(Role.FINANCE_EDITOR).post(f"{RULES}{rule.pk}/draft/", draft_post(amount="1.200,00"))
    assert response.status_code == 400
    assert response.context["form"].errors["amount"] == ["'1.200,00' is not a decimal"]
    assert "1 problem: nothing was saved." in response.content.decode()
    assert not AllocationRuleVersion.objects.exists()


def test_a_field_error_is_the_description_of_its_field(acme: Tenant) -> None:
    rule = allocation_rule_create(
        tenant=acme, code="platform", name="Platform cost", actor=finance_user(Role.FINANCE_EDITOR)
    )
    response = signed_in(Role.FINANCE_EDITOR).post(
        f"{RULES}{rule.pk}/draft/", draft_post(amount="1.200,00", **{"targets-2-percentage": "10"})
    )
    page = response.content.decode()
    # the form's checks run first: the row with a percentage and no code; its code input is described by it
    assert 'aria-invalid="true" aria-describedby="id_targets-2-code_error"' in page
    assert '<span role="alert" class="error" id="id_targets-2-code_error">Name the project' in page
    response = signed_in(Role.FINANCE_EDITOR).post(f"{RULES}{rule.pk}/draft/", draft_post(amount="1.200,00"))
    page = response.content.decode()
    assert 'aria-describedby="id_amount_error"' in page
    assert '<span role="alert" class="error" id="id_amount_error">' in page


def test_a_bad_percentage_is_shown_at_its_target_row(acme: Tenant) -> None:
    rule = allocation_rule_create(
        tenant=acme, code="platform", name="Platform cost", actor=finance_user(Role.FINANCE_EDITOR)
    )
    response = signed_in(Role.FINANCE_EDITOR).post(
        f"{RULES}{rule.pk}/draft/", draft_post(**{"targets-1-percentage": "thirty"})
    )
    rows = response.context["targets"].forms
    assert response.status_code == 400
    assert rows[1].errors["percentage"] == ["'thirty' is not a decimal"]
    assert rows[0].errors == {}
    assert not AllocationRuleVersion.objects.exists()


def test_percentages_over_100_are_shown_for_the_targets_as_a_whole(acme: Tenant) -> None:
    rule = allocation_rule_create(
        tenant=acme, code="platform", name="Platform cost", actor=finance_user(Role.FINANCE_EDITOR)
    )
    response = signed_in(Role.FINANCE_EDITOR).post(
        f"{RULES}{rule.pk}/draft/", draft_post(**{"targets-1-percentage": "50"})
    )
    assert response.status_code == 400
    assert response.context["draft"].general == ["percentages: add up to at most 100"]


def test_a_bad_month_is_shown_at_its_field(acme: Tenant) -> None:
    rule = allocation_rule_create(
        tenant=acme, code="platform", name="Platform cost", actor=finance_user(Role.FINANCE_EDITOR)
    )
    response = signed_in(Role.FINANCE_EDITOR).post(
        f"{RULES}{rule.pk}/draft/", draft_post(effective_from="11/2026")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["effective_from"] == ["e.g. 2026-11"]


def test_a_draft_is_saved_and_its_body_shown_as_targets_and_weights(acme: Tenant) -> None:
    editor = signed_in(Role.FINANCE_EDITOR)
    rule = allocation_rule_create(
        tenant=acme, code="platform", name="Platform cost", actor=finance_user(Role.FINANCE_EDITOR)
    )
    response = editor.post(f"{RULES}{rule.pk}/draft/", draft_post())
    version = AllocationRuleVersion.objects.get()
    assert response["Location"] == f"{RULES}{rule.pk}/#v1"
    assert (version.status, version.effective_from, version.body) == ("draft", "2026-11", FIXED)
    page = editor.get(f"{RULES}{rule.pk}/").content.decode()
    assert "€1,200.00" in page
    assert '<th scope="row">project:web</th><td>frontend</td><td>fixed percentage</td><td>60%</td>' in page
    assert (
        '<th scope="row">unallocated</th><td>\u2013</td><td>what the percentages leave</td><td>10%</td>'
        in page
    )
    assert "Submit version 1 for approval" in page


def test_the_author_submits_and_cannot_approve(acme: Tenant) -> None:
    author = finance_user(Role.FINANCE_APPROVER, username="author")
    client = Client()
    client.force_login(author)
    rule = allocation_rule_create(tenant=acme, code="platform", name="Platform cost", actor=author)
    version = allocation_version_create(rule=rule, body=FIXED, effective_from="2026-11", actor=author)

    client.post(f"{RULES}versions/{version.pk}/submit/")
    page = client.get(f"{RULES}{rule.pk}/").content.decode()
    refused = client.post(f"{RULES}versions/{version.pk}/approve/", {"note": "mine"})

    assert "You cannot decide version 1: the author of an allocation rule version cannot decide it" in page
    assert "Approve version 1" not in page
    assert refused.status_code == 403
    assert "the author of an allocation rule version cannot decide it" in refused.content.decode()
    assert AllocationRuleVersion.objects.get(pk=version.pk).status == "pending_approval"


def test_an_approver_approves_and_the_showback_uses_it_for_the_period(acme: Tenant) -> None:
    version = pending_version(acme)
    approver = signed_in(Role.FINANCE_APPROVER)
    page = approver.get(f"{RULES}{version.rule_id}/").content.decode()

    response = approver.post(f"{RULES}versions/{version.pk}/approve/", {"note": "checked"}, follow=True)
    report = approver.get("/portal/finance/showback/", {"tenant": "acme", "period": "2026-11"})
    before = approver.get("/portal/finance/showback/", {"tenant": "acme", "period": "2026-10"})

    version.refresh_from_db()
    assert f'action="{RULES}versions/{version.pk}/approve/"' in page
    assert (version.status, version.decision_note) == ("approved", "checked")
    assert "Version 1 is approved: in force from 2026-11." in response.content.decode()
    assert [(r.target, r.team, r.amount) for r in report.context["report"].rows] == [
        ("project:web", "frontend", Decimal("720.00")),
        ("team:platform", "platform", Decimal("360.00")),
        ("unallocated", "Unallocated", Decimal("120.00")),
    ]
    assert before.context["report"].rows == []


def test_a_rejection_needs_a_reason_shown_as_a_message(acme: Tenant) -> None:
    version = pending_version(acme)
    approver = signed_in(Role.FINANCE_APPROVER)

    response = approver.post(f"{RULES}versions/{version.pk}/reject/", {"reason": ""}, follow=True)

    assert response.status_code == 200
    assert "A rejection needs a reason." in response.content.decode()
    assert AllocationRuleVersion.objects.get(pk=version.pk).status == "pending_approval"


def test_an_approver_rejects_with_a_reason(acme: Tenant) -> None:
    version = pending_version(acme)
    signed_in(Role.FINANCE_APPROVER).post(f"{RULES}versions/{version.pk}/reject/", {"reason": "too much"})
    version.refresh_from_db()
    assert (version.status, version.decision_note) == ("rejected", "too much")


def test_deciding_a_decided_version_is_a_message_not_an_error(acme: Tenant) -> None:
    version = pending_version(acme)
    approver = signed_in(Role.FINANCE_APPROVER)
    approver.post(f"{RULES}versions/{version.pk}/approve/")
    response = approver.post(f"{RULES}versions/{version.pk}/reject/", {"reason": "late"}, follow=True)
    assert response.status_code == 200
    assert "Version 1 is approved; only pending versions can be decided." in response.content.decode()


def test_an_editor_sees_why_they_cannot_decide_and_is_refused(acme: Tenant) -> None:
    version = pending_version(acme)
    editor = signed_in(Role.FINANCE_EDITOR)
    page = editor.get(f"{RULES}{version.rule_id}/").content.decode()
    refused = editor.post(f"{RULES}versions/{version.pk}/approve/")
    assert "needs the finance approver&#x27;s role" in page
    assert refused.status_code == 403
    assert AllocationRuleVersion.objects.get(pk=version.pk).status == "pending_approval"


def test_the_list_shows_the_version_in_force_and_the_pending_one(acme: Tenant) -> None:
    version = pending_version(acme)
    response = signed_in(Role.FINANCE_VIEWER).get(RULES, {"tenant": "acme"})
    row = response.context["rows"][0]
    assert (row.rule.code, row.in_force, [v.pk for v in row.pending]) == ("platform", None, [version.pk])
    assert "version 1 (from 2026-11, 0 of 1 approvals)" in response.content.decode()


def test_an_unknown_tenant_in_the_list_is_a_400(acme: Tenant) -> None:
    response = signed_in(Role.FINANCE_VIEWER).get(RULES, {"tenant": "nobody"})
    assert response.status_code == 400
    assert "no tenant &#x27;nobody&#x27;" in response.content.decode()


def test_a_viewer_reads_and_may_not_write(acme: Tenant) -> None:
    version = pending_version(acme, Role.FINANCE_EDITOR)
    viewer = signed_in(Role.FINANCE_VIEWER)
    page = viewer.get(f"{RULES}{version.rule_id}/")
    assert page.status_code == 200
    assert "New draft version" not in page.content.decode()
    assert f'action="{RULES}versions/' not in page.content.decode()
    assert viewer.get(f"{RULES}{version.rule_id}/draft/").status_code == 403
    assert viewer.post(f"{RULES}{version.rule_id}/draft/", draft_post()).status_code == 403
    assert viewer.post(f"{RULES}new/", {"tenant": "acme", "code": "x", "name": "X"}).status_code == 403
    assert viewer.post(f"{RULES}versions/{version.pk}/approve/").status_code == 403
    assert viewer.post(f"{RULES}versions/{version.pk}/reject/", {"reason": "no"}).status_code == 403
    assert AllocationRuleVersion.objects.get(pk=version.pk).status == "pending_approval"
    assert AllocationRule.objects.count() == 1


def test_a_customer_gets_403_everywhere(acme: Tenant, alice: Persona) -> None:
    version = pending_version(acme)
    for url in (RULES, f"{RULES}new/", f"{RULES}{version.rule_id}/", f"{RULES}{version.rule_id}/draft/"):
        assert alice.client.get(url).status_code == 403
    assert alice.client.post(f"{RULES}versions/{version.pk}/approve/").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(acme: Tenant) -> None:
    response = Client().get(RULES)
    assert response.status_code == 302
    assert response["Location"] == f"/portal/login/?next={RULES}"


def test_an_unknown_rule_is_a_404(acme: Tenant) -> None:
    assert signed_in(Role.FINANCE_VIEWER).get(f"{RULES}999999/").status_code == 404
