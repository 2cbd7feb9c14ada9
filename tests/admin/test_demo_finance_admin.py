"""The demo's finance users sign in to the admin and see what README.md ("What `make demo` shows")
promises: billing and the ledger read-only for every finance role, drafting pricing for the editor and
the approver, approval requests for the approver to decide, and nothing of user administration."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client

from billing.demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db

# What README promises every finance role sees (those of the models the admin shows as a page).
README_VIEWABLE = {
    "ledger.invoice",
    "ledger.creditnote",
    "ledger.transaction",
    "ledger.account",
    "ledger.creditgrant",
    "ledger.alert",
    "billing.usageevent",
    "billing.ratingbatch",
    "billing.usageaggregate",
    "billing.meter",
    "billing.sku",
    "billing.billingprofile",
    "billing.profileversion",
    "billing.profileassignment",
    "billing.taxrule",
    "billing.exchangerate",
    "tenants.tenant",
    "tenants.project",
}
NEVER = {"auth.user", "auth.group", "tenants.membership", "tenants.apikey", "axes.accessattempt"}
# The demo's finance users (seed_demo: the editor drafts, two approvers; demo_governance: a viewer).
DRAFTERS = {"pricing": "finance editor", "finance": "finance approver", "controller": "finance approver"}
DEMO_FINANCE = DRAFTERS | {"auditor": "finance viewer"}


def registered(label: str) -> bool:
    return any(f"{m._meta.app_label}.{m._meta.model_name}" == label for m in admin.site._registry)


def signed_in(username: str) -> Client:
    """A real sign-in through the admin's login form (the password, django-axes in the way)."""
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": DEMO_PASSWORD, "next": "/admin/"}
    )
    assert (response.status_code, response["Location"]) == (302, "/admin/"), username
    return client


def sections(client: Client) -> dict[str, set[str]]:
    """The admin index's models (`app.model`) and those it offers to add."""
    html = client.get("/admin/").content.decode()
    shown = {f"{a}.{m}" for a, m in re.findall(r'href="/admin/(\w+)/(\w+)/"', html)}
    addable = {f"{a}.{m}" for a, m in re.findall(r'href="/admin/(\w+)/(\w+)/add/"', html)}
    return {"shown": shown, "addable": addable}


@pytest.fixture
def demo():
    call_command("seed_demo", stdout=StringIO())
    call_command("demo_governance", stdout=StringIO())


@pytest.mark.parametrize("username", sorted(DEMO_FINANCE))
def test_a_demo_finance_user_sees_billing_and_the_ledger_and_no_user_administration(demo, username):
    seen = sections(signed_in(username))["shown"]

    assert seen >= README_VIEWABLE
    assert not seen & NEVER
    assert (
        "have permission to view or edit anything" not in signed_in(username).get("/admin/").content.decode()
    )


@pytest.mark.parametrize("username", sorted(DRAFTERS))
def test_a_demo_drafter_may_add_profiles_assignments_and_tax_rules(demo, username):
    addable = sections(signed_in(username))["addable"]

    assert {"billing.billingprofile", "billing.profileassignment", "billing.taxrule"} <= addable
    assert not addable & (NEVER | {"ledger.invoice", "billing.usageevent"})


def test_the_demo_viewer_may_add_nothing(demo):
    assert sections(signed_in("auditor"))["addable"] == set()


def test_the_demo_approver_sees_the_approval_requests_the_editor_only_reads(demo):
    if not registered("billing.approvalrequest"):
        pytest.skip("approval requests have no admin page yet")
    approver, editor = signed_in("finance"), signed_in("pricing")

    assert "billing.approvalrequest" in sections(approver)["shown"]
    assert "billing.approvalrequest" in sections(editor)["shown"]
    assert approver.get("/admin/billing/approvalrequest/").status_code == 200


def test_a_profile_s_history_opens_for_a_demo_finance_user(demo):
    from billing.profiles.models import BillingProfile

    profile = BillingProfile.objects.get(code="cloud-standard-eur")

    response = signed_in("pricing").get(f"/admin/billing/billingprofile/{profile.pk}/history/")

    assert response.status_code == 200
    assert "cloud-standard-eur" in response.content.decode()
