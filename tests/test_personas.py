"""The shared personas (tests/personas.py) are who they claim to be."""

import pytest

from tenants.selectors import tenants_visible_to, user_is_finance, user_roles

pytestmark = pytest.mark.django_db

BILLING = "tenants.view_tenant_billing"


def test_alice_and_charlie_belong_to_different_tenants(alice, charlie):
    assert (alice.tenant.slug, charlie.tenant.slug) == ("tenant-a", "tenant-b")


def test_alice_is_a_customer_viewer_of_her_tenant(alice):
    assert list(alice.user.memberships.values_list("tenant__slug", "role")) == [
        ("tenant-a", "customer_viewer")
    ]


def test_alice_holds_the_billing_permission_on_her_tenant(alice):
    assert alice.user.has_perm(BILLING, alice.tenant) is True


def test_charlie_lacks_the_billing_permission_on_alices_tenant(alice, charlie):
    assert charlie.user.has_perm(BILLING, alice.tenant) is False


def test_the_editor_holds_only_the_editor_role(finance_editor):
    assert user_roles(user=finance_editor.user) == {"finance_editor"}


def test_the_approver_holds_only_the_approver_role(finance_approver):
    assert user_roles(user=finance_approver.user) == {"finance_approver"}


def test_the_approver_is_another_user_than_the_editor(finance_editor, finance_approver):
    assert finance_approver.user.pk != finance_editor.user.pk


def test_finance_personas_act_for_no_tenant(finance_editor, finance_approver):
    assert (finance_editor.tenant, finance_approver.tenant) == (None, None)


def test_finance_personas_see_every_tenant(alice, charlie, finance_editor):
    assert list(tenants_visible_to(user=finance_editor.user)) == [alice.tenant, charlie.tenant]


def test_customers_and_staff_are_not_finance(alice, staff):
    assert (user_is_finance(user=alice.user), user_is_finance(user=staff.user)) == (False, False)


def test_each_client_is_logged_in_as_its_persona(alice, charlie, staff):
    sessions = [p.client.session["_auth_user_id"] for p in (alice, charlie, staff)]

    assert sessions == [str(alice.user.pk), str(charlie.user.pk), str(staff.user.pk)]


def test_staff_opens_the_admin(staff):
    response = staff.client.get("/admin/")

    assert (response.status_code, response.context["user"]) == (200, staff.user)


def test_anonymous_is_redirected_from_the_admin_to_the_login(anonymous):
    response = anonymous.client.get("/admin/")

    assert (response.status_code, response["Location"]) == (302, "/admin/login/?next=/admin/")


def test_a_customer_is_redirected_from_the_admin_to_the_login(alice):
    response = alice.client.get("/admin/")

    assert (response.status_code, response["Location"]) == (302, "/admin/login/?next=/admin/")


def test_anonymous_is_not_authenticated(anonymous):
    assert anonymous.user.is_authenticated is False


def test_anonymous_sees_no_tenant(alice, anonymous):
    assert list(tenants_visible_to(user=anonymous.user)) == []
