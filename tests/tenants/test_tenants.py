import pytest
from django.db import IntegrityError

from common.errors import Conflict, ValidationFailed
from tenants.models import Membership, Role
from tenants.selectors import tenants_visible_to
from tenants.services import tenant_create
from tests.factories import TenantFactory, UserFactory, finance_user

pytestmark = pytest.mark.django_db


def test_it_creates_a_tenant_with_its_jurisdiction_defaulting_to_the_country():
    tenant = tenant_create(
        slug="acme", name="Acme", currency="eur", country="de", timezone_name="Europe/Berlin"
    )

    assert (tenant.currency, tenant.country, tenant.tax_jurisdiction) == ("EUR", "DE", "DE")


def test_it_refuses_an_unknown_currency_naming_the_field():
    with pytest.raises(ValidationFailed) as err:
        tenant_create(slug="acme", name="Acme", currency="EUX", country="DE")

    assert [(i.field, i.message) for i in err.value.issues] == [
        ("currency", "unknown ISO 4217 currency 'EUX'")
    ]


def test_it_refuses_an_unknown_time_zone():
    with pytest.raises(ValidationFailed) as err:
        tenant_create(slug="acme", name="Acme", currency="EUR", country="DE", timezone_name="Mars/Olympus")

    assert err.value.issues[0].field == "timezone"


def test_it_refuses_a_duplicate_slug():
    TenantFactory.create(slug="acme")

    with pytest.raises(Conflict):
        tenant_create(slug="acme", name="Acme", currency="EUR", country="DE")


def test_the_database_refuses_a_customer_role_without_a_tenant():
    with pytest.raises(IntegrityError):
        Membership.objects.create(user=UserFactory.create(), role=Role.CUSTOMER_ADMIN, tenant=None)


def test_the_database_refuses_a_finance_role_bound_to_a_tenant():
    with pytest.raises(IntegrityError):
        Membership.objects.create(
            user=UserFactory.create(), role=Role.FINANCE_APPROVER, tenant=TenantFactory.create()
        )


def test_a_customer_sees_only_its_own_tenant(alice, charlie):
    visible = list(tenants_visible_to(user=charlie.user))

    assert visible == [charlie.tenant]
    assert alice.tenant not in visible


def test_finance_sees_every_tenant():
    tenants = [TenantFactory.create(slug="a"), TenantFactory.create(slug="b")]

    assert list(tenants_visible_to(user=finance_user(Role.FINANCE_VIEWER))) == tenants


def test_a_user_without_membership_sees_nothing():
    TenantFactory.create()

    assert list(tenants_visible_to(user=UserFactory.create())) == []
