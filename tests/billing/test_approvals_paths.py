"""Maker-checker on every path besides the service (tests/billing/test_approvals.py) and the portal (the
finance workspace's tests): the API, the admin and the CLI refuse the author and let another approver
approve, each through billing.governance.approvals."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from billing.governance.approvals import approval_request_create
from billing.profiles.models import Approval, ApprovalRequest, ProfileVersion
from billing.profiles.services import profile_create, profile_version_create
from tenants.models import Role
from tenants.services import api_key_create
from tests.factories import SkuFactory, TenantFactory, profile_document
from tests.factories.tenants import UserFactory, finance_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"  # UserFactory's
LATER = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def pending():
    """A pending version 1 of profile p1 written by `maker` (a finance approver too), and its open
    request; `checker` is another approver."""
    SkuFactory.create(code="api_calls")
    maker = finance_user(Role.FINANCE_APPROVER, username="maker")
    finance_user(Role.FINANCE_APPROVER, username="checker")
    profile = profile_create(code="p1", name="P1")
    draft = profile_version_create(
        profile=profile, body=profile_document("p1"), effective_from=LATER, author=maker
    )
    return approval_request_create(version=draft, actor=maker)


def _client(username: str) -> Client:
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def _status(request: ApprovalRequest) -> tuple[str, str]:
    request.refresh_from_db()
    return request.status, ProfileVersion.objects.get(pk=request.version_id).status


# --- API ------------------------------------------------------------------------------------------------


def test_api_the_author_gets_403_and_nothing_is_signed(pending):
    response = _client("maker").post(
        f"/api/v1/approval-requests/{pending.pk}/approve", {}, "application/json"
    )

    assert response.status_code == 403
    assert response.json() == {"error": "forbidden", "message": "the author of a version cannot approve it"}
    assert not Approval.objects.filter(request=pending).exists()


def test_api_another_approver_approves(pending):
    response = _client("checker").post(
        f"/api/v1/approval-requests/{pending.pk}/approve", {"note": "fine"}, "application/json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["profile"], body["version"], body["required_approvals"]) == (
        "approved",
        "p1",
        1,
        1,
    )
    assert [(a["approver"], a["note"]) for a in body["approvals"]] == [("checker", "fine")]
    assert _status(pending) == ("approved", "approved")


def test_api_the_author_cannot_reject_and_another_approver_can(pending):
    url = f"/api/v1/approval-requests/{pending.pk}/reject"
    assert _client("maker").post(url, {"reason": "no"}, "application/json").status_code == 403

    response = _client("checker").post(url, {"reason": "too cheap"}, "application/json")

    assert (response.status_code, response.json()["decision_note"]) == (200, "too cheap")
    assert _status(pending) == ("rejected", "rejected")


def test_api_a_rejection_needs_a_reason(pending):
    response = _client("checker").post(
        f"/api/v1/approval-requests/{pending.pk}/reject", {}, "application/json"
    )

    assert response.status_code == 400
    assert _status(pending) == ("open", "pending_approval")


def test_api_lists_requests_for_finance_users(pending):
    finance_user(Role.FINANCE_VIEWER, username="viewer")

    response = _client("viewer").get("/api/v1/approval-requests?status=open")

    assert response.status_code == 200
    assert [(r["id"], r["status"], r["requested_by"]) for r in response.json()] == [
        (pending.pk, "open", "maker")
    ]


def test_api_a_viewer_cannot_approve(pending):
    finance_user(Role.FINANCE_VIEWER, username="viewer")

    response = _client("viewer").post(
        f"/api/v1/approval-requests/{pending.pk}/approve", {}, "application/json"
    )

    assert response.status_code == 403
    assert _status(pending) == ("open", "pending_approval")


def test_api_is_refused_to_a_customer_anonymous_and_an_api_key(pending):
    UserFactory.create(username="customer")
    issued = api_key_create(tenant=TenantFactory.create(), name="k")

    answers = [
        _client("customer").get("/api/v1/approval-requests").status_code,
        Client().get("/api/v1/approval-requests").status_code,
        Client().get("/api/v1/approval-requests", HTTP_AUTHORIZATION=f"Bearer {issued.secret}").status_code,
        Client()
        .post(
            f"/api/v1/approval-requests/{pending.pk}/approve",
            {},
            "application/json",
            HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
        )
        .status_code,
    ]

    assert answers == [403, 403, 403, 403]
    assert _status(pending) == ("open", "pending_approval")


def test_api_an_unknown_request_is_404(pending):
    response = _client("checker").post("/api/v1/approval-requests/999999/approve", {}, "application/json")

    assert response.status_code == 404


# --- admin ----------------------------------------------------------------------------------------------


def _admin_approve(username: str, request: ApprovalRequest) -> list[str]:
    client = _client(username)
    response = client.post(
        "/admin/billing/approvalrequest/",
        {"action": "approve", "_selected_action": [request.pk]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def test_admin_the_author_gets_an_error_message_and_nothing_is_signed(pending):
    messages = _admin_approve("maker", pending)

    assert messages == [f"request {pending.pk}: the author of a version cannot approve it"]
    assert _status(pending) == ("open", "pending_approval")


def test_admin_another_approver_approves_through_the_service(pending):
    messages = _admin_approve("checker", pending)

    assert messages == [f"request {pending.pk}: approved by you (approved)"]
    assert _status(pending) == ("approved", "approved")
    assert Approval.objects.get(request=pending).approver.username == "checker"


def test_admin_an_editor_has_no_approve_action(pending):
    finance_user(Role.FINANCE_EDITOR, username="editor")

    response = _client("editor").get("/admin/billing/approvalrequest/")

    assert response.status_code == 200
    assert 'value="approve"' not in response.content.decode()


# --- CLI ------------------------------------------------------------------------------------------------


def _cli(monkeypatch, *args: str, password: str = PASSWORD) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    out = io.StringIO()
    call_command("profiles", *args, "--password-stdin", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_cli_the_author_cannot_approve(monkeypatch, pending):
    with pytest.raises(CommandError, match="the author of a version cannot approve it"):
        _cli(monkeypatch, "approve", "--request", str(pending.pk), "--as", "maker")

    assert _status(pending) == ("open", "pending_approval")


def test_cli_another_approver_approves_by_request(monkeypatch, pending):
    out = _cli(monkeypatch, "approve", "--request", str(pending.pk), "--as", "checker")

    assert out.strip() == f"request {pending.pk} approved (1/1 approvals): p1 v1 approved"
    assert _status(pending) == ("approved", "approved")


def test_cli_a_bare_name_never_approves(monkeypatch, pending):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    with pytest.raises(CommandError, match="needs their password"):
        call_command(
            "profiles", "approve", "--request", str(pending.pk), "--as", "checker", stdout=io.StringIO()
        )


def test_cli_request_submits_a_draft_with_its_backtest(monkeypatch):
    SkuFactory.create(code="api_calls")
    maker = finance_user(Role.FINANCE_EDITOR, username="maker")
    profile = profile_create(code="p2", name="P2")
    profile_version_create(profile=profile, body=profile_document("p2"), effective_from=LATER, author=maker)

    out = _cli(monkeypatch, "request", "--version", "p2:1", "--as", "maker", "--periods", "2")

    request = ApprovalRequest.objects.get(version__profile=profile)
    assert out.strip() == (
        f"request {request.pk} for p2 v1: open, {request.required_approvals} approval(s) needed, "
        f"backtest {request.backtest_hash[:12]}, expires {request.expires_at.isoformat()}"
    )
    assert (request.periods, request.requested_by) == (2, maker)
