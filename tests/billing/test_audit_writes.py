"""billing's audited writes (ledger.audit): profiles, draft versions, assignments, FX rates, and tax rules
(written in the admin only)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from billing.close.fx import exchange_rate_create
from billing.close.models import TaxRule
from billing.profiles.models import BillingProfile, ProfileAssignment
from billing.profiles.services import (
    profile_assign,
    profile_create,
    profile_version_create,
    profile_version_update_draft,
)
from common.request_id import request_id_bound
from ledger.audit.models import AuditRecord
from ledger.audit.verify import audit_verify
from tenants.models import Role, Tenant
from tests.factories.billing import BillingProfileFactory, profile_document
from tests.factories.ledger import sku
from tests.factories.tenants import TenantFactory, finance_user

pytestmark = pytest.mark.django_db

JAN_1 = datetime(2027, 1, 1, tzinfo=UTC)
FEB_1 = datetime(2027, 2, 1, tzinfo=UTC)


def _only(action: str) -> AuditRecord:
    return AuditRecord.objects.get(action=action)


def test_a_new_profile_is_recorded_with_its_actor_and_request_id():
    editor = finance_user(Role.FINANCE_EDITOR, username="eddie")
    with request_id_bound("req-7"):
        profile = profile_create(code="gold", name="Gold", actor=editor, reason="new tier")
    record = _only("profile.create")
    assert (record.object_type, record.object_id, record.actor_label) == (
        "billing.billingprofile",
        str(profile.pk),
        "eddie",
    )
    assert (record.diff["code"], record.reason, record.request_id) == ([None, "gold"], "new tier", "req-7")


def test_a_draft_is_recorded_with_its_whole_body():
    sku("api_calls")
    editor = finance_user(Role.FINANCE_EDITOR)
    profile = cast(BillingProfile, BillingProfileFactory(code="gold"))
    version = profile_version_create(
        profile=profile, body=profile_document("gold"), effective_from=JAN_1, author=editor
    )
    record = _only("profile_version.create")
    assert (record.object_type, record.object_id, record.actor_id) == (
        "billing.profileversion",
        str(version.pk),
        editor.pk,
    )
    assert record.after is not None
    assert record.after["body"]["prices"] == [
        {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"}
    ]
    assert record.after["status"] == "draft"


def test_a_draft_edit_records_the_price_and_start_before_and_after():
    sku("api_calls")
    editor = finance_user(Role.FINANCE_EDITOR)
    profile = cast(BillingProfile, BillingProfileFactory(code="gold"))
    version = profile_version_create(
        profile=profile, body=profile_document("gold"), effective_from=JAN_1, author=editor
    )
    profile_version_update_draft(
        version=version,
        body=profile_document("gold", unit_amount="0.12"),
        effective_from=FEB_1,
        actor=editor,
        reason="price rise",
    )
    record = _only("profile_version.update")
    assert sorted(record.diff) == ["body", "body_sha256", "effective_from"]
    assert record.diff["effective_from"] == ["2027-01-01T00:00:00.000000Z", "2027-02-01T00:00:00.000000Z"]
    old_body, new_body = record.diff["body"]
    assert (old_body["prices"][0]["unit_amount"], new_body["prices"][0]["unit_amount"]) == ("0.10", "0.12")
    assert record.reason == "price rise"


def test_a_reassignment_records_the_end_of_the_old_one_and_the_new_one():
    tenant = cast(Tenant, TenantFactory(slug="acme"))
    old, new = (cast(BillingProfile, BillingProfileFactory(code=c)) for c in ("basic", "gold"))
    first = profile_assign(tenant=tenant, profile=old, effective_from=JAN_1)
    approver = finance_user(Role.FINANCE_APPROVER, username="anna")
    second = profile_assign(tenant=tenant, profile=new, effective_from=FEB_1, actor=approver, reason="upsell")
    records = list(AuditRecord.objects.filter(object_type="billing.profileassignment").order_by("seq"))
    assert [(r.action, r.object_id, r.actor_label) for r in records] == [
        ("profile_assignment.create", str(first.pk), "system"),
        ("profile_assignment.end", str(first.pk), "anna"),
        ("profile_assignment.create", str(second.pk), "anna"),
    ]
    assert records[1].diff == {"effective_to": [None, "2027-02-01T00:00:00.000000Z"]}
    assert records[2].after is not None
    assert (records[2].after["profile"], records[2].after["tenant"]) == (new.pk, tenant.pk)
    assert ProfileAssignment.objects.count() == 2
    assert audit_verify().message == "OK 3"


def test_a_new_fx_rate_is_recorded():
    row = exchange_rate_create(
        day=date(2027, 1, 4), base="USD", quote="EUR", rate=Decimal("0.9"), source="ECB"
    )
    record = _only("exchange_rate.create")
    assert (record.object_type, record.object_id, record.actor_label, record.reason) == (
        "billing.exchangerate",
        str(row.pk),
        "system",
        "rate from ECB",
    )
    assert record.after is not None
    assert (record.after["rate"], record.after["date"]) == ("0.900000000000", "2027-01-04")


def _tax_form(**fields: Any) -> dict[str, Any]:
    return {"jurisdiction": "DE", "name": "VAT", "rate": "19", "effective_from": "2020-01-01", **fields}


def test_tax_rules_changed_in_the_admin_are_recorded(staff: Any):
    # when: added, changed, deleted in the admin
    staff.client.post(reverse("admin:billing_taxrule_add"), _tax_form())
    rule = TaxRule.objects.get()
    url = reverse("admin:billing_taxrule_change", args=[rule.pk])
    staff.client.post(url, _tax_form(rate="7"), HTTP_X_REQUEST_ID="req-admin")
    staff.client.post(reverse("admin:billing_taxrule_delete", args=[rule.pk]), {"post": "yes"})
    # then
    records = list(AuditRecord.objects.filter(object_type="billing.taxrule").order_by("seq"))
    user = cast(User, staff.user)
    assert [(r.action, r.object_id, r.actor_id) for r in records] == [
        ("tax_rule.create", str(rule.pk), user.pk),
        ("tax_rule.update", str(rule.pk), user.pk),
        ("tax_rule.delete", str(rule.pk), user.pk),
    ]
    assert records[1].diff == {"rate": ["19.0000", "7.0000"]}
    assert records[1].request_id == "req-admin"
    assert records[2].after is None
    assert not TaxRule.objects.exists()


def test_an_admin_save_without_a_change_records_nothing(staff: Any):
    staff.client.post(reverse("admin:billing_taxrule_add"), _tax_form())
    rule = TaxRule.objects.get()
    staff.client.post(reverse("admin:billing_taxrule_change", args=[rule.pk]), _tax_form())
    assert list(AuditRecord.objects.values_list("action", flat=True)) == ["tax_rule.create"]
