import pytest
from django.core.management import call_command

from tenants.models import ApiKey
from tenants.services import api_key_authenticate, api_key_create, api_key_revoke, hash_api_key
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_it_stores_only_the_hash_of_the_secret():
    issued = api_key_create(tenant=TenantFactory.create())

    stored = ApiKey.objects.get(pk=issued.api_key.pk)
    assert stored.key_hash == hash_api_key(issued.secret)
    assert issued.secret not in {stored.key_hash, stored.prefix, stored.name}


def test_the_prefix_is_visible_inside_the_secret():
    issued = api_key_create(tenant=TenantFactory.create())

    assert issued.secret.startswith(f"bk_{issued.api_key.prefix}_")


def test_it_authenticates_the_secret_and_records_last_use():
    tenant = TenantFactory.create()
    issued = api_key_create(tenant=tenant)

    key = api_key_authenticate(secret=issued.secret)

    assert key is not None
    assert key.tenant == tenant
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_a_wrong_secret_authenticates_nothing():
    issued = api_key_create(tenant=TenantFactory.create())

    assert api_key_authenticate(secret=issued.secret + "x") is None


def test_a_revoked_key_authenticates_nothing():
    issued = api_key_create(tenant=TenantFactory.create())
    api_key_revoke(api_key=issued.api_key)

    assert api_key_authenticate(secret=issued.secret) is None


def test_a_platform_key_has_no_tenant():
    issued = api_key_create(tenant=None)

    assert issued.api_key.scope == ApiKey.Scope.PLATFORM
    assert issued.api_key.tenant is None


def test_the_command_prints_the_key_alone_on_its_last_line(capsys):
    tenant = TenantFactory.create(slug="acme")

    call_command("create_api_key", "acme")

    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    key = api_key_authenticate(secret=last_line)
    assert key is not None
    assert key.tenant == tenant


def test_the_command_makes_platform_keys(capsys):
    call_command("create_api_key", "--platform")

    key = api_key_authenticate(secret=capsys.readouterr().out.strip().splitlines()[-1])
    assert key is not None
    assert key.scope == ApiKey.Scope.PLATFORM


def test_the_command_refuses_an_unknown_tenant():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no tenant 'nope'"):
        call_command("create_api_key", "nope")
