"""Four-eyes by identity: every `manage.py profiles` action done in someone's name needs that user's own
password (at a terminal, or with --password-stdin); a bare user name never drafts, submits, approves or
rejects anything."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.governance.versions import profile_version_submit
from billing.profiles.models import ProfileVersion
from billing.profiles.services import profile_create, profile_version_create
from tenants.models import Role
from tests.factories import SkuFactory, profile_document
from tests.factories.tenants import finance_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"  # UserFactory's


@pytest.fixture
def pending():
    SkuFactory.create(code="api_calls")
    author = finance_user(Role.FINANCE_EDITOR, username="author")
    profile = profile_create(code="p1", name="P1")
    draft = profile_version_create(
        profile=profile,
        body=profile_document("p1"),
        effective_from=datetime(2027, 1, 1, tzinfo=UTC),
        author=author,
    )
    return profile_version_submit(version=draft, actor=author)


def _run(monkeypatch, *args: str, stdin: str | None = None) -> str:
    """The command with standard input that is not a terminal (a script, CI): `stdin` or nothing."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin or ""))
    out = io.StringIO()
    call_command("profiles", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.parametrize(
    "action",
    [
        ["approve", "p1", "1", "--approver", "approver"],
        ["reject", "p1", "1", "--approver", "approver", "--reason", "no"],
        ["submit", "p1", "1", "--actor", "author"],
    ],
)
def test_a_bare_user_name_is_refused(monkeypatch, pending, action):
    finance_user(Role.FINANCE_APPROVER, username="approver")

    with pytest.raises(CommandError, match="needs their password"):
        _run(monkeypatch, *action)

    assert ProfileVersion.objects.get(pk=pending.pk).status == ProfileVersion.Status.PENDING_APPROVAL


def test_a_draft_in_someone_elses_name_is_refused(monkeypatch, tmp_path, pending):
    path = tmp_path / "p1.yaml"
    path.write_text(yaml.safe_dump(profile_document("p1")))

    with pytest.raises(CommandError, match="authentication failed for 'author'"):
        _run(monkeypatch, "draft", str(path), "--author", "author", "--password-stdin", stdin="guess\n")

    assert ProfileVersion.objects.filter(profile__code="p1").count() == 1


def test_a_wrong_password_does_not_approve(monkeypatch, pending):
    finance_user(Role.FINANCE_APPROVER, username="approver")

    with pytest.raises(CommandError, match="authentication failed for 'approver'"):
        _run(monkeypatch, "approve", "p1", "1", "--approver", "approver", "--password-stdin", stdin="wrong\n")

    assert ProfileVersion.objects.get(pk=pending.pk).status == ProfileVersion.Status.PENDING_APPROVAL


def test_the_approvers_own_password_approves(monkeypatch, pending):
    approver = finance_user(Role.FINANCE_APPROVER, username="approver")

    out = _run(
        monkeypatch, "approve", "p1", "1", "--approver", "approver", "--password-stdin", stdin=f"{PASSWORD}\n"
    )

    version = ProfileVersion.objects.get(pk=pending.pk)
    assert (out.strip(), version.status, version.decided_by_id) == ("p1 v1 approved", "approved", approver.pk)


def test_the_author_cannot_approve_even_with_their_own_password(monkeypatch, pending):
    with pytest.raises(CommandError):
        _run(
            monkeypatch,
            "approve",
            "p1",
            "1",
            "--approver",
            "author",
            "--password-stdin",
            stdin=f"{PASSWORD}\n",
        )

    assert ProfileVersion.objects.get(pk=pending.pk).status == ProfileVersion.Status.PENDING_APPROVAL
