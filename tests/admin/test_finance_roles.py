"""Finance roles work in the admin: each role's group holds the model permissions of the role, finance
users are staff in their role's group, and nothing of user administration is theirs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client, RequestFactory

from billing.usage.models import UsageEvent
from ledger.models import Invoice
from tenants.models import Membership, Role
from tenants.services import ROLE_GROUPS, ROLE_PERMISSIONS, role_groups_ensure, role_groups_sync
from tests.factories import TenantFactory, finance_user

pytestmark = pytest.mark.django_db

FINANCE_PAGES = [
    "/admin/",
    "/admin/ledger/invoice/",
    "/admin/ledger/transaction/",
    "/admin/ledger/creditnote/",
    "/admin/ledger/alert/",
    "/admin/billing/usageevent/",
    "/admin/billing/usageevent/?status__exact=quarantined",
    "/admin/billing/ratingbatch/",
    "/admin/billing/billingprofile/",
    "/admin/billing/profileversion/",
    "/admin/billing/profileassignment/",
    "/admin/billing/taxrule/",
    "/admin/billing/exchangerate/",
    "/admin/tenants/tenant/",
]
NOT_FINANCE_PAGES = [
    "/admin/auth/user/",
    "/admin/auth/group/",
    "/admin/tenants/membership/",
    "/admin/tenants/apikey/",
]


def perms_of(group: Group) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_migrate_leaves_one_group_per_finance_role_with_its_permissions():
    groups = {g.name: g for g in Group.objects.filter(name__in=ROLE_GROUPS.values())}

    assert {role: perms_of(groups[name]) for role, name in ROLE_GROUPS.items()} == ROLE_PERMISSIONS


def test_the_viewer_only_views_and_the_editor_drafts_pricing():
    viewer, editor = ROLE_PERMISSIONS[Role.FINANCE_VIEWER], ROLE_PERMISSIONS[Role.FINANCE_EDITOR]

    assert {"ledger.view_invoice", "billing.view_usageevent", "tenants.view_tenant"} <= viewer
    assert {p.split(".")[1].split("_")[0] for p in viewer} == {"view"}
    assert editor - viewer == {
        f"billing.{action}_{model}"
        for action in ("add", "change")
        for model in ("billingprofile", "profileversion", "profileassignment", "taxrule", "exchangerate")
    }
    assert ROLE_PERMISSIONS[Role.FINANCE_APPROVER] == editor | {"billing.change_approvalrequest"}
    assert {"billing.view_approvalrequest", "billing.view_approval"} <= viewer
    assert not any(p.startswith("auth.") or "membership" in p or "apikey" in p for p in editor)


def test_role_groups_ensure_is_idempotent_and_restores_what_was_changed():
    group = Group.objects.get(name="finance viewer")
    group.permissions.clear()
    Group.objects.filter(name="finance editor").delete()

    role_groups_ensure()
    role_groups_ensure()

    assert Group.objects.filter(name__in=ROLE_GROUPS.values()).count() == 3
    assert perms_of(group) == ROLE_PERMISSIONS[Role.FINANCE_VIEWER]
    assert perms_of(Group.objects.get(name="finance editor")) == ROLE_PERMISSIONS[Role.FINANCE_EDITOR]


@pytest.mark.parametrize("role", sorted(ROLE_GROUPS))
def test_granting_a_finance_role_makes_a_staff_member_of_its_group(role):
    user = finance_user(role, username="someone")

    assert user.is_staff is True
    assert list(user.groups.values_list("name", flat=True)) == [ROLE_GROUPS[role]]


def test_a_finance_user_from_before_the_groups_gets_them_after_migrate():
    user = User.objects.create_user("legacy", password="pw-for-tests")
    Membership.objects.create(user=user, role=Role.FINANCE_VIEWER, tenant=None)

    role_groups_sync()  # what post_migrate runs

    user.refresh_from_db()
    assert (user.is_staff, list(user.groups.values_list("name", flat=True))) == (True, ["finance viewer"])


@pytest.mark.parametrize("persona", ["finance_editor", "finance_approver"])
@pytest.mark.parametrize("url", FINANCE_PAGES)
def test_finance_opens_the_admin_pages_of_billing_and_the_ledger(request, persona, url):
    finance = request.getfixturevalue(persona)

    assert finance.client.get(url).status_code == 200


@pytest.mark.parametrize("persona", ["finance_editor", "finance_approver"])
@pytest.mark.parametrize("url", NOT_FINANCE_PAGES)
def test_finance_cannot_open_user_administration(request, persona, url):
    finance = request.getfixturevalue(persona)

    assert finance.client.get(url).status_code == 403


def test_a_finance_viewer_sees_invoices_but_cannot_add_a_tax_rule():
    viewer = client_of(finance_user(Role.FINANCE_VIEWER, username="viewer"))

    assert viewer.get("/admin/ledger/invoice/").status_code == 200
    assert viewer.get("/admin/billing/taxrule/add/").status_code == 403


def test_a_finance_editor_can_add_a_tax_rule(finance_editor):
    assert finance_editor.client.get("/admin/billing/taxrule/add/").status_code == 200


def actions_for(user: User, model: type) -> set[str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return set(admin.site._registry[model].get_actions(request))


def test_marking_paid_and_re_attributing_stay_with_the_superuser(finance_approver, staff):
    assert "mark_paid" not in actions_for(finance_approver.user, Invoice)
    assert "reattribute" not in actions_for(finance_approver.user, UsageEvent)
    assert {"mark_paid", "reattribute"} <= actions_for(staff.user, Invoice) | actions_for(
        staff.user, UsageEvent
    )


def test_a_customer_cannot_enter_the_admin(alice):
    response = alice.client.get("/admin/ledger/invoice/")

    assert (response.status_code, response["Location"]) == (
        302,
        "/admin/login/?next=/admin/ledger/invoice/",
    )


def test_removing_a_finance_role_in_the_admin_removes_its_group(staff):
    user = finance_user(Role.FINANCE_EDITOR, username="leaver")
    membership = Membership.objects.get(user=user)

    response = staff.client.post(f"/admin/tenants/membership/{membership.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert list(user.groups.all()) == []


def test_the_demo_finance_users_open_the_invoices_in_the_admin():
    call_command("seed_demo", stdout=StringIO())

    for username in ("finance", "pricing"):
        user = User.objects.get(username=username)
        assert client_of(user).get("/admin/ledger/invoice/").status_code == 200
    assert client_of(User.objects.get(username="acme-admin")).get("/admin/").status_code == 302


def test_a_customer_holds_no_finance_group():
    from tenants.services import membership_grant

    user = User.objects.create_user("customer", password="pw-for-tests")
    membership_grant(user=user, role=Role.CUSTOMER_ADMIN, tenant=TenantFactory.create())

    assert (user.is_staff, list(user.groups.all())) == (False, [])
