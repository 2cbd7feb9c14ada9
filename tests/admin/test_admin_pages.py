"""Every registered model has a working admin: its list and add pages render for a superuser."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tenants.models import ApiKey
from tenants.services import api_key_authenticate
from tests.factories import ApprovedVersionFactory, TenantFactory

pytestmark = pytest.mark.django_db

MODELS = sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.mark.parametrize("model", MODELS, ids=[m._meta.label for m in MODELS])
def test_the_changelist_renders(staff, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

    assert staff.client.get(url).status_code == 200


def test_an_approved_version_is_read_only_in_the_admin(staff):
    version = ApprovedVersionFactory.create()
    url = reverse("admin:billing_profileversion_change", args=[version.pk])

    page = staff.client.get(url).content.decode()

    assert 'name="body"' not in page
    assert version.body_sha256 in page


def test_an_approved_version_cannot_be_deleted_in_the_admin(staff):
    version = ApprovedVersionFactory.create()
    url = reverse("admin:billing_profileversion_delete", args=[version.pk])

    assert staff.client.post(url, {"post": "yes"}).status_code == 403


def test_creating_an_api_key_shows_the_secret_once(staff):
    tenant = TenantFactory.create()

    response = staff.client.post(
        reverse("admin:tenants_apikey_add"), {"name": "ci", "tenant": tenant.pk}, follow=True
    )

    messages = [str(m) for m in response.context["messages"]]
    secret = messages[0].rsplit(" ", 1)[-1]
    key = api_key_authenticate(secret=secret)
    assert key is not None
    assert key.tenant == tenant
    assert ApiKey.objects.count() == 1
    assert secret not in staff.client.get(reverse("admin:tenants_apikey_changelist")).content.decode()


def test_the_profile_history_page_renders(staff):
    version = ApprovedVersionFactory.create()
    url = reverse("admin:billing_billingprofile_history", args=[version.profile.pk])

    assert staff.client.get(url).status_code == 200
