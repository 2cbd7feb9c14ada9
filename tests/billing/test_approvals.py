"""Maker-checker (billing.governance.approvals): a request carries its backtest and hash, the policy decides
how many approvers, each approval is signed, the author never approves (service and database), requests
expire after 7 days. The API, admin and CLI paths: tests/billing/test_approvals_paths.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction

from billing.governance.approval_tasks import approval_requests_expire_task
from billing.governance.approvals import (
    EMPTY_BACKTEST_HASH,
    approval_grant,
    approval_reject,
    approval_request_create,
    approval_requests_expire,
)
from billing.governance.backtest import backtest_run
from billing.profiles.models import Approval, ApprovalRequest, ProfileVersion
from billing.profiles.services import profile_create, profile_version_create
from billing.profiles.signatures import approval_signature, version_verifies
from common.errors import Conflict, PermissionDenied, StateError, ValidationFailed
from ledger.audit.models import AuditRecord
from tenants.models import Role
from tests.factories import SkuFactory, profile_document
from tests.factories.tenants import finance_user

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
LATER = datetime(2027, 1, 1, tzinfo=UTC)
BIG_OR_DECREASE = {
    "default_approvals": 1,
    "rules": [
        {
            "name": "big-or-decrease",
            "approvals": 2,
            "when": {
                "any": [
                    {"metric": "revenue_delta_pct_abs", "op": ">", "value": "5"},
                    {"metric": "any_price_decrease", "op": "==", "value": True},
                ]
            },
        }
    ],
}


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
def profile(people, settings):
    """A profile whose version 1 (0.10 per call) is approved and in force since 2026-01-01 (backdated)."""
    settings.APPROVAL_POLICY = BIG_OR_DECREASE
    SkuFactory.create(code="api_calls")
    profile = profile_create(code="p1", name="P1")
    v1 = _draft(profile, people, "0.10", datetime(2026, 1, 1, tzinfo=UTC))
    request = approval_request_create(version=v1, actor=people["author"])
    approval_grant(request=request, approver=people["ann"], allow_backdated=True)
    return profile


def _draft(profile, people, unit_amount, effective_from=LATER):
    return profile_version_create(
        profile=profile,
        body=profile_document("p1", unit_amount=unit_amount),
        effective_from=effective_from,
        author=people["author"],
    )


def test_a_request_carries_its_backtest_its_hash_and_the_policy_s_decision(profile, people):
    draft = _draft(profile, people, "0.12")

    request = approval_request_create(version=draft, actor=people["author"], periods=3)

    expected = backtest_run(version=draft, periods=3, now=NOW)
    assert (request.backtest, request.backtest_hash) == (expected.summary, expected.result_hash)
    assert (request.periods, request.required_approvals, request.matched_rules) == (3, 1, [])
    assert (request.status, request.created_at, request.expires_at) == ("open", NOW, NOW + timedelta(days=7))
    draft.refresh_from_db()
    assert (draft.status, draft.submitted_at) == (ProfileVersion.Status.PENDING_APPROVAL, NOW)


def test_a_price_decrease_needs_two_approvers(profile, people):
    draft = _draft(profile, people, "0.05")
    request = approval_request_create(version=draft, actor=people["author"])
    assert (request.required_approvals, request.matched_rules) == (2, ["big-or-decrease"])

    after_one = approval_grant(request=request, approver=people["ann"])
    draft.refresh_from_db()
    assert (after_one.status, draft.status) == ("open", ProfileVersion.Status.PENDING_APPROVAL)

    after_two = approval_grant(request=request, approver=people["bob"], note="ok")
    draft.refresh_from_db()
    assert (after_two.status, draft.status, draft.decided_by) == ("approved", "approved", people["bob"])
    assert version_verifies(draft) is True


def test_an_increase_within_5_percent_needs_one(profile, people):
    draft = _draft(profile, people, "0.105")

    request = approval_request_create(version=draft, actor=people["author"])

    assert (request.required_approvals, request.matched_rules) == (1, [])


def test_each_approval_is_signed_over_the_body_the_approver_the_instant_and_the_backtest(profile, people):
    draft = _draft(profile, people, "0.12")
    request = approval_request_create(version=draft, actor=people["author"])

    approval_grant(request=request, approver=people["bob"])

    approval = Approval.objects.get(request=request)
    assert approval.signature == approval_signature(
        body_sha256=draft.body_sha256,
        approver_id=people["bob"].pk,
        approved_at=NOW,
        backtest_hash=request.backtest_hash,
    )


def test_the_newly_approved_version_supersedes_the_older_one(profile, people):
    draft = _draft(profile, people, "0.12")
    approval_grant(
        request=approval_request_create(version=draft, actor=people["author"]), approver=people["bob"]
    )

    statuses = dict(ProfileVersion.objects.filter(profile=profile).values_list("number", "status"))

    assert statuses == {1: "superseded", 2: "approved"}


def test_the_author_cannot_approve_in_the_service(profile, people):
    approver_author = finance_user(Role.FINANCE_APPROVER, username="both")
    draft = profile_version_create(
        profile=profile,
        body=profile_document("p1", unit_amount="0.12"),
        effective_from=LATER,
        author=approver_author,
    )
    request = approval_request_create(version=draft, actor=approver_author)

    with pytest.raises(PermissionDenied, match="the author of a version cannot approve it"):
        approval_grant(request=request, approver=approver_author)

    assert not Approval.objects.filter(request=request).exists()


def test_the_database_refuses_an_approval_by_the_author(profile, people):
    draft = _draft(profile, people, "0.12")
    request = approval_request_create(version=draft, actor=people["author"])

    with (
        pytest.raises(IntegrityError, match="wrote the version and cannot approve it"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO billing_approval (request_id, approver_id, approved_at, signature, note) "
            "VALUES (%s, %s, now(), %s, '')",
            [request.pk, people["author"].pk, "a" * 64],
        )


def test_the_database_refuses_an_approval_of_a_decided_request(profile, people):
    request = ApprovalRequest.objects.get(version__profile=profile, version__number=1)

    with pytest.raises(IntegrityError, match="the request is approved, not open"), transaction.atomic():
        Approval.objects.create(request=request, approver=people["bob"], approved_at=NOW, signature="a" * 64)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE billing_approval SET note = 'edited'", "DELETE FROM billing_approval"],
)
def test_approvals_are_append_only(profile, statement):
    with (
        pytest.raises(IntegrityError, match="approvals are append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)


def test_the_database_keeps_a_request_s_required_approvals_and_backtest(profile):
    request = ApprovalRequest.objects.get(version__profile=profile, version__number=1)

    with (
        pytest.raises(IntegrityError, match="only its status and the record of its decision change"),
        transaction.atomic(),
    ):
        ApprovalRequest.objects.filter(pk=request.pk).update(required_approvals=5)


def test_an_approver_signs_a_request_once(profile, people):
    request = approval_request_create(version=_draft(profile, people, "0.05"), actor=people["author"])
    approval_grant(request=request, approver=people["ann"])

    with pytest.raises(Conflict, match="ann has already approved request"):
        approval_grant(request=request, approver=people["ann"])


def test_an_editor_cannot_approve(profile, people):
    request = approval_request_create(version=_draft(profile, people, "0.12"), actor=people["author"])
    editor = finance_user(Role.FINANCE_EDITOR, username="ed")

    with pytest.raises(PermissionDenied, match="needs one of the roles: finance_approver"):
        approval_grant(request=request, approver=editor)


def test_a_version_cannot_take_effect_in_the_past(profile, people):
    draft = _draft(profile, people, "0.12", effective_from=NOW - timedelta(days=1))
    request = approval_request_create(version=draft, actor=people["author"])

    with pytest.raises(ValidationFailed, match="a version cannot take effect in the past"):
        approval_grant(request=request, approver=people["bob"])


def test_a_rejection_rejects_the_request_and_the_version_with_its_reason(profile, people):
    draft = _draft(profile, people, "0.12")
    request = approval_request_create(version=draft, actor=people["author"])

    rejected = approval_reject(request=request, approver=people["bob"], reason="too early")

    draft.refresh_from_db()
    assert (rejected.status, rejected.decision_note) == ("rejected", "too early")
    assert (draft.status, draft.decided_by, draft.decision_note) == ("rejected", people["bob"], "too early")


def test_the_author_cannot_reject(profile, people):
    approver_author = finance_user(Role.FINANCE_APPROVER, username="both")
    draft = profile_version_create(
        profile=profile,
        body=profile_document("p1", unit_amount="0.12"),
        effective_from=LATER,
        author=approver_author,
    )
    request = approval_request_create(version=draft, actor=approver_author)

    with pytest.raises(PermissionDenied, match="the author of a version cannot reject it"):
        approval_reject(request=request, approver=approver_author, reason="mine")


# --- expiry ---------------------------------------------------------------------------------------------


def test_a_request_expires_after_7_days(profile, people):
    request = approval_request_create(version=_draft(profile, people, "0.12"), actor=people["author"])

    with time_machine.travel(NOW + timedelta(days=7) - timedelta(seconds=1), tick=False):
        assert approval_requests_expire() == 0
    with time_machine.travel(NOW + timedelta(days=7), tick=False):
        assert approval_requests_expire() == 1
        assert approval_requests_expire() == 0  # idempotent

    request.refresh_from_db()
    assert (request.status, request.decided_at) == ("expired", NOW + timedelta(days=7))


def test_an_expired_request_cannot_be_approved_even_before_the_task_runs(profile, people):
    request = approval_request_create(version=_draft(profile, people, "0.12"), actor=people["author"])

    with (
        time_machine.travel(NOW + timedelta(days=8), tick=False),
        pytest.raises(StateError, match="expired at"),
    ):
        approval_grant(request=request, approver=people["bob"])


def test_a_version_whose_request_expired_can_be_asked_for_again(profile, people):
    draft = _draft(profile, people, "0.12")
    approval_request_create(version=draft, actor=people["author"])
    later = NOW + timedelta(days=8)
    with time_machine.travel(later, tick=False):
        approval_requests_expire_task()
        again = approval_request_create(version=draft, actor=people["author"])
        approval_grant(request=again, approver=people["bob"])

    draft.refresh_from_db()
    assert list(
        ApprovalRequest.objects.filter(version=draft).order_by("id").values_list("status", flat=True)
    ) == [
        "expired",
        "approved",
    ]
    assert draft.status == ProfileVersion.Status.APPROVED


def test_a_second_open_request_for_a_version_is_refused(profile, people):
    draft = _draft(profile, people, "0.12")
    approval_request_create(version=draft, actor=people["author"])

    with pytest.raises(Conflict, match="already has an open approval request"):
        approval_request_create(version=draft, actor=people["author"])


# --- audit ----------------------------------------------------------------------------------------------


def test_every_step_is_in_the_audit_trail(profile, people):
    draft = _draft(profile, people, "0.05")
    request = approval_request_create(version=draft, actor=people["author"])
    approval_grant(request=request, approver=people["ann"])
    approval_grant(request=request, approver=people["bob"])

    actions = list(AuditRecord.objects.filter(at=NOW).order_by("seq").values_list("action", "actor_label"))[
        -7:
    ]

    assert actions == [
        ("profile_version.submit", "author"),
        ("approval_request.create", "author"),
        ("approval.grant", "ann"),
        ("approval.grant", "bob"),
        ("profile_version.supersede", "bob"),
        ("profile_version.approve", "bob"),
        ("approval_request.approve", "bob"),
    ]


def test_the_backfilled_and_factory_hash_of_an_empty_backtest_is_that_of_canonical_json():
    assert EMPTY_BACKTEST_HASH == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def test_the_demo_seed_signs_its_price_decrease_twice_under_the_default_policy(settings):
    from billing.demo import seed_demo
    from config.settings import base

    settings.APPROVAL_POLICY = base.APPROVAL_POLICY
    seed_demo(now=NOW)

    decrease = ProfileVersion.objects.get(profile__code="cloud-standard-eur", number=2)
    request = ApprovalRequest.objects.get(version=decrease)
    assert (decrease.status, request.required_approvals, request.matched_rules) == (
        "approved",
        2,
        ["big-or-decrease"],
    )
    assert sorted(request.approvals.values_list("approver__username", flat=True)) == ["controller", "finance"]
    assert version_verifies(decrease) is True


def test_the_database_lets_an_approved_version_be_rolled_back_keeping_its_decision(profile, people):
    v1 = ProfileVersion.objects.get(profile=profile, number=1)

    v1.status = ProfileVersion.Status.ROLLED_BACK
    v1.save(update_fields=["status"])

    v1.refresh_from_db()
    assert (v1.status, v1.decided_by) == ("rolled_back", people["ann"])
    assert ProfileVersion.Status.ROLLED_BACK in ProfileVersion.IN_FORCE_STATUSES


def test_the_database_refuses_rolling_back_a_rejected_version(profile, people):
    draft = _draft(profile, people, "0.12")
    approval_reject(
        request=approval_request_create(version=draft, actor=people["author"]),
        approver=people["bob"],
        reason="no",
    )

    with pytest.raises(IntegrityError, match="rejected -> rolled_back is not allowed"), transaction.atomic():
        ProfileVersion.objects.filter(pk=draft.pk).update(status=ProfileVersion.Status.ROLLED_BACK)


def test_the_requester_withdraws_an_open_request_and_may_ask_again(profile, people):
    from billing.governance.approvals import approval_request_withdraw

    draft = _draft(profile, people, "0.12")
    request = approval_request_create(version=draft, actor=people["author"])

    withdrawn = approval_request_withdraw(request=request, actor=people["author"], reason="typo")
    again = approval_request_create(version=draft, actor=people["author"])

    assert (withdrawn.status, withdrawn.decision_note, again.status) == ("withdrawn", "typo", "open")


def test_only_the_requester_or_author_withdraws(profile, people):
    from billing.governance.approvals import approval_request_withdraw

    request = approval_request_create(version=_draft(profile, people, "0.12"), actor=people["author"])

    with pytest.raises(PermissionDenied, match="only the requester or the author"):
        approval_request_withdraw(request=request, actor=people["bob"])
