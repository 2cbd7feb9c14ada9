"""Four eyes that cannot be walked around (billing/migrations/0020_approval_quorum_guards.sql and the
services): only a draft's author edits it, the requester of an approval request does not approve it, and
the database approves a request or a version only with the approvals the policy asked for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction

from billing.governance.approvals import approval_grant, approval_request_create
from billing.profiles.models import Approval, ApprovalRequest, ProfileVersion
from billing.profiles.services import profile_create, profile_version_create, profile_version_update_draft
from common.errors import PermissionDenied
from tenants.models import Role
from tests.factories import SkuFactory, profile_document
from tests.factories.tenants import finance_user

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
LATER = datetime(2027, 1, 1, tzinfo=UTC)
TWO = {"default_approvals": 2, "rules": []}


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def people():
    return {
        "author": finance_user(Role.FINANCE_EDITOR, username="author"),
        "ann": finance_user(Role.FINANCE_APPROVER, username="ann"),
        "bob": finance_user(Role.FINANCE_APPROVER, username="bob"),
    }


@pytest.fixture
def draft(people):
    SkuFactory.create(code="api_calls")
    profile = profile_create(code="p1", name="P1")
    return profile_version_create(
        profile=profile, body=profile_document("p1"), effective_from=LATER, author=people["author"]
    )


def _sql(statement: str, params: list[Any]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_an_approver_cannot_rewrite_someone_else_s_draft(draft, people):
    with pytest.raises(PermissionDenied) as err:
        profile_version_update_draft(
            version=draft,
            body=profile_document("p1", unit_amount="0.01"),
            effective_from=None,
            actor=people["ann"],
        )

    assert err.value.message == (
        "only the author of version 1 can edit its draft: copy it into a new draft of your own instead"
    )
    draft.refresh_from_db()
    assert draft.body["prices"][0]["unit_amount"] == "0.10"


def test_the_requester_cannot_approve_in_the_service(draft, people):
    request = approval_request_create(version=draft, actor=people["ann"])

    with pytest.raises(PermissionDenied, match="the requester of an approval cannot approve it"):
        approval_grant(request=request, approver=people["ann"])

    assert not Approval.objects.filter(request=request).exists()


def test_the_database_refuses_an_approval_by_the_requester(draft, people):
    request = approval_request_create(version=draft, actor=people["ann"])

    with pytest.raises(IntegrityError, match="asked for the approval and cannot approve it"):
        _sql(
            "INSERT INTO billing_approval (request_id, approver_id, approved_at, signature, note) "
            "VALUES (%s, %s, now(), %s, '')",
            [request.pk, people["ann"].pk, "a" * 64],
        )


def test_the_database_refuses_approving_a_request_short_of_its_approvals(draft, people, settings):
    settings.APPROVAL_POLICY = TWO
    request = approval_request_create(version=draft, actor=people["author"])
    approval_grant(request=request, approver=people["ann"])

    with pytest.raises(IntegrityError, match="has 1 approval\\(s\\) of 2 required"):
        _sql(
            "UPDATE billing_approvalrequest SET status = 'approved', decided_at = now() WHERE id = %s",
            [request.pk],
        )
    assert ApprovalRequest.objects.get(pk=request.pk).status == "open"


def test_the_database_refuses_approving_a_version_without_an_approved_request(draft, people, settings):
    settings.APPROVAL_POLICY = TWO
    request = approval_request_create(version=draft, actor=people["author"])
    approval_grant(request=request, approver=people["ann"])

    with pytest.raises(IntegrityError, match="has no approved approval request"):
        _sql(
            "UPDATE billing_profileversion SET status = 'approved', decided_by_id = %s, decided_at = now() "
            "WHERE id = %s",
            [people["ann"].pk, draft.pk],
        )
    assert ProfileVersion.objects.get(pk=draft.pk).status == ProfileVersion.Status.PENDING_APPROVAL


def test_two_approvals_approve_the_request_and_the_version(draft, people, settings):
    settings.APPROVAL_POLICY = TWO
    request = approval_request_create(version=draft, actor=people["author"])
    approval_grant(request=request, approver=people["ann"])

    approval_grant(request=request, approver=people["bob"])

    draft.refresh_from_db()
    request.refresh_from_db()
    assert (request.status, draft.status, draft.decided_by) == ("approved", "approved", people["bob"])
