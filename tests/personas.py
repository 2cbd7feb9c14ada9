"""The people tests act as, one fixture each, so that "Charlie must never see Alice's things" reads
the same in every suite:

- `alice`: customer viewer of tenant A (membership and the guardian permission `view_tenant_billing`
  on tenant A, granted by `membership_grant` as the application grants it);
- `charlie`: the same on tenant B, and nothing on tenant A;
- `finance_editor`, `finance_approver`: the platform-wide roles of the profile workflow (the editor
  drafts and submits, the approver approves; four eyes means they are different users);
- `staff`: the Django admin operator (`is_staff` and `is_superuser`, as the demo's `admin` user);
- `anonymous`: nobody logged in.

Each is a frozen `Persona`: the user, the tenant it acts for (None for platform-wide roles) and a
`django.test.Client` of its own, already logged in. Registered in tests/conftest.py via `pytest_plugins`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client

from tenants.models import Role, Tenant
from tenants.services import membership_grant
from tests.factories import TenantFactory, UserFactory, finance_user


@dataclass(frozen=True)
class Persona:
    user: User
    tenant: Tenant | None
    client: Client


@dataclass(frozen=True)
class AnonymousPersona:
    user: AnonymousUser
    client: Client
    tenant: None = None


def _logged_in(user: User, tenant: Tenant | None = None) -> Persona:
    client = Client()
    client.force_login(user)
    return Persona(user=user, tenant=tenant, client=client)


def _customer(username: str, tenant_slug: str) -> Persona:
    tenant = TenantFactory.create(slug=tenant_slug)
    user = UserFactory.create(username=username)
    membership_grant(user=user, role=Role.CUSTOMER_VIEWER, tenant=tenant)
    return _logged_in(user, tenant)


@pytest.fixture
def alice(db: Any) -> Persona:
    return _customer("alice", "tenant-a")


@pytest.fixture
def charlie(db: Any) -> Persona:
    return _customer("charlie", "tenant-b")


@pytest.fixture
def finance_editor(db: Any) -> Persona:
    return _logged_in(finance_user(Role.FINANCE_EDITOR, username="editor"))


@pytest.fixture
def finance_approver(db: Any) -> Persona:
    return _logged_in(finance_user(Role.FINANCE_APPROVER, username="approver"))


@pytest.fixture
def staff(db: Any) -> Persona:
    return _logged_in(UserFactory.create(username="staff", is_staff=True, is_superuser=True))


@pytest.fixture
def anonymous() -> AnonymousPersona:
    return AnonymousPersona(user=AnonymousUser(), client=Client())
