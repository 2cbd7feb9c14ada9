"""Signed approvals (billing.profiles.signatures) and what a version that does not verify does: usage it
would price waits (its batch set aside, never priced by an older version), the close of its period is
blocked naming it, a quote by it is refused; each raises a `signature` alert."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from billing.catalog.models import Sku
from billing.close.services import close_periods
from billing.profiles.models import Approval, ApprovalRequest, ProfileVersion
from billing.profiles.selectors import VersionTimeline
from billing.profiles.signatures import (
    approval_message,
    approval_signature,
    verification_failure,
    verification_failures,
    version_verifies,
)
from billing.rating.models import UsageAggregate
from billing.rating.services import usage_rate_pending
from billing.usage.models import RatingBatch
from ledger.models import Alert, Invoice
from tests.factories.ledger import after_grace, approved_version, document, tax_rule, usage, world
from tests.factories.usage import stored_pending_event

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
NOV_5 = datetime(2026, 11, 5, 10, tzinfo=UTC)


def _tamper(sql: str, params: list[Any]) -> None:
    """Write past the guards (what someone with database rights could do): replica mode silences them."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


def _forge_signature(version: ProfileVersion) -> None:
    approval = Approval.objects.get(request__version=version)
    _tamper("UPDATE billing_approval SET signature = %s WHERE id = %s", ["0" * 64, approval.pk])


def test_the_signature_is_an_hmac_of_the_four_fields_with_the_profile_signing_key(settings):
    settings.PROFILE_SIGNING_KEY = "k" * 40
    message = approval_message(body_sha256="a" * 64, approver_id=7, approved_at=AT, backtest_hash="b" * 64)

    assert message == f"profile-approval/v1\n{'a' * 64}\n7\n2026-03-04T05:06:07.890123Z\n{'b' * 64}"
    assert (
        approval_signature(body_sha256="a" * 64, approver_id=7, approved_at=AT, backtest_hash="b" * 64)
        == hmac.new(b"k" * 40, message.encode(), hashlib.sha256).hexdigest()
    )


def test_each_signed_field_changes_the_signature():
    def sign(body: str = "a" * 64, approver: int = 7, at: datetime = AT, backtest: str = "b" * 64) -> str:
        return approval_signature(
            body_sha256=body, approver_id=approver, approved_at=at, backtest_hash=backtest
        )

    signatures = {
        sign(),
        sign(body="c" * 64),
        sign(approver=8),
        sign(at=AT.replace(microsecond=1)),
        sign(backtest="d" * 64),
    }

    assert len(signatures) == 5


def test_an_approved_version_verifies():
    w = world()

    assert version_verifies(w.version) is True


def test_a_forged_signature_does_not_verify_and_names_the_version():
    w = world()
    _forge_signature(w.version)

    request = ApprovalRequest.objects.get(version=w.version)
    assert verification_failure(w.version) == (
        f"version 1 (id {w.version.pk}) of profile {w.profile.pk}: "
        f"1 approval signature(s) of request {request.pk} do not verify"
    )


def test_a_tampered_body_sha256_does_not_verify():
    w = world()
    _tamper("UPDATE billing_profileversion SET body_sha256 = %s WHERE id = %s", ["f" * 64, w.version.pk])
    w.version.refresh_from_db()

    assert verification_failure(w.version) == (
        f"version 1 (id {w.version.pk}) of profile {w.profile.pk}: its body does not hash to its body_sha256"
    )


def test_another_signing_key_makes_every_version_fail(settings):
    w = world()
    settings.PROFILE_SIGNING_KEY = "another-key-" * 4

    assert version_verifies(w.version) is False


def test_fewer_valid_approvals_than_required_do_not_verify():
    w = world()
    request = ApprovalRequest.objects.get(version=w.version)
    _tamper("UPDATE billing_approvalrequest SET required_approvals = 2 WHERE id = %s", [request.pk])

    assert verification_failure(w.version) == (
        f"version 1 (id {w.version.pk}) of profile {w.profile.pk}: request {request.pk} holds 1 valid "
        "approval(s), 2 required"
    )


