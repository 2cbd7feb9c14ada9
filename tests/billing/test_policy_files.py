"""Policy as code: `manage.py profiles export|plan|apply DIR` (billing.governance.policy_files)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.close.services import close_period
from billing.profiles.models import ApprovalRequest, BillingProfile, ProfileVersion
from tenants.models import Role
from tests.billing.test_backtest import _checksums
from tests.factories.ledger import World, after_grace, tax_rule, usage, world
from tests.factories.tenants import finance_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"  # UserFactory's
NOV_10 = datetime(2026, 11, 10, 9, tzinfo=UTC)
DEC_10 = datetime(2026, 12, 10, tzinfo=UTC)


@pytest.fixture
def acme() -> World:
    """acme on acme-profile (v1: api_calls at 0.10), November closed: 1,000 calls, 100.00 EUR."""
    w = world(slug="acme")
    tax_rule("DE", "19")
    usage(w.tenant, "api_calls", w.version, NOV_10, "1000")
    close_period(tenant=w.tenant, period_key="2026-11", now=after_grace())
    return w


def _run(monkeypatch, *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("profiles", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _exported(monkeypatch, tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    code, _out, _err = _run(monkeypatch, "export", f"{folder}/")
    assert code == 0
    return folder


def _cheaper(folder: Path, amount: str = "0.08") -> None:
    path = folder / "acme-profile.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["prices"][0]["unit_amount"] = amount
    data["metadata"]["effective_from"] = "2027-01-01T00:00:00+00:00"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@time_machine.travel(DEC_10, tick=False)
def test_export_writes_each_profile_in_force_with_its_metadata(monkeypatch, tmp_path, acme):
    folder = _exported(monkeypatch, tmp_path)

    (path,) = folder.iterdir()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert path.name == "acme-profile.yaml"
    assert data.pop("metadata") == {"code": "acme-profile", "name": acme.profile.name}
    assert data == acme.version.body


@time_machine.travel(DEC_10, tick=False)
def test_an_exported_folder_validates_and_plans_unchanged(monkeypatch, tmp_path, acme):
    folder = _exported(monkeypatch, tmp_path)

    assert _run(monkeypatch, "validate", str(folder)) == (0, "OK: 1 profiles\n", "")
    assert _run(monkeypatch, "plan", str(folder)) == (
        0,
        "acme-profile.yaml (acme-profile): unchanged (v1 in force)\n",
        "",
    )


@time_machine.travel(DEC_10, tick=False)
def test_plan_shows_the_diff_per_price_and_as_text_and_the_backtest_and_writes_nothing(
    monkeypatch, tmp_path, acme
):
    folder = _exported(monkeypatch, tmp_path)
    _cheaper(folder)
    before = _checksums()

    code, out, _err = _run(monkeypatch, "plan", str(folder))

    assert code == 0
    assert _checksums() == before
    lines = out.splitlines()
    assert lines[:9] == [
        "acme-profile.yaml (acme-profile): changes (v1 in force)",
        "  price api_calls: changed",
        "    unit_amount: 0.10 -> 0.08",
        "  backtest: 1 tenants, 1 closed periods (2026-11), 0 blocked",
        "    revenue 100.00 -> 80.00 EUR (delta -20.00, -20.00 %)",
        "    change per tenant: p50 20.00 %, p95 20.00 %, max 20.00 %; 1 affected",
        "    acme: 100.00 -> 80.00 (-20.00 %)",
        "--- in force",
        "+++ draft",
    ]
    assert "-  unit_amount: '0.10'" in lines
    assert "+  unit_amount: '0.08'" in lines


@time_machine.travel(DEC_10, tick=False)
def test_apply_creates_a_draft_and_its_approval_request_and_activates_nothing(monkeypatch, tmp_path, acme):
    finance_user(Role.FINANCE_EDITOR, username="editor")
    folder = _exported(monkeypatch, tmp_path)
    _cheaper(folder)

    code, out, _err = _run(
        monkeypatch, "apply", str(folder), "--as", "editor", "--password-stdin", stdin=f"{PASSWORD}\n"
    )

    version = ProfileVersion.objects.get(profile=acme.profile, number=2)
    request = ApprovalRequest.objects.get(version=version)
    assert code == 0
    assert (
        out
        == f"acme-profile.yaml (acme-profile): created v2 pending_approval, approval request #{request.pk}\n"
    )
    assert (version.status, version.effective_from, version.author.username) == (
        "pending_approval",
        datetime(2027, 1, 1, tzinfo=UTC),
        "editor",
    )
    assert version.body["prices"][0]["unit_amount"] == "0.08"
    assert (request.status, request.backtest["revenue_delta"]) == ("open", "-20.00")
    assert ProfileVersion.objects.filter(status="approved").get() == acme.version


@time_machine.travel(DEC_10, tick=False)
def test_apply_twice_changes_nothing_the_second_time(monkeypatch, tmp_path, acme):
    finance_user(Role.FINANCE_EDITOR, username="editor")
    folder = _exported(monkeypatch, tmp_path)
    _cheaper(folder)
    args = ("apply", str(folder), "--as", "editor", "--password-stdin")
    _run(monkeypatch, *args, stdin=f"{PASSWORD}\n")

    code, out, _err = _run(monkeypatch, *args, stdin=f"{PASSWORD}\n")

    assert (code, out) == (0, "acme-profile.yaml (acme-profile): already v2 pending_approval\n")
    assert ProfileVersion.objects.count() == 2
    assert ApprovalRequest.objects.filter(version__number=2).count() == 1


@time_machine.travel(DEC_10, tick=False)
def test_apply_of_an_unchanged_folder_creates_nothing(monkeypatch, tmp_path, acme):
    finance_user(Role.FINANCE_EDITOR, username="editor")
    folder = _exported(monkeypatch, tmp_path)

    code, out, _err = _run(
        monkeypatch, "apply", str(folder), "--as", "editor", "--password-stdin", stdin=f"{PASSWORD}\n"
    )

    assert (code, out) == (0, "acme-profile.yaml (acme-profile): unchanged v1 approved\n")
    assert ProfileVersion.objects.count() == 1


@time_machine.travel(DEC_10, tick=False)
def test_apply_creates_a_new_profile_with_its_metadata(monkeypatch, tmp_path, acme):
    finance_user(Role.FINANCE_EDITOR, username="editor")
    folder = _exported(monkeypatch, tmp_path)
    data = yaml.safe_load((folder / "acme-profile.yaml").read_text(encoding="utf-8"))
    data["metadata"] = {"code": "starter", "name": "Starter", "description": "small teams"}
    data["profile"] = "starter"
    (folder / "starter.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    code, out, _err = _run(
        monkeypatch,
        "apply",
        str(folder),
        "--as",
        "editor",
        "--password-stdin",
        "--effective-from",
        "2027-02-01T00:00:00+00:00",
        stdin=f"{PASSWORD}\n",
    )

    profile = BillingProfile.objects.get(code="starter")
    assert code == 0
    assert out.splitlines()[1].startswith(
        "starter.yaml (starter): created v1 pending_approval, approval request #"
    )
    assert (profile.name, profile.description) == ("Starter", "small teams")
    assert profile.versions.get().effective_from == datetime(2027, 2, 1, tzinfo=UTC)


@time_machine.travel(DEC_10, tick=False)
def test_apply_without_an_instant_to_take_effect_applies_nothing(monkeypatch, tmp_path, acme):
    finance_user(Role.FINANCE_EDITOR, username="editor")
    folder = _exported(monkeypatch, tmp_path)
    _cheaper(folder)
    path = folder / "acme-profile.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("  effective_from: '2027-01-01T00:00:00+00:00'\n", "")
    )

    code, out, err = _run(
        monkeypatch, "apply", str(folder), "--as", "editor", "--password-stdin", stdin=f"{PASSWORD}\n"
    )

    assert (code, out) == (2, "")
    assert err.splitlines() == ["acme-profile.yaml: metadata.effective_from: is required to apply a change"]
    assert ProfileVersion.objects.count() == 1


@time_machine.travel(DEC_10, tick=False)
def test_apply_needs_the_password_of_the_user_it_acts_as(monkeypatch, tmp_path, acme):
    finance_user(Role.FINANCE_EDITOR, username="editor")
    folder = _exported(monkeypatch, tmp_path)
    _cheaper(folder)

    with pytest.raises(CommandError, match="needs their password"):
        _run(monkeypatch, "apply", str(folder), "--as", "editor")
    assert ProfileVersion.objects.count() == 1
