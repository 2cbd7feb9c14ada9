from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.profiles.models import ProfileAssignment, ProfileVersion
from tenants.models import Tenant
from tests.factories import BillingProfileFactory

pytestmark = pytest.mark.django_db


def test_create_tenant_assigns_the_profile_from_now_and_prints_the_slug():
    profile = BillingProfileFactory.create(code="std")
    out = StringIO()

    call_command(
        "create_tenant",
        "acme",
        "--name",
        "Acme",
        "--currency",
        "EUR",
        "--country",
        "DE",
        "--profile",
        "std",
        stdout=out,
        stderr=StringIO(),
    )

    assert out.getvalue().strip().splitlines()[-1] == "acme"
    assignment = ProfileAssignment.objects.get(tenant__slug="acme")
    assert (assignment.profile, assignment.effective_to) == (profile, None)


def test_create_tenant_refuses_an_unknown_profile():
    with pytest.raises(CommandError, match="no billing profile 'ghost'"):
        call_command(
            "create_tenant",
            "acme",
            "--name",
            "Acme",
            "--currency",
            "EUR",
            "--country",
            "DE",
            "--profile",
            "ghost",
        )


def test_create_tenant_reports_the_bad_field_and_creates_nothing():
    BillingProfileFactory.create(code="std")

    with pytest.raises(CommandError, match="currency"):
        call_command(
            "create_tenant",
            "acme",
            "--name",
            "Acme",
            "--currency",
            "EURO",
            "--country",
            "DE",
            "--profile",
            "std",
        )

    assert not Tenant.objects.exists()


def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    counts = (Tenant.objects.count(), ProfileVersion.objects.count(), ProfileAssignment.objects.count())

    out = StringIO()
    call_command("seed_demo", stdout=out)

    assert counts == (6, 5, 6)  # six tenants (volta: the corrections story), five versions
    assert (
        Tenant.objects.count(),
        ProfileVersion.objects.count(),
        ProfileAssignment.objects.count(),
    ) == counts
    assert out.getvalue().strip().splitlines()[-1] == "seed_demo done: 0 objects created"


def test_seed_demo_uses_every_pricing_model():
    call_command("seed_demo", stdout=StringIO())

    models = {p["model"] for v in ProfileVersion.objects.all() for p in v.body["prices"]}
    assert models == {
        "per_unit",
        "graduated",
        "graduated_percentage",
        "volume",
        "package",
        "percentage",
        "flat",
    }
    currencies = {v.body["currency"] for v in ProfileVersion.objects.all()}
    assert currencies == {"EUR", "USD", "JPY"}


def test_profiles_validate_prints_every_field_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("profile: x\ncurrency: EUR\nprices:\n  - {sku: a, model: per_unit, unit_amount: 'abc'}\n")
    out = StringIO()

    with pytest.raises(SystemExit) as exit_:
        call_command("profiles", "validate", str(path), stdout=out)

    assert exit_.value.code == 2
    assert "prices[0].unit_amount" in out.getvalue()