def test_a_version_without_an_approved_request_does_not_verify():
    w = world()
    _tamper(
        "DELETE FROM billing_approval WHERE request_id IN (SELECT id FROM billing_approvalrequest "
        "WHERE version_id = %s)",
        [w.version.pk],
    )
    _tamper("DELETE FROM billing_approvalrequest WHERE version_id = %s", [w.version.pk])

    assert verification_failures([w.version]) == {
        w.version.pk: f"version 1 (id {w.version.pk}) of profile {w.profile.pk}: no approved approval request"
    }


def test_verifying_many_versions_takes_two_queries(django_assert_num_queries):
    versions = [world(slug=f"t{i}").version for i in range(5)]

    with django_assert_num_queries(2):
        assert verification_failures(versions) == {}


def test_the_timeline_names_its_unverified_versions_once():
    w = world()
    _forge_signature(w.version)
    timeline = VersionTimeline([w.tenant.pk])

    assert list(timeline.unverified) == [w.version.pk]
    assert timeline.version_at(w.tenant.pk, NOV_5) == w.version  # its window stays its own


# --- rating: usage waits -------------------------------------------------------------------------------


def test_usage_a_forged_version_would_price_waits_and_raises_a_signature_alert():
    good, bad = world(slug="good"), world(slug="bad")
    _forge_signature(bad.version)
    sku = Sku.objects.get(code="api_calls")
    stored_pending_event(bad.tenant, sku, "waits", timestamp=NOV_5, quantity=Decimal(2))
    stored_pending_event(good.tenant, sku, "rated", timestamp=NOV_5, quantity=Decimal(7))

    usage_rate_pending()

    assert UsageAggregate.objects.get(tenant=good.tenant).quantity == Decimal(7)
    assert not UsageAggregate.objects.filter(tenant=bad.tenant).exists()
    waiting = RatingBatch.objects.get(tenant=bad.tenant)
    assert waiting.status == RatingBatch.Status.FAILED
    assert waiting.failure_reason == (
        "profile version signature does not verify: version 1 (id "
        f"{bad.version.pk}) of profile {bad.profile.pk}: 1 approval signature(s) of request "
        f"{ApprovalRequest.objects.get(version=bad.version).pk} do not verify"
    )
    alert = Alert.objects.get(kind=Alert.Kind.SIGNATURE)
    assert (alert.tenant_id, alert.resolved_at) == (bad.tenant.pk, None)


def test_usage_in_an_unverified_window_never_falls_back_to_the_older_version():
    w = world()
    newer = approved_version(
        w.profile,
        document(w.profile.code, prices=[{"sku": "api_calls", "model": "per_unit", "unit_amount": "0.20"}]),
        datetime(2026, 11, 1, tzinfo=UTC),
        2,
    )
    _forge_signature(newer)
    sku = Sku.objects.get(code="api_calls")
    stored_pending_event(w.tenant, sku, "october", timestamp=datetime(2026, 10, 5, tzinfo=UTC))
    stored_pending_event(w.tenant, sku, "november", timestamp=NOV_5)

    usage_rate_pending()

    rated = list(UsageAggregate.objects.filter(tenant=w.tenant).values_list("profile_version_id", "quantity"))
    assert rated == [(w.version.pk, Decimal(1))]  # October's, by version 1; November's waits
    statuses = sorted(RatingBatch.objects.filter(tenant=w.tenant).values_list("status", flat=True))
    assert statuses == ["failed", "rated"]


# --- close: blocked with a reason ----------------------------------------------------------------------


def test_the_close_of_a_period_a_forged_version_priced_is_blocked_naming_it():
    tax_rule("DE", "19")
    w = world()
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")
    _forge_signature(w.version)

    (result,) = close_periods(tenants=[w.tenant], period_key="2026-11", now=after_grace("2026-11"))

    request = ApprovalRequest.objects.get(version=w.version)
    reason = (
        f"version 1 (id {w.version.pk}) of profile {w.profile.pk}: 1 approval signature(s) of request "
        f"{request.pk} do not verify"
    )
    assert (result.status, result.message) == ("blocked", f"signature: {reason}")
    assert not Invoice.objects.filter(tenant=w.tenant).exists()
    alert = Alert.objects.get(kind=Alert.Kind.SIGNATURE)
    assert (alert.tenant_id, alert.message) == (w.tenant.pk, f"period 2026-11 blocked: {reason}")


