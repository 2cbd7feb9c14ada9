"""Finance's approval pages: submitting a draft with its backtest, the list with expiry countdowns, a
request with its backtest, rules and signed approvals; four eyes through the portal (the author is
refused with a message and a 403, a second approver approves); viewers read only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from billing.governance.approvals import approval_request_create
from billing.profiles.models import Approval, ApprovalRequest, ProfileVersion
from billing.profiles.services import profile_version_create
from portal.finance.approvals.views import time_left
from tenants.models import Role
from tests.factories import ProfileVersionFactory, finance_user
from tests.factories.ledger import document, world

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text_of(html: bytes) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode()))).strip()


def draft_increase(author: User) -> ProfileVersion:
    """acme's price list v2: api_calls 0.10 -> 0.12 from December (an increase: one approval)."""
    w = world()
    body = document(w.profile.code, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.12"}])
    return profile_version_create(
        profile=w.profile, body=body, effective_from=datetime(2026, 12, 1, tzinfo=UTC), author=author
    )


@pytest.fixture
def author() -> User:
    return finance_user(role=Role.FINANCE_APPROVER, username="author")


@pytest.fixture
def pending(author: User) -> ApprovalRequest:
    with time_machine.travel(NOW, tick=False):
        return approval_request_create(version=draft_increase(author), actor=author, periods=1)


@time_machine.travel(NOW, tick=False)
def test_an_editor_submits_a_draft_with_its_backtest_through_the_portal():
    editor = finance_user(role=Role.FINANCE_EDITOR)
    draft = draft_increase(editor)

    response = client_of(editor).post(
        f"/portal/finance/profiles/versions/{draft.pk}/submit/", {"periods": "3"}
    )

    request = ApprovalRequest.objects.get(version=draft)
    assert response.status_code == 302
    assert response["Location"] == f"/portal/finance/approvals/{request.pk}/"
    assert (request.periods, request.status, request.requested_by) == (3, "open", editor)
    assert len(request.backtest_hash) == 64
    draft.refresh_from_db()
    assert draft.status == "pending_approval"


@time_machine.travel(NOW, tick=False)
def test_a_viewer_cannot_submit():
    draft = draft_increase(finance_user(role=Role.FINANCE_EDITOR))

    response = client_of(finance_user(role=Role.FINANCE_VIEWER)).post(
        f"/portal/finance/profiles/versions/{draft.pk}/submit/", {"periods": "1"}
    )

    assert response.status_code == 403
    assert not ApprovalRequest.objects.filter(version=draft).exists()


@time_machine.travel(NOW, tick=False)
def test_periods_outside_1_to_12_are_refused_with_a_message():
    editor = finance_user(role=Role.FINANCE_EDITOR)
    draft = draft_increase(editor)
    client = client_of(editor)

    response = client.post(
        f"/portal/finance/profiles/versions/{draft.pk}/submit/", {"periods": "13"}, follow=True
    )

    assert "Choose how many closed periods to backtest: 1 to 12." in text_of(response.content)
    assert not ApprovalRequest.objects.filter(version=draft).exists()


def test_the_list_shows_an_open_request_with_its_countdown(pending):
    viewer = client_of(finance_user(role=Role.FINANCE_VIEWER))

    with time_machine.travel(NOW + timedelta(days=2, hours=3), tick=False):
        text = text_of(viewer.get("/portal/finance/approvals/").content)

    assert (
        f"Request #{pending.pk} Acme-Profile, version 2 author, 2026-11-20 12:00 0 of 1 "
        "in 4 days 21 hours (2026-11-27 12:00)"
    ) in text


def test_the_request_page_shows_rules_approvals_and_the_backtest(pending):
    with time_machine.travel(NOW, tick=False):
        text = text_of(
            client_of(finance_user(role=Role.FINANCE_VIEWER))
            .get(f"/portal/finance/approvals/{pending.pk}/")
            .content
        )

    assert "Approvals needed 1 (the policy's default: no rule matched)" in text
    assert f"Backtest hash {pending.backtest_hash}" in text
    assert "No approval yet." in text
    assert "Only finance approvers decide on approval requests." in text
    assert "Approve and sign" not in text


def test_the_author_sees_no_decision_form_but_the_four_eyes_rule(pending, author):
    with time_machine.travel(NOW, tick=False):
        text = text_of(client_of(author).get(f"/portal/finance/approvals/{pending.pk}/").content)

    assert "You wrote this version: another finance approver must decide on it (four eyes)." in text
    assert "Approve and sign" not in text


def test_the_author_who_is_an_approver_is_refused_with_a_message_not_a_500(pending, author):
    with time_machine.travel(NOW, tick=False):
        response = client_of(author).post(
            f"/portal/finance/approvals/{pending.pk}/approve/", {"note": "mine"}
        )

    assert response.status_code == 403
    assert "Refused: the author of a version cannot approve it" in text_of(response.content)
    assert not Approval.objects.filter(request=pending).exists()


def test_the_author_cannot_reject_either(pending, author):
    with time_machine.travel(NOW, tick=False):
        response = client_of(author).post(f"/portal/finance/approvals/{pending.pk}/reject/", {"reason": "no"})

    assert response.status_code == 403
    pending.refresh_from_db()
    assert pending.status == "open"


def test_a_viewer_cannot_approve(pending):
    with time_machine.travel(NOW, tick=False):
        response = client_of(finance_user(role=Role.FINANCE_VIEWER)).post(
            f"/portal/finance/approvals/{pending.pk}/approve/", {"note": ""}
        )

    assert response.status_code == 403
    assert not Approval.objects.filter(request=pending).exists()


def test_a_second_approver_approves_and_signs(pending):
    second = finance_user(role=Role.FINANCE_APPROVER, username="second")
    client = client_of(second)

    with time_machine.travel(NOW, tick=False):
        response = client.post(f"/portal/finance/approvals/{pending.pk}/approve/", {"note": "fine"})
        text = text_of(client.get(response["Location"]).content)

    assert response.status_code == 302
    pending.refresh_from_db()
    assert (pending.status, pending.version.status) == ("approved", "approved")
    assert "Your approval is signed and recorded." in text
    assert "second 2026-11-20 12:00 verifies" in text


def test_a_rejection_needs_a_reason_then_rejects(pending):
    client = client_of(finance_user(role=Role.FINANCE_APPROVER, username="second"))

    with time_machine.travel(NOW, tick=False):
        empty = client.post(f"/portal/finance/approvals/{pending.pk}/reject/", {"reason": ""}, follow=True)
        client.post(f"/portal/finance/approvals/{pending.pk}/reject/", {"reason": "too steep"})

    assert "A rejection needs a reason." in text_of(empty.content)
    pending.refresh_from_db()
    assert (pending.status, pending.version.status) == ("rejected", "rejected")


def test_the_page_lays_out_a_stored_backtest(author):
    summary = {
        "currency": "EUR",
        "periods": 1,
        "period_keys": ["2026-10"],
        "tenants": 2,
        "rows": 2,
        "blocked": 0,
        "p50_pct": "5.00",
        "p95_pct": "20.00",
        "max_pct": "20.00",
        "revenue_old": "300.00",
        "revenue_new": "330.00",
        "revenue_delta": "30.00",
        "revenue_delta_pct": "10.00",
        "tenants_affected": 2,
        "bills_increased": 2,
        "bills_decreased": 0,
        "top10": [
            {
                "tenant_slug": "beta",
                "old_total": "100.00",
                "new_total": "120.00",
                "delta": "20.00",
                "pct": "20.00",
            },
            {
                "tenant_slug": "acme",
                "old_total": "200.00",
                "new_total": "210.00",
                "delta": "10.00",
                "pct": "5.00",
            },
        ],
    }
    version = ProfileVersionFactory.create(profile=world().profile, number=2, author=author)
    stored = ApprovalRequest.objects.create(
        version=version,
        requested_by=author,
        created_at=NOW,
        expires_at=NOW + timedelta(days=7),
        backtest=summary,
        backtest_hash="a" * 64,
    )

    text = text_of(
        client_of(finance_user(role=Role.FINANCE_VIEWER))
        .get(f"/portal/finance/approvals/{stored.pk}/")
        .content
    )

    assert (
        "Revenue before €300.00 Revenue with this version €330.00 Revenue delta €30.00 (10%) "
        "Change per tenant, p50 5% Change per tenant, p95 20% Change per tenant, max 20% "
        "Tenants affected 2 (2 up, 0 down)"
    ) in text
    assert "beta €100.00 €120.00 €20.00 20% acme €200.00 €210.00 €10.00 5%" in text


def test_an_unknown_request_is_a_404():
    assert (
        client_of(finance_user(role=Role.FINANCE_VIEWER)).get("/portal/finance/approvals/999999/").status_code
        == 404
    )


@pytest.mark.parametrize(
    ("left", "shown"),
    [
        (timedelta(days=7), "7 days 0 hours"),
        (timedelta(days=1, hours=1, minutes=5), "1 day 1 hour"),
        (timedelta(hours=5, minutes=12), "5 hours 12 minutes"),
        (timedelta(seconds=30), "1 minute"),
        (timedelta(0), "expired"),
    ],
)
def test_time_left(left, shown):
    assert time_left(NOW + left, NOW) == shown


def test_the_backtest_run_again_gives_the_stored_hash(pending):
    client = client_of(finance_user(role=Role.FINANCE_EDITOR))

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        offered = text_of(client.get(f"/portal/finance/approvals/{pending.pk}/").content)
        rerun = text_of(client.post(f"/portal/finance/approvals/{pending.pk}/rerun/").content)

    assert "Run the backtest again and list every tenant and period" in offered
    assert f"Run again just now: the same result, hash {pending.backtest_hash} ." in rerun


def test_a_get_never_runs_the_backtest_again_and_a_viewer_cannot(pending):
    viewer = client_of(finance_user(role=Role.FINANCE_VIEWER))

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        offered = text_of(viewer.get(f"/portal/finance/approvals/{pending.pk}/?rerun=1").content)
        refused = viewer.post(f"/portal/finance/approvals/{pending.pk}/rerun/")
        got = client_of(finance_user(role=Role.FINANCE_EDITOR)).get(
            f"/portal/finance/approvals/{pending.pk}/rerun/"
        )

    assert "Run again just now" not in offered
    assert "Run the backtest again and list every tenant and period" not in offered
    assert (refused.status_code, got.status_code) == (403, 405)


def test_the_backtest_is_run_again_only_with_the_csrf_token(pending):
    client = client_of(finance_user(role=Role.FINANCE_APPROVER))
    client.handler.enforce_csrf_checks = True

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        response = client.post(f"/portal/finance/approvals/{pending.pk}/rerun/")

    assert response.status_code == 403
    assert "Run again just now" not in response.content.decode()
