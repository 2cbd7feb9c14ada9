"""Finance's workspace is for finance roles only."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import Role
from tenants.services import membership_grant
from tests.factories import UserFactory, finance_user
from tests.factories.ledger import world

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [Role.FINANCE_VIEWER, Role.FINANCE_EDITOR, Role.FINANCE_APPROVER])
def test_it_shows_the_workspace_to_every_finance_role(role):
    client = Client()
    client.force_login(finance_user(role=role))

    response = client.get("/portal/finance/")

    assert response.status_code == 200
    assert f"Your roles: {role.value}." in response.content.decode()


def test_it_refuses_a_customer_user():
    tenant = world().tenant
    user = UserFactory.create()
    membership_grant(user=user, role=Role.CUSTOMER_ADMIN, tenant=tenant)
    client = Client()
    client.force_login(user)

    assert client.get("/portal/finance/").status_code == 403


def test_it_sends_an_anonymous_visitor_to_sign_in():
    response = Client().get("/portal/finance/")

    assert response.status_code == 302
    assert response["Location"] == "/portal/login/?next=/portal/finance/"


def test_the_portal_header_links_finance_users_to_the_workspace():
    client = Client()
    client.force_login(finance_user(role=Role.FINANCE_VIEWER))

    text = client.get("/portal/finance/").content.decode()

    assert 'href="/portal/finance/"' in text
    assert "Sign out" in text