def test_a_correction_by_a_version_whose_signature_broke_after_late_usage_was_rated_blocks_the_close():
    tax_rule("DE", "19")
    w = world()
    november_version = approved_version(w.profile, w.version.body, datetime(2026, 11, 1, tzinfo=UTC), 2)
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 5, tzinfo=UTC), "10")
    (october,) = close_periods(tenants=[w.tenant], period_key="2026-10", now=after_grace("2026-10"))
    assert october.status == "finalized", october.message
    usage(w.tenant, "api_calls", w.version, datetime(2026, 10, 30, tzinfo=UTC), "5", late=True)
    usage(w.tenant, "api_calls", november_version, NOV_5, "10")
    _forge_signature(w.version)

    (result,) = close_periods(tenants=[w.tenant], period_key="2026-11", now=after_grace("2026-11"))

    request = ApprovalRequest.objects.get(version=w.version)
    reason = (
        f"version 1 (id {w.version.pk}) of profile {w.profile.pk}: 1 approval signature(s) of request "
        f"{request.pk} do not verify"
    )
    assert (result.status, result.message) == ("blocked", f"signature: {reason}")
    assert list(Invoice.objects.filter(tenant=w.tenant).values_list("period_key", flat=True)) == ["2026-10"]


def test_a_verified_version_closes_as_before():
    tax_rule("DE", "19")
    w = world()
    usage(w.tenant, "api_calls", w.version, NOV_5, "10")

    (result,) = close_periods(tenants=[w.tenant], period_key="2026-11", now=after_grace("2026-11"))

    assert result.status == "finalized"
    assert not Alert.objects.filter(kind=Alert.Kind.SIGNATURE).exists()


# --- quotes: refused -----------------------------------------------------------------------------------


def _quote(api_client, body):
    from tests.factories.tenants import finance_user

    api_client.force_authenticate(finance_user())
    return api_client.post("/api/v1/quotes", {**body, "tenant": "acme"}, format="json")


def test_a_quote_by_a_stored_version_uses_its_price(api_client):
    w = world()

    response = _quote(api_client, {"profile": w.profile.code, "sku": "api_calls", "quantity": "30"})

    assert response.status_code == 200, response.json()
    assert (response.json()["amount_rounded"], response.json()["currency"]) == ("3.00", "EUR")


def test_a_quote_by_a_version_that_does_not_verify_is_refused_with_an_alert(api_client):
    w = world()
    _forge_signature(w.version)

    response = _quote(api_client, {"profile": w.profile.code, "sku": "api_calls", "quantity": "30"})

    assert response.status_code == 409
    body = response.json()
    assert (body["error"], body["reason"], body["version"]) == ("blocked", "signature", w.version.pk)
    assert body["message"].startswith(f"quote refused: version 1 (id {w.version.pk})")
    assert Alert.objects.get(kind=Alert.Kind.SIGNATURE).tenant_id is None


def test_waiting_usage_is_rated_once_the_version_verifies_again(settings):
    from billing.rating.failed import usage_failed_batch_retry
    from common.errors import StateError

    w = world()
    key = settings.PROFILE_SIGNING_KEY
    settings.PROFILE_SIGNING_KEY = "a-rotated-key-that-signed-nothing"
    stored_pending_event(w.tenant, Sku.objects.get(code="api_calls"), "waits", timestamp=NOV_5)
    usage_rate_pending()
    waiting = RatingBatch.objects.get(tenant=w.tenant)
    with pytest.raises(StateError, match="still fails: profile version signature does not verify"):
        usage_failed_batch_retry(batch_id=waiting.pk)

    settings.PROFILE_SIGNING_KEY = key
    usage_failed_batch_retry(batch_id=waiting.pk)

    waiting.refresh_from_db()
    assert waiting.status == RatingBatch.Status.RATED
    assert UsageAggregate.objects.get(tenant=w.tenant).quantity == Decimal(1)
